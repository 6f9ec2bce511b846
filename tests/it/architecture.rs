//! The shape of the source tree: the module graph read from `use` lines and
//! `crate::`/`super::`/`super::super::`/`self::` paths in src/ has no
//! cycle, so data flows one way and each layer can be read (and tested)
//! without the ones above it. A module reaches its own submodules (using
//! `stdlib` may run `stdlib::text`), and a submodule may use the modules it
//! lives in (one concept split into files, like the simulated device and
//! its model), so a loop through a submodule is found, and a folder's files
//! naming their parent are not a loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name (`script::api`) -> source text without its unit tests, for
/// every file under `src`.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let src = src.to_path_buf();
    let mut out = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(&src).unwrap().with_extension("");
                let mut name = rel.to_string_lossy().replace('/', "::");
                if let Some(parent) = name.strip_suffix("::mod") {
                    name = parent.to_string();
                }
                if name == "main" || name == "lib" {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                // Unit tests (by convention last in a file) may use anything.
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                out.insert(name, code.to_string());
            }
        }
    }
    out
}

/// The longest known module that `path` (a::b::c::Item) names.
fn resolve(path: &str, known: &BTreeMap<String, String>) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    while !parts.is_empty() {
        let m = parts.join("::");
        if known.contains_key(&m) {
            return Some(m);
        }
        parts.pop();
    }
    None
}

/// `path` as written in `module` (`crate::a::b`, `super::super::c`,
/// `self::d`), made absolute (`a::b`); `None` for a path that climbs out of
/// the crate.
fn absolute(module: &str, path: &str) -> Option<String> {
    let mut base: Vec<&str> = module.split("::").collect();
    let mut parts = path.split("::").peekable();
    match parts.peek() {
        Some(&"crate") => {
            base.clear();
            parts.next();
        }
        Some(&"self") => {
            parts.next();
        }
        Some(&"super") => {
            while parts.peek() == Some(&"super") {
                parts.next();
                base.pop()?;
            }
        }
        _ => return None,
    }
    let mut out: Vec<&str> = base;
    out.extend(parts.filter(|p| !p.is_empty()));
    (!out.is_empty()).then(|| out.join("::"))
}

/// Paths a file names, made absolute: `crate::x::y`, `super::z` and
/// `super::super::z` (relative to the file's module), `self::w`, and each
/// item of `use crate::{a, b::c}` groups.
fn referenced(module: &str, text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let is_path = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut from = 0;
    while from < code.len() {
        let next = ["crate::", "super::", "self::"]
            .iter()
            .filter_map(|p| code[from..].find(p).map(|i| from + i))
            .min();
        let Some(at) = next else { break };
        let end = code[at..]
            .find(|c: char| !is_path(c))
            .map_or(code.len(), |e| at + e);
        from = end.max(at + 1);
        if at > 0
            && (bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_'
                || bytes[at - 1] == b':')
        {
            continue;
        }
        let head = code[at..end].trim_end_matches(':');
        let Some(p) = absolute(module, head) else {
            continue;
        };
        // a group after a path: `crate::x::{a, b::c}`
        if code[end..].starts_with('{') {
            let group = &code[end + 1..];
            let close = group.find('}').unwrap_or(group.len());
            for item in group[..close].split(',') {
                let item = item.split_whitespace().next().unwrap_or("");
                let item = item.trim_start_matches('{');
                if !item.is_empty() && item != "self" {
                    out.push(format!("{p}::{item}"));
                }
            }
        } else {
            out.push(p);
        }
    }
    out
}

/// Groups of modules that import each other, directly or around a loop
/// (Tarjan's algorithm); single modules are left out.
fn strongly_connected(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let i = w.index.len();
        w.index.insert(v, i);
        w.low.insert(v, i);
        w.stack.push(v);
        for t in w.edges.get(v).into_iter().flatten() {
            let t = t.as_str();
            if !w.index.contains_key(t) {
                visit(w, t);
                let lt = w.low[t];
                let lv = w.low.get_mut(v).unwrap();
                *lv = (*lv).min(lt);
            } else if w.stack.contains(&t) {
                let it = w.index[t];
                let lv = w.low.get_mut(v).unwrap();
                *lv = (*lv).min(it);
            }
        }
        if w.low[v] == w.index[v] {
            let mut group = Vec::new();
            while let Some(m) = w.stack.pop() {
                group.push(m.to_string());
                if m == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                w.out.push(group);
            }
        }
    }
    let mut w = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for m in edges.keys() {
        if !w.index.contains_key(m.as_str()) {
            visit(&mut w, m);
        }
    }
    w.out
}

/// Whether `code` names `name::...` as a path of its own (not as the tail
/// of a longer path such as `crate::x::name::...`).
fn names_bare(code: &str, name: &str) -> bool {
    let needle = format!("{name}::");
    code.match_indices(&needle).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

/// The import loops among the modules under `src`.
fn cycles(src: &Path) -> Vec<Vec<String>> {
    let known = modules(src);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, text) in &known {
        for p in referenced(m, text) {
            // A module may name the modules it lives in.
            if let Some(t) = resolve(&p, &known)
                && &t != m
                && !m.starts_with(&format!("{t}::"))
            {
                edges.entry(m.clone()).or_default().insert(t);
            }
        }
        // A module naming a submodule of its own by its bare name
        // (`text::register(..)`, `pub use client::Codec`) uses it.
        for child in known.keys() {
            if let Some(name) = child
                .strip_prefix(&format!("{m}::"))
                .filter(|rest| !rest.contains("::"))
                && names_bare(text, name)
            {
                edges.entry(m.clone()).or_default().insert(child.clone());
            }
        }
    }
    assert!(edges.len() > 2, "the graph was not read: {edges:?}");
    strongly_connected(&edges)
}

#[test]
fn the_module_graph_has_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let cycles = cycles(&src);
    assert!(cycles.is_empty(), "import cycles: {cycles:?}");
}

/// A tree of `files` (path under src/, text) in a fresh directory.
fn fixture(name: &str, files: &[(&str, &str)]) -> crate::common::rig::TempDir {
    let dir = crate::common::rig::TempDir::new(name);
    for (path, text) in files {
        let file = dir.0.join("src").join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    dir
}

#[test]
fn a_loop_closed_through_super_super_and_a_submodule_is_reported() {
    // script::engine -> script::stdlib (-> its submodule text) ->
    // super::super::engine: the loop the old reading missed.
    let files = [
        ("script/mod.rs", "pub mod engine;\npub mod stdlib;\n"),
        (
            "script/engine.rs",
            "use super::stdlib;\npub const MAX: usize = 1;\n",
        ),
        (
            "script/stdlib/mod.rs",
            "pub mod text;\npub fn register() {\n    text::register();\n}\n",
        ),
        (
            "script/stdlib/text.rs",
            "use super::super::engine::MAX;\npub fn register() {}\n",
        ),
        ("host.rs", "use crate::script::engine;\n"),
    ];
    let dir = fixture("arch-loop", &files);
    let found = cycles(&dir.0.join("src"));
    assert_eq!(
        found,
        vec![vec![
            "script::engine".to_string(),
            "script::stdlib".to_string(),
            "script::stdlib::text".to_string()
        ]],
        "{found:?}"
    );

    // The same tree with the constant in a module of its own has no loop,
    // and a folder's files naming their parent (`super::X`) make none.
    let files = [
        (
            "script/mod.rs",
            "pub mod engine;\npub mod limits;\npub mod stdlib;\n",
        ),
        (
            "script/engine.rs",
            "use super::stdlib;\nuse self::inner::X;\n",
        ),
        ("script/limits.rs", "pub const MAX: usize = 1;\n"),
        (
            "script/stdlib/mod.rs",
            "pub mod text;\npub fn register() {\n    text::register();\n}\n",
        ),
        (
            "script/stdlib/text.rs",
            "use super::super::limits::MAX;\nuse super::Other;\npub fn register() {}\n",
        ),
        ("host.rs", "use crate::script::{engine, stdlib::text};\n"),
    ];
    let dir = fixture("arch-no-loop", &files);
    let found = cycles(&dir.0.join("src"));
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn paths_are_made_absolute_from_the_module_they_are_written_in() {
    assert_eq!(
        absolute("a::b::c", "super::super::x::Y").as_deref(),
        Some("a::x::Y")
    );
    assert_eq!(absolute("a::b::c", "super::x").as_deref(), Some("a::b::x"));
    assert_eq!(absolute("a::b", "self::x").as_deref(), Some("a::b::x"));
    assert_eq!(absolute("a::b", "crate::x::y").as_deref(), Some("x::y"));
    assert_eq!(absolute("a", "super::super::x"), None);
    assert_eq!(
        referenced(
            "s::stdlib::text",
            "use super::super::engine::MAX;\nuse crate::x::{a, b::c};\n"
        ),
        vec!["s::engine::MAX", "x::a", "x::b::c"]
    );
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_file_reads_in_one_sitting_and_the_top_of_src_reads_like_the_architecture() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let long: Vec<String> = sources(&src)
        .into_iter()
        .filter_map(|(p, text)| {
            let lines = text.lines().take_while(|l| !l.contains("#[cfg(test)]"));
            let n = lines.count();
            (n > 600).then(|| format!("{} ({n} lines before its tests)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over 600 lines: {long:?}");
    let top = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .count();
    assert!(top <= 12, "{top} files at the top of src/ (at most 12)");
}

#[test]
fn at_most_two_thread_locals_each_saying_why_rhai_gives_no_context_there() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for (p, text) in sources(&src) {
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (i, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("thread_local!") {
                found.push(format!("{}:{}", p.display(), i + 1));
            }
        }
        // The reason is written where the thread-local lives.
        if code.contains("thread_local!") {
            let words = code
                .split_whitespace()
                .filter(|w| !w.starts_with("//"))
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                words.contains("no context"),
                "{} keeps a thread-local without saying why Rhai gives no context there",
                p.display()
            );
        }
    }
    assert!(found.len() <= 2, "thread-locals: {found:?}");
}
