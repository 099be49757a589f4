//! Structure rules that review alone would let slip (issue 10's "done when"), checked on the
//! source tree: file and function sizes, the orchestrator never reading the projection, Dokploy
//! procedure names written only in their table, no silent `.max(1)` clamps, no import cycle
//! between the crate's top-level modules, and every module opening with what it owns and what
//! it must never do. Test modules (`#[cfg(test)]` to the end of a file) are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const FILE_LINES_MAX: usize = 500;
const FUNCTION_LINES_MAX: usize = 70;

/// Every `.rs` file below `dir` (relative to the crate root), sorted.
fn sources(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).expect("a source directory is readable");
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut out);
    out.sort();
    out
}

/// The file's lines before its test module.
fn product_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("a source file is readable");
    text.lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .map(str::to_owned)
        .collect()
}

fn relative(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A line with string and char literals and `//` comments blanked, for counting braces.
fn code_of(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (false, '/') if chars.peek() == Some(&'/') => break,
            (false, '"') => in_string = true,
            (false, '\'') => {
                // A char literal ('{', '\'') or a lifetime ('a): skip only the former.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    chars.nth(2);
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => in_string = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

/// `(name, first line, length)` of every function with a body.
fn functions(lines: &[String]) -> Vec<(String, usize, usize)> {
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let Some(name) = function_name(&lines[index]) else {
            index += 1;
            continue;
        };
        let (mut depth, mut opened, mut end) = (0i64, false, index);
        while end < lines.len() {
            let code = code_of(&lines[end]);
            depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
            opened |= code.contains('{');
            if (opened && depth <= 0) || (!opened && code.trim_end().ends_with(';')) {
                break;
            }
            end += 1;
        }
        if opened {
            found.push((name, index + 1, end - index + 1));
            index = end + 1;
        } else {
            index += 1;
        }
    }
    found
}

fn function_name(line: &str) -> Option<String> {
    let code = code_of(line);
    let mut words = code.split_whitespace().peekable();
    while let Some(word) = words.next() {
        if word == "fn" {
            let name = words.next()?;
            let name: String = name
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            return (!name.is_empty()).then_some(name);
        }
        let modifier = word.starts_with("pub")
            || matches!(word, "async" | "const" | "unsafe" | "extern" | "\"C\"");
        if !modifier {
            return None;
        }
    }
    None
}

#[test]
fn no_source_file_passes_the_split_mark() {
    let mut long = Vec::new();
    for path in sources("src").into_iter().chain(sources("tools")) {
        let lines = product_lines(&path).len();
        if lines > FILE_LINES_MAX {
            long.push(format!("{} has {lines} lines", relative(&path)));
        }
    }
    assert!(
        long.is_empty(),
        "split at {FILE_LINES_MAX} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn no_function_passes_seventy_lines() {
    let mut long = Vec::new();
    for path in sources("src").into_iter().chain(sources("tools")) {
        for (name, line, length) in functions(&product_lines(&path)) {
            if length > FUNCTION_LINES_MAX {
                long.push(format!(
                    "{}:{line} {name} has {length} lines",
                    relative(&path)
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split functions over {FUNCTION_LINES_MAX} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_orchestrator_never_reads_the_projection() {
    let mut reads = Vec::new();
    for path in sources("src/orchestrator") {
        for (number, line) in product_lines(&path).iter().enumerate() {
            if line.contains("projection::") || line.contains("LiveReadModel") {
                reads.push(format!(
                    "{}:{}: {}",
                    relative(&path),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        reads.is_empty(),
        "the orchestrator folds its own stream:\n{}",
        reads.join("\n")
    );
}

#[test]
fn dokploy_procedure_names_are_written_only_in_their_table() {
    let table = Path::new("src/deployment/procedure.rs");
    let names: Vec<String> = stackledger::deployment::Procedure::ALL
        .iter()
        .map(|procedure| format!("\"{}\"", procedure.name()))
        .collect();
    let mut literals = Vec::new();
    for path in sources("src").into_iter().chain(sources("tools")) {
        if path.ends_with(table) {
            continue;
        }
        for (number, line) in product_lines(&path).iter().enumerate() {
            if names.iter().any(|name| line.contains(name.as_str())) {
                literals.push(format!(
                    "{}:{}: {}",
                    relative(&path),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        literals.is_empty(),
        "name a Procedure instead:\n{}",
        literals.join("\n")
    );
}

#[test]
fn configured_values_are_validated_not_clamped() {
    let mut clamps = Vec::new();
    for path in sources("src") {
        for (number, line) in product_lines(&path).iter().enumerate() {
            if line.contains(".max(1)") {
                clamps.push(format!(
                    "{}:{}: {}",
                    relative(&path),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        clamps.is_empty(),
        "refuse a zero in config::Settings instead:\n{}",
        clamps.join("\n")
    );
}

/// The top-level names after each `crate::` in `code`: `crate::a::b` gives `a`, and
/// `crate::{a::b, c::{d, e}}` gives `a` and `c`.
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |text: &str| -> String {
        text.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            names.push(ident(rest));
            continue;
        };
        let (mut depth, mut start) = (0usize, true);
        for (at, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => start = true,
                c if start && !c.is_whitespace() => {
                    names.push(ident(&group[at..]));
                    start = false;
                }
                _ => {}
            }
        }
    }
    names.retain(|name| !name.is_empty());
    names
}

/// Top-level module → the top-level modules its code (tests included, comments not) names
/// through `crate::`.
fn module_edges() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in sources("src") {
        let inside = path.strip_prefix(&root).expect("below src");
        let first = inside.components().next().expect("a file below src");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file is readable");
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .map(|line| format!("{line}\n"))
            .collect();
        let targets = edges.entry(module.clone()).or_default();
        targets.extend(
            crate_paths(&code)
                .into_iter()
                .filter(|named| *named != module),
        );
    }
    edges
}

#[test]
fn top_level_modules_have_no_import_cycle() {
    let edges = module_edges();
    // Depth-first search for a back edge; the path names the cycle.
    fn visit(
        module: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|seen| seen == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in edges.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        if let Some(cycle) = visit(module, &edges, &mut Vec::new(), &mut done) {
            panic!("module cycle: {}", cycle.join(" → "));
        }
    }
}

/// Whether `path` holds only tests or their fixtures (its module doc is not a product header).
fn is_test_only(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    name == "tests.rs"
        || name == "fixture.rs"
        || name == "fixtures.rs"
        || (name.starts_with("tests_") && name.ends_with(".rs"))
}

/// The opening `//!` block of a file (the consecutive `//!` lines at its top), as one line.
fn opening_doc(text: &str) -> String {
    text.lines()
        .map_while(|line| line.strip_prefix("//!"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a module's opening doc says what it must never do.
fn says_what_it_must_never_do(doc: &str) -> bool {
    let doc = doc.to_lowercase();
    doc.contains("never") || doc.contains("must not")
}

#[test]
fn every_module_says_what_it_owns_and_what_it_must_never_do() {
    let mut silent = Vec::new();
    let mut checked = 0;
    for path in sources("src").into_iter().chain(sources("tools")) {
        if is_test_only(&path) {
            continue;
        }
        checked += 1;
        let text = std::fs::read_to_string(&path).expect("a source file is readable");
        let doc = opening_doc(&text);
        if doc.is_empty() {
            silent.push(format!("{}: no opening //! block", relative(&path)));
        } else if !says_what_it_must_never_do(&doc) {
            silent.push(format!(
                "{}: its //! block never says what it must never do",
                relative(&path)
            ));
        }
    }
    assert!(checked > 80, "the source tree is found ({checked} files)");
    assert!(
        silent.is_empty(),
        "open each module with a //! block saying what it owns and, in a sentence of its own, \
         what it must never do (\"never\" or \"must not\"):\n{}",
        silent.join("\n")
    );
}

#[test]
fn the_header_check_reads_only_the_opening_block() {
    let text = "//! Owns the widgets.\n//! It must\n//! not sleep.\n\n//! Never read.\nfn f() {}";
    assert_eq!(opening_doc(text), "Owns the widgets. It must not sleep.");
    assert!(says_what_it_must_never_do(&opening_doc(text)));
    let late = "//! Owns the widgets.\n\n// It never sleeps.\n//! Never read.";
    assert!(!says_what_it_must_never_do(&opening_doc(late)));
    assert_eq!(opening_doc("use std::fmt;\n//! Never.\n"), "");
    assert!(is_test_only(Path::new(
        "src/deployment/plan/tests_polling.rs"
    )));
    assert!(is_test_only(Path::new("src/projection/fixture.rs")));
    assert!(!is_test_only(Path::new("src/ledger/verify.rs")));
    assert!(!is_test_only(Path::new("tools/replay/main.rs")));
}

#[test]
fn the_size_checks_see_what_they_measure() {
    // The checks above would pass on an empty tree; make sure they read real code.
    let lines: Vec<String> = [
        "pub async fn long(x: u8) -> u8 {",
        "    let s = \"}}}\"; // {",
        "    if x > 1 { x } else { 0 }",
        "}",
        "fn declared(x: u8);",
        "fn short() {}",
    ]
    .iter()
    .map(|line| (*line).to_owned())
    .collect();
    let found = functions(&lines);
    assert_eq!(
        found,
        vec![("long".to_owned(), 1, 4), ("short".to_owned(), 6, 1)]
    );
    assert!(sources("src").len() > 40, "the source tree is found");
    let edges = module_edges();
    assert!(edges["http"].contains("ledger"), "{edges:?}");
    let code = "use crate::{a::b, c::{d, e}};\nlet x = crate::f::g();";
    assert_eq!(crate_paths(code), ["a", "c", "f"]);
}
