; Go imports — tree-sitter-go 0.25.0
;
;   @import          one import_spec (so each spec of a grouped `import ( … )` has its own line)
;   @import.source   the import path, quotes (or backticks) trimmed: `fmt`, `example.com/shop/internal/store`
;   @import.alias    the package name when written: `str "strings"` -> str, `. "math"` -> `.`,
;                    `_ "embed"` -> `_`. Absent for a plain import, whose name is the package clause
;                    of the imported package (by convention the path's last element).
;
; No @import.name: a Go import always brings in a whole package.

; import "fmt" / str "strings" / . "math" / _ "embed", grouped or not: one match per spec
(import_spec
  name: (_)? @import.alias
  path: (_) @import.source) @import
