; C# using directives and namespaces — tree-sitter-c-sharp 0.23.5
;
;   @import          the using directive (`global using …` too; at file level or in a namespace)
;   @import.source   the namespace or type as written: `Shop.Models` for `using Shop.Models;`,
;                    `Shop.Pricing.PriceCalculator` for `using static Shop.Pricing.PriceCalculator;`
;                    and for `using Calc = Shop.Pricing.PriceCalculator;`
;   @import.alias    the alias of `using Calc = …;`
;   @package         the namespace the file declares (see the end of this file)
;
; `using static` is not told apart by a capture: its directive has an anonymous `static` child.
; Resolution (`resolve.rs`, style `csharp`).

; using Shop.Models; / using static Shop.Pricing.PriceCalculator; / global using Xunit;
(using_directive
  !name
  [(identifier) (qualified_name) (alias_qualified_name)] @import.source) @import

; using Calc = Shop.Pricing.PriceCalculator; / using Ids = System.Collections.Generic.List<int>;
(using_directive
  name: (identifier) @import.alias
  "="
  [(identifier) (qualified_name) (generic_name) (alias_qualified_name)] @import.source) @import

; The file's namespace, block or file-scoped (`namespace Shop.Models;`): what its own names are
; seen under. Only the first is kept: a file with nested namespaces is seen under the outer one.
(namespace_declaration name: (_) @package)
(file_scoped_namespace_declaration name: (_) @package)
