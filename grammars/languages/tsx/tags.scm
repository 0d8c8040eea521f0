; inherits: typescript
;
; TSX tags — tree-sitter-typescript 0.23.2 (language_tsx): TypeScript's, plus JSX elements as
; calls of the components they render.

; ---------------------------------------------------------------- JSX
; <Comp .../> and <Comp>..</Comp> render (call) a component; lower-case tags are
; intrinsic elements and skipped. The reference node is the opening/self-closing element.
(jsx_self_closing_element
  name: (identifier) @name
  (#match? @name "^[A-Z]")) @reference.call

(jsx_opening_element
  name: (identifier) @name
  (#match? @name "^[A-Z]")) @reference.call

; <ui.Button/>
(jsx_self_closing_element
  name: (member_expression
    object: (identifier)? @receiver
    property: (property_identifier) @name)) @reference.call

(jsx_opening_element
  name: (member_expression
    object: (identifier)? @receiver
    property: (property_identifier) @name)) @reference.call

