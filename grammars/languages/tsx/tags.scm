; TSX tags — tree-sitter-typescript 0.23.2 (language_tsx). Same as typescript/tags.scm plus JSX references.
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds used here: function method class interface type enum module constant
;   @reference.call + @name      calls, `new X()` and JSX components; optional @receiver (identifier / `this` / `super`)
;   @reference.inherits / @reference.implements + @subject + @name
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
; the export_statement / lexical_declaration. Namespaces are `internal_module`
; (top-level ones sit inside an expression_statement); `namespace A.B` has the
; nested_identifier `A.B` as @name. Overload signatures and object-literal
; methods are not captured; `declare function` signatures are.

; ---------------------------------------------------------------- methods
(class_body
  (method_definition
    name: [(property_identifier) (private_property_identifier) (string)] @name) @definition.method)

(class_body
  (abstract_method_signature
    name: [(property_identifier) (private_property_identifier) (string)] @name) @definition.method)

; class field holding a function: `handle = () => {..}`
(class_body
  (public_field_definition
    name: [(property_identifier) (private_property_identifier)] @name
    value: [(arrow_function) (function_expression)]) @definition.method)

; interface members: `find(id: string): Item;`
(interface_declaration
  body: (interface_body
    (method_signature
      name: (property_identifier) @name) @definition.method))

; ---------------------------------------------------------------- functions
(function_declaration name: (identifier) @name) @definition.function

(generator_function_declaration name: (identifier) @name) @definition.function

(ambient_declaration
  (function_signature name: (identifier) @name) @definition.function)

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

; ---------------------------------------------------------------- types
(class_declaration name: (type_identifier) @name) @definition.class

(abstract_class_declaration name: (type_identifier) @name) @definition.class

(interface_declaration name: (type_identifier) @name) @definition.interface

(type_alias_declaration name: (type_identifier) @name) @definition.type

(enum_declaration name: (identifier) @name) @definition.enum

(internal_module name: [(identifier) (nested_identifier)] @name) @definition.module

(module name: [(identifier) (nested_identifier)] @name) @definition.module

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
; class Foo extends Base<T> / extends ns.Base  (class declarations, abstract classes, named class expressions)
(_
  name: (type_identifier) @subject
  (class_heritage
    (extends_clause
      value: [(identifier) @name
              (member_expression property: (property_identifier) @name)]))) @reference.inherits

; interface I extends A, ns.B<T>
(interface_declaration
  name: (type_identifier) @subject
  (extends_type_clause
    type: [(type_identifier) @name
           (nested_type_identifier name: (type_identifier) @name)
           (generic_type name: [(type_identifier) @name
                                (nested_type_identifier name: (type_identifier) @name)])])) @reference.inherits

; class Foo implements I, ns.J<T>
(_
  name: (type_identifier) @subject
  (class_heritage
    (implements_clause
      [(type_identifier) @name
       (nested_type_identifier name: (type_identifier) @name)
       (generic_type name: [(type_identifier) @name
                            (nested_type_identifier name: (type_identifier) @name)])]))) @reference.implements

; ---------------------------------------------------------------- calls
; foo(), foo<T>()
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

