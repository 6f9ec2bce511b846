//! The shape of the source tree: the module graph read from `use` lines and
//! `crate::`/`super::` paths in src/ has no cycle, so data flows one way and
//! each layer can be read (and tested) without the ones above it. A module
//! and its own submodules (one concept split into files, like the simulated
//! device and its model) are one node.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name (`script::api`) -> source text without its unit tests, for
/// every file under src/.
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
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

/// Paths a file names, made absolute: `crate::x::y`, `super::z` (relative
/// to the file's module), and each item of `use crate::{a, b::c}` groups.
fn referenced(module: &str, text: &str) -> Vec<String> {
    let parent: Vec<&str> = {
        let mut p: Vec<&str> = module.split("::").collect();
        p.pop();
        p
    };
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent.clone())] {
        let mut from = 0;
        while let Some(i) = code[from..].find(prefix) {
            let at = from + i;
            from = at + prefix.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let rest = &code[from..];
            let base = base.join("::");
            let join = |tail: &str| {
                if base.is_empty() {
                    tail.to_string()
                } else {
                    format!("{base}::{tail}")
                }
            };
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let item = item.split_whitespace().next().unwrap_or("");
                    if !item.is_empty() {
                        out.push(join(item));
                    }
                }
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                let p = rest[..end].trim_end_matches(':');
                // a group after a path: `crate::x::{a, b}`
                if rest[end..].starts_with('{') {
                    let group = &rest[end + 1..];
                    let close = group.find('}').unwrap_or(group.len());
                    for item in group[..close].split(',') {
                        let item = item.split_whitespace().next().unwrap_or("");
                        if !item.is_empty() {
                            out.push(join(&format!("{p}::{item}")));
                        }
                    }
                }
                out.push(join(p));
            }
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

#[test]
fn the_module_graph_has_no_cycle() {
    let known = modules();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, text) in &known {
        for p in referenced(m, text) {
            if let Some(t) = resolve(&p, &known)
                && &t != m
                && !m.starts_with(&format!("{t}::"))
                && !t.starts_with(&format!("{m}::"))
            {
                edges.entry(m.clone()).or_default().insert(t);
            }
        }
    }
    let cycles = strongly_connected(&edges);
    assert!(cycles.is_empty(), "import cycles: {cycles:?}");
    assert!(edges.len() > 10, "the graph was not read: {edges:?}");
}
