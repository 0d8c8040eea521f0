; Python tags — tree-sitter-python 0.25.0
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds used here: function method class constant
;   @reference.call + @name      call sites and bare decorators; optional @receiver (plain identifier object)
;   @reference.inherits + @subject + @name   superclasses
;
; PRECEDENCE: when one node is captured by several definition patterns, the
; indexer keeps the FIRST pattern in this file. Specific patterns (method)
; therefore come before generic ones (function).
;
; Decorated definitions: the captured node is the inner function_definition /
; class_definition; its parent is a decorated_definition holding the decorators.

; ---------------------------------------------------------------- methods
; def directly in a class body, plain or decorated (@staticmethod, @property, ...)
(class_definition
  body: (block
    (function_definition name: (identifier) @name) @definition.method))

(class_definition
  body: (block
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.method)))

; ---------------------------------------------------------------- functions / classes
(function_definition name: (identifier) @name) @definition.function

(class_definition name: (identifier) @name) @definition.class

; ---------------------------------------------------------------- constants
; module-level UPPER_CASE = ...  (also annotated: UPPER: int = ...)
(module
  (expression_statement
    (assignment
      left: (identifier) @name) @definition.constant)
  (#match? @name "^_*[A-Z][A-Z0-9_]+$"))

; ---------------------------------------------------------------- inheritance
; class Foo(Base, pkg.Mixin, Generic[T], metaclass=M) -> Base, Mixin, Generic
(class_definition
  name: (identifier) @subject
  superclasses: (argument_list
    [(identifier) @name
     (attribute attribute: (identifier) @name)
     (subscript value: [(identifier) @name
                        (attribute attribute: (identifier) @name)])])) @reference.inherits

; ---------------------------------------------------------------- calls
; foo()
(call
  function: (identifier) @name) @reference.call

; obj.meth(), self.meth(), a.b.meth()
(call
  function: (attribute
    object: (identifier)? @receiver
    attribute: (identifier) @name)) @reference.call

; bare decorators call the decorator: @cached, @functools.cache
; (`@functools.wraps(fn)` is a `call` and is matched above)
(decorator
  [(identifier) @name
   (attribute
     object: (identifier)? @receiver
     attribute: (identifier) @name)]) @reference.call
