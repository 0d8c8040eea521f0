; Rust tags — tree-sitter-rust 0.24.2
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds: function method struct enum trait type module constant
;   @container + @name           `impl` blocks: scope methods under the implemented type (not a symbol)
;   @reference.call + @name      call sites; optional @scope (path qualifier) and @receiver
;   @reference.macro + @name     macro invocations `foo!(..)`
;   @reference.implements / @reference.inherits + @subject + @name
;
; PRECEDENCE: when one node is captured by several definition patterns, the
; indexer keeps the FIRST pattern in this file. Specific patterns (method)
; therefore come before generic ones (function).
;
; Notes: `mod foo;` (no body) is an import (imports.scm), not a definition;
; only inline `mod foo { .. }` is @definition.module. `macro_rules!` is
; reported as @definition.function, as are `extern "C" { fn f(); }` items.
; Associated consts/types in impls and traits are constant/type. A trait's supertraits are
; @reference.inherits (subject = the trait).

; ---------------------------------------------------------------- methods
; fn (with or without body) directly inside an impl or trait body.
(impl_item
  body: (declaration_list
    (function_item name: (identifier) @name) @definition.method))

(trait_item
  body: (declaration_list
    [(function_item name: (identifier) @name)
     (function_signature_item name: (identifier) @name)] @definition.method))

; ---------------------------------------------------------------- functions
(function_item name: (identifier) @name) @definition.function

(macro_definition name: (identifier) @name) @definition.function

; extern "C" { fn ext(); }
(foreign_mod_item
  body: (declaration_list
    (function_signature_item name: (identifier) @name) @definition.function))

; ---------------------------------------------------------------- types
(struct_item name: (type_identifier) @name) @definition.struct

(union_item name: (type_identifier) @name) @definition.struct

(enum_item name: (type_identifier) @name) @definition.enum

(trait_item name: (type_identifier) @name) @definition.trait

(type_item name: (type_identifier) @name) @definition.type

(mod_item name: (identifier) @name body: (declaration_list)) @definition.module

(const_item name: (identifier) @name) @definition.constant

(static_item name: (identifier) @name) @definition.constant

; ---------------------------------------------------------------- containers
; `impl Foo`, `impl<T> Foo<T>`, `impl a::Foo`, `impl Tr for a::Foo<T>`, `impl Tr for &Foo` -> Foo;
; `impl Tr for u8` -> u8. Other self types (tuples, slices, dyn Trait) get no container.
(impl_item
  type: [(type_identifier) @name
         (scoped_type_identifier name: (type_identifier) @name)
         (generic_type type: (type_identifier) @name)
         (generic_type type: (scoped_type_identifier name: (type_identifier) @name))
         (reference_type type: [(type_identifier) @name
                                (scoped_type_identifier name: (type_identifier) @name)
                                (generic_type type: (type_identifier) @name)
                                (generic_type type: (scoped_type_identifier name: (type_identifier) @name))])
         (primitive_type) @name]) @container

; ---------------------------------------------------------------- inheritance
; `impl Display for Foo`, `impl fmt::Display for Foo<T>`, `impl From<u8> for Foo`
(impl_item
  trait: [(type_identifier) @name
          (scoped_type_identifier name: (type_identifier) @name)
          (generic_type type: (type_identifier) @name)
          (generic_type type: (scoped_type_identifier name: (type_identifier) @name))]
  type: [(type_identifier) @subject
         (scoped_type_identifier name: (type_identifier) @subject)
         (generic_type type: (type_identifier) @subject)
         (generic_type type: (scoped_type_identifier name: (type_identifier) @subject))
         (reference_type type: [(type_identifier) @subject
                                (scoped_type_identifier name: (type_identifier) @subject)
                                (generic_type type: (type_identifier) @subject)
                                (generic_type type: (scoped_type_identifier name: (type_identifier) @subject))])
         (primitive_type) @subject]) @reference.implements

; supertraits: `trait Shape: Named + fmt::Debug`
(trait_item
  name: (type_identifier) @subject
  bounds: (trait_bounds
    [(type_identifier) @name
     (scoped_type_identifier name: (type_identifier) @name)
     (generic_type type: (type_identifier) @name)
     (generic_type type: (scoped_type_identifier name: (type_identifier) @name))])) @reference.inherits

; ---------------------------------------------------------------- calls
; foo()
(call_expression
  function: (identifier) @name) @reference.call

; a.foo(), self.foo(), a.b.foo()  (@receiver only when the object is a plain identifier or self)
(call_expression
  function: (field_expression
    value: [(identifier) (self)]? @receiver
    field: (field_identifier) @name)) @reference.call

; Foo::new(), a::b::c(), Vec::<u8>::new(), crate::x()
(call_expression
  function: (scoped_identifier
    path: (_)? @scope
    name: (identifier) @name)) @reference.call

; turbofish: foo::<T>(), Foo::bar::<T>(), a.collect::<Vec<_>>()
(call_expression
  function: (generic_function
    function: [(identifier) @name
               (scoped_identifier path: (_)? @scope name: (identifier) @name)
               (field_expression value: [(identifier) (self)]? @receiver field: (field_identifier) @name)])) @reference.call

; ---------------------------------------------------------------- macros
(macro_invocation
  macro: [(identifier) @name
          (scoped_identifier name: (identifier) @name)]) @reference.macro
