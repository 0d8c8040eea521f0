; PHP tags — tree-sitter-php 0.25.1 (LANGUAGE_PHP: files start with `<?php`)
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds used here: class interface trait enum method function constant
;   @reference.call + @name      calls and `new T()`; optional @receiver: the object or class, as below
;   @reference.inherits / @reference.implements + @subject + @name   extends / implements / `use Trait;`
;
; PRECEDENCE: the first pattern capturing a node wins; specific patterns come first. Every
; definition pattern here captures a different node kind, so none compete.
;
; Methods (constructors too: `__construct`) and enum cases nest in their type (Order.add,
; Status.Open). Properties, parameters, closures and anonymous classes are not definitions.
; Attributes (`#[Route]`) are children of the declaration they annotate, so they are part of
; its range and signature, and a `/** */` docblock above them is adjacent to the declaration.
; Receivers: `$this->f()` → `this`, `$order->f()` → `order` (the variable's name, no `$`);
; `self::f()`, `static::f()`, `parent::f()` → `self` / `static` / `parent`; `Pricing::f()` and
; `\App\Support\Pricing::f()` → `Pricing`. Any other object (`$this->items->count()`,
; `(new Foo)->bar()`) is the receiver as written, so it never reads as a bare function call.
; graph.rs maps `this` and `self` to the enclosing type; `static` and `parent` stay as written.
; Names are the last segment of a qualified name (`new \App\Models\Order` → `Order`).

; ---------------------------------------------------------------- types
(class_declaration name: (name) @name) @definition.class
(interface_declaration name: (name) @name) @definition.interface
(trait_declaration name: (name) @name) @definition.trait
(enum_declaration name: (name) @name) @definition.enum

; ---------------------------------------------------------------- members and functions
(method_declaration name: (name) @name) @definition.method
(function_definition name: (name) @name) @definition.function
(enum_case name: (name) @name) @definition.constant

; `const A = 1, B = 2;` in a class, interface, enum or at the top of a namespace: one symbol
; per element, each with the declaration's docblock (config.toml: wrapper_nodes). The first
; child is the name; a value may be a `name` too (`const A = B;`).
(const_element . (name) @name) @definition.constant

; define('APP_VERSION', '1.0.0') / define("X", …), anywhere (also inside `if (!defined(…))`).
; The predicate tests the call's text, so no helper capture is needed.
((function_call_expression
   function: (name)
   arguments: (arguments
     . (argument [(string . (string_content) @name .)
                  (encapsed_string . (string_content) @name .)]))) @definition.constant
  (#match? @definition.constant "(?i)^define\\s*\\("))

; ---------------------------------------------------------------- inheritance
; class A extends B / extends \Ns\B / extends namespace\B
(class_declaration
  name: (name) @subject
  (base_clause
    [(name) @name
     (qualified_name (name) @name .)
     (relative_name (name) @name .)] @reference.inherits))

; interface A extends B, C
(interface_declaration
  name: (name) @subject
  (base_clause
    [(name) @name
     (qualified_name (name) @name .)
     (relative_name (name) @name .)] @reference.inherits))

; class / enum A implements I, J
(class_declaration
  name: (name) @subject
  (class_interface_clause
    [(name) @name
     (qualified_name (name) @name .)
     (relative_name (name) @name .)] @reference.implements))

(enum_declaration
  name: (name) @subject
  (class_interface_clause
    [(name) @name
     (qualified_name (name) @name .)
     (relative_name (name) @name .)] @reference.implements))

; `use Loggable, Auditable { … }` in a class, trait or enum body: the type takes the trait's
; members, recorded like an interface it implements. (The `{ A::f insteadof B; }` list is not read.)
(class_declaration
  name: (name) @subject
  body: (declaration_list
    (use_declaration
      [(name) @name
       (qualified_name (name) @name .)
       (relative_name (name) @name .)] @reference.implements)))

(trait_declaration
  name: (name) @subject
  body: (declaration_list
    (use_declaration
      [(name) @name
       (qualified_name (name) @name .)
       (relative_name (name) @name .)] @reference.implements)))

(enum_declaration
  name: (name) @subject
  body: (enum_declaration_list
    (use_declaration
      [(name) @name
       (qualified_name (name) @name .)
       (relative_name (name) @name .)] @reference.implements)))

; ---------------------------------------------------------------- calls
; $this->touch(), $order->id(), $this?->touch(): the variable's name is the receiver (`this`).
(member_call_expression
  object: (variable_name (name) @receiver)
  name: (name) @name) @reference.call

(nullsafe_member_call_expression
  object: (variable_name (name) @receiver)
  name: (name) @name) @reference.call

; $this->start($id)->add(…), $this->items->count(), (new Foo)->bar(): the object as written.
; The predicate leaves plain variables to the patterns above (one match per call site).
((member_call_expression
   object: (_) @receiver
   name: (name) @name) @reference.call
  (#not-match? @receiver "^\\$\\w+$"))

((nullsafe_member_call_expression
   object: (_) @receiver
   name: (name) @name) @reference.call
  (#not-match? @receiver "^\\$\\w+$"))

; self::goods(), static::shipping(), parent::__construct(): the keyword is the receiver.
; Pricing::total(), \App\Support\Pricing::total(): the class's last segment is the receiver.
; $class::make(): the variable's name.
(scoped_call_expression
  scope: [(relative_scope) @receiver
          (name) @receiver
          (qualified_name (name) @receiver .)
          (relative_name (name) @receiver .)
          (variable_name (name) @receiver)]
  name: (name) @name) @reference.call

; ($factory())::make(), Foo::$registry::get(), …: the scope as written.
(scoped_call_expression
  scope: [(array_creation_expression) (cast_expression) (class_constant_access_expression)
          (dynamic_variable_name) (encapsed_string) (function_call_expression) (heredoc)
          (member_access_expression) (member_call_expression) (nowdoc)
          (nullsafe_member_access_expression) (nullsafe_member_call_expression)
          (object_creation_expression) (parenthesized_expression) (scoped_call_expression)
          (scoped_property_access_expression) (string) (subscript_expression)] @receiver
  name: (name) @name) @reference.call

; format_money(…), \count(…), Support\format_money(…), namespace\f(…). `$fn()` is not read.
(function_call_expression
  function: [(name) @name
             (qualified_name (name) @name .)
             (relative_name (name) @name .)]) @reference.call

; new Order($id), new \App\Models\Order(), new Foo\Bar. `new self()`, `new static()` and
; `new parent()` name no class, and `new $class()` / `new class {}` name none that can be read.
((object_creation_expression
   [(name) @name
    (qualified_name (name) @name .)
    (relative_name (name) @name .)]) @reference.call
  (#not-match? @name "^(self|static|parent)$"))
