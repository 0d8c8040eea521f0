; JavaScript imports — tree-sitter-javascript 0.25.0 (.js .jsx .mjs .cjs): ES modules, import(), CommonJS require
;
;   @import          the import/export statement; for require() and import() the call_expression
;   @import.source   the source `string` node, quotes included (strip them): './b', "react"
;   @import.name     each imported name: `{a, b as c}` -> a, b; default import -> its local name;
;                    `const {a, b: c} = require(..)` -> a, b; `const m = require(..)` -> m
;   @import.alias    `b as c` -> c; `* as ns` -> ns (namespace import: alias only, no name)
; One statement yields one match per imported name (a bare / side-effect import: one match
; with only @import.source).

; import './side-effect'   /   export * from './b'   (source is the first named child)
(import_statement
  .
  source: (string) @import.source) @import

(export_statement
  .
  source: (string) @import.source) @import

; import Default from './b'
(import_statement
  (import_clause
    (identifier) @import.name)
  source: (string) @import.source) @import

; import { a, b as c } from './b'
(import_statement
  (import_clause
    (named_imports
      (import_specifier
        name: (_) @import.name
        alias: (_)? @import.alias)))
  source: (string) @import.source) @import

; import * as ns from './b'
(import_statement
  (import_clause
    (namespace_import (identifier) @import.alias))
  source: (string) @import.source) @import

; export { a, b as c } from './b'
(export_statement
  (export_clause
    (export_specifier
      name: (_) @import.name
      alias: (_)? @import.alias))
  source: (string) @import.source) @import

; export * as ns from './b'
(export_statement
  (namespace_export (_) @import.alias)
  source: (string) @import.source) @import

; import('./b')
(call_expression
  function: (import)
  arguments: (arguments . (string) @import.source)) @import

; CommonJS. The predicate tests the call text, so no helper capture is needed.
; const m = require('./b')
(variable_declarator
  name: (identifier) @import.name
  value: (call_expression
    function: (identifier)
    arguments: (arguments . (string) @import.source)) @import
  (#match? @import "^require\\s*\\("))

; const { a, b: c } = require('./b')
(variable_declarator
  name: (object_pattern
    [(shorthand_property_identifier_pattern) @import.name
     (pair_pattern
       key: (property_identifier) @import.name
       value: (identifier) @import.alias)])
  value: (call_expression
    function: (identifier)
    arguments: (arguments . (string) @import.source)) @import
  (#match? @import "^require\\s*\\("))

; require('./b');  (statement position: side effects)
(expression_statement
  (call_expression
    function: (identifier)
    arguments: (arguments . (string) @import.source)) @import
  (#match? @import "^require\\s*\\("))
