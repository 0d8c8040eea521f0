; JavaScript tags — tree-sitter-javascript 0.25.0 (.js .jsx .mjs .cjs, JSX included)
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds used here: function method class constant
;   @reference.call + @name      calls, `new X()` and JSX components; optional @receiver (identifier / `this` / `super`)
;   @reference.inherits + @subject + @name
;
; PRECEDENCE: when one node is captured by several definition patterns, the
; indexer keeps the FIRST pattern in this file. Specific patterns (method)
; come before generic ones (function), and the arrow-function pattern on a
; variable_declarator comes before the UPPER_CASE constant pattern on the same
; node, so `const MAKE = () => 1` is a function, not a constant.
;
; `export` wraps declarations: export_statement > declaration: class_declaration.
; The captured definition node is the inner declaration (or the
; variable_declarator for `const f = () => ..`); leading doc comments sit before
; the export_statement / lexical_declaration. Object-literal methods are not captured.

; ---------------------------------------------------------------- methods
(class_body
  (method_definition
    name: [(property_identifier) (private_property_identifier) (string)] @name) @definition.method)

; class field holding a function: `handle = () => {..}`
(class_body
  (field_definition
    property: [(property_identifier) (private_property_identifier)] @name
    value: [(arrow_function) (function_expression)]) @definition.method)

; ---------------------------------------------------------------- functions
(function_declaration name: (identifier) @name) @definition.function

(generator_function_declaration name: (identifier) @name) @definition.function

; const f = () => .. / let g = function () {..} / var h = function* () {..}
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function

; CommonJS style: exports.f = function () {..} / module.exports.f = () => ..
; (`module.exports = function ..` and `this.f = () => ..` are not definitions)
(assignment_expression
  left: (member_expression
    object: [(identifier) (member_expression)]
    property: (property_identifier) @name)
  right: [(arrow_function) (function_expression) (generator_function)]
  (#match? @definition.function "^(module\\.)?exports\\.")) @definition.function

; ---------------------------------------------------------------- classes
(class_declaration name: (identifier) @name) @definition.class

; ---------------------------------------------------------------- constants
; top-level or exported `const UPPER_CASE = <non-function>` (functions won above)
(program
  (lexical_declaration
    "const"
    (variable_declarator name: (identifier) @name) @definition.constant)
  (#match? @name "^_*[A-Z][A-Z0-9_]+$"))

(export_statement
  declaration: (lexical_declaration
    "const"
    (variable_declarator name: (identifier) @name) @definition.constant)
  (#match? @name "^_*[A-Z][A-Z0-9_]+$"))

; ---------------------------------------------------------------- inheritance
; class Foo extends Base / extends ns.Base  (declarations and named class expressions)
(_
  name: (identifier) @subject
  (class_heritage
    [(identifier) @name
     (member_expression property: (property_identifier) @name)])) @reference.inherits

; ---------------------------------------------------------------- calls
; foo()
(call_expression
  function: (identifier) @name) @reference.call

; obj.meth(), this.meth(), super.meth(), a.b.meth(), this.#priv(), obj?.meth()
; (@receiver only when the object is an identifier, `this` or `super`)
(call_expression
  function: (member_expression
    object: [(identifier) (this) (super)]? @receiver
    property: [(property_identifier) (private_property_identifier)] @name)) @reference.call

; new Foo(), new ns.Foo()
(new_expression
  constructor: [(identifier) @name
                (member_expression
                  object: (identifier)? @receiver
                  property: (property_identifier) @name)]) @reference.call

; ---------------------------------------------------------------- JSX
; <Comp .../> and <Comp>..</Comp> render (call) a component; lower-case tags are
; intrinsic elements and skipped. The reference node is the opening/self-closing element.
(jsx_self_closing_element
  name: (identifier) @name
  (#match? @name "^[A-Z]")) @reference.call

(jsx_opening_element
  name: (identifier) @name
  (#match? @name "^[A-Z]")) @reference.call

; <ui.Button/>
(jsx_self_closing_element
  name: (member_expression
    object: (identifier)? @receiver
    property: (property_identifier) @name)) @reference.call

(jsx_opening_element
  name: (member_expression
    object: (identifier)? @receiver
    property: (property_identifier) @name)) @reference.call

