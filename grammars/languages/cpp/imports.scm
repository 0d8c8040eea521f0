; inherits: c
; C++ includes — tree-sitter-cpp 0.23.4 (ABI 14)
;
; C's pattern (languages/c/imports.scm) is put in front of this file: preproc_include, its
; `path` field, string_literal and system_lib_string have the same names in the C++ grammar.
;   `#include "shop/cart.hpp"` -> shop/cart.hpp     `#include <vector>` -> <vector>
; C++20 modules (`import shop.cart;`) are not parsed by this grammar version.
