; C includes — tree-sitter-c 0.24.2 (ABI 15)
;
;   @import          the `#include` line (anywhere: inside include guards and #if blocks too)
;   @import.source   the path as written. A quoted include is a string_literal whose quotes the
;                    indexer trims: `#include "shop/cart.h"` -> shop/cart.h. A system include is a
;                    system_lib_string and keeps its angle brackets: `#include <stdio.h>` -> <stdio.h>
;                    (resolve.rs, style `include`, strips them and treats it as external).
;
; No @import.name or @import.alias: an include brings in every name of the file.
; `#include MACRO` (a computed include: the path is an identifier) is not captured.

(preproc_include
  path: [(string_literal) (system_lib_string)] @import.source) @import
