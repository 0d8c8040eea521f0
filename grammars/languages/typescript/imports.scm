; inherits: javascript
;
; TypeScript imports — tree-sitter-typescript 0.23.2 (language_typescript): JavaScript's (ES
; modules, import(), require()), plus `import x = require()`.

; TypeScript `import fs = require("fs")`
(import_statement
  (import_require_clause
    (identifier) @import.name
    source: (string) @import.source)) @import
