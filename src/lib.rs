//! StackLedger: a self-service deployment portal whose memory is an event-sourced ledger.
//!
//! Data flows one way. The orchestrator decides and appends; the [`ledger`] makes each event
//! durable (sled, hash-chained, group-committed), folds it into the [`projection`] and notifies
//! subscribers; HTTP and SSE only read the projection or the ledger. The projection is a pure
//! function of the events, and `stackledger-replay` folds the same events with the same code.
//!
//! Module map:
//! - [`clock`], [`ids`]: time and identifiers as injected inputs.
//! - [`ledger`]: event model, codec, hash chain, sled store, group-commit writer, catch-up
//!   subscriptions.
//! - [`projection`]: `DeploymentState::apply` and the read model (by id, by name, newest first).
//! - [`secret`]: API keys and the admin token, never printed, compared in constant time.
//! - [`defaults`]: every default value, once.
//! - [`config`]: flags and environment as given ([`config::Config`]), checked once into
//!   [`config::Settings`].
//! - [`app`], [`http`]: wiring, and the HTTP surface.

pub mod app;
pub mod clock;
pub mod config;
pub mod crash;
pub mod defaults;
pub mod deployment;
pub mod dokploy;
pub mod http;
pub mod ids;
pub mod ledger;
pub mod orchestrator;
pub mod projection;
pub mod secret;
pub mod simulator;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// The top-level modules (`src/X.rs` or `src/X/`), without the crate roots.
    fn modules(src: &Path) -> BTreeSet<String> {
        let entries = std::fs::read_dir(src).expect("src/ is readable");
        entries
            .map(|entry| entry.expect("an entry").path())
            .filter_map(|path| {
                let stem = path.file_stem()?.to_str()?.to_owned();
                let module = path.is_dir() || path.extension()? == "rs";
                (module && stem != "lib" && stem != "main").then_some(stem)
            })
            .collect()
    }

    fn sources(path: &Path, found: &mut Vec<PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).expect("readable") {
                sources(&entry.expect("an entry").path(), found);
            }
        } else if path.is_file() && path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path.to_owned());
        }
    }

    /// The top-level names after each `crate::` in `code`: `crate::a::b` gives `a`, and
    /// `crate::{a::b, c}` gives `a` and `c`.
    fn crate_paths(code: &str) -> Vec<String> {
        let mut names = Vec::new();
        for (_, rest) in code
            .match_indices("crate::")
            .map(|(at, _)| code.split_at(at + 7))
        {
            let ident = |text: &str| -> String {
                text.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()
            };
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
        names
    }

    /// `module -> modules it names through crate::`, comments left out.
    fn edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
        let modules = modules(src);
        let mut edges = BTreeMap::new();
        for module in &modules {
            let mut files = Vec::new();
            sources(&src.join(module), &mut files);
            sources(&src.join(format!("{module}.rs")), &mut files);
            let mut code = String::new();
            for file in files {
                let text = std::fs::read_to_string(file).expect("readable");
                let lines = text
                    .lines()
                    .filter(|line| !line.trim_start().starts_with("//"));
                code.extend(lines.map(|line| format!("{line}\n")));
            }
            let used = crate_paths(&code)
                .into_iter()
                .filter(|name| name != module && modules.contains(name))
                .collect();
            edges.insert(module.clone(), used);
        }
        edges
    }

    /// A cycle through `from`, if there is one, as the path walked.
    fn cycle(
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        let current = path.last().expect("a path starts somewhere").clone();
        for next in &edges[&current] {
            if let Some(at) = path.iter().position(|seen| seen == next) {
                let mut found = path[at..].to_vec();
                found.push(next.clone());
                return Some(found);
            }
            if done.contains(next) {
                continue;
            }
            path.push(next.clone());
            if let Some(found) = cycle(edges, path, done) {
                return Some(found);
            }
            path.pop();
        }
        done.insert(current);
        None
    }

    #[test]
    fn the_top_level_modules_depend_on_each_other_without_a_cycle() {
        let edges = edges(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
        assert!(
            edges["config"].contains("secret"),
            "the scan sees `use crate::`"
        );
        let mut done = BTreeSet::new();
        for module in edges.keys() {
            let found = cycle(&edges, &mut vec![module.clone()], &mut done);
            assert_eq!(found, None, "a module cycle; the edges: {edges:#?}");
        }
    }

    #[test]
    fn the_scan_reads_grouped_and_nested_paths() {
        let code = "use crate::{a::b, c::{d, e}};\nlet x = crate::f::g();";
        assert_eq!(crate_paths(code), ["a", "c", "f"]);
    }
}
