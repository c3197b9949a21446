//! The architecture as a test (issue 20): `src/`'s top-level modules form
//! layers, and a module imports only from its own layer or the ones below.
//! Read from the source text (`crate::MODULE` in `use` lines and paths), so
//! that a wrong-way import fails here, not in a review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may import any module of its own
/// layer or a lower one (within a layer, only cycles are refused). Where a
/// module sits follows what it imports (issue 20):
const LAYERS: &[(&str, &[&str])] = &[
    // Helpers that know nothing of feeds: they import no module of the crate.
    ("util", &["util"]),
    // The model every part speaks: `Entry`, diagnostics and errors, the URL
    // policy.
    ("model", &["model"]),
    // tributary.yaml and feeds/*.yaml as plain data.
    ("config", &["config"]),
    // One concern each, none knows a site: posts on disk (and their
    // Markdown), feed documents read, HTTP, the store, merging. `store` is
    // this low (not above the readers) because it holds entries and nothing
    // else of ours.
    ("engines", &["content", "parse", "fetch", "store", "merge"]),
    // A loaded site: config plus where its posts and store are.
    ("site", &["site"]),
    // What one build publishes: ids and the ledger (`plan`), the bytes of
    // each document and page and their checks (`emit`).
    ("outputs", &["plan", "emit"]),
    // Each command's work over a site.
    ("app", &["app"]),
    // The daemon runs the commands' work; the command line runs everything.
    ("serve", &["serve"]),
    ("cli", &["cli"]),
];

/// Wrong-way imports allowed for now: none. An entry here needs a
/// `TODO` and an issue; the list may only shrink.
const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/emit/html.rs` → `emit`);
/// `None` for the crate root and the binary.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// The code without comments, so that prose naming `crate::x` is no import.
/// Naive about `//` inside strings, which no import line holds.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module named right after `crate::`, in paths and in `use`
/// lines, including groups (`crate::{ids, render::x}`).
fn crate_refs(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `tributary::crate::` does not occur; `$crate::` is a macro's.
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let Some(group) = rest.strip_prefix('{') else {
            out.insert(ident(rest));
            continue;
        };
        // The first name of each comma-separated item at depth one.
        let mut depth = 1;
        let mut start = true;
        for (k, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => start = true,
                c if c.is_whitespace() => {}
                _ if start && depth == 1 => {
                    out.insert(ident(&group[k..]));
                    start = false;
                }
                _ => {}
            }
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

/// Top-level module → the top-level modules it imports, with a file each.
fn imports() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = module_of(&src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read a source file");
        let entry = graph.entry(from.clone()).or_default();
        for to in crate_refs(&without_comments(&text)) {
            if to != from && modules.contains(&to) {
                let shown = file.strip_prefix(&src).unwrap_or(file).display();
                entry.entry(to).or_insert_with(|| format!("src/{shown}"));
            }
        }
    }
    graph
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, members)| members.contains(&module))
}

#[test]
fn the_reference_reader_sees_groups_and_paths() {
    let code = "use crate::{ids, render::{a, b}, write};\nlet x = crate::par::map();\nuse crate::build::Site;\n$crate::no";
    let want: BTreeSet<String> = ["ids", "render", "write", "par", "build"]
        .map(String::from)
        .into();
    assert_eq!(crate_refs(code), want);
    assert!(crate_refs(&without_comments("/// see crate::emit\nfn f() {}")).is_empty());
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<String> = imports()
        .into_keys()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules in no layer of tests/it/layers.rs: {unplaced:?}; \
         put each where its imports allow (README.md, Architecture)"
    );
}

#[test]
fn modules_import_only_their_layer_and_below() {
    let mut wrong = Vec::new();
    for (from, tos) in imports() {
        let Some(lf) = layer_of(&from) else { continue };
        for (to, file) in tos {
            let Some(lt) = layer_of(&to) else { continue };
            if lt > lf && !KNOWN_EXCEPTIONS.contains(&(from.as_str(), to.as_str())) {
                wrong.push(format!(
                    "{file}: `{from}` ({}) imports `{to}` ({}), a higher layer",
                    LAYERS[lf].0, LAYERS[lt].0
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "wrong-way imports:\n{}", wrong.join("\n"));
}

#[test]
fn known_exceptions_still_exist() {
    // A fixed exception is taken off the list, so that it cannot come back.
    let graph = imports();
    for (from, to) in KNOWN_EXCEPTIONS {
        assert!(
            graph.get(*from).is_some_and(|tos| tos.contains_key(*to)),
            "`{from}` no longer imports `{to}`: remove it from KNOWN_EXCEPTIONS"
        );
    }
}

#[test]
fn top_level_modules_import_no_cycle() {
    let graph = imports();
    // Depth-first search; a module met again while on the stack closes a cycle.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<String, BTreeMap<String, String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(i) = stack.iter().position(|s| *s == m) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(m);
            cycles.push(cycle.join(" → "));
            return;
        }
        if !done.insert(m) {
            return;
        }
        stack.push(m);
        for to in graph.get(m).into_iter().flat_map(|t| t.keys()) {
            visit(to, graph, stack, done, cycles);
        }
        stack.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}
