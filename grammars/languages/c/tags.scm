; C tags — tree-sitter-c 0.24.2 (ABI 15)
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds used here: function struct enum type constant
;   @reference.call + @name      call sites (a macro invocation looks like a call and is one);
;                                optional @receiver: the object of `obj->fn()` / `obj.fn()`, as written
;
; PRECEDENCE: when one node is captured by several definition patterns, the indexer keeps the
; FIRST pattern in this file. Specific patterns come first (a typedef of a struct before the
; catch-all typedef).
;
; What is a definition:
; - function definitions, and function prototypes at file scope: a header's API, and usually
;   where its doc comment is. `static` prototypes are forward declarations inside a .c file and
;   are skipped. Queries cannot see the file's extension, so a non-static prototype in a .c file
;   counts too, and a header's prototype and the .c file's definition are two symbols of one name.
; - function-like macros (`#define MIN(a, b) …`) are functions (there is no macro kind);
;   object-like macros with a value (`#define CART_MAX_ITEMS 32`) are constants. A value-less
;   `#define CART_H` (include guard, feature flag) is not a definition.
; - `struct`/`union` with a body are structs, `enum` with a body an enum, its enumerators
;   constants (nested under a named enum: `cart_status.CART_OPEN`). `typedef struct [tag] { … } name_t;`
;   is ONE symbol, the typedef, named `name_t`: its tag is not a second symbol. Other typedefs are types.
;   Declarations without a body (`struct cart;`, `struct cart *c`) are not definitions.
; - file-scope `const` variables are constants; other variables, locals and fields are not.
;
; "File scope" is a direct child of the translation unit, of a preprocessor block (a header's
; declarations sit inside its include guard's `#ifndef`), or of an `extern "C"`. Listing the
; parents keeps out declarations inside function bodies (a `struct s { … } v;` there is still
; nested in its function). Function definitions need no such anchor: C has no nested functions.

; ---------------------------------------------------------------- functions
; int f(…) { … }, char *f(…) { … }, char **f(…) { … }
(function_definition
  declarator: [(function_declarator declarator: (identifier) @name)
               (pointer_declarator
                 declarator: (function_declarator declarator: (identifier) @name))
               (pointer_declarator
                 declarator: (pointer_declarator
                   declarator: (function_declarator declarator: (identifier) @name)))]) @definition.function

; Prototypes at file scope, not `static`: int cart_add(…); char *cart_name(…); char **f(…);
; (a function-pointer variable `int (*fp)(int);` has a parenthesized declarator and is skipped)
([(translation_unit
    (declaration declarator: [(function_declarator declarator: (identifier) @name)
                              (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
                              (pointer_declarator declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name)))]) @definition.function)
  (preproc_if
    (declaration declarator: [(function_declarator declarator: (identifier) @name)
                              (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
                              (pointer_declarator declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name)))]) @definition.function)
  (preproc_ifdef
    (declaration declarator: [(function_declarator declarator: (identifier) @name)
                              (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
                              (pointer_declarator declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name)))]) @definition.function)
  (preproc_else
    (declaration declarator: [(function_declarator declarator: (identifier) @name)
                              (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
                              (pointer_declarator declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name)))]) @definition.function)
  (preproc_elif
    (declaration declarator: [(function_declarator declarator: (identifier) @name)
                              (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
                              (pointer_declarator declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name)))]) @definition.function)
  (preproc_elifdef
    (declaration declarator: [(function_declarator declarator: (identifier) @name)
                              (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
                              (pointer_declarator declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name)))]) @definition.function)
  (declaration_list
    (declaration declarator: [(function_declarator declarator: (identifier) @name)
                              (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
                              (pointer_declarator declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name)))]) @definition.function)
  (linkage_specification
    (declaration declarator: [(function_declarator declarator: (identifier) @name)
                              (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
                              (pointer_declarator declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name)))]) @definition.function)]
  (#not-match? @definition.function "^static\\s"))

; #define MIN(a, b) ((a) < (b) ? (a) : (b))
(preproc_function_def
  name: (identifier) @name) @definition.function

; ---------------------------------------------------------------- types
; typedef struct [tag] { … } cart_t;  typedef union { … } value_t;  — named by the typedef
(type_definition
  type: [(struct_specifier body: (_)) (union_specifier body: (_))]
  declarator: (type_identifier) @name) @definition.struct

; typedef enum [tag] { … } cart_status_t;
(type_definition
  type: (enum_specifier body: (_))
  declarator: (type_identifier) @name) @definition.enum

; typedef long cents_t; typedef struct cart cart_t; typedef struct cart *cart_ref;
; typedef int (*item_cmp)(const item_t *, const item_t *);  (same node as above: last)
(type_definition
  declarator: [(type_identifier) @name
               (pointer_declarator declarator: (type_identifier) @name)
               (function_declarator
                 declarator: (parenthesized_declarator
                   (pointer_declarator declarator: (type_identifier) @name)))]) @definition.type

; struct cart { … };  union value { … };  enum cart_status { … };  at file scope, outside a
; typedef (whose struct is the typedef's symbol above). The parents are listed because a
; negated field (`(_ !declarator …)`) is ignored on a wildcard parent.
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
   (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)]

; struct point { … } origin;  — a struct defined with a variable (or a field) of its type
([(declaration
    type: [(struct_specifier name: (type_identifier) @name body: (_))
           (union_specifier name: (type_identifier) @name body: (_))] @definition.struct)
  (field_declaration
    type: [(struct_specifier name: (type_identifier) @name body: (_))
           (union_specifier name: (type_identifier) @name body: (_))] @definition.struct)])

([(declaration
    type: (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
  (field_declaration
    type: (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)])

; ---------------------------------------------------------------- constants
; enum cart_status { CART_OPEN, CART_PAID = 2 }
(enumerator
  name: (identifier) @name) @definition.constant

; #define CART_MAX_ITEMS 32  (with a value)
(preproc_def
  name: (identifier) @name
  value: (_)) @definition.constant

; File-scope `const` variables: static const long TAX_RATE = 20; const char NAME[] = "…";
; const char *const VERSION = "…";  (a `const char *p` is a variable: the pointer is not const)
[(translation_unit
   (declaration
     (type_qualifier "const")
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (preproc_if
   (declaration
     (type_qualifier "const")
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (preproc_ifdef
   (declaration
     (type_qualifier "const")
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (preproc_else
   (declaration
     (type_qualifier "const")
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (preproc_elif
   (declaration
     (type_qualifier "const")
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (preproc_elifdef
   (declaration
     (type_qualifier "const")
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (declaration_list
   (declaration
     (type_qualifier "const")
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)
 (linkage_specification
   (declaration
     (type_qualifier "const")
     declarator: (init_declarator
       declarator: [(identifier) @name
                    (array_declarator declarator: (identifier) @name)
                    (pointer_declarator (type_qualifier "const") declarator: (identifier) @name)])) @definition.constant)]

; ---------------------------------------------------------------- calls
; cart_add(…), MIN(a, b)
(call_expression
  function: (identifier) @name) @reference.call

; ops->total(…), cart.on_change(…): a call through a function pointer field; the object as
; written is the receiver (it names a variable, so it stays unresolved unless it names a type).
(call_expression
  function: (field_expression
    argument: (_) @receiver
    field: (field_identifier) @name)) @reference.call
