; Ruby imports — tree-sitter-ruby 0.23.1
;
;   @import          the call: `require 'json'`, `require_relative "cart"`, `require("x")`,
;                    `autoload :Cart, "shop/cart"`
;   @import.source   the string's content as written (`json`, `cart`, `shop/pricing`); a string
;                    with interpolation (`require "shop/#{name}"`) is not an import
;
; A call of a method named `require` on a receiver (`Kernel.require`) is not matched. Both forms
; give the same source; which one it was is the start of the @import node's text
; (`require_relative` resolves from the importing file's folder, `require` and `autoload` from
; lib/ and then the repository root: style `ruby`). Capture names are checked against
; IMPORTS_CAPTURES, so the method name is tested through the text of the whole call.

((call
   !receiver
   method: (identifier)
   arguments: (argument_list
     .
     (string . (string_content) @import.source .))) @import
 (#match? @import "^(require|require_relative)\\b"))

; autoload :Cart, "shop/cart"
((call
   !receiver
   method: (identifier)
   arguments: (argument_list
     .
     (simple_symbol)
     .
     (string . (string_content) @import.source .))) @import
 (#match? @import "^autoload\\b"))
