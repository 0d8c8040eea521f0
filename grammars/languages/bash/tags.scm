; Bash tags — tree-sitter-bash 0.25.1
;
; Capture contract (read by the indexer):
;   @definition.<kind> + @name   kinds used here: function constant
;   @reference.call + @name      every simple command whose name is a plain word: functions
;                                and also builtins and programs (echo, git), which stay unresolved
;
; PRECEDENCE: the first pattern capturing a node wins; specific patterns come first.
;
; A function defined inside another nests in it (outer.inner). Commands named by an expansion
; (`"$cmd" x`, `$(helper)` as a name) are not captured; commands inside `$( … )`, pipelines,
; conditions and subshells are. `source` and `.` are imports (imports.scm), not calls.

; ---------------------------------------------------------------- functions
; log() { … } / function die { … } / function die() { … }
(function_definition name: (word) @name) @definition.function

; ---------------------------------------------------------------- constants
; Top-level UPPER_CASE assignments: `VERSION=1`, `readonly VERSION=1`, `declare -r X=1`,
; `export LOG_LEVEL=info` (the assignment is the definition; its doc climbs out of the
; declaration: config.toml wrapper_nodes). Lower-case and function-local variables are state.
(program
  (variable_assignment name: (variable_name) @name) @definition.constant
  (#match? @name "^_*[A-Z][A-Z0-9_]+$"))

(program
  (declaration_command
    (variable_assignment name: (variable_name) @name) @definition.constant)
  (#match? @name "^_*[A-Z][A-Z0-9_]+$"))

; ---------------------------------------------------------------- calls
; log "msg", die 1, FOO=1 run_it, git push: the command's name
((command
   name: (command_name (word) @name)) @reference.call
 (#not-match? @name "^(source|\\.)$"))
