//! The facts extracted from one file. Plain data: the graph is built from these, and they are what
//! gets stored, so a restart never re-parses.

use grammars::Language;

/// What one source file defines, references and imports.
#[derive(Debug, Clone, PartialEq)]
pub struct FileFacts {
    pub language: Language,
    pub lines: u32,
    /// Ordered by position; a symbol's `parent` always comes before it.
    pub symbols: Vec<Symbol>,
    pub references: Vec<Reference>,
    pub imports: Vec<Import>,
    /// The package or namespace the file declares, as written (C# `namespace Shop.Models`, PHP
    /// `namespace App\Models`): what `using` and `use` name. `None` where the language has no
    /// such declaration in its queries (`@package` in `imports.scm`) or the file makes none.
    pub package: Option<String>,
    /// The pieces the file is searched by, in order (see `chunk.rs`).
    pub chunks: Vec<Chunk>,
    /// Problems that did not stop indexing (syntax errors, a parse that took too long).
    pub diagnostics: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Symbol {
    pub name: String,
    /// The name with its enclosing symbols or impl type: `Shortener::shorten`, `Item.total`.
    pub qualified: String,
    pub kind: SymbolKind,
    /// Index of the enclosing symbol in the same file.
    pub parent: Option<u32>,
    /// The type of the `impl` block holding this symbol, when there is one (Rust).
    pub container: Option<String>,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: u32,
    pub end_byte: u32,
    /// The declaration up to its body, on one line.
    pub signature: String,
    pub doc: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SymbolKind {
    Function,
    Method,
    Class,
    Struct,
    Enum,
    Trait,
    Interface,
    Type,
    Module,
    Constant,
}

impl SymbolKind {
    pub const ALL: [SymbolKind; 10] = [
        SymbolKind::Function,
        SymbolKind::Method,
        SymbolKind::Class,
        SymbolKind::Struct,
        SymbolKind::Enum,
        SymbolKind::Trait,
        SymbolKind::Interface,
        SymbolKind::Type,
        SymbolKind::Module,
        SymbolKind::Constant,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SymbolKind::Function => "function",
            SymbolKind::Method => "method",
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Enum => "enum",
            SymbolKind::Trait => "trait",
            SymbolKind::Interface => "interface",
            SymbolKind::Type => "type",
            SymbolKind::Module => "module",
            SymbolKind::Constant => "constant",
        }
    }

    /// The kind named by a `@definition.<kind>` capture.
    pub fn from_capture(kind: &str) -> Option<SymbolKind> {
        SymbolKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// Kinds whose members are reached through their name (`Foo::new`, `Validation.check`).
    pub fn is_scope(self) -> bool {
        self.is_type() || self == SymbolKind::Module
    }

    /// Kinds that can own methods (`impl Foo`, `class Foo`).
    pub fn is_type(self) -> bool {
        matches!(
            self,
            SymbolKind::Class
                | SymbolKind::Struct
                | SymbolKind::Enum
                | SymbolKind::Trait
                | SymbolKind::Interface
                | SymbolKind::Type
        )
    }
}

impl std::str::FromStr for SymbolKind {
    type Err = String;

    fn from_str(kind: &str) -> Result<Self, Self::Err> {
        SymbolKind::from_capture(kind).ok_or_else(|| {
            let known: Vec<&str> = SymbolKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown kind {kind:?}: use one of {}", known.join(", "))
        })
    }
}

/// A use of a name: a call, a macro invocation, or a type's parent.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub kind: RefKind,
    /// The final identifier: `foo` in `a.b.foo()`, `new` in `Foo::new()`.
    pub name: String,
    /// The path qualifier: `Foo` in `Foo::new()`.
    pub scope: Option<String>,
    /// The object of a method call when it is a plain identifier, `self` or `this`.
    pub receiver: Option<String>,
    /// For inherits/implements: the type that inherits or implements.
    pub subject: Option<String>,
    pub line: u32,
    /// Index of the innermost symbol holding the reference; `None` for top-level code.
    pub enclosing: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefKind {
    Call,
    Macro,
    Inherits,
    Implements,
}

impl RefKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::Call => "call",
            RefKind::Macro => "macro",
            RefKind::Inherits => "inherits",
            RefKind::Implements => "implements",
        }
    }

    pub fn from_capture(kind: &str) -> Option<RefKind> {
        [RefKind::Call, RefKind::Macro, RefKind::Inherits, RefKind::Implements]
            .into_iter()
            .find(|k| k.as_str() == kind)
    }
}

/// One import statement (or `require()` call, or `mod x;`).
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The module as written, quotes stripped: `./b`, `..models`, `crate::a::{b, c}`.
    pub source: String,
    /// Names imported from it (`from m import a, b as c`).
    pub names: Vec<ImportedName>,
    /// The alias of the module itself (`import a.b as c`, `* as ns`).
    pub alias: Option<String>,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedName {
    pub name: String,
    pub alias: Option<String>,
}

/// A piece of a file that is embedded and searched as one: a function, a type's header, part of a
/// long body, or a run of top-level code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: u32,
    pub end_byte: u32,
    /// Index of the symbol the chunk belongs to; `None` for top-level code.
    pub symbol: Option<u32>,
}
