; Ruby tags — tree-sitter-ruby 0.23.1
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds used here: class module method function constant
;   @reference.call + @name      method calls; optional @receiver (the object as written: `self`,
;                                `Cart`, `items`) or @scope (a constant path: `Shop::Pricing`);
;                                `Cart.new(…)` is also a call of the class Cart
;   @reference.inherits + @subject + @name     `class Cart < Base`
;   @reference.implements + @subject + @name   `include M` / `prepend M` / `extend M` in a body
;
; PRECEDENCE: the first pattern capturing a node wins; specific patterns come first.
;
; Nesting is by ranges: `def total` in `class Cart` in `module Shop` is Shop.Cart.total, and
; `class Shop::Cart` is named Cart. `def self.build` is the method `build`, and methods in
; `class << self` nest in the enclosing class. A bare call (`validate(x)`) means self's member
; first (config.toml: members_in_scope). Capture names are checked against TAGS_CAPTURES, so a
; predicate can only test a capture the indexer reads: method names are tested through the
; text of the whole call node (`^…\b`), which starts with the receiver or the method.

; ---------------------------------------------------------------- types
(class
  name: [(constant) @name
         (scope_resolution name: (constant) @name)]) @definition.class

(module
  name: [(constant) @name
         (scope_resolution name: (constant) @name)]) @definition.module

; ---------------------------------------------------------------- methods
; `def helper` outside any class or module is a function (a private method of Object).
(program
  (method name: (_) @name) @definition.function)

; def total / def empty? / def total=(v) / def ==(o) / def x = 1 / private def hidden
(method name: (_) @name) @definition.method

; def self.build / def Cart.build
(singleton_method name: (_) @name) @definition.method

; ---------------------------------------------------------------- constants
; MAX = 5, Item = Struct.new(…): at the top level or directly in a class or module body.
(program
  (assignment left: (constant) @name) @definition.constant)

(class
  body: (body_statement
    (assignment left: (constant) @name) @definition.constant))

(module
  body: (body_statement
    (assignment left: (constant) @name) @definition.constant))

; ---------------------------------------------------------------- inheritance
; class Cart < Base / class Cart < Shop::Base (a computed superclass such as
; `Struct.new(:a)` is only a call)
(class
  name: [(constant) @subject
         (scope_resolution name: (constant) @subject)]
  superclass: (superclass
    [(constant) @name
     (scope_resolution name: (constant) @name)]) @reference.inherits)

; include Comparable / include Shop::Audit, Enumerable / prepend M / extend M, directly in the
; body of a class or module (one match per module argument)
((class
   name: [(constant) @subject
          (scope_resolution name: (constant) @subject)]
   body: (body_statement
     (call
       !receiver
       method: (identifier)
       arguments: (argument_list
         [(constant) @name
          (scope_resolution name: (constant) @name)])) @reference.implements))
 (#match? @reference.implements "^(include|prepend|extend)\\b"))

((module
   name: [(constant) @subject
          (scope_resolution name: (constant) @subject)]
   body: (body_statement
     (call
       !receiver
       method: (identifier)
       arguments: (argument_list
         [(constant) @name
          (scope_resolution name: (constant) @name)])) @reference.implements))
 (#match? @reference.implements "^(include|prepend|extend)\\b"))

; ---------------------------------------------------------------- calls
; validate(x), puts "x", each_item { … }: a call node without a receiver is always a method
; call (a bare `validate` with no arguments parses as an identifier, like a local variable, and
; is not captured). require/include/… are captured by imports.scm and the mixin patterns.
((call
   !receiver
   method: (identifier) @name) @reference.call
 (#not-match? @name "^(require|require_relative|autoload|include|prepend|extend)$"))

; Shop::Pricing.total(x), ::Config.load: the constant path is the scope (its last segment is
; looked up). The predicates keep this pattern and the next one disjoint.
((call
   receiver: (scope_resolution) @scope
   method: (identifier) @name) @reference.call
 (#match? @scope "^(::)?[A-Z][A-Za-z0-9_]*(::[A-Z][A-Za-z0-9_]*)*$"))

; self.foo, Cart.build(…), items.each { … }, @items.sum, a&.b: the receiver as written; only
; `self`, a type or a module resolves.
((call
   receiver: (_) @receiver
   method: (identifier) @name) @reference.call
 (#not-match? @receiver "^(::)?[A-Z][A-Za-z0-9_]*(::[A-Z][A-Za-z0-9_]*)+$|^::[A-Z][A-Za-z0-9_]*$"))

; Cart.new(…) / Cart::new(…) also calls the class Cart (its `initialize` is not named `new`)
((call
   receiver: (constant) @name
   method: (identifier)) @reference.call
 (#match? @reference.call "^[A-Z][A-Za-z0-9_]*\\s*(\\.|&\\.|::)\\s*new\\b"))

; Shop::Cart.new(…): the class Cart, scoped by Shop
((call
   receiver: (scope_resolution
     scope: (_) @scope
     name: (constant) @name)
   method: (identifier)) @reference.call
 (#match? @reference.call "^(::)?[A-Z][A-Za-z0-9_]*(::[A-Z][A-Za-z0-9_]*)+\\s*(\\.|&\\.|::)\\s*new\\b"))

; ::Cart.new(…)
((call
   receiver: (scope_resolution
     !scope
     name: (constant) @name)
   method: (identifier)) @reference.call
 (#match? @reference.call "^::[A-Z][A-Za-z0-9_]*\\s*(\\.|&\\.|::)\\s*new\\b"))
