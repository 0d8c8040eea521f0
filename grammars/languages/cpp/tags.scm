; C++ tags — tree-sitter-cpp 0.23.4 (ABI 14)
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds used here: class struct enum type function method constant
;   @container + @name           an out-of-line member definition (`void Cart::add(…) { … }`),
;                                qualified by its class (not a symbol)
;   @reference.call + @name      calls, `new T(…)` and `T{…}`; optional @receiver (the object as
;                                written: `this`, `cart`, `items_`) or @scope (the qualifier:
;                                `Pricing` in `Pricing::total()`, `pricing` in `shop::pricing::f()`)
;   @reference.inherits + @subject + @name   every base class (C++ has no separate interfaces)
;
; PRECEDENCE: when one node is captured by several definition patterns, the indexer keeps the
; FIRST pattern in this file. Member patterns (a function_definition inside a class body) come
; before free functions; a typedef of a struct before the catch-all typedef.
;
; Standalone, not `; inherits: c`: inherited patterns would come first, and C's free-function
; patterns would claim the constructors and template members that C++ needs as methods.
;
; What is a definition:
; - classes, structs and unions with a body; `enum` / `enum class` with a body and its
;   enumerators (constants, nested: `Color.Red`); `using X = …` and typedefs (types).
;   `typedef struct { … } X;` is one struct named X, as in C. Specializations
;   (`class Box<int> { … }`) and forward declarations (`class Cart;`) are not definitions.
; - members declared or defined in a class body (methods, nested under the class: `Cart.add`),
;   constructors (`Cart.Cart`), destructors (`Cart.~Cart`) and operators (`Cart.operator==`)
;   included, templates too. `static const`/`static constexpr` data members are constants;
;   other fields are state, not definitions.
; - out-of-line definitions `void Cart::add(…) { … }`, `Cart::Cart()`, `template <class T>
;   void Box<T>::put(T)`, `void shop::Cart::add()`: methods, named by the last segment and
;   qualified by the one before it through @container (`Cart.add`, as Go's receivers). A
;   namespace-qualified free function definition (`void shop::pricing::reset() { }`) looks the
;   same and also becomes a method (`pricing.reset`): the grammar cannot tell a namespace from a class.
; - free functions and function templates; prototypes at namespace scope that are not `static`;
;   function-like macros (functions); `#define` with a value and namespace-scope `const` /
;   `constexpr` variables (constants).
; - Namespaces are NOT definitions: everything in `namespace shop { … }` is top-level (a
;   namespace is reopened in every file, so it would be a symbol per file, and would hide its
;   contents from bare-name lookup). Their names only appear as @scope of calls.
;
; "Namespace scope" is a direct child of the translation unit, a namespace or `extern "C"` body,
; a preprocessor block or a template declaration. Listing the parents keeps out declarations in
; function bodies, where `Cart c(a, b);` parses as a function prototype (the most vexing parse).
; Types defined in a function body are skipped, except `struct S { … } s;` (nested in the
; function); lambdas are not definitions.

; ---------------------------------------------------------------- members in a class body
; void add(const Item& item);  virtual long apply(long) const = 0;  static Cart empty();
; Item& at(int);  std::string* name() const;  bool operator==(const Cart&) const;
(field_declaration
  declarator: [(function_declarator
                 declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name)
               (pointer_declarator
                 declarator: (function_declarator
                   declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name))
               (reference_declarator
                 (function_declarator
                   declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name))]) @definition.method

; Cart();  explicit Cart(std::string owner);  ~Cart();  and member templates
; `template <class F> void each(F f);` (the grammar makes these `declaration`s)
(field_declaration_list
  [(declaration
     declarator: [(function_declarator
                    declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name)
                  (pointer_declarator
                    declarator: (function_declarator
                      declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name))
                  (reference_declarator
                    (function_declarator
                      declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name))]) @definition.method
   (template_declaration
     (declaration
       declarator: [(function_declarator
                      declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name)
                    (pointer_declarator
                      declarator: (function_declarator
                        declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name))
                    (reference_declarator
                      (function_declarator
                        declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name))]) @definition.method)])

; Inline definitions: std::size_t size() const { … }  Cart() : n_(0) {}  ~Cart() = default;
; template <typename Pred> std::size_t countIf(Pred pred) const { … }
(field_declaration_list
  [(function_definition
     declarator: [(function_declarator
                    declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name)
                  (pointer_declarator
                    declarator: (function_declarator
                      declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name))
                  (reference_declarator
                    (function_declarator
                      declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name))]) @definition.method
   (template_declaration
     (function_definition
       declarator: [(function_declarator
                      declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name)
                    (pointer_declarator
                      declarator: (function_declarator
                        declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name))
                    (reference_declarator
                      (function_declarator
                        declarator: [(field_identifier) (identifier) (operator_name) (destructor_name)] @name))]) @definition.method)])

; static constexpr int kMaxItems = 50;  static const long kFree = 5000;
(field_declaration
  (storage_class_specifier "static")
  (type_qualifier ["const" "constexpr"])
  declarator: (field_identifier) @name
  default_value: (_)) @definition.constant

; ---------------------------------------------------------------- out-of-line members
; void Cart::add(…) { … }  Cart::Cart() { … }  Cart::~Cart() = default;  Item& Cart::at(int) { … }
; bool Cart::operator==(…) const { … }  void shop::Cart::add(…) { … }  (last segment is the name)
(function_definition
  declarator: [(function_declarator
                 declarator: (qualified_identifier
                   name: [(identifier) @name (destructor_name) @name (operator_name) @name
                          (qualified_identifier
                            name: [(identifier) @name (destructor_name) @name (operator_name) @name
                                   (qualified_identifier
                                     name: [(identifier) (destructor_name) (operator_name)] @name)])]))
               (pointer_declarator
                 declarator: (function_declarator
                   declarator: (qualified_identifier
                     name: [(identifier) @name (destructor_name) @name (operator_name) @name
                            (qualified_identifier
                              name: [(identifier) @name (destructor_name) @name (operator_name) @name
                                     (qualified_identifier
                                       name: [(identifier) (destructor_name) (operator_name)] @name)])])))
               (reference_declarator
                 (function_declarator
                   declarator: (qualified_identifier
                     name: [(identifier) @name (destructor_name) @name (operator_name) @name
                            (qualified_identifier
                              name: [(identifier) @name (destructor_name) @name (operator_name) @name
                                     (qualified_identifier
                                       name: [(identifier) (destructor_name) (operator_name)] @name)])])))]) @definition.method

; The same definition is its own container, named by the segment before the name:
; `Cart::add` -> Cart, `shop::Cart::add` -> Cart, `Box<T>::put` -> Box. parse.rs's range check is
; inclusive, so the method is qualified `Cart.add`, and a `this->x()` inside means Cart's member.
(function_definition
  declarator: [(function_declarator
                 declarator: (qualified_identifier
                   scope: [(namespace_identifier) @name (template_type name: (type_identifier) @name)]
                   name: [(identifier) (destructor_name) (operator_name)]))
               (function_declarator
                 declarator: (qualified_identifier
                   name: (qualified_identifier
                     scope: [(namespace_identifier) @name (template_type name: (type_identifier) @name)]
                     name: [(identifier) (destructor_name) (operator_name)])))
               (function_declarator
                 declarator: (qualified_identifier
                   name: (qualified_identifier
                     name: (qualified_identifier
                       scope: [(namespace_identifier) @name (template_type name: (type_identifier) @name)]
                       name: [(identifier) (destructor_name) (operator_name)]))))
               (pointer_declarator
                 declarator: (function_declarator
                   declarator: (qualified_identifier
                     scope: [(namespace_identifier) @name (template_type name: (type_identifier) @name)]
                     name: [(identifier) (destructor_name) (operator_name)])))
               (pointer_declarator
                 declarator: (function_declarator
                   declarator: (qualified_identifier
                     name: (qualified_identifier
                       scope: [(namespace_identifier) @name (template_type name: (type_identifier) @name)]
                       name: [(identifier) (destructor_name) (operator_name)]))))
               (reference_declarator
                 (function_declarator
                   declarator: (qualified_identifier
                     scope: [(namespace_identifier) @name (template_type name: (type_identifier) @name)]
                     name: [(identifier) (destructor_name) (operator_name)])))
               (reference_declarator
                 (function_declarator
                   declarator: (qualified_identifier
                     name: (qualified_identifier
                       scope: [(namespace_identifier) @name (template_type name: (type_identifier) @name)]
                       name: [(identifier) (destructor_name) (operator_name)]))))]) @container

; ---------------------------------------------------------------- free functions
; long withTax(long cents) { … }  template <typename T> T clampTo(T, T, T) { … }  char *f() { … }
; bool operator==(const Item&, const Item&) { … }  (also inline friends, nested in their class)
(function_definition
  declarator: [(function_declarator
                 declarator: [(identifier) (operator_name)] @name)
               (pointer_declarator
                 declarator: (function_declarator
                   declarator: [(identifier) (operator_name)] @name))
               (pointer_declarator
                 declarator: (pointer_declarator
                   declarator: (function_declarator
                     declarator: [(identifier) (operator_name)] @name)))
               (reference_declarator
                 (function_declarator
                   declarator: [(identifier) (operator_name)] @name))]) @definition.function

; Prototypes at namespace scope, not `static`: long withTax(long cents);  template <class T> T f(T);
([(translation_unit
    (declaration
      declarator: [(function_declarator declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator (function_declarator declarator: [(identifier) (operator_name)] @name))]) @definition.function)
  (declaration_list
    (declaration
      declarator: [(function_declarator declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator (function_declarator declarator: [(identifier) (operator_name)] @name))]) @definition.function)
  (template_declaration
    (declaration
      declarator: [(function_declarator declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator (function_declarator declarator: [(identifier) (operator_name)] @name))]) @definition.function)
  (linkage_specification
    (declaration
      declarator: [(function_declarator declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator (function_declarator declarator: [(identifier) (operator_name)] @name))]) @definition.function)
  (preproc_if
    (declaration
      declarator: [(function_declarator declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator (function_declarator declarator: [(identifier) (operator_name)] @name))]) @definition.function)
  (preproc_ifdef
    (declaration
      declarator: [(function_declarator declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator (function_declarator declarator: [(identifier) (operator_name)] @name))]) @definition.function)
  (preproc_else
    (declaration
      declarator: [(function_declarator declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator (function_declarator declarator: [(identifier) (operator_name)] @name))]) @definition.function)
  (preproc_elif
    (declaration
      declarator: [(function_declarator declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator (function_declarator declarator: [(identifier) (operator_name)] @name))]) @definition.function)
  (preproc_elifdef
    (declaration
      declarator: [(function_declarator declarator: [(identifier) (operator_name)] @name)
                   (pointer_declarator declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
                   (reference_declarator (function_declarator declarator: [(identifier) (operator_name)] @name))]) @definition.function)]
  (#not-match? @definition.function "^static\\s"))

; #define SHOP_CHECK(x) …
(preproc_function_def
  name: (identifier) @name) @definition.function

; ---------------------------------------------------------------- types
; typedef struct [tag] { … } Point;  — one symbol, named by the typedef (as in C)
(type_definition
  type: [(struct_specifier body: (_)) (union_specifier body: (_)) (class_specifier body: (_))]
  declarator: (type_identifier) @name) @definition.struct

(type_definition
  type: (enum_specifier body: (_))
  declarator: (type_identifier) @name) @definition.enum

; typedef long Cents;  typedef std::vector<Item> Items;  typedef Item *ItemRef;  typedef void (*Fn)(int);
(type_definition
  declarator: [(type_identifier) @name
               (pointer_declarator declarator: (type_identifier) @name)
               (function_declarator
                 declarator: (parenthesized_declarator
                   (pointer_declarator declarator: (type_identifier) @name)))]) @definition.type

; using Items = std::vector<Item>;
(alias_declaration
  name: (type_identifier) @name) @definition.type

; class Cart { … };  template <class T> class Box { … };  struct Item { … };  union U { … };
; enum class Color { … };  at namespace scope, outside a typedef (whose struct is the typedef's
; symbol above). The parents are listed because a negated field (`(_ !declarator …)`) is ignored
; on a wildcard parent. Nested classes sit in a field_declaration (below).
[(translation_unit
   (class_specifier name: (type_identifier) @name body: (_)) @definition.class)
 (preproc_if
   (class_specifier name: (type_identifier) @name body: (_)) @definition.class)
 (preproc_ifdef
   (class_specifier name: (type_identifier) @name body: (_)) @definition.class)
 (preproc_else
   (class_specifier name: (type_identifier) @name body: (_)) @definition.class)
 (preproc_elif
   (class_specifier name: (type_identifier) @name body: (_)) @definition.class)
 (preproc_elifdef
   (class_specifier name: (type_identifier) @name body: (_)) @definition.class)
 (declaration_list
   (class_specifier name: (type_identifier) @name body: (_)) @definition.class)
 (template_declaration
   (class_specifier name: (type_identifier) @name body: (_)) @definition.class)]

[(translation_unit
   [(struct_specifier name: (type_identifier) @name body: (_))
    (union_specifier name: (type_identifier) @name body: (_))] @definition.struct)
 (preproc_if
   [(struct_specifier name: (type_identifier) @name body: (_))
    (union_specifier name: (type_identifier) @name body: (_))] @definition.struct)
 (preproc_ifdef
   [(struct_specifier name: (type_identifier) @name body: (_))
    (union_specifier name: (type_identifier) @name body: (_))] @definition.struct)
 (preproc_else
   [(struct_specifier name: (type_identifier) @name body: (_))
    (union_specifier name: (type_identifier) @name body: (_))] @definition.struct)
 (preproc_elif
   [(struct_specifier name: (type_identifier) @name body: (_))
    (union_specifier name: (type_identifier) @name body: (_))] @definition.struct)
 (preproc_elifdef
   [(struct_specifier name: (type_identifier) @name body: (_))
    (union_specifier name: (type_identifier) @name body: (_))] @definition.struct)
 (declaration_list
   [(struct_specifier name: (type_identifier) @name body: (_))
    (union_specifier name: (type_identifier) @name body: (_))] @definition.struct)
 (template_declaration
   [(struct_specifier name: (type_identifier) @name body: (_))
    (union_specifier name: (type_identifier) @name body: (_))] @definition.struct)]

[(translation_unit
   (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
 (preproc_if
   (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
 (preproc_ifdef
   (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
 (preproc_else
   (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
 (preproc_elif
   (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
 (preproc_elifdef
   (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
 (declaration_list
   (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
 (template_declaration
   (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)]

; struct Point { … } origin;  — a type defined with a variable (or a field) of its type
([(declaration type: (class_specifier name: (type_identifier) @name body: (_)) @definition.class)
  (field_declaration type: (class_specifier name: (type_identifier) @name body: (_)) @definition.class)])

([(declaration
    type: [(struct_specifier name: (type_identifier) @name body: (_))
           (union_specifier name: (type_identifier) @name body: (_))] @definition.struct)
  (field_declaration
    type: [(struct_specifier name: (type_identifier) @name body: (_))
           (union_specifier name: (type_identifier) @name body: (_))] @definition.struct)])

([(declaration type: (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
  (field_declaration type: (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)])

; ---------------------------------------------------------------- constants
; enum class Color { Red, Green = 2 }
(enumerator
  name: (identifier) @name) @definition.constant

; #define SHOP_VERSION "1.0"  (with a value; include guards and flags have none)
(preproc_def
  name: (identifier) @name
  value: (_)) @definition.constant

; Namespace-scope constants: constexpr long kTaxPercent = 20;  const char kName[] = "…";
; inline constexpr int kMax = 3;  const char *const kVersion = "…";
[(translation_unit
   (declaration
     (type_qualifier ["const" "constexpr"])
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (declaration_list
   (declaration
     (type_qualifier ["const" "constexpr"])
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (preproc_if
   (declaration
     (type_qualifier ["const" "constexpr"])
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (preproc_ifdef
   (declaration
     (type_qualifier ["const" "constexpr"])
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (preproc_else
   (declaration
     (type_qualifier ["const" "constexpr"])
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (preproc_elif
   (declaration
     (type_qualifier ["const" "constexpr"])
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (preproc_elifdef
   (declaration
     (type_qualifier ["const" "constexpr"])
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)]

; ---------------------------------------------------------------- inheritance
; class PercentOff : public Discount, private Named, public base::Holder<T>  — one per base
(class_specifier
  name: (type_identifier) @subject
  (base_class_clause
    [(type_identifier) @name
     (template_type name: (type_identifier) @name)
     (qualified_identifier
       name: [(type_identifier) @name
              (template_type name: (type_identifier) @name)
              (qualified_identifier
                name: [(type_identifier) @name
                       (template_type name: (type_identifier) @name)])])] @reference.inherits))

(struct_specifier
  name: (type_identifier) @subject
  (base_class_clause
    [(type_identifier) @name
     (template_type name: (type_identifier) @name)
     (qualified_identifier
       name: [(type_identifier) @name
              (template_type name: (type_identifier) @name)
              (qualified_identifier
                name: [(type_identifier) @name
                       (template_type name: (type_identifier) @name)])])] @reference.inherits))

; ---------------------------------------------------------------- calls
; touch(), withTax(sub), Cart(3) (a functional cast constructs the type)
(call_expression
  function: (identifier) @name) @reference.call

; clampTo<long>(…)
(call_expression
  function: (template_function
    name: (identifier) @name)) @reference.call

; Pricing::total(…), std::max(…), Box<int>::make(), shop::pricing::withTax(…), ::g(),
; std::make_unique<Cart>(…): @scope is only the segment right before the name (`pricing`; graph.rs
; reads the last one anyway); `::g()` has no scope.
(call_expression
  function: [(qualified_identifier
               scope: (_)? @scope
               name: [(identifier) @name
                      (template_function name: (identifier) @name)])
             (qualified_identifier
               name: (qualified_identifier
                 scope: (_) @scope
                 name: [(identifier) @name
                        (template_function name: (identifier) @name)]))
             (qualified_identifier
               name: (qualified_identifier
                 name: (qualified_identifier
                   scope: (_) @scope
                   name: [(identifier) @name
                          (template_function name: (identifier) @name)])))]) @reference.call

; this->touch(), cart.add(item), items_.push_back(x), ptr->apply(c), obj.get<int>(): the object
; as written is the receiver; `this` means the enclosing class (and its bases).
(call_expression
  function: (field_expression
    argument: (_) @receiver
    field: [(field_identifier) @name
            (template_method name: (field_identifier) @name)])) @reference.call

; new Cart(…), new Box<int>(), new shop::PercentOff(5): a call on the type, like `new` in Java
(new_expression
  type: [(type_identifier) @name
         (template_type name: (type_identifier) @name)
         (qualified_identifier
           scope: (_) @scope
           name: [(type_identifier) @name
                  (template_type name: (type_identifier) @name)])
         (qualified_identifier
           name: (qualified_identifier
             scope: (_) @scope
             name: [(type_identifier) @name
                    (template_type name: (type_identifier) @name)]))]) @reference.call

; Item{"A-1", 1250, 2}, shop::Item{…}: a temporary built by brace initialization, like Go's
; composite literals. `Cart c(…);` and `Cart c{…};` declare variables and are not calls.
(compound_literal_expression
  type: [(type_identifier) @name
         (template_type name: (type_identifier) @name)
         (qualified_identifier
           scope: (_) @scope
           name: [(type_identifier) @name
                  (template_type name: (type_identifier) @name)])]) @reference.call
