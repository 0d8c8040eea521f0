//! Where an import points: module paths and file paths turned into files of the repository, or
//! named external packages. One function per import style (`grammars::ImportStyle`).

use std::collections::{HashMap, HashSet};

use grammars::{ImportStyle, Language};

use crate::model::Import;

/// What an import's module resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Module {
    /// A file of this repository, by index.
    File(usize),
    /// A package from outside the repository (`react`, `std`, `os`).
    External(String),
    /// A relative import whose target is not in the repository.
    Missing,
}

/// One name an import brings into a file's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// A module (file) bound to a local name: `import pricing`, `use crate::codec`, `mod store;`.
    Module(usize),
    /// A name defined (or re-exported) by a file: `from .models import Item`.
    Item { file: usize, name: String },
    /// A name from an external package.
    External(String),
    /// A package of several files bound to a local name: Go's `import "example.com/shop/store"`.
    Package(Vec<usize>),
    /// A name defined by one of a package's files: `import com.example.shop.Order` when no file
    /// is named `Order.java`.
    InPackage { files: Vec<usize>, name: String },
}

/// The outcome of resolving one import statement.
#[derive(Debug, Default)]
pub struct Resolved {
    pub modules: Vec<Module>,
    pub bindings: Vec<(String, Binding)>,
    /// Files whose every name is imported (`from x import *`, `use x::*`, `export * from`).
    pub globs: Vec<usize>,
    /// Types whose members are seen bare: C#'s `using static Shop.Pricing.PriceCalculator;`.
    pub members_of: Vec<String>,
}

/// The repository's files, for looking paths up.
pub struct Files<'a> {
    paths: &'a [String],
    by_path: HashMap<&'a str, usize>,
    /// Rust: module folder → the file that is that module.
    rust_modules: HashMap<String, usize>,
    /// Every tail of every path that starts at a folder boundary (`pkg/mod.py`, `mod.py`) → the
    /// files ending so (not for Rust, TS/JS and Go, which never look a file up by its end):
    /// absolute imports find their file in one lookup.
    tails: HashMap<&'a str, Vec<usize>>,
    dirs: HashSet<String>,
    /// Go: folder → its Go files, a package.
    go_packages: HashMap<&'a str, Vec<usize>>,
    /// Go: the repository's module paths (`example.com/shop`), longest first.
    go_modules: Vec<String>,
    /// Java: every tail of every folder holding Java files (`com/example/shop`, `shop`) → its
    /// files, so `import com.example.shop.*` finds its package under any source root.
    jvm_folders: HashMap<&'a str, Vec<usize>>,
    /// Java: each file's package — its folder under a source root — and the package's files.
    jvm_package: Vec<Option<usize>>,
    jvm_packages: Vec<Vec<usize>>,
    /// The extensions of the `jvm` import style's languages, for a class's file name.
    jvm_extensions: Vec<&'static str>,
    /// C#, PHP: each declared namespace (`Shop.Models`, `App\Models`) → the files declaring it.
    namespaces: HashMap<&'a str, Vec<usize>>,
    /// C#, PHP: the namespace each file declares.
    declared: Vec<Option<&'a str>>,
    styles: Vec<ImportStyle>,
}

impl<'a> Files<'a> {
    /// The repository's files, the package each declares (C#'s and PHP's namespaces), and every
    /// file's import sources, from which Go's module paths are read ([`go_module_paths`]).
    pub fn new<'i>(
        paths: &'a [String],
        languages: &[Language],
        declared: Vec<Option<&'a str>>,
        imports: impl Iterator<Item = &'i str>,
    ) -> Files<'a> {
        let by_path = paths.iter().enumerate().map(|(i, p)| (p.as_str(), i)).collect();
        let rust_modules = paths
            .iter()
            .enumerate()
            .filter(|(i, _)| languages[*i] == Language::Rust)
            .map(|(i, p)| (rust_module_dir(p), i))
            .collect();
        let styles: Vec<ImportStyle> = languages.iter().map(|l| l.config().import_style).collect();
        let mut tails: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, path) in paths.iter().enumerate() {
            if !matches!(styles[i], ImportStyle::Rust | ImportStyle::Path | ImportStyle::Go) {
                for tail in path_tails(path) {
                    tails.entry(tail).or_default().push(i);
                }
            }
        }
        let mut dirs = HashSet::new();
        for path in paths {
            let mut dir = parent(path);
            while dirs.insert(dir.to_owned()) && !dir.is_empty() {
                dir = parent(dir);
            }
        }
        let mut go_packages: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, path) in paths.iter().enumerate().filter(|(i, _)| languages[*i] == Language::Go) {
            go_packages.entry(parent(path)).or_default().push(i);
        }
        let imports: Vec<&str> = imports.collect();
        let go_modules = go_module_paths(imports.iter().copied(), &go_packages);
        let mut jvm_folders: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, path) in paths.iter().enumerate().filter(|(i, _)| styles[*i] == ImportStyle::Jvm) {
            for tail in path_tails(parent(path)) {
                jvm_folders.entry(tail).or_default().push(i);
            }
        }
        let (jvm_package, jvm_packages) = jvm_packages(paths, &styles, &imports);
        let jvm_extensions = Language::all()
            .iter()
            .filter(|l| l.config().import_style == ImportStyle::Jvm)
            .flat_map(|l| l.config().extensions.iter().map(String::as_str))
            .collect();
        let mut namespaces: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, namespace) in declared.iter().enumerate() {
            if let Some(namespace) = namespace {
                namespaces.entry(namespace).or_default().push(i);
            }
        }
        Files {
            paths,
            by_path,
            rust_modules,
            tails,
            dirs,
            go_packages,
            go_modules,
            jvm_folders,
            jvm_package,
            jvm_packages,
            jvm_extensions,
            namespaces,
            declared,
            styles,
        }
    }

    fn find(&self, path: &str) -> Option<usize> {
        self.by_path.get(path).copied()
    }

    /// Resolves one import of `importer` (a file index).
    pub fn resolve(&self, importer: usize, language: Language, import: &Import) -> Resolved {
        match language.config().import_style {
            ImportStyle::Path => self.resolve_path(importer, import),
            ImportStyle::Python => self.resolve_python(importer, import),
            ImportStyle::Rust => self.resolve_rust(importer, import),
            ImportStyle::Go => self.resolve_go(import),
            ImportStyle::Jvm => self.resolve_jvm(importer, import),
            ImportStyle::CSharp => self.resolve_namespaced(import, "."),
            ImportStyle::Php if import.source.ends_with(".php") => {
                self.resolve_include(importer, import)
            }
            ImportStyle::Php => self.resolve_namespaced(import, "\\"),
            ImportStyle::Ruby => self.resolve_ruby(importer, import),
            ImportStyle::Bash => self.resolve_bash(importer, import),
            ImportStyle::Include => self.resolve_include_directive(importer, import),
        }
    }

    /// The other files of `file`'s package, whose top-level names it sees without an import (Go,
    /// Java); none in languages whose files are modules of their own.
    pub fn siblings(&self, file: usize) -> Vec<usize> {
        match self.styles[file] {
            ImportStyle::Go => self.go_siblings(file),
            ImportStyle::Jvm => match self.jvm_package[file] {
                Some(package) => self.jvm_packages[package]
                    .iter()
                    .copied()
                    .filter(|&f| f != file && self.jvm_sees(file, f))
                    .collect(),
                None => Vec::new(),
            },
            // C#: a namespace's files, and those of the namespaces around it (`Shop` for
            // `Shop.Models`); PHP: the namespace's own files only.
            ImportStyle::CSharp | ImportStyle::Php => {
                let Some(mut namespace) = self.declared[file] else { return Vec::new() };
                let mut files = Vec::new();
                loop {
                    let same = self.namespaces.get(namespace).into_iter().flatten();
                    files.extend(
                        same.copied().filter(|&f| f != file && self.styles[f] == self.styles[file]),
                    );
                    match namespace.rsplit_once('.') {
                        Some((outer, _)) if self.styles[file] == ImportStyle::CSharp => {
                            namespace = outer;
                        }
                        _ => break,
                    }
                }
                files
            }
            ImportStyle::Rust
            | ImportStyle::Python
            | ImportStyle::Path
            | ImportStyle::Ruby
            | ImportStyle::Bash
            | ImportStyle::Include => Vec::new(),
        }
    }

    /// The other Go files of `file`'s package: all of them from a test file, the non-test ones
    /// from the rest.
    fn go_siblings(&self, file: usize) -> Vec<usize> {
        let path = &self.paths[file];
        let Some(package) = self.go_packages.get(parent(path)) else { return Vec::new() };
        let test = is_go_test(path);
        package
            .iter()
            .copied()
            .filter(|&f| f != file && (test || !is_go_test(&self.paths[f])))
            .collect()
    }

    // ---------------------------------------------------------------- Go

    fn resolve_go(&self, import: &Import) -> Resolved {
        let mut resolved = Resolved::default();
        let source = import.source.as_str();
        let local = import.alias.clone().unwrap_or_else(|| go_package_name(source));
        let dir = self.go_modules.iter().find_map(|module| match source.strip_prefix(module) {
            Some("") => Some(""),
            Some(rest) => rest.strip_prefix('/'),
            None => None,
        });
        let Some(dir) = dir else {
            if local != "_" && local != "." {
                resolved.bindings.push((local, Binding::External(source.to_owned())));
            }
            resolved.modules.push(Module::External(source.to_owned()));
            return resolved;
        };
        let files: Vec<usize> = self
            .go_packages
            .get(dir)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&f| !is_go_test(&self.paths[f]))
            .collect();
        if files.is_empty() {
            resolved.modules.push(Module::Missing);
            return resolved;
        }
        resolved.modules.extend(files.iter().map(|&f| Module::File(f)));
        match local.as_str() {
            "_" => {}
            "." => resolved.globs.extend(files),
            _ => resolved.bindings.push((local, Binding::Package(files))),
        }
        resolved
    }

    // ---------------------------------------------------------------- Java

    /// `import a.b.C` binds `C` (or its alias) from `a/b/C.java` or `a/b/C.kt` under any source
    /// root, or from the package folder `a/b` when no file is named so (Kotlin's top-level
    /// functions); `import a.b.*` sees every name of the package;
    /// `import static a.b.C.m` and nested classes link the class's file and bind nothing (a
    /// member is not a top-level name). Anything else is an external package (`java.util`).
    fn resolve_jvm(&self, importer: usize, import: &Import) -> Resolved {
        let mut resolved = Resolved::default();
        let segments: Vec<&str> = import.source.split('.').collect();
        if import.names.iter().any(|n| n.name == "*") {
            let files = self.jvm_package_files(importer, &segments.join("/"));
            if !files.is_empty() {
                resolved.modules.extend(files.iter().map(|&f| Module::File(f)));
                resolved.globs.extend(files);
            } else if let Some(class) = self.jvm_class(importer, &segments) {
                resolved.modules.push(Module::File(class));
            } else {
                resolved.modules.push(Module::External(jvm_package_name(&segments)));
            }
            return resolved;
        }
        let name = segments.last().copied().unwrap_or_default().to_owned();
        // Kotlin's `import a.b.wordCount as words`.
        let local = import.alias.clone().unwrap_or_else(|| name.clone());
        if let Some(class) = self.jvm_class(importer, &segments) {
            resolved.modules.push(Module::File(class));
            resolved.bindings.push((local, Binding::Item { file: class, name }));
            return resolved;
        }
        let package = segments[..segments.len() - 1].join("/");
        let files = self.jvm_package_files(importer, &package);
        if !files.is_empty() && !package.is_empty() {
            // Linked to the files that define the name once names are known (`graph.rs`).
            resolved.bindings.push((local, Binding::InPackage { files, name }));
            return resolved;
        }
        let outer =
            (1..segments.len()).rev().find_map(|k| self.jvm_class(importer, &segments[..k]));
        if let Some(class) = outer {
            resolved.modules.push(Module::File(class));
            return resolved;
        }
        let package = jvm_package_name(&segments);
        resolved.bindings.push((local, Binding::External(package.clone())));
        resolved.modules.push(Module::External(package));
        resolved
    }

    /// The files of the package folders ending in `package` (`a/b`) that `importer` can see.
    fn jvm_package_files(&self, importer: usize, package: &str) -> Vec<usize> {
        let files = self.jvm_folders.get(package).into_iter().flatten().copied();
        files.filter(|&f| self.jvm_sees(importer, f)).collect()
    }

    /// Whether `importer` can see `file`: test sources see the main ones, not the other way.
    fn jvm_sees(&self, importer: usize, file: usize) -> bool {
        !is_jvm_test(&self.paths[file]) || is_jvm_test(&self.paths[importer])
    }

    /// The file of class `a.b.C` (`…/a/b/C.java`), the one nearest the importer if the
    /// repository has several (modules of one build).
    fn jvm_class(&self, importer: usize, segments: &[&str]) -> Option<usize> {
        let path = segments.join("/");
        let candidates = self
            .jvm_extensions
            .iter()
            .filter_map(|ext| self.tails.get(format!("{path}.{ext}").as_str()))
            .flatten()
            .copied()
            .filter(|&f| self.styles[f] == ImportStyle::Jvm && self.jvm_sees(importer, f));
        let shared = |f: usize| common_prefix(&self.paths[f], &self.paths[importer]);
        candidates.fold(None, |best: Option<usize>, f| match best {
            Some(b) if shared(b) >= shared(f) => Some(b),
            _ => Some(f),
        })
    }

    // ---------------------------------------------------------------- C#, PHP

    /// A namespace-qualified import, `sep` between the parts: a namespace the repository's files
    /// declare is a glob over them (`using Shop.Models;`) or, under an alias, a package
    /// (`using M = Shop.Models;`); `Namespace<sep>Name` is that name among the namespace's files
    /// (`using O = Shop.Models.Order;`, `use App\Models\Order;`, `use function App\format;`),
    /// as are the members of a group (`use App\Models\{Order, Item};`). Anything else is an
    /// external namespace (`System.Linq`, `Monolog`).
    fn resolve_namespaced(&self, import: &Import, sep: &str) -> Resolved {
        let mut resolved = Resolved::default();
        let source = import.source.trim_start_matches(sep);
        let files = |namespace: &str| self.namespaces.get(namespace).cloned().unwrap_or_default();
        if !import.names.is_empty() {
            let members = files(source);
            for name in &import.names {
                let local = name.alias.clone().unwrap_or_else(|| name.name.clone());
                let binding = if members.is_empty() {
                    Binding::External(source.to_owned())
                } else {
                    Binding::InPackage { files: members.clone(), name: name.name.clone() }
                };
                resolved.bindings.push((local, binding));
            }
            if members.is_empty() {
                resolved.modules.push(Module::External(source.to_owned()));
            }
            return resolved;
        }
        let whole = files(source);
        if !whole.is_empty() {
            resolved.modules.extend(whole.iter().map(|&f| Module::File(f)));
            match &import.alias {
                Some(alias) => resolved.bindings.push((alias.clone(), Binding::Package(whole))),
                None => resolved.globs.extend(whole),
            }
            return resolved;
        }
        let (namespace, name) = source.rsplit_once(sep).unwrap_or(("", source));
        let local = import.alias.clone().unwrap_or_else(|| name.to_owned());
        let members = files(namespace);
        if sep == "." && import.alias.is_none() && !members.is_empty() {
            // A C# `using` without an alias that names a type is `using static`.
            resolved.members_of.push(name.to_owned());
        }
        if members.is_empty() {
            // C#'s `using System.Linq;` names a namespace; PHP's `use Monolog\Logger;` a class.
            let package = if sep == "." || namespace.is_empty() { source } else { namespace };
            resolved.bindings.push((local, Binding::External(package.to_owned())));
            resolved.modules.push(Module::External(package.to_owned()));
        } else {
            resolved
                .bindings
                .push((local, Binding::InPackage { files: members, name: name.to_owned() }));
        }
        resolved
    }

    /// `require __DIR__ . '/helpers.php'`, `include 'lib/x.php'`: a file, from the includer's
    /// folder or else the repository's root, whose top-level names it then sees.
    fn resolve_include(&self, importer: usize, import: &Import) -> Resolved {
        let mut resolved = Resolved::default();
        let written = import.source.trim_start_matches('/');
        let here = join(parent(&self.paths[importer]), written);
        let found = normalize(&here)
            .and_then(|p| self.find(&p))
            .or_else(|| normalize(written).and_then(|p| self.find(&p)));
        match found {
            Some(file) => {
                resolved.modules.push(Module::File(file));
                resolved.globs.push(file);
            }
            None => resolved.modules.push(Module::Missing),
        }
        resolved
    }

    // ---------------------------------------------------------------- Ruby, Bash, C/C++

    /// `require_relative 'shop/cart'` and `require 'shop/cart'` alike: `shop/cart.rb` from the
    /// requiring file's folder, then `lib/` (a gem's load path), then the root, then any file
    /// ending so (a gem of the repository's own); `require 'json'` is an external library.
    /// Everything a Ruby file defines is global once loaded, so a require links files and binds
    /// no names (`graph.rs` looks Ruby's constants up repository-wide).
    fn resolve_ruby(&self, importer: usize, import: &Import) -> Resolved {
        let mut resolved = Resolved::default();
        let source = import.source.as_str();
        let written =
            if source.ends_with(".rb") { source.to_owned() } else { format!("{source}.rb") };
        match self.file_from(importer, &written, &["lib", ""]) {
            Some(file) => resolved.modules.push(Module::File(file)),
            None => resolved.modules.push(Module::External(first_segment(source, '/'))),
        }
        resolved
    }

    /// `source lib/common.sh`, `. "$DIR/common.sh"`, `source "$(dirname "$0")/../lib/x.sh"`: a
    /// variable or command substitution before the first `/` stands for the script's folder. The
    /// file's functions (and what it sources in turn) become the script's.
    fn resolve_bash(&self, importer: usize, import: &Import) -> Resolved {
        let mut resolved = Resolved::default();
        let written = import.source.as_str();
        let written = match written.strip_prefix('$') {
            Some(_) => bash_after_prefix(written),
            None => written,
        };
        match self.file_from(importer, written, &[""]) {
            Some(file) => {
                resolved.modules.push(Module::File(file));
                resolved.globs.push(file);
            }
            None => resolved.modules.push(Module::Missing),
        }
        resolved
    }

    /// `#include "cart.h"` from the includer's folder, else, like `#include <shop/cart.h>`, the
    /// header nearest the includer among those whose path ends so (the repository's include
    /// folders, whichever they are: `include/`, `src/`, a library's own); a header the
    /// repository does not have is external (`<stdio.h>`, `<vector>`). The header's names
    /// become the includer's.
    fn resolve_include_directive(&self, importer: usize, import: &Import) -> Resolved {
        let mut resolved = Resolved::default();
        let source = import.source.as_str();
        let (written, system) = match source.strip_prefix('<') {
            Some(rest) => (rest.trim_end_matches('>'), true),
            None => (source, false),
        };
        let found = if system {
            self.nearest_ending(importer, written)
        } else {
            self.file_from(importer, written, &[])
        };
        match found {
            Some(file) => {
                resolved.modules.push(Module::File(file));
                resolved.globs.push(file);
            }
            None if system => resolved.modules.push(Module::External(written.to_owned())),
            None => resolved.modules.push(Module::Missing),
        }
        resolved
    }

    /// A file named relative to the importer's folder, else to one of `roots`, else the one
    /// nearest the importer among the files whose path ends so.
    fn file_from(&self, importer: usize, written: &str, roots: &[&str]) -> Option<usize> {
        let here = parent(&self.paths[importer]);
        std::iter::once(here)
            .chain(roots.iter().copied())
            .find_map(|dir| normalize(&join(dir, written)).and_then(|p| self.find(&p)))
            .or_else(|| self.nearest_ending(importer, written))
    }

    /// Of the files whose path ends with `written` at a folder boundary, the one sharing the
    /// most folders with the importer.
    fn nearest_ending(&self, importer: usize, written: &str) -> Option<usize> {
        let candidates = self.tails.get(normalize(written)?.as_str())?;
        let shared = |f: usize| common_prefix(&self.paths[f], &self.paths[importer]);
        candidates.iter().copied().filter(|&f| f != importer).fold(None, |best, f| match best {
            Some(b) if shared(b) >= shared(f) => Some(b),
            _ => Some(f),
        })
    }

    // ---------------------------------------------------------------- TypeScript / JavaScript

    fn resolve_path(&self, importer: usize, import: &Import) -> Resolved {
        let module = self.path_module(importer, &import.source);
        let mut resolved = Resolved::default();
        match &module {
            Module::File(file) => {
                if import.names.is_empty() && import.alias.is_none() {
                    resolved.globs.push(*file); // `export * from`, side-effect imports
                }
                if let Some(alias) = &import.alias {
                    resolved.bindings.push((alias.clone(), Binding::Module(*file)));
                }
                for name in &import.names {
                    let local = name.alias.clone().unwrap_or_else(|| name.name.clone());
                    resolved
                        .bindings
                        .push((local, Binding::Item { file: *file, name: name.name.clone() }));
                }
            }
            Module::External(package) => {
                for name in import.names.iter().map(|n| n.alias.as_ref().unwrap_or(&n.name)) {
                    resolved.bindings.push((name.clone(), Binding::External(package.clone())));
                }
                if let Some(alias) = &import.alias {
                    resolved.bindings.push((alias.clone(), Binding::External(package.clone())));
                }
            }
            Module::Missing => {}
        }
        resolved.modules.push(module);
        resolved
    }

    fn path_module(&self, importer: usize, source: &str) -> Module {
        if !(source.starts_with("./")
            || source.starts_with("../")
            || source == "."
            || source == "..")
        {
            return Module::External(package_name(source));
        }
        let Some(base) = normalize(&join(parent(&self.paths[importer]), source)) else {
            return Module::Missing;
        };
        // TypeScript sources import './x.js' to mean './x.ts'.
        let stem = base
            .strip_suffix(".js")
            .or_else(|| base.strip_suffix(".jsx"))
            .or_else(|| base.strip_suffix(".mjs"))
            .unwrap_or(&base);
        let extensions: Vec<&String> = Language::all()
            .iter()
            .filter(|l| l.config().import_style == ImportStyle::Path)
            .flat_map(|l| &l.config().extensions)
            .collect();
        let mut candidates = vec![base.clone()];
        for stem in [base.as_str(), stem] {
            candidates.extend(extensions.iter().map(|ext| format!("{stem}.{ext}")));
        }
        for lang in Language::all().iter().filter(|l| l.config().import_style == ImportStyle::Path)
        {
            candidates.extend(lang.config().index_files.iter().map(|index| join(&base, index)));
        }
        candidates.iter().find_map(|c| self.find(c)).map_or(Module::Missing, Module::File)
    }

    // ---------------------------------------------------------------- Python

    fn resolve_python(&self, importer: usize, import: &Import) -> Resolved {
        let mut resolved = Resolved::default();
        let module = self.python_module(importer, &import.source);
        let Module::File(file) = module else {
            if let Module::External(package) = &module {
                let local = match (&import.alias, import.names.is_empty()) {
                    (Some(alias), _) => vec![alias.clone()],
                    (None, true) => vec![package.clone()],
                    (None, false) => import
                        .names
                        .iter()
                        .map(|n| n.alias.clone().unwrap_or(n.name.clone()))
                        .collect(),
                };
                for name in local {
                    resolved.bindings.push((name, Binding::External(package.clone())));
                }
            }
            resolved.modules.push(module);
            return resolved;
        };
        if import.names.is_empty() {
            if import.alias.is_none() && import.source.starts_with('.') {
                // Only `from .x import *` has a relative source and no names.
                resolved.globs.push(file);
            } else if let Some(alias) = &import.alias {
                resolved.bindings.push((alias.clone(), Binding::Module(file)));
            } else {
                // `import a.b` binds `a`, the top package.
                let top = first_segment(&import.source, '.');
                if let Module::File(package) = self.python_module(importer, &top) {
                    resolved.bindings.push((top, Binding::Module(package)));
                }
            }
        }
        resolved.modules.push(Module::File(file));
        for name in &import.names {
            let local = name.alias.clone().unwrap_or_else(|| name.name.clone());
            // `from pkg import sub` may name a submodule rather than an item.
            let submodule = self.python_submodule(file, &name.name);
            match submodule {
                Some(sub) => {
                    resolved.modules.push(Module::File(sub));
                    resolved.bindings.push((local, Binding::Module(sub)));
                }
                None => {
                    resolved
                        .bindings
                        .push((local, Binding::Item { file, name: name.name.clone() }));
                }
            }
        }
        resolved
    }

    fn python_module(&self, importer: usize, module: &str) -> Module {
        let dots = module.chars().take_while(|&c| c == '.').count();
        let rest = module[dots..].replace('.', "/");
        if dots > 0 {
            let mut base = parent(&self.paths[importer]).to_owned();
            for _ in 1..dots {
                base = parent(&base).to_owned();
            }
            let path = if rest.is_empty() { base } else { join(&base, &rest) };
            return self.python_file(&path).map_or(Module::Missing, Module::File);
        }
        // Absolute: the package may sit at the root or under a source folder (`src/`); the
        // shortest path that ends so wins.
        let best = [format!("{rest}.py"), format!("{rest}/__init__.py"), format!("{rest}.pyi")]
            .iter()
            .filter_map(|candidate| self.tails.get(candidate.as_str()))
            .flatten()
            .copied()
            .min_by_key(|&i| (self.paths[i].len(), i));
        best.map_or_else(|| Module::External(first_segment(module, '.')), Module::File)
    }

    fn python_file(&self, path: &str) -> Option<usize> {
        if path.is_empty() {
            return self.find("__init__.py");
        }
        self.find(&format!("{path}.py"))
            .or_else(|| self.find(&format!("{path}/__init__.py")))
            .or_else(|| self.find(&format!("{path}.pyi")))
    }

    fn python_submodule(&self, package: usize, name: &str) -> Option<usize> {
        let path = &self.paths[package];
        let dir = path.strip_suffix("/__init__.py").or_else(|| path.strip_suffix("__init__.py"))?;
        self.python_file(&join(dir, name))
    }

    // ---------------------------------------------------------------- Rust

    fn resolve_rust(&self, importer: usize, import: &Import) -> Resolved {
        let mut resolved = Resolved::default();
        let source = import.source.trim();
        // `mod foo;`
        if is_identifier(source) && !source.contains("::") && import.names.is_empty() {
            let dir = rust_module_dir(&self.paths[importer]);
            let child = self
                .find(&join(&dir, &format!("{source}.rs")))
                .or_else(|| self.find(&join(&dir, &format!("{source}/mod.rs"))));
            match child {
                Some(file) => {
                    resolved.modules.push(Module::File(file));
                    resolved.bindings.push((source.to_owned(), Binding::Module(file)));
                }
                // `extern crate x` and `use x;` of a dependency.
                None => resolved.modules.push(Module::External(source.to_owned())),
            }
            return resolved;
        }
        for (segments, alias) in expand_use_tree(source) {
            self.resolve_rust_path(importer, &segments, alias, &mut resolved);
        }
        resolved
    }

    fn resolve_rust_path(
        &self,
        importer: usize,
        segments: &[String],
        alias: Option<String>,
        out: &mut Resolved,
    ) {
        let Some(first) = segments.first() else { return };
        let (mut module, rest) = match first.as_str() {
            "crate" => (self.rust_crate_root(importer), &segments[1..]),
            "self" => (Some(importer), &segments[1..]),
            "super" => (self.rust_parent_module(importer), &segments[1..]),
            _ => match self.rust_child_module(importer, first).or_else(|| {
                self.rust_crate_root(importer).and_then(|root| self.rust_child_module(root, first))
            }) {
                Some(child) => (Some(child), &segments[1..]),
                None => {
                    let package = first.clone();
                    let local =
                        alias.unwrap_or_else(|| segments.last().cloned().unwrap_or_default());
                    if local != "*" {
                        out.bindings.push((local, Binding::External(package.clone())));
                    }
                    if !out.modules.contains(&Module::External(package.clone())) {
                        out.modules.push(Module::External(package));
                    }
                    return;
                }
            },
        };
        let mut rest = rest;
        while let (Some(current), Some(next)) = (module, rest.first()) {
            if next == "super" {
                module = self.rust_parent_module(current);
            } else if let Some(child) = self.rust_child_module(current, next) {
                module = Some(child);
            } else {
                break;
            }
            rest = &rest[1..];
        }
        let Some(file) = module else { return };
        if !out.modules.contains(&Module::File(file)) {
            out.modules.push(Module::File(file));
        }
        match rest {
            // `use crate::codec;` or `use crate::codec::{self}`: the module itself.
            [] => {
                let name = alias.or_else(|| segments.iter().rev().find(|s| *s != "self").cloned());
                if let Some(name) = name {
                    out.bindings.push((name, Binding::Module(file)));
                }
            }
            [star] if star == "*" => out.globs.push(file),
            [item] => {
                let local = alias.unwrap_or_else(|| item.clone());
                out.bindings.push((local, Binding::Item { file, name: item.clone() }));
            }
            // `use a::Enum::Variant` and deeper: bind the last name to the first item.
            [item, .., last] => {
                let local = alias.unwrap_or_else(|| last.clone());
                out.bindings.push((local, Binding::Item { file, name: item.clone() }));
            }
        }
    }

    fn rust_child_module(&self, module: usize, name: &str) -> Option<usize> {
        let dir = rust_module_dir(&self.paths[module]);
        self.find(&join(&dir, &format!("{name}.rs")))
            .or_else(|| self.find(&join(&dir, &format!("{name}/mod.rs"))))
    }

    fn rust_parent_module(&self, module: usize) -> Option<usize> {
        let dir = rust_module_dir(&self.paths[module]);
        self.rust_modules.get(parent(&dir)).copied()
    }

    /// The nearest `lib.rs` or `main.rs` at or above the file's folder.
    fn rust_crate_root(&self, file: usize) -> Option<usize> {
        let mut dir = parent(&self.paths[file]);
        loop {
            for root in ["lib.rs", "main.rs"] {
                if let Some(found) = self.find(&join(dir, root)) {
                    return Some(found);
                }
            }
            if dir.is_empty() || !self.dirs.contains(dir) {
                return None;
            }
            dir = parent(dir);
        }
    }
}

/// The module paths of a repository's Go code, read from what its files import: an import of
/// one of its own packages is a module path, then the package's folder (`example.com/shop` +
/// `/internal/store`). The standard library's paths have no dot in their first element and are
/// never module paths. The module path most imports point through is the repository's; another
/// is taken when at least two imports agree on it (a nested module), so one external import that
/// happens to end like a folder here (`github.com/x/y/internal/store`) is not taken for one.
fn go_module_paths<'i>(
    imports: impl Iterator<Item = &'i str>,
    packages: &HashMap<&str, Vec<usize>>,
) -> Vec<String> {
    let mut votes: HashMap<&str, usize> = HashMap::new();
    let mut seen = HashSet::new();
    for source in imports {
        let domain = source.split('/').next().unwrap_or_default();
        if !domain.contains('.') || !seen.insert(source) {
            continue;
        }
        for dir in packages.keys().filter(|d| !d.is_empty()) {
            if let Some(module) = source.strip_suffix(*dir).and_then(|m| m.strip_suffix('/'))
                && module.contains('/')
            {
                *votes.entry(module).or_default() += 1;
            }
        }
    }
    let most = votes.values().copied().max().unwrap_or(0);
    let mut modules: Vec<String> = votes
        .into_iter()
        .filter(|&(_, n)| n == most || n >= 2)
        .map(|(module, _)| module.to_owned())
        .collect();
    modules.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    modules
}

/// The name a Go import binds when it gives none: the package clause, by convention the path's
/// last element — less a major version (`…/yaml/v3` → `yaml`, `gopkg.in/yaml.v3` → `yaml`).
fn go_package_name(source: &str) -> String {
    let mut parts = source.rsplit('/');
    let last = parts.next().unwrap_or(source);
    let is_version = |p: &str| {
        p.strip_prefix('v').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let name = match parts.next() {
        Some(before) if is_version(last) => before,
        _ => last,
    };
    let name = match name.rsplit_once(".v") {
        Some((base, version)) if is_version(&format!("v{version}")) => base,
        _ => name,
    };
    name.replace('-', "_")
}

/// The package of every Java file, as an index into the list of packages' files. A folder's
/// package is its path under the source root: after `src/<set>/java/` (Maven, Gradle), else its
/// longest tail that some import names as a package (`import com.example.shop.Order` names
/// `com/example/shop`), else the folder itself. So `src/test/java/com/x` shares `com/x` with
/// `src/main/java/com/x`, the way a test sees package-private classes without an import.
fn jvm_packages(
    paths: &[String],
    styles: &[ImportStyle],
    imports: &[&str],
) -> (Vec<Option<usize>>, Vec<Vec<usize>>) {
    let named: HashSet<String> = imports
        .iter()
        .filter(|s| !s.contains('/'))
        .flat_map(|source| {
            let segments: Vec<&str> = source.split('.').collect();
            (1..segments.len()).map(move |k| segments[..k].join("/"))
        })
        .collect();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut packages: Vec<Vec<usize>> = Vec::new();
    let mut of = vec![None; paths.len()];
    for (i, path) in paths.iter().enumerate().filter(|(i, _)| styles[*i] == ImportStyle::Jvm) {
        let dir = parent(path);
        let key = source_root_relative(dir)
            .or_else(|| path_tails(dir).find(|tail| named.contains(*tail)))
            .unwrap_or(dir);
        let id = *ids.entry(key.to_owned()).or_insert_with(|| {
            packages.push(Vec::new());
            packages.len() - 1
        });
        packages[id].push(i);
        of[i] = Some(id);
    }
    (of, packages)
}

/// A folder's path under a Maven or Gradle source root (`src/main/java/com/x` → `com/x`).
fn source_root_relative(dir: &str) -> Option<&str> {
    let segments: Vec<&str> = dir.split('/').collect();
    let root = (2..segments.len())
        .rev()
        .find(|&i| matches!(segments[i], "java" | "kotlin") && segments[i - 2] == "src")?;
    let skip: usize = segments[..=root].iter().map(|s| s.len() + 1).sum();
    Some(dir.get(skip..).unwrap_or(""))
}

/// An external import's package: the segments before the first capitalised one (the class),
/// `java.util.Map` → `java.util`, `org.junit.Assertions.assertEquals` → `org.junit`.
fn jvm_package_name(segments: &[&str]) -> String {
    let class = segments
        .iter()
        .position(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
        .unwrap_or(segments.len().saturating_sub(1));
    segments[..class.max(1)].join(".")
}

/// A path and every tail of it that starts after a `/`: `a/b/c` → `a/b/c`, `b/c`, `c`.
fn path_tails(path: &str) -> impl Iterator<Item = &str> {
    std::iter::once(path).chain(path.match_indices('/').map(move |(slash, _)| &path[slash + 1..]))
}

/// A sourced path after the variable or command substitution that stands for the script's
/// folder: `$DIR/lib/x.sh` → `lib/x.sh`, `$(dirname "$0")/../x.sh` → `../x.sh`,
/// `${BASH_SOURCE%/*}/x.sh` → `x.sh`.
fn bash_after_prefix(written: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in written.char_indices() {
        match c {
            '(' | '{' => depth += 1,
            ')' | '}' => depth = depth.saturating_sub(1),
            '/' if depth == 0 => return &written[i + 1..],
            _ => {}
        }
    }
    written
}

/// How many leading bytes two paths share, counted in whole folders.
fn common_prefix(a: &str, b: &str) -> usize {
    a.split('/').zip(b.split('/')).take_while(|(x, y)| x == y).map(|(x, _)| x.len() + 1).sum()
}

/// Whether a Java or Kotlin file is test code: under `src/test`, `src/androidTest`,
/// `src/integrationTest` and the like (Maven's and Gradle's source sets).
fn is_jvm_test(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    segments
        .windows(2)
        .any(|w| w[0] == "src" && (w[1].starts_with("test") || w[1].ends_with("Test")))
}

fn is_go_test(path: &str) -> bool {
    path.ends_with("_test.go")
}

/// The folder holding a Rust file's child modules: `src/a.rs` → `src/a`, `src/a/mod.rs` → `src/a`.
fn rust_module_dir(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    if Language::Rust.config().index_files.iter().any(|f| f == name) {
        parent(path).to_owned()
    } else {
        path.strip_suffix(".rs").unwrap_or(path).to_owned()
    }
}

/// Expands a `use` tree (`crate::a::{self, b as c, d::*}`) into paths with their aliases.
pub fn expand_use_tree(text: &str) -> Vec<(Vec<String>, Option<String>)> {
    let tokens = tokenize_use(text);
    let mut out = Vec::new();
    let mut pos = 0;
    parse_use(&tokens, &mut pos, &[], &mut out);
    out
}

fn tokenize_use(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_alphanumeric() || c == '_' {
            let mut ident = String::new();
            while let Some(&c) = chars.peek().filter(|c| c.is_alphanumeric() || **c == '_') {
                ident.push(c);
                chars.next();
            }
            tokens.push(ident);
        } else if c == ':' {
            chars.next(); // `::` separates segments; the tree's shape is carried by the other tokens
        } else if "{},*".contains(c) {
            tokens.push(c.to_string());
            chars.next();
        } else {
            chars.next();
        }
    }
    tokens
}

fn parse_use(
    tokens: &[String],
    pos: &mut usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix.to_vec();
    while let Some(token) = tokens.get(*pos) {
        match token.as_str() {
            "{" => {
                *pos += 1;
                while tokens.get(*pos).is_some_and(|t| t != "}") {
                    parse_use(tokens, pos, &path, out);
                    if tokens.get(*pos).is_some_and(|t| t == ",") {
                        *pos += 1;
                    }
                }
                *pos += 1; // `}`
                return;
            }
            "," | "}" => break,
            "as" => {
                *pos += 1;
                let alias = tokens.get(*pos).cloned();
                *pos += 1;
                out.push((path, alias.filter(|a| a != "_")));
                return;
            }
            _ => {
                path.push(token.clone());
                *pos += 1;
            }
        }
    }
    if path.len() > prefix.len() || !path.is_empty() && prefix.is_empty() {
        out.push((path, None));
    }
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// `@scope/pkg/sub` → `@scope/pkg`; `lodash/fp` → `lodash`; `node:fs` → `node:fs`.
fn package_name(source: &str) -> String {
    let mut parts = source.split('/');
    match (parts.next(), parts.next()) {
        (Some(scope), Some(name)) if scope.starts_with('@') => format!("{scope}/{name}"),
        (Some(name), _) => name.to_owned(),
        _ => source.to_owned(),
    }
}

fn first_segment(text: &str, sep: char) -> String {
    text.trim_start_matches(sep).split(sep).next().unwrap_or(text).to_owned()
}

/// The folder of a `/`-separated path (`""` at the root).
pub(crate) fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

fn join(dir: &str, rest: &str) -> String {
    if dir.is_empty() { rest.to_owned() } else { format!("{dir}/{rest}") }
}

/// Resolves `.` and `..`; `None` when the path climbs out of the repository.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_use(text: &str, expected: &[(&str, Option<&str>)]) {
        let got: Vec<(String, Option<String>)> = expand_use_tree(text)
            .into_iter()
            .map(|(path, alias)| (path.join("::"), alias))
            .collect();
        let expected: Vec<(String, Option<String>)> =
            expected.iter().map(|(p, a)| (p.to_string(), a.map(String::from))).collect();
        assert_eq!(got, expected, "{text}");
    }

    #[test]
    fn use_trees_expand_to_paths() {
        check_use("std::fmt", &[("std::fmt", None)]);
        check_use(
            "crate::codec::{self, decode as decode_code}",
            &[("crate::codec::self", None), ("crate::codec::decode", Some("decode_code"))],
        );
        check_use(
            "a::{b::{c, d}, e::*}",
            &[("a::b::c", None), ("a::b::d", None), ("a::e::*", None)],
        );
        check_use("::std::io::Write as _", &[("std::io::Write", None)]);
    }

    #[test]
    fn package_names_keep_npm_scopes() {
        assert_eq!(package_name("react"), "react");
        assert_eq!(package_name("lodash/fp"), "lodash");
        assert_eq!(package_name("@scope/pkg/deep"), "@scope/pkg");
    }

    #[test]
    fn go_packages_bind_their_last_path_element_less_a_version() {
        assert_eq!(go_package_name("fmt"), "fmt");
        assert_eq!(go_package_name("net/http"), "http");
        assert_eq!(go_package_name("example.com/shop/internal/store"), "store");
        assert_eq!(go_package_name("github.com/go-chi/chi/v5"), "chi");
        assert_eq!(go_package_name("gopkg.in/yaml.v3"), "yaml");
        assert_eq!(go_package_name("github.com/mattn/go-isatty"), "go_isatty");
    }

    #[test]
    fn go_module_paths_are_read_from_the_imports_of_the_repository_s_own_packages() {
        let packages: HashMap<&str, Vec<usize>> = [
            ("cmd/shop", vec![0]),
            ("internal/store", vec![1]),
            ("internal/pricing", vec![2]),
            ("tools/lint", vec![3]),
            ("http", vec![4]),
        ]
        .into_iter()
        .collect();
        let imports = [
            "fmt",
            "net/http", // the standard library, though `http/` is a folder here
            "example.com/shop/internal/store",
            "example.com/shop/internal/pricing",
            "example.com/shop/internal/store", // once per path
            "example.com/shop/tools/lint",
            "example.com/shop/tools/lint/v2/tools/lint", // a nested module, imported twice
            "example.com/shop/tools/lint/v2/internal/store",
            "github.com/acme/kit/internal/pricing", // someone else's, once
        ];
        assert_eq!(
            go_module_paths(imports.into_iter(), &packages),
            ["example.com/shop/tools/lint/v2", "example.com/shop"]
        );
    }

    fn java_import(source: &str, wildcard: bool) -> Import {
        let names = if wildcard {
            vec![crate::model::ImportedName { name: "*".into(), alias: None }]
        } else {
            Vec::new()
        };
        Import { source: source.into(), names, alias: None, line: 1 }
    }

    #[test]
    fn java_imports_find_classes_and_packages_under_any_source_root() {
        let paths: Vec<String> = [
            "billing/src/main/java/com/shop/model/Order.java",
            "shop/src/main/java/com/shop/App.java",
            "shop/src/main/java/com/shop/model/Item.java",
            "shop/src/main/java/com/shop/model/Order.java",
            "shop/src/main/java/com/shop/model/Records.java",
            "shop/src/test/java/com/shop/model/OrderTest.java",
        ]
        .map(String::from)
        .to_vec();
        let languages = vec![Language::Java; paths.len()];
        let files = Files::new(&paths, &languages, vec![None; paths.len()], std::iter::empty());
        let resolve =
            |source, wildcard| files.resolve(1, Language::Java, &java_import(source, wildcard));

        // Two modules have a com/shop/model/Order.java: the importer's own module wins.
        let order = resolve("com.shop.model.Order", false);
        assert_eq!(order.modules, [Module::File(3)]);
        assert_eq!(
            order.bindings,
            [("Order".into(), Binding::Item { file: 3, name: "Order".into() })]
        );

        // A class in a file named otherwise is looked up in its package's files.
        let money = resolve("com.shop.model.Money", false);
        assert!(matches!(&money.bindings[..], [(name, Binding::InPackage { files, .. })]
            if name == "Money" && files.contains(&4)));

        // `.*` sees the package in every module and source root, but main code not the tests.
        assert_eq!(resolve("com.shop.model", true).globs, [0, 2, 3, 4]);
        let from_test = files.resolve(5, Language::Java, &java_import("com.shop.model", true));
        assert_eq!(from_test.globs, [0, 2, 3, 4, 5]);

        // A static import links the class and binds nothing; the JDK is external by package.
        let constant = resolve("com.shop.model.Order.MAX_LINES", false);
        assert_eq!((constant.modules, constant.bindings), (vec![Module::File(3)], vec![]));
        assert_eq!(resolve("java.util.Map", false).modules, [Module::External("java.util".into())]);
        assert_eq!(
            resolve("org.junit.jupiter.api.Assertions.assertEquals", false).modules,
            [Module::External("org.junit.jupiter.api".into())]
        );
    }

    #[test]
    fn java_tests_share_their_package_with_the_main_sources() {
        let paths: Vec<String> = [
            "src/main/java/com/shop/Ledger.java",
            "src/main/java/com/shop/Service.java",
            "src/main/java/com/shop/model/Item.java",
            "src/test/java/com/shop/ServiceTest.java",
            "legacy/src/com/shop/Old.java", // no Maven layout: an import names the package
            "scripts/Tool.java",            // neither: its folder is its package
        ]
        .map(String::from)
        .to_vec();
        let languages = vec![Language::Java; paths.len()];
        let declared = vec![None; paths.len()];
        let files = Files::new(&paths, &languages, declared, ["com.shop.Service"].into_iter());
        assert_eq!(files.siblings(3), [0, 1, 4]);
        assert_eq!(files.siblings(0), [1, 4], "main code does not see the tests");
        assert_eq!(files.siblings(2), Vec::<usize>::new());
        assert_eq!(files.siblings(5), Vec::<usize>::new());
    }

    #[test]
    fn paths_normalize_without_leaving_the_repository() {
        assert_eq!(normalize("src/a/../b/./c").as_deref(), Some("src/b/c"));
        assert_eq!(normalize("../outside"), None);
    }
}
