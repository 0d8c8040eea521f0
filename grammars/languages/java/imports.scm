; Java imports — tree-sitter-java 0.23.5
;
;   @import          the import declaration
;   @import.source   the dotted name as written: `com.example.shop.model.Order`; for a static
;                    import the class then the member (`org.junit.Assertions.assertEquals`)
;   @import.name     `*` for an on-demand import (`import com.example.shop.model.*;`)
;
; Resolution (`resolve.rs`, style `jvm`): the dotted name is a path under a source root, found
; by its tail (`com/example/shop/model/Order.java`), or a package folder.

(import_declaration
  [(scoped_identifier) (identifier)] @import.source) @import

(import_declaration
  [(scoped_identifier) (identifier)] @import.source
  (asterisk) @import.name) @import
