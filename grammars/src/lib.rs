//! Tree-sitter languages as data: which languages AgentWatch understands, their grammars, their
//! `tags.scm` / `imports.scm` queries and their `config.toml`, one folder per language under
//! `languages/`.
//!
//! Invariant: this crate does no IO. Every file is embedded at compile time; queries are compiled
//! once, on first use.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use serde::Deserialize;
use tree_sitter::Query;

/// A language AgentWatch can parse. Closed on purpose: adding one is the checklist in
/// `docs/adding-a-language.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    Rust,
    Python,
    TypeScript,
    Tsx,
    JavaScript,
    Go,
    Java,
    Kotlin,
    CSharp,
    Php,
    Ruby,
    Bash,
    C,
    Cpp,
}

/// The embedded files of one language folder.
struct Files {
    config: &'static str,
    tags: &'static str,
    imports: &'static str,
}

macro_rules! language_files {
    ($dir:literal) => {
        Files {
            config: include_str!(concat!("../languages/", $dir, "/config.toml")),
            tags: include_str!(concat!("../languages/", $dir, "/tags.scm")),
            imports: include_str!(concat!("../languages/", $dir, "/imports.scm")),
        }
    };
}

/// How imports in a language name what they import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportStyle {
    /// `use crate::a::b`, `mod a;`: module paths from the crate root or the current module.
    Rust,
    /// `import a.b`, `from .a import b`: dotted module paths, absolute or relative.
    Python,
    /// `import x from './a'`: a file path relative to the importing file, or a package name.
    Path,
    /// `import "example.com/shop/store"`: a module path then a folder, whose files are one
    /// package; a file sees its package's names without importing them.
    Go,
    /// `import com.example.shop.Order`, `import com.example.shop.*` (Java, Kotlin): a dotted path under a source
    /// root (`src/main/java`), naming a class's file or a package's folder; a file sees the names
    /// of its package (the same folder under any source root) without importing them.
    Jvm,
    /// `using Shop.Models;`, `using Json = System.Text.Json;` (C#): namespaces as the files
    /// declare them (`@package`); a file sees its own namespace's and its parents' names.
    #[serde(rename = "csharp")]
    CSharp,
    /// `use App\Models\Order;`, `use function App\format;`, `require __DIR__ . '/x.php'` (PHP):
    /// a name of a namespace the files declare (`@package`); a file sees its own namespace.
    Php,
    /// `require_relative 'cart'`, `require 'shop/cart'` (Ruby): a file from the requiring
    /// file's folder, `lib/` or the root; what it defines is global once loaded.
    Ruby,
    /// `source lib/common.sh`, `. "$(dirname "$0")/common.sh"` (Bash): a file from the script's
    /// folder or the root, whose functions the script then sees.
    Bash,
    /// `#include "shop/cart.h"`, `#include <stdio.h>` (C, C++): a header from the includer's
    /// folder or, by the end of its path, any include folder of the repository.
    Include,
}

/// What the indexer needs to know about a language beyond its queries (`config.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageConfig {
    /// File extensions, without the dot.
    pub extensions: Vec<String>,
    /// Comments right above a definition that start with one of these are its documentation.
    pub doc_comment_prefixes: Vec<String>,
    /// Node kinds that may stand between a definition and its doc comment (attributes, decorators).
    pub doc_skip_nodes: Vec<String>,
    /// Node kinds that wrap a captured definition; its doc comment sits above the outermost one.
    pub wrapper_nodes: Vec<String>,
    /// Whether the first string statement of a body is the documentation (Python docstrings).
    pub docstrings: bool,
    /// A definition's signature is its text up to the first of these child fields it has, or
    /// else its first child of one of these kinds (for grammars that name few fields: Kotlin).
    pub body_fields: Vec<String>,
    pub import_style: ImportStyle,
    /// Files that stand for their folder as a module (`mod.rs`, `__init__.py`, `index.ts`).
    pub index_files: Vec<String>,
    /// Whether a bare call inside a type's method means the type's own member first (Java's
    /// implicit `this`), before any top-level or imported name.
    pub members_in_scope: bool,
    /// Whether the parser is shown `_` for each byte of a non-ASCII character (names are still
    /// read from the real text): for grammars whose external scanner gives such characters to
    /// C's `isdigit`/`isalpha`, which is undefined beyond 255 (tree-sitter-bash crashes).
    pub mask_non_ascii: bool,
}

/// A language's compiled queries. See `ARCHITECTURE.md` for the capture names.
#[derive(Debug)]
pub struct Queries {
    pub tags: Query,
    pub imports: Query,
}

struct Loaded {
    config: LanguageConfig,
    queries: Queries,
}

impl Language {
    /// Every supported language, in a stable order.
    pub fn all() -> &'static [Language] {
        &Language::ALL
    }

    const ALL: [Language; 14] = [
        Language::Rust,
        Language::Python,
        Language::TypeScript,
        Language::Tsx,
        Language::JavaScript,
        Language::Go,
        Language::Java,
        Language::Kotlin,
        Language::CSharp,
        Language::Php,
        Language::Ruby,
        Language::Bash,
        Language::C,
        Language::Cpp,
    ];

    /// The lowercase name used in folder names, configs and wire formats.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::JavaScript => "javascript",
            Language::Go => "go",
            Language::Java => "java",
            Language::Kotlin => "kotlin",
            Language::CSharp => "csharp",
            Language::Php => "php",
            Language::Ruby => "ruby",
            Language::Bash => "bash",
            Language::C => "c",
            Language::Cpp => "cpp",
        }
    }

    /// The Tree-sitter grammar.
    pub fn grammar(self) -> tree_sitter::Language {
        match self {
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Language::Go => tree_sitter_go::LANGUAGE.into(),
            Language::Java => tree_sitter_java::LANGUAGE.into(),
            Language::Kotlin => tree_sitter_kotlin_ng::LANGUAGE.into(),
            Language::CSharp => tree_sitter_c_sharp::LANGUAGE.into(),
            // PHP files open with `<?php`; text before it is HTML.
            Language::Php => tree_sitter_php::LANGUAGE_PHP.into(),
            Language::Ruby => tree_sitter_ruby::LANGUAGE.into(),
            Language::Bash => tree_sitter_bash::LANGUAGE.into(),
            Language::C => tree_sitter_c::LANGUAGE.into(),
            Language::Cpp => tree_sitter_cpp::LANGUAGE.into(),
        }
    }

    fn files(self) -> Files {
        match self {
            Language::Rust => language_files!("rust"),
            Language::Python => language_files!("python"),
            Language::TypeScript => language_files!("typescript"),
            Language::Tsx => language_files!("tsx"),
            Language::JavaScript => language_files!("javascript"),
            Language::Go => language_files!("go"),
            Language::Java => language_files!("java"),
            Language::Kotlin => language_files!("kotlin"),
            Language::CSharp => language_files!("csharp"),
            Language::Php => language_files!("php"),
            Language::Ruby => language_files!("ruby"),
            Language::Bash => language_files!("bash"),
            Language::C => language_files!("c"),
            Language::Cpp => language_files!("cpp"),
        }
    }

    fn loaded(self) -> &'static Loaded {
        static LOADED: [OnceLock<Loaded>; Language::ALL.len()] =
            [const { OnceLock::new() }; Language::ALL.len()];
        let index = Language::all().iter().position(|&l| l == self).expect("in all()");
        LOADED[index].get_or_init(|| {
            let files = self.files();
            // Both are checked by this crate's tests, so a failure here is a build defect.
            let config = toml::from_str(files.config)
                .unwrap_or_else(|e| panic!("languages/{}/config.toml: {e}", self.name()));
            let grammar = self.grammar();
            let compile = |file: &str, pick: fn(&Files) -> &'static str| {
                Query::new(&grammar, &self.query_source(pick))
                    .unwrap_or_else(|e| panic!("languages/{}/{file}: {e}", self.name()))
            };
            let queries = Queries {
                tags: compile("tags.scm", |f| f.tags),
                imports: compile("imports.scm", |f| f.imports),
            };
            Loaded { config, queries }
        })
    }

    /// A query file's text, after the files it inherits: a first line `; inherits: <language>`
    /// puts that language's same file first (TSX's tags are TypeScript's plus JSX), the way helix
    /// composes its queries. Earlier patterns win ties, so inherited ones keep their precedence.
    fn query_source(self, pick: fn(&Files) -> &'static str) -> String {
        let text = pick(&self.files());
        let parent =
            text.lines().next().and_then(|line| line.strip_prefix("; inherits:")).map(str::trim);
        match parent {
            Some(name) => {
                let parent = Language::from_name(name).unwrap_or_else(|| {
                    panic!("languages/{}: inherits unknown language {name:?}", self.name())
                });
                format!("{}\n{text}", parent.query_source(pick))
            }
            None => text.to_owned(),
        }
    }

    pub fn config(self) -> &'static LanguageConfig {
        &self.loaded().config
    }

    pub fn queries(self) -> &'static Queries {
        &self.loaded().queries
    }

    /// The language of a file, judged by its extension.
    pub fn from_path(path: &Path) -> Option<Language> {
        let ext = path.extension()?.to_str()?;
        Language::all()
            .iter()
            .copied()
            .find(|lang| lang.config().extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)))
    }

    /// Parses a language name as written by [`Language::name`].
    pub fn from_name(name: &str) -> Option<Language> {
        Language::all().iter().copied().find(|lang| lang.name() == name)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The definition kinds `tags.scm` may capture as `@definition.<kind>`.
pub const DEFINITION_KINDS: &[&str] = &[
    "function",
    "method",
    "class",
    "struct",
    "enum",
    "trait",
    "interface",
    "type",
    "module",
    "constant",
];

/// Every capture name a `tags.scm` may use.
pub const TAGS_CAPTURES: &[&str] = &[
    "name",
    "container",
    "subject",
    "scope",
    "receiver",
    "reference.call",
    "reference.macro",
    "reference.inherits",
    "reference.implements",
];

/// Every capture name an `imports.scm` may use.
pub const IMPORTS_CAPTURES: &[&str] =
    &["import", "import.source", "import.name", "import.alias", "package"];

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, expected: Option<Language>) {
        assert_eq!(Language::from_path(Path::new(path)), expected, "{path}");
    }

    #[test]
    fn files_map_to_languages_by_extension() {
        check("src/lib.rs", Some(Language::Rust));
        check("pkg/__init__.py", Some(Language::Python));
        check("types.pyi", Some(Language::Python));
        check("src/app.ts", Some(Language::TypeScript));
        check("src/App.tsx", Some(Language::Tsx));
        check("index.mjs", Some(Language::JavaScript));
        check("Component.JSX", Some(Language::JavaScript));
        check("cmd/main.go", Some(Language::Go));
        check("src/main/java/com/example/App.java", Some(Language::Java));
        check("src/main/kotlin/Main.kt", Some(Language::Kotlin));
        check("build.gradle.kts", Some(Language::Kotlin));
        check("src/Shop/Program.cs", Some(Language::CSharp));
        check("src/Models/Order.php", Some(Language::Php));
        check("lib/shop/cart.rb", Some(Language::Ruby));
        check("shop.gemspec", Some(Language::Ruby));
        check("scripts/release.sh", Some(Language::Bash));
        check("bin/deploy", None);
        check("src/cart.c", Some(Language::C));
        check("include/shop/cart.h", Some(Language::C));
        check("src/cart.cpp", Some(Language::Cpp));
        check("include/shop/cart.hpp", Some(Language::Cpp));
        check("README.md", None);
        check("Makefile", None);
    }

    #[test]
    fn names_round_trip() {
        for &lang in Language::all() {
            assert_eq!(Language::from_name(lang.name()), Some(lang));
        }
        assert_eq!(Language::from_name("cobol"), None);
    }

    /// Every query compiles against its grammar and uses only the capture names the indexer reads
    /// (the check helix runs as `cargo xtask query-check`).
    #[test]
    fn every_query_compiles_and_uses_known_captures() {
        for &lang in Language::all() {
            let queries = lang.queries();
            for name in queries.tags.capture_names() {
                let known = TAGS_CAPTURES.contains(name)
                    || name
                        .strip_prefix("definition.")
                        .is_some_and(|k| DEFINITION_KINDS.contains(&k));
                assert!(known, "{lang}/tags.scm: unknown capture @{name}");
            }
            for name in queries.imports.capture_names() {
                assert!(
                    IMPORTS_CAPTURES.contains(name),
                    "{lang}/imports.scm: unknown capture @{name}"
                );
            }
            assert!(!lang.config().extensions.is_empty(), "{lang}: no extensions");
        }
    }

    #[test]
    fn no_extension_belongs_to_two_languages() {
        let mut seen = std::collections::HashMap::new();
        for &lang in Language::all() {
            for ext in &lang.config().extensions {
                if let Some(other) = seen.insert(ext.clone(), lang) {
                    panic!(".{ext} belongs to both {other} and {lang}");
                }
            }
        }
    }
}
