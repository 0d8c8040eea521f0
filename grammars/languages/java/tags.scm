; Java tags — tree-sitter-java 0.23.5
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds used here: class interface enum method constant
;   @reference.call + @name      method calls (optional @receiver: the object, as written) and `new T()`
;   @reference.inherits / @reference.implements + @subject + @name   extends / implements
;
; PRECEDENCE: the first pattern capturing a node wins; specific patterns come first.
;
; Methods and constructors nest in their type (Order.add, Order.Order); nested types nest too
; (Order.Status). A call with no object (`touch()`) means a member of the enclosing type first
; (config.toml: members_in_scope). Local classes and lambdas are not definitions.

; ---------------------------------------------------------------- types
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(annotation_type_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum

; ---------------------------------------------------------------- members
(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method
(compact_constructor_declaration name: (identifier) @name) @definition.method
(enum_constant name: (identifier) @name) @definition.constant

; `static final` fields are the type's named values; other fields are state, not definitions.
(field_declaration
  (modifiers "static" "final")
  declarator: (variable_declarator name: (identifier) @name)) @definition.constant

; Interface fields are implicitly static final.
(interface_body
  (constant_declaration
    declarator: (variable_declarator name: (identifier) @name)) @definition.constant)

; ---------------------------------------------------------------- inheritance
; class A extends B / class A extends B<T> / class A extends pkg.B
(class_declaration
  name: (identifier) @subject
  superclass: (superclass
    [(type_identifier) @name
     (generic_type [(type_identifier) @name (scoped_type_identifier (type_identifier) @name .)])
     (scoped_type_identifier (type_identifier) @name .)]) @reference.inherits)

; class / enum / record A implements I, J<T>
(class_declaration
  name: (identifier) @subject
  interfaces: (super_interfaces
    (type_list
      [(type_identifier) @name
       (generic_type [(type_identifier) @name (scoped_type_identifier (type_identifier) @name .)])
       (scoped_type_identifier (type_identifier) @name .)] @reference.implements)))

(enum_declaration
  name: (identifier) @subject
  interfaces: (super_interfaces
    (type_list
      [(type_identifier) @name
       (generic_type [(type_identifier) @name (scoped_type_identifier (type_identifier) @name .)])
       (scoped_type_identifier (type_identifier) @name .)] @reference.implements)))

(record_declaration
  name: (identifier) @subject
  interfaces: (super_interfaces
    (type_list
      [(type_identifier) @name
       (generic_type [(type_identifier) @name (scoped_type_identifier (type_identifier) @name .)])
       (scoped_type_identifier (type_identifier) @name .)] @reference.implements)))

; interface A extends B, C<T>
(interface_declaration
  name: (identifier) @subject
  (extends_interfaces
    (type_list
      [(type_identifier) @name
       (generic_type [(type_identifier) @name (scoped_type_identifier (type_identifier) @name .)])
       (scoped_type_identifier (type_identifier) @name .)] @reference.inherits)))

; ---------------------------------------------------------------- calls
; touch(), subtotal()
(method_invocation
  !object
  name: (identifier) @name) @reference.call

; Pricing.total(…), this.add(…), ledger.record(…), this.items.isEmpty(): the object as written is
; the receiver; only `this`, a type or an import name resolves.
(method_invocation
  object: (_) @receiver
  name: (identifier) @name) @reference.call

; new Order(id), new Box<>(…), new pkg.Order(…)
(object_creation_expression
  type: [(type_identifier) @name
         (generic_type [(type_identifier) @name (scoped_type_identifier (type_identifier) @name .)])
         (scoped_type_identifier (type_identifier) @name .)]) @reference.call
