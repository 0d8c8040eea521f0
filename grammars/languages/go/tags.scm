; Go tags — tree-sitter-go 0.25.0
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds used here: function method struct interface type constant
;   @container + @name           a method declaration, qualified by its receiver type (not a symbol)
;   @reference.call + @name      call sites and composite literals; optional @receiver (plain identifier operand)
;   @reference.inherits + @subject + @name   embedded types in structs and interfaces
;
; PRECEDENCE: when one node is captured by several definition patterns, the
; indexer keeps the FIRST pattern in this file. Specific patterns come before
; generic ones (struct/interface before the catch-all type_spec).
;
; One symbol per node: a spec naming several identifiers (`const A, B = 1, 2`,
; `var x, y int`) yields a symbol for the first name only.
; Package-level `var`s are reported as `constant` (there is no variable kind):
; they are the package's named values (sentinel errors, defaults, tables).
; Local types, consts and vars inside functions are not definitions. `_` is never a name.

; ---------------------------------------------------------------- functions / methods
; func (s *Store) Put(…) — the method symbol; its receiver type comes from the container below
(method_declaration
  name: (field_identifier) @name) @definition.method

(function_declaration
  name: (identifier) @name) @definition.function

; ---------------------------------------------------------------- containers
; The method declaration itself is its own container, named by the receiver's type:
; `func (s Store)`, `func (s *Store)`, `func (s *Store[K, V])`, `func (Store)` -> Store.
; parse.rs's range check is inclusive, so the method is qualified `Store.Put`.
; @receiver is the receiver variable (`s`): inside the method, parse.rs stores a call on it
; (`s.Get()`) as a call on `self`.
(method_declaration
  receiver: (parameter_list
    (parameter_declaration
      name: (identifier)? @receiver
      type: [(type_identifier) @name
             (generic_type type: (type_identifier) @name)
             (pointer_type [(type_identifier) @name
                            (generic_type type: (type_identifier) @name)])]))) @container

; ---------------------------------------------------------------- types
; Package level only: a type declared inside a method body would otherwise be qualified by the
; method's receiver type (the method's @container encloses it).
(source_file
  (type_declaration
    (type_spec
      name: (type_identifier) @name
      type: (struct_type)) @definition.struct))

(source_file
  (type_declaration
    (type_spec
      name: (type_identifier) @name
      type: (interface_type)) @definition.interface))

; type Cents int64, type Handler func(…), type Set[T comparable] map[T]struct{}
(source_file
  (type_declaration
    (type_spec
      name: (type_identifier) @name) @definition.type))

; type ID = string
(source_file
  (type_declaration
    (type_alias
      name: (type_identifier) @name) @definition.type))

; interface methods: nest under their interface (Repository.Get)
(method_elem
  name: (field_identifier) @name) @definition.method

; ---------------------------------------------------------------- constants / package vars
(source_file
  (const_declaration
    (const_spec
      name: (identifier) @name) @definition.constant)
  (#not-eq? @name "_"))

(source_file
  (var_declaration
    (var_spec
      name: (identifier) @name) @definition.constant)
  (#not-eq? @name "_"))

(source_file
  (var_declaration
    (var_spec_list
      (var_spec
        name: (identifier) @name) @definition.constant))
  (#not-eq? @name "_"))

; ---------------------------------------------------------------- embedding
; type ReadWriter struct { Reader; *Base; sync.Mutex; List[T] } — an embedded field has no name.
(type_spec
  name: (type_identifier) @subject
  type: (struct_type
    (field_declaration_list
      (field_declaration
        !name
        type: [(type_identifier) @name
               (qualified_type name: (type_identifier) @name)
               (generic_type type: [(type_identifier) @name
                                    (qualified_type name: (type_identifier) @name)])
               (pointer_type [(type_identifier) @name
                              (qualified_type name: (type_identifier) @name)
                              (generic_type type: [(type_identifier) @name
                                                   (qualified_type name: (type_identifier) @name)])])]) @reference.inherits)))

; type ReadCloser interface { Reader; io.Closer } — a lone type in an interface
; (constraint unions such as `~int | ~string` have several children or a negated_type and are skipped)
(type_spec
  name: (type_identifier) @subject
  type: (interface_type
    (type_elem
      .
      [(type_identifier) @name
       (qualified_type name: (type_identifier) @name)
       (generic_type type: [(type_identifier) @name
                            (qualified_type name: (type_identifier) @name)])]
      .) @reference.inherits))

; ---------------------------------------------------------------- calls
; f(), f[int, string]()
(call_expression
  function: (identifier) @name) @reference.call

; pkg.F(), x.M(), a.b.M()  (@receiver only when the operand is a plain identifier)
(call_expression
  function: (selector_expression
    operand: (identifier)? @receiver
    field: (field_identifier) @name)) @reference.call

; f[int](), pkg.F[int]() — also `handlers[i]()`, which the grammar cannot tell apart
(call_expression
  function: (index_expression
    operand: [(identifier) @name
              (selector_expression
                operand: (identifier)? @receiver
                field: (field_identifier) @name)])) @reference.call

; Composite literals construct a named type, like `new Foo()` in TypeScript: Item{…}, &store.Memory{}
(composite_literal
  type: [(type_identifier) @name
         (generic_type type: (type_identifier) @name)
         (qualified_type
           package: (package_identifier) @receiver
           name: (type_identifier) @name)
         (generic_type type: (qualified_type
           package: (package_identifier) @receiver
           name: (type_identifier) @name))]) @reference.call
