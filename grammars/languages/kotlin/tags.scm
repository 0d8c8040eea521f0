; Kotlin tags — tree-sitter-kotlin-ng 1.1.0
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds used here: class interface enum method function type constant
;   @reference.call + @name      calls (optional @receiver: the object, as written); `Note(…)`
;                                constructs a class the same way
;   @reference.inherits / @reference.implements + @subject + @name   supertypes: one with a
;                                constructor call (`: Base()`) is the superclass, one without an
;                                interface (the syntax says no more)
;
; PRECEDENCE: the first pattern capturing a node wins; specific patterns come first.
;
; The grammar has no field for bodies or supertypes, so patterns match child kinds. Functions in a
; class, object or companion object are methods of that class (`MemoryStore.of`); extension
; functions (`fun String.tidy()`) are top-level functions named by their own name. A bare call
; inside a method means a member of the enclosing type first (config.toml: members_in_scope).

; ---------------------------------------------------------------- types
(class_declaration "interface" name: (identifier) @name) @definition.interface
(class_declaration (modifiers (class_modifier "enum")) name: (identifier) @name) @definition.enum
(class_declaration name: (identifier) @name) @definition.class
; `object Registry`: a class with one instance
(object_declaration name: (identifier) @name) @definition.class
(type_alias (identifier) @name) @definition.type

; ---------------------------------------------------------------- members
(class_body (function_declaration name: (identifier) @name) @definition.method)
(enum_class_body (function_declaration name: (identifier) @name) @definition.method)
(function_declaration name: (identifier) @name) @definition.function
(enum_entry (identifier) @name) @definition.constant

; `const val`, anywhere; and a file's top-level properties, its named values
(property_declaration
  (modifiers (property_modifier "const"))
  (variable_declaration (identifier) @name)) @definition.constant
(source_file
  (property_declaration
    (variable_declaration (identifier) @name)) @definition.constant)

; ---------------------------------------------------------------- supertypes
; class A : Base(…) / object O : Base(…)
(class_declaration
  name: (identifier) @subject
  (delegation_specifiers
    (delegation_specifier
      (constructor_invocation
        (user_type (identifier) @name . (type_arguments)?) @reference.inherits))))
(object_declaration
  name: (identifier) @subject
  (delegation_specifiers
    (delegation_specifier
      (constructor_invocation
        (user_type (identifier) @name . (type_arguments)?) @reference.inherits))))

; class A : I, J<T>  (no constructor call: an interface)
(class_declaration
  name: (identifier) @subject
  (delegation_specifiers
    (delegation_specifier
      (user_type (identifier) @name . (type_arguments)?) @reference.implements)))
(object_declaration
  name: (identifier) @subject
  (delegation_specifiers
    (delegation_specifier
      (user_type (identifier) @name . (type_arguments)?) @reference.implements)))

; ---------------------------------------------------------------- calls
; put(x), Note(…), linkedMapOf<K, V>(), run { … }
(call_expression
  .
  (identifier) @name) @reference.call

; store.put(x), MemoryStore.of(), this.put(x), notes.values.toList(): the object as written is
; the receiver; only `this`, a type or an import name resolves.
(call_expression
  .
  (navigation_expression
    (_) @receiver
    .
    (identifier) @name .)) @reference.call
