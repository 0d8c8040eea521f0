//! What a free text — an issue, a stack trace, a log, a test failure — names in the code: stack
//! frames, file paths, exception types and identifiers. Localisation starts from these: each can
//! be looked up in the graph and the file list, where the text's other words can only be ranked.
//!
//! Frames are read in the forms runtimes print them: Python's `File "…", line N, in f`, V8's
//! `at f (file:line:col)`, Firefox and Safari's `f@file:line:col`, Rust's panics and
//! backtraces (`N: path::to::f` then `at file:line:col`), Go's goroutine traces (`pkg.(*T).M(…)`
//! then `\tfile.go:line +0x…`), the JVM's `at pkg.Class.method(File.java:line)`, .NET's
//! `at Ns.Class.Method(…) in /src/File.cs:line N`, PHP's `#0 /app/x.php(12): A\B->m()` and
//! Ruby's `path.rb:29:in 'add'`.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

/// A place in a source file the text names: a frame's file, or a path written in prose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMention {
    /// As written, less a leading `./`; absolute paths stay absolute (a checkout elsewhere, an
    /// installed package) and are matched against the repository by their ends.
    pub path: String,
    pub line: Option<u32>,
}

/// One frame of a stack trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The function as the runtime names it, qualified as far as it says (`Client.send`,
    /// `tokio::runtime::park`); `None` for an anonymous frame.
    pub function: Option<String>,
    pub path: Option<String>,
    pub line: Option<u32>,
}

/// Everything a text names, in the order it first names it, without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    /// Innermost first, the frame that failed before its callers: as V8, Firefox and Rust print
    /// them, and Python's the other way round (it prints the outermost call first).
    pub frames: Vec<Frame>,
    pub paths: Vec<PathMention>,
    /// `KeyError`, `requests.exceptions.ConnectionError`, `TypeError`; a Rust panic is `panic`.
    pub exceptions: Vec<String>,
    /// Names that read as code: in backticks or code blocks, `snake_case`, `CamelCase`,
    /// `dotted.names`, `paths::like::this`, `calls()`.
    pub identifiers: Vec<String>,
}

/// The source file extensions a path in a text must end with to count as one.
const EXTENSIONS: &[&str] = &[
    "py", "pyi", "rs", "ts", "tsx", "mts", "cts", "js", "jsx", "mjs", "cjs", "go", "java", "kt",
    "cs", "php", "rb", "sh", "c", "h", "cc", "cpp", "hpp",
];

/// Projects whose names end in `.js`.
const PROJECTS: &[&str] = &[
    "node", "vue", "next", "nuxt", "react", "express", "three", "d3", "chart", "ember", "angular",
];

static PYTHON_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>[^\s]+))?"#)
        .expect("valid")
});
/// `at f (file:1:2)`, `at async f (file:1:2)`, `at new F (file:1:2)`, `at file:1:2`.
static V8_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)^\s*at (?:(?:async|new) )?(?:(?P<function>[^\s(]+) \((?P<path>[^()\s]+?):(?P<line>\d+)(?::\d+)?\)|(?P<bare>[^()\s]+?):(?P<bline>\d+)(?::\d+)?)\s*$",
    )
    .expect("valid")
});
/// `f@file:1:2`, `@file:1:2`.
static GECKO_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^\s*(?P<function>[^\s@]*)@(?P<path>\S+?):(?P<line>\d+)(?::\d+)?\s*$")
        .expect("valid")
});
/// `  12: crate::module::function` (optionally `0x…- ` first), then `at ./src/lib.rs:4:5`.
static RUST_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)^\s*\d+:\s+(?:0x[0-9a-f]+ - )?(?P<function>[^\s]+)\s*$(?:\n\s+at (?P<path>[^\n]+?):(?P<line>\d+)(?::\d+)?\s*$)?",
    )
    .expect("valid")
});
/// `thread 'main' panicked at src/main.rs:4:5:`
static RUST_PANIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"panicked at (?:'[^']*', )?(?P<path>[^\s:]+):(?P<line>\d+)(?::\d+)?")
        .expect("valid")
});
/// A goroutine's frame: `example.com/shop/store.(*Memory).Put(0xc…, …)`, then
/// `\t/home/u/shop/store/memory.go:29 +0xf6`.
static GO_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)^(?P<function>[^\s()]+(?:\(\*?[^\s()]+\))?[^\s()]*)\([^\n]*\)\n\s+(?P<path>\S+\.go):(?P<line>\d+)(?: \+0x[0-9a-f]+)?\s*$",
    )
    .expect("valid")
});
/// `panic: assignment to entry in nil map`, at a line's start (Go).
static GO_PANIC: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?m)^panic: ").expect("valid"));
/// `at com.shop.Service.charge(Service.java:32)`, `at java.base/java.util.Map.get(Map.java:5)`;
/// frames without a line (`Native Method`, `Unknown Source`) say nothing of the repository.
static JVM_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)^\s*at (?:[\w.@$-]*/)*(?P<function>[\w$.<>]+)\((?P<file>[\w$-]+\.(?:java|kt)):(?P<line>\d+)\)",
    )
    .expect("valid")
});
/// `at Shop.Services.OrderService.Charge(Order order) in /src/Services/OrderService.cs:line 44`.
static DOTNET_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)^\s*at (?P<function>[\w.`<>+]+)\([^)\n]*\) in (?P<path>[^\n]+?):line (?P<line>\d+)",
    )
    .expect("valid")
});
/// Where PHP threw: `Uncaught LogicException: empty order in /app/src/OrderService.php:46`.
static PHP_THROW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)Uncaught [^\n]*? in (?P<path>\S+\.php):(?P<line>\d+)$").expect("valid")
});
/// `#0 /app/src/Services/OrderService.php(48): App\Models\Order->add()`: the file and line of
/// the call, and the function it called; `#1 {main}` is none.
static PHP_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^#\d+ (?P<path>\S+?\.php)\((?P<line>\d+)\): (?P<function>[^\s(]+)\(")
        .expect("valid")
});
/// `lib/shop/cart.rb:52:in `validate': … (NoMethodError)`, `\tfrom lib/shop/cart.rb:29:in `add'`
/// (Ruby 3.4 quotes `'Shop::Cart#add'`).
static RUBY_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^\s*(?:from )?(?P<path>[^\s:]+\.(?:rb|rake)):(?P<line>\d+):in [`'](?P<function>[^`'\n]+)'")
        .expect("valid")
});
/// Ruby's exception class, at the end of the line that names where it was raised.
static RUBY_EXCEPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)\.rb:\d+:in [`'][^`'\n]+': [^\n]*\((?P<name>[A-Z][\w:]*)\)$").expect("valid")
});
/// `KeyError: 'x'`, `requests.exceptions.ConnectionError: …`, `Uncaught TypeError: …`,
/// `Exception in thread "main" java.lang.IllegalStateException: …`, `Caused by: …`,
/// `Unhandled exception. System.InvalidOperationException: …`, `PHP Fatal error:  Uncaught
/// LogicException: …`, at a line's start.
static EXCEPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?m)^\s*(?:(?:PHP Fatal error:\s+)?Uncaught |raise |E\s+|Exception in thread "[^"\n]*" |Caused by: |Unhandled exception\. )?(?P<name>(?:[A-Za-z_][A-Za-z0-9_]*\.)*[A-Z][A-Za-z0-9]*(?:Error|Exception|Warning|Interrupt|Exit))\b(?::|$)"#,
    )
    .expect("valid")
});
pub(crate) static BACKTICKS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"`([^`\n]{1,200})`").expect("valid"));
pub(crate) static FENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)```[^\n]*\n(.*?)```").expect("valid"));
/// A path in prose: a word ending in a file extension (checked against [`EXTENSIONS`]), maybe
/// `:line` after it.
static PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<path>[A-Za-z0-9_.~/\\-]*[A-Za-z0-9_-]\.[A-Za-z]{1,4})(?::(?P<line>\d+))?")
        .expect("valid")
});
/// A word that reads as code.
static WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::)[A-Za-z_][A-Za-z0-9_]*)*(?:\(\))?")
        .expect("valid")
});

/// Reads what `text` names.
pub fn mentions(text: &str) -> Mentions {
    let mut found = Found::default();
    let python: Vec<_> = PYTHON_FRAME.captures_iter(text).collect();
    for caps in python.iter().rev() {
        found.frame(caps.name("function").map(|m| m.as_str()), &caps["path"], &caps["line"]);
    }
    for caps in V8_FRAME.captures_iter(text) {
        match caps.name("bare") {
            Some(path) => found.frame(None, path.as_str(), &caps["bline"]),
            None => found.frame(Some(&caps["function"]), &caps["path"], &caps["line"]),
        }
    }
    for caps in GECKO_FRAME.captures_iter(text) {
        let function = caps.name("function").map(|m| m.as_str()).filter(|f| !f.is_empty());
        found.frame(function, &caps["path"], &caps["line"]);
    }
    for caps in RUST_PANIC.captures_iter(text) {
        found.exception("panic");
        found.path(&caps["path"], caps.name("line").map(|m| m.as_str()));
    }
    for caps in RUST_FRAME.captures_iter(text) {
        let function = rust_function(&caps["function"]);
        match (caps.name("path"), caps.name("line")) {
            (Some(path), Some(line)) => found.frame(Some(function), path.as_str(), line.as_str()),
            _ => found.frames.push(Frame {
                function: Some(function.to_owned()),
                path: None,
                line: None,
            }),
        }
    }
    for caps in GO_FRAME.captures_iter(text) {
        found.frame(Some(&go_function(&caps["function"])), &caps["path"], &caps["line"]);
    }
    if GO_PANIC.is_match(text) {
        found.exception("panic");
    }
    for caps in JVM_FRAME.captures_iter(text) {
        let (function, path) = jvm_frame(&caps["function"], &caps["file"]);
        found.frame(Some(&function), &path, &caps["line"]);
    }
    for caps in DOTNET_FRAME.captures_iter(text) {
        found.frame(Some(&last_two(&caps["function"], '.')), &caps["path"], &caps["line"]);
    }
    for caps in PHP_THROW.captures_iter(text) {
        found.frame(None, &caps["path"], &caps["line"]);
    }
    for caps in PHP_FRAME.captures_iter(text) {
        let function = caps["function"].replace("->", ".").replace("::", ".");
        let function = function.rsplit('\\').next().unwrap_or(&function);
        found.frame(Some(function), &caps["path"], &caps["line"]);
    }
    for caps in RUBY_FRAME.captures_iter(text) {
        let function = caps["function"].replace("::", ".").replace('#', ".");
        found.frame(Some(&function), &caps["path"], &caps["line"]);
    }
    for caps in RUBY_EXCEPTION.captures_iter(text) {
        found.exception(&caps["name"]);
    }
    for caps in EXCEPTION.captures_iter(text) {
        found.exception(&caps["name"]);
    }
    for caps in PATH.captures_iter(text) {
        let path = &caps["path"];
        let (stem, extension) = path.rsplit_once('.').unwrap_or_default();
        // "Node.js" and its kind are names of projects, not files.
        let project = extension == "js"
            && !path.contains('/')
            && PROJECTS.contains(&&*stem.to_ascii_lowercase());
        if EXTENSIONS.contains(&extension) && !project {
            found.path(path, caps.name("line").map(|m| m.as_str()));
        }
    }
    let code: Vec<&str> = FENCE
        .captures_iter(text)
        .chain(BACKTICKS.captures_iter(text))
        .map(|caps| caps.get(1).map_or("", |m| m.as_str()))
        .collect();
    for span in &code {
        for word in WORD.find_iter(span) {
            found.identifier(word.as_str(), true);
        }
    }
    for word in WORD.find_iter(text) {
        found.identifier(word.as_str(), false);
    }
    found.into_mentions()
}

/// A Rust frame's function without its hash suffix and generic arguments:
/// `tokio::runtime::park::CachedParkThread::block_on::h3c4f…` → `…::block_on`.
fn rust_function(name: &str) -> &str {
    let name = name.split('<').next().unwrap_or(name);
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

/// The last two parts of a dotted name: a .NET frame's `Shop.Services.OrderService.Charge` is
/// `OrderService.Charge`.
fn last_two(name: &str, sep: char) -> String {
    let parts: Vec<&str> = name.rsplitn(3, sep).collect();
    match parts.as_slice() {
        [last, type_name, ..] => format!("{type_name}.{last}"),
        _ => name.to_owned(),
    }
}

/// A Go frame's function as the symbol's qualified name: `example.com/shop/store.(*Memory).Put`
/// → `Memory.Put`, `main.main` → `main`, `pkg.Map[...].Get` → `Map.Get`.
fn go_function(name: &str) -> String {
    let name = name.rsplit('/').next().unwrap_or(name);
    let name = name.split_once('.').map_or(name, |(_package, rest)| rest);
    name.replace("[...]", "").replace(['(', ')', '*'], "")
}

/// A JVM frame's function (`Class.method`, nested classes joined by `.`) and its file as a
/// path under the source root, from the package (`com.shop.Service.charge`, `Service.java` →
/// `Service.charge`, `com/shop/Service.java`).
fn jvm_frame(function: &str, file: &str) -> (String, String) {
    let segments: Vec<&str> = function.split('.').collect();
    let class = segments
        .iter()
        .position(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
        .unwrap_or(segments.len().saturating_sub(2));
    let path = segments[..class].iter().chain([&file]).copied().collect::<Vec<_>>().join("/");
    (segments[class..].join(".").replace('$', "."), path)
}

#[derive(Default)]
struct Found {
    frames: Vec<Frame>,
    paths: Vec<PathMention>,
    exceptions: Vec<String>,
    identifiers: Vec<String>,
    seen: HashSet<String>,
}

impl Found {
    fn frame(&mut self, function: Option<&str>, path: &str, line: &str) {
        // Node's own modules (`node:internal/…`) are not the repository's.
        if path.starts_with("node:") {
            return;
        }
        let function = function.map(|f| f.trim_start_matches("Object.").to_owned());
        self.path(path, Some(line));
        let line = line.parse().ok();
        self.frames.push(Frame { function, path: Some(clean_path(path)), line });
    }

    /// A path once, with the first line given for it.
    fn path(&mut self, path: &str, line: Option<&str>) {
        let path = clean_path(path);
        let line = line.and_then(|l| l.parse().ok());
        match self.paths.iter_mut().find(|p| p.path == path) {
            Some(known) => known.line = known.line.or(line),
            None => self.paths.push(PathMention { path, line }),
        }
    }

    fn exception(&mut self, name: &str) {
        if !self.exceptions.iter().any(|e| e == name) {
            self.exceptions.push(name.to_owned());
        }
    }

    /// A word from prose counts only if it reads as code; one from a code span always does
    /// (unless it is a keyword-length scrap).
    fn identifier(&mut self, word: &str, in_code: bool) {
        let word = word.trim_end_matches("()");
        let keep = if in_code { word.len() > 2 } else { reads_as_code(word) && word.len() > 3 };
        let extension = word.rsplit('.').next().unwrap_or_default();
        if keep && !EXTENSIONS.contains(&extension) && self.seen.insert(word.to_owned()) {
            self.identifiers.push(word.to_owned());
        }
    }

    fn into_mentions(self) -> Mentions {
        Mentions {
            frames: self.frames,
            paths: self.paths,
            exceptions: self.exceptions,
            identifiers: self.identifiers,
        }
    }
}

/// Whether a word of prose is written as code: `snake_case`, `CamelCase`, `dotted.names`,
/// `paths::like::this`.
pub(crate) fn reads_as_code(word: &str) -> bool {
    word.contains('_')
        || word.contains("::")
        || word.contains('.') && !word.ends_with('.')
        || word.chars().skip(1).any(|c| c.is_ascii_uppercase())
            && word.chars().any(|c| c.is_ascii_lowercase())
}

/// `./src/x.rs` → `src/x.rs`; `file:///a/b.js` → `/a/b.js`; backslashes → slashes.
fn clean_path(path: &str) -> String {
    let path = path.trim_start_matches("file://").replace('\\', "/");
    path.strip_prefix("./").unwrap_or(&path).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_firefox_stack_reads_like_a_v8_one() {
        // The form Firefox and Safari print: `function@url:line:column`, anonymous ones bare.
        let found = mentions(
            "TypeError: cart.items is undefined\ntotal@http://localhost:8080/src/cart.js:12:5\n@http://localhost:8080/src/main.js:3:1\n",
        );
        assert_eq!(found.exceptions, ["TypeError"]);
        let frames: Vec<(Option<&str>, Option<u32>)> =
            found.frames.iter().map(|f| (f.function.as_deref(), f.line)).collect();
        assert_eq!(frames, [(Some("total"), Some(12)), (None, Some(3))]);
    }

    fn frames(found: &Mentions) -> Vec<(&str, &str, u32)> {
        found
            .frames
            .iter()
            .map(|f| (f.function.as_deref().unwrap(), f.path.as_deref().unwrap(), f.line.unwrap()))
            .collect()
    }

    #[test]
    fn a_go_panic_names_its_goroutine_s_frames() {
        // go1.19 running the go-module fixture with a zero Memory (its map is nil).
        let found = mentions(
            "panic: assignment to entry in nil map\n\ngoroutine 1 [running]:\nexample.com/shop/internal/store.(*Memory).Put(0xc00008c150, {{0x4a4165, 0x3}, {0x4a4129, 0x3}, 0xfa, 0x1})\n\t/tmp/gt/internal/store/memory.go:29 +0xf6\nmain.main()\n\t/tmp/gt/cmd/boom/main.go:7 +0x54\nexit status 2\n",
        );
        assert_eq!(
            frames(&found),
            [
                ("Memory.Put", "/tmp/gt/internal/store/memory.go", 29),
                ("main", "/tmp/gt/cmd/boom/main.go", 7)
            ]
        );
        assert_eq!(found.exceptions, ["panic"]);
        assert_eq!(go_function("example.com/x/cache.(*LRU[...]).Get"), "LRU.Get");
    }

    #[test]
    fn a_java_stack_trace_names_classes_files_and_the_exception() {
        // OpenJDK 17 running the java-maven fixture's checkout of an empty order.
        let found = mentions(
            "Exception in thread \"main\" java.lang.IllegalStateException: empty order o-9\n\tat com.example.shop.service.OrderService.charge(OrderService.java:32)\n\tat Boom.main(Boom.java:4)\nCaused by: java.io.UncheckedIOException: disk\n\tat java.base/java.util.Order$Status.values(Order.java:5)\n\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)\n",
        );
        assert_eq!(
            frames(&found),
            [
                ("OrderService.charge", "com/example/shop/service/OrderService.java", 32),
                ("Boom.main", "Boom.java", 4),
                ("Order.Status.values", "java/util/Order.java", 5),
            ]
        );
        assert_eq!(
            found.exceptions,
            ["java.lang.IllegalStateException", "java.io.UncheckedIOException"]
        );
    }

    #[test]
    fn a_ruby_error_names_its_frames_and_class() {
        // Ruby 3.1 loading the ruby-gem fixture and adding nil to a cart.
        let found = mentions(
            "/work/ruby-gem/lib/shop/cart.rb:52:in `validate': undefined method `sku' for nil:NilClass (NoMethodError)\n\n      raise Error, \"duplicate #{item.sku}\" if @skus.include?(item.sku)\n                                                                 ^^^^\n\tfrom /work/ruby-gem/lib/shop/cart.rb:29:in `add'\n\tfrom -e:1:in `<main>'\n",
        );
        assert_eq!(
            frames(&found),
            [
                ("validate", "/work/ruby-gem/lib/shop/cart.rb", 52),
                ("add", "/work/ruby-gem/lib/shop/cart.rb", 29)
            ]
        );
        assert_eq!(found.exceptions, ["NoMethodError"]);
        let newer = mentions("lib/shop/cart.rb:29:in 'Shop::Cart#add': boom (RuntimeError)\n");
        assert_eq!(frames(&newer), [("Shop.Cart.add", "lib/shop/cart.rb", 29)]);
    }

    #[test]
    fn a_php_fatal_error_names_the_throw_site_and_the_frames() {
        // PHP 8.2 charging an empty order of the php-app fixture.
        let found = mentions(
            "PHP Fatal error:  Uncaught LogicException: empty order o-9 in /work/php-app/src/Services/OrderService.php:46\nStack trace:\n#0 /tmp/boom.php(8): App\\Services\\OrderService->charge()\n#1 {main}\n  thrown in /work/php-app/src/Services/OrderService.php on line 46\n",
        );
        let frames: Vec<_> = found
            .frames
            .iter()
            .map(|f| (f.function.as_deref(), f.path.as_deref().unwrap(), f.line.unwrap()))
            .collect();
        assert_eq!(
            frames,
            [
                (None, "/work/php-app/src/Services/OrderService.php", 46),
                (Some("OrderService.charge"), "/tmp/boom.php", 8)
            ],
            "where it was thrown first, then each call"
        );
        assert_eq!(found.exceptions, ["LogicException"]);
    }

    #[test]
    fn a_dotnet_exception_names_methods_files_and_lines() {
        // The form .NET 8 prints for an unhandled exception with portable PDBs (no runtime here
        // to produce one).
        let found = mentions(
            "Unhandled exception. System.InvalidOperationException: empty order A-1\n   at Shop.Services.OrderService.Charge(Order order, Discount discount) in /src/Shop/Services/OrderService.cs:line 44\n   at Shop.Program.Main(String[] args) in /src/Shop/Program.cs:line 16\n",
        );
        assert_eq!(
            frames(&found),
            [
                ("OrderService.Charge", "/src/Shop/Services/OrderService.cs", 44),
                ("Program.Main", "/src/Shop/Program.cs", 16)
            ]
        );
        assert_eq!(found.exceptions, ["System.InvalidOperationException"]);
    }

    #[test]
    fn a_rust_symbol_loses_its_hash_and_generics() {
        assert_eq!(
            rust_function("tokio::runtime::park::CachedParkThread::block_on::h3c4f0a1b2c3d4e5f"),
            "tokio::runtime::park::CachedParkThread::block_on"
        );
        assert_eq!(
            rust_function("core::ops::function::FnOnce::call_once<F>"),
            "core::ops::function::FnOnce::call_once"
        );
        assert_eq!(rust_function("app::hello"), "app::hello");
    }
}
