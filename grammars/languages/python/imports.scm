; Python imports — tree-sitter-python 0.25.0
;
;   @import          the whole import statement (one match per imported module / name,
;                    so one statement can yield several matches)
;   @import.source   the module: dotted_name (`a.b`) or relative_import (`.`, `..x.y`)
;   @import.name     each name of `from m import a, b as c` (a, b); absent for `import m`
;                    and for `from m import *`
;   @import.alias    `as` alias when present (`import a.b as c` -> c, `b as c` -> c)

; import a.b, c
(import_statement
  name: (dotted_name) @import.source) @import

; import a.b as c
(import_statement
  name: (aliased_import
    name: (dotted_name) @import.source
    alias: (identifier) @import.alias)) @import

; from m import a, b
(import_from_statement
  module_name: (_) @import.source
  name: (dotted_name) @import.name) @import

; from m import b as c
(import_from_statement
  module_name: (_) @import.source
  name: (aliased_import
    name: (dotted_name) @import.name
    alias: (identifier) @import.alias)) @import

; from m import *
(import_from_statement
  module_name: (_) @import.source
  (wildcard_import)) @import
