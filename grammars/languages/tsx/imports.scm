; inherits: typescript
;
; TSX imports — tree-sitter-typescript 0.23.2 (language_tsx): exactly TypeScript's.
