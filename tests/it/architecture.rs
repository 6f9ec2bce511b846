//! The shape of the source tree: the module graph read from `use` lines and
//! `crate::`/`super::` paths in src/ has no cycle, so data flows one way and
//! each layer can be read (and tested) without the ones above it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name (`script::api`) -> source text, for every file under src/.
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
                out.insert(name, std::fs::read_to_string(&p).unwrap());
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
                    let item = item.trim().split_whitespace().next().unwrap_or("");
                    if !item.is_empty() {
                        out.push(join(item));
                    }
                }
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                let p = rest[..end].trim_end_matches(':');
                // `super::{a, b}` after a path: `crate::x::{a, b}`
                if rest[end..].starts_with('{') && p.ends_with("") {
                    let group = &rest[end + 1..];
                    let close = group.find('}').unwrap_or(group.len());
                    for item in group[..close].split(',') {
                        let item = item.trim().split_whitespace().next().unwrap_or("");
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
    // Depth-first search for a back edge; report the cycle it closes.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(m.to_string(), 1);
        stack.push(m.to_string());
        for t in edges.get(m).into_iter().flatten() {
            match state.get(t.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == t).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(t.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(t, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in known.keys() {
        if state.get(m.as_str()).copied().unwrap_or(0) == 0
            && let Some(cycle) = visit(m, &edges, &mut state, &mut Vec::new())
        {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
    assert!(edges.len() > 10, "the graph was not read: {edges:?}");
}
