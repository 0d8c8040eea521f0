; C# tags — tree-sitter-c-sharp 0.23.5
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds used here: class struct interface enum method type constant
;   @reference.call + @name      method calls (optional @receiver: the object, as written),
;                                `new T(…)`, and target-typed `T x = new(…)`
;   @reference.inherits / @reference.implements + @subject + @name   base lists
;
; PRECEDENCE: the first pattern capturing a node wins; specific patterns come first.
;
; Namespaces are not definitions (they would qualify every type); a file's namespace is read from
; `namespace_declaration` / `file_scoped_namespace_declaration` by the indexer, not here. Methods
; and constructors nest in their type (Order.Add, Order.Order); nested types nest too
; (Ledger.Payment). Attributes (`[Fact]`) are children of the declaration they annotate, so the
; `///` comment above them is the declaration's previous sibling. A call with no object (`Touch()`)
; means a member of the enclosing type first (config.toml: members_in_scope). Properties, events,
; indexers, operators, finalizers, local functions and lambdas are not definitions.
;
; A type as written in a base list or after `new` is an identifier, `Name<T>`, `Ns.Name`,
; `Ns.Name<T>` or `global::Ns.Name`; @name is always its last simple name's identifier.

; ---------------------------------------------------------------- types
(class_declaration name: (identifier) @name) @definition.class
; `record struct P(…)` is a value type; `record R(…)` and `record class R(…)` are classes.
(record_declaration "struct" name: (identifier) @name) @definition.struct
(record_declaration name: (identifier) @name) @definition.class
(struct_declaration name: (identifier) @name) @definition.struct
(interface_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(delegate_declaration name: (identifier) @name) @definition.type

; ---------------------------------------------------------------- members
(method_declaration name: (identifier) @name) @definition.method
; Instance and static constructors, named like their type.
(constructor_declaration name: (identifier) @name) @definition.method
(enum_member_declaration name: (identifier) @name) @definition.constant

; `const` fields are the type's named values; other fields are state, not definitions. The whole
; field declaration is the symbol, so `const int A = 1, B = 2;` yields only `A`.
(field_declaration
  (modifier "const")
  (variable_declaration
    (variable_declarator name: (identifier) @name))) @definition.constant

; ---------------------------------------------------------------- inheritance
; Syntax cannot tell a base class from an interface in a class's base list, so the .NET naming
; convention decides: `I` + an upper-case letter is an interface (IComparable<T>, ICheckout),
; anything else the base class.

; class A : IFoo, Ns.IBar<T>
(class_declaration
  name: (identifier) @subject
  (base_list
    [(identifier) @name
     (generic_name (identifier) @name)
     (qualified_name name: [(identifier) @name (generic_name (identifier) @name)])
     (alias_qualified_name name: [(identifier) @name (generic_name (identifier) @name)])]
    @reference.implements)
  (#match? @name "^I[A-Z]"))

; class A : Base, Base<T>, Ns.Base, Base(x) (a primary constructor's base call)
(class_declaration
  name: (identifier) @subject
  (base_list
    [(identifier) @name
     (generic_name (identifier) @name)
     (qualified_name name: [(identifier) @name (generic_name (identifier) @name)])
     (alias_qualified_name name: [(identifier) @name (generic_name (identifier) @name)])]
    @reference.inherits)
  (#not-match? @name "^I[A-Z]"))

; record R(…) : Base(…): the base record, certain because its constructor is called
(record_declaration
  name: (identifier) @subject
  (base_list
    (primary_constructor_base_type
      type: [(identifier) @name
             (generic_name (identifier) @name)
             (qualified_name name: [(identifier) @name (generic_name (identifier) @name)])
             (alias_qualified_name name: [(identifier) @name (generic_name (identifier) @name)])])
    @reference.inherits))

; record R : IFoo / record R : Base — the class naming convention. It applies to `record struct`
; too, which can only implement: a query cannot test for the absent `struct` keyword, and structs'
; interfaces follow the convention anyway.
(record_declaration
  name: (identifier) @subject
  (base_list
    [(identifier) @name
     (generic_name (identifier) @name)
     (qualified_name name: [(identifier) @name (generic_name (identifier) @name)])
     (alias_qualified_name name: [(identifier) @name (generic_name (identifier) @name)])]
    @reference.implements)
  (#match? @name "^I[A-Z]"))

(record_declaration
  name: (identifier) @subject
  (base_list
    [(identifier) @name
     (generic_name (identifier) @name)
     (qualified_name name: [(identifier) @name (generic_name (identifier) @name)])
     (alias_qualified_name name: [(identifier) @name (generic_name (identifier) @name)])]
    @reference.inherits)
  (#not-match? @name "^I[A-Z]"))

; struct S : IEquatable<S> — a struct can only implement
(struct_declaration
  name: (identifier) @subject
  (base_list
    [(identifier) @name
     (generic_name (identifier) @name)
     (qualified_name name: [(identifier) @name (generic_name (identifier) @name)])
     (alias_qualified_name name: [(identifier) @name (generic_name (identifier) @name)])]
    @reference.implements))

; interface IStore : IDisposable, IReader<T> — an interface extends interfaces
(interface_declaration
  name: (identifier) @subject
  (base_list
    [(identifier) @name
     (generic_name (identifier) @name)
     (qualified_name name: [(identifier) @name (generic_name (identifier) @name)])
     (alias_qualified_name name: [(identifier) @name (generic_name (identifier) @name)])]
    @reference.inherits))

; (An enum's base list is its underlying integer type, not a supertype.)

; ---------------------------------------------------------------- calls
; Touch(), Parse<int>(…); `nameof(x)` is an operator, not a call
(invocation_expression
  function: [(identifier) @name
             (generic_name (identifier) @name)]
  (#not-eq? @name "nameof")) @reference.call

; PriceCalculator.Total(…), this.Charge(…), base.Touch(), _ledger.Record(…),
; Start(id).Add(…), items.Cast<Item>(): the object as written is the receiver; only `this`, a
; type or an import name resolves. `_`, not `(_)`: `this` and `base` are anonymous nodes.
(invocation_expression
  function: (member_access_expression
    expression: _ @receiver
    name: [(identifier) @name
           (generic_name (identifier) @name)])) @reference.call

; Paid?.Invoke(…): the object before `?.` is the receiver
(invocation_expression
  function: (conditional_access_expression
    condition: _ @receiver
    (member_binding_expression
      name: [(identifier) @name
             (generic_name (identifier) @name)]))) @reference.call

; new Order(id), new List<Item>(), new Shop.Models.Order(…), new global::Shop.Models.Order(…)
(object_creation_expression
  type: [(identifier) @name
         (generic_name (identifier) @name)
         (qualified_name name: [(identifier) @name (generic_name (identifier) @name)])
         (alias_qualified_name name: [(identifier) @name (generic_name (identifier) @name)])]) @reference.call

; Order order = new(id); private readonly List<Item> _items = new(); — the declared type is made
(variable_declaration
  type: [(identifier) @name
         (generic_name (identifier) @name)
         (qualified_name name: [(identifier) @name (generic_name (identifier) @name)])
         (alias_qualified_name name: [(identifier) @name (generic_name (identifier) @name)])]
  (variable_declarator
    (implicit_object_creation_expression) @reference.call))
