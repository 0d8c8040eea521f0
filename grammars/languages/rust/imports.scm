; Rust imports — tree-sitter-rust 0.24.2
;
;   @import          the whole statement
;   @import.source   use: the whole argument (path, `a::{b, c::d}`, `a::*`, `x as y`);
;                    the indexer expands use trees itself.
;                    `mod foo;` (no body): the module name (resolved to foo.rs / foo/mod.rs).
;                    `extern crate x [as y]`: x
;   @import.alias    `extern crate x as y`: y  (aliases inside use trees are left to the expander)

(use_declaration
  argument: (_) @import.source) @import

(mod_item
  name: (identifier) @import.source
  !body) @import

(extern_crate_declaration
  name: (identifier) @import.source
  alias: (identifier)? @import.alias) @import
