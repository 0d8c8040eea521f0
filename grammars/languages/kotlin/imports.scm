; Kotlin imports — tree-sitter-kotlin-ng 1.1.0
;
;   @import          the import directive
;   @import.source   the dotted name as written: `com.example.notes.store.Note`
;   @import.name     `*` for `import com.example.notes.store.*`
;   @import.alias    the local name of `import com.example.notes.text.wordCount as words`
;
; Resolution (`resolve.rs`, style `jvm`) is Java's: a class's file under any source root, or a
; name among a package folder's files (Kotlin's top-level functions and constants).

(import
  (qualified_identifier) @import.source) @import

(import
  (qualified_identifier) @import.source
  "*" @import.name) @import

(import
  (qualified_identifier) @import.source
  (identifier) @import.alias) @import
