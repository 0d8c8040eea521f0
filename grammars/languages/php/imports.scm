; PHP imports — tree-sitter-php 0.25.1
;
;   @import          the `use` declaration, or the `require`/`include` expression
;   @import.source   `use`: the namespace-qualified name as written, backslashes kept
;                    (`App\Models\Order`; a leading `\` is kept too: `\Lead\Slash`);
;                    grouped `use`: the group's prefix (`App\Models` in `use App\Models\{Item, Order};`);
;                    `require`: the path string without its quotes (`/../helpers.php` in
;                    `require_once __DIR__ . '/../helpers.php';`, `config.php` in `require 'config.php';`)
;   @import.name     a grouped member (`Item`, `Order`; `B\C` in `use A\{B\C};`)
;   @import.alias    `as` alias: of the module itself (`use App\Support\Pricing as Prices;`),
;                    or of the @import.name in the same match (`use App\{Pricing as Prices};`)
;   @package         the namespace the file declares (at the end of this file)
;
; `use function A\f;` and `use const A\X;` come out like a class import (`A\f`): the
; `function`/`const` keyword is the declaration's `type` field (inside a group, a clause's
; `type` field), which no capture carries. `use A\B, C\D;` gives one import per clause.
; `use Trait;` inside a class body is a different node (`use_declaration`, tags.scm).
;
; Resolution (`resolve.rs`, style `php`): `use A\B\C` is the name `C` among the files that declare
; `namespace A\B` — what PSR-4's autoloader finds through composer.json, read from the code itself
; so a graph rebuilt from stored facts needs no other file. `require`/`include` paths:
; `__DIR__ . '/x.php'` is relative to the importer's folder, else the repository's root.

; use App\Models\Order;  use Order;  use function App\Support\format_money;  use A\B, C\D;
(namespace_use_declaration
  (namespace_use_clause
    . [(name) (qualified_name)] @import.source
    !alias)) @import

; use App\Support\Pricing as Prices;
(namespace_use_declaration
  (namespace_use_clause
    . [(name) (qualified_name)] @import.source
    alias: (name) @import.alias)) @import

; use App\Models\{Item, Order};  use function App\Support\{f, g};  use App\{Pricing as Prices};
(namespace_use_declaration
  (namespace_name) @import.source
  body: (namespace_use_group
    (namespace_use_clause
      . [(name) (qualified_name)] @import.name
      !alias))) @import

(namespace_use_declaration
  (namespace_name) @import.source
  body: (namespace_use_group
    (namespace_use_clause
      . [(name) (qualified_name)] @import.name
      alias: (name) @import.alias))) @import

; require 'config.php';  include_once("view.php");  require_once "lib/util.php";
; The predicate picks the four require/include expressions by their text, so no helper
; capture is needed (PHP keywords ignore case).
((_
   .
   [(string . (string_content) @import.source .)
    (encapsed_string . (string_content) @import.source .)
    (parenthesized_expression
      [(string . (string_content) @import.source .)
       (encapsed_string . (string_content) @import.source .)])]) @import
  (#match? @import "(?i)^(require|include)(_once)?[\\s(]"))

; require_once __DIR__ . '/../helpers.php';  require(__DIR__ . "/lib.php");
; Only `__DIR__ . '…'`: `dirname(__DIR__) . '…'` and other computed paths are not read.
((_
   .
   [(binary_expression
      left: (name)
      right: [(string . (string_content) @import.source .)
              (encapsed_string . (string_content) @import.source .)])
    (parenthesized_expression
      (binary_expression
        left: (name)
        right: [(string . (string_content) @import.source .)
                (encapsed_string . (string_content) @import.source .)]))]) @import
  (#match? @import "(?i)^(require|include)(_once)?[\\s(]*__DIR__\\s*\\."))

; The file's namespace (`namespace App\Services;` or a block): what `use` names its classes and
; functions by, and whose other files it sees without a `use`. Only the first is kept.
(namespace_definition name: (namespace_name) @package)
