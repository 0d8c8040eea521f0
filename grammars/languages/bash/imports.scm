; Bash imports — tree-sitter-bash 0.25.1
;
;   @import          the `source` / `.` command
;   @import.source   its first argument as written, quotes trimmed:
;                      source lib/common.sh                          -> lib/common.sh
;                      . "$DIR/lib/common.sh"                        -> $DIR/lib/common.sh
;                      source "$(dirname "$0")/../lib/common.sh"     -> $(dirname "$0")/../lib/common.sh
;                      source "${BASH_SOURCE%/*}/x.sh"               -> ${BASH_SOURCE%/*}/x.sh
;
; Resolution (style `bash`): a leading expansion stands for the script's folder or the root.
; Capture names are checked against IMPORTS_CAPTURES, so the command name is tested through
; the text of the whole command.

((command
   name: (command_name (word))
   .
   argument: [(word) (string) (raw_string) (concatenation)] @import.source) @import
 (#match? @import "^(source|\\.)\\s"))
