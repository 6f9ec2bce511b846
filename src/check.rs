//! `xmacro check`: compile every script the way `run` would, and with a
//! schema, look up every literal xAPI path (proxy chains such as
//! `xapi.Status.Audio.Volume` and string paths such as
//! `xapi.get("Status Audio Volume")`) and the parameter names of literal
//! command arguments, suggesting the nearest valid name.

use std::path::Path;

use crate::schema::{Entry, Schema, nearest};
use crate::script::{engine, loader};
use crate::xows::path::{Path as XPath, Root, Segment};

/// One problem, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Checks every script in `dir`: compile errors (as plain lines, already
/// `file:line:col`) and, with a schema, path findings.
pub fn check_dir(dir: &Path, schema: Option<&Schema>) -> Result<(usize, Vec<String>), String> {
    let scripts = crate::host::list_scripts(dir)
        .map_err(|e| format!("scripts directory {}: {e}", dir.display()))?;
    let engine = engine::build(dir.to_path_buf(), 1_000_000);
    let mut problems = Vec::new();
    for file in scripts.values() {
        if let Err(e) = loader::compile(&engine, dir, file) {
            problems.push(e.message);
        }
        if let Some(schema) = schema {
            let text = loader::read_confined(dir, file).unwrap_or_default();
            problems.extend(scan(file, &text, schema).into_iter().map(|f| f.to_string()));
        }
    }
    if let Some(schema) = schema {
        for lib in libraries(dir) {
            match loader::read_confined(dir, &lib) {
                Ok(text) => {
                    problems.extend(scan(&lib, &text, schema).into_iter().map(|f| f.to_string()))
                }
                Err(e) => problems.push(e),
            }
        }
    }
    Ok((scripts.len(), problems))
}

/// Library files (`*.rhai` below subdirectories), relative to `dir`;
/// symlinked directories are not followed (a link may lead anywhere, or in
/// a circle).
fn libraries(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if d != dir
                && crate::host::is_script_file(&e.file_name().to_string_lossy())
                && let Ok(rel) = p.strip_prefix(dir)
            {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// A string literal: where it starts and what it says.
struct Literal {
    start: usize,
    end: usize,
    text: String,
}

/// The source with comments and string contents blanked (same offsets), and
/// the string literals found.
fn mask(src: &str) -> (Vec<u8>, Vec<Literal>) {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut lits = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        out[i] = b' ';
                        out[i + 1] = b' ';
                        i += 2;
                        continue;
                    }
                    if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        out[i] = b' ';
                        out[i + 1] = b' ';
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                        continue;
                    }
                    if b[i] != b'\n' {
                        out[i] = b' ';
                    }
                    i += 1;
                }
            }
            q @ (b'"' | b'`') => {
                let start = i;
                let mut text = Vec::new();
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        text.push(b[i + 1]);
                        out[i] = b' ';
                        out[i + 1] = b' ';
                        i += 2;
                        continue;
                    }
                    text.push(b[i]);
                    if b[i] != b'\n' {
                        out[i] = b' ';
                    }
                    i += 1;
                }
                lits.push(Literal {
                    start,
                    end: i,
                    text: String::from_utf8_lossy(&text).into_owned(),
                });
                i += 1;
            }
            _ => i += 1,
        }
    }
    (out, lits)
}

fn line_col(src: &str, at: usize) -> (usize, usize) {
    let before = &src[..at.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

struct Cursor<'a> {
    code: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn ws(&mut self) {
        while self.pos < self.code.len() && self.code[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.code.get(self.pos).copied()
    }
    fn ident(&mut self) -> Option<String> {
        self.ws();
        let s = self.pos;
        while self.pos < self.code.len() && is_ident(self.code[self.pos]) {
            self.pos += 1;
        }
        (self.pos > s).then(|| String::from_utf8_lossy(&self.code[s..self.pos]).into_owned())
    }
}

const METHODS: &[&str] = &["get", "set", "query", "command", "on", "once"];

/// Scans one file's text for xAPI paths and checks them.
pub fn scan(file: &str, src: &str, schema: &Schema) -> Vec<Finding> {
    let (code, lits) = mask(src);
    let lit_at = |pos: usize| lits.iter().find(|l| l.start == pos);
    let mut out = Vec::new();
    let mut report = |at: usize, message: String| {
        let (line, col) = line_col(src, at);
        out.push(Finding {
            file: file.to_string(),
            line,
            col,
            message,
        });
    };
    let mut i = 0;
    while i < code.len() {
        let start = i;
        let at_word = i == 0 || !is_ident(code[i - 1]) && code[i - 1] != b'.';
        let head = if at_word
            && code[i..].starts_with(b"xapi")
            && !code.get(i + 4).is_some_and(|c| is_ident(*c))
        {
            Some(i + 4)
        } else if at_word
            && code[i..].starts_with(b"codecs")
            && !code.get(i + 6).is_some_and(|c| is_ident(*c))
        {
            // codecs["name"] then a chain like xapi's
            let mut c = Cursor {
                code: &code,
                pos: i + 6,
            };
            match c.peek() {
                Some(b'[') => code[c.pos..]
                    .iter()
                    .position(|b| *b == b']')
                    .map(|p| c.pos + p + 1),
                _ => None,
            }
        } else {
            None
        };
        let Some(after) = head else {
            i += 1;
            continue;
        };
        let mut c = Cursor {
            code: &code,
            pos: after,
        };
        let mut segs: Vec<Segment> = Vec::new();
        let mut dynamic = false;
        let mut call: Option<(String, usize)> = None;
        loop {
            match c.peek() {
                Some(b'.') => {
                    c.pos += 1;
                    let Some(name) = c.ident() else { break };
                    if c.peek() == Some(b'(') {
                        call = Some((name, c.pos + 1));
                        break;
                    }
                    segs.push(Segment::Name(name));
                }
                Some(b'[') => {
                    c.pos += 1;
                    let n = c.ident();
                    match n.as_deref().and_then(|n| n.parse::<u64>().ok()) {
                        Some(id) if c.peek() == Some(b']') => {
                            c.pos += 1;
                            segs.push(Segment::Index(id));
                        }
                        _ => {
                            dynamic = true;
                            break;
                        }
                    }
                }
                _ => break,
            }
        }
        i = c.pos.max(start + 1);
        if dynamic {
            continue;
        }
        // Root spelling as scripts write it: Config means Configuration.
        if let Some(Segment::Name(first)) = segs.first_mut()
            && let Some(root) = Root::parse(first)
        {
            *first = root.as_str().to_string();
        }
        match call {
            Some((method, args_at)) if segs.is_empty() && METHODS.contains(&method.as_str()) => {
                // String form: the first argument is the path.
                let mut a = Cursor {
                    code: &code,
                    pos: args_at,
                };
                a.ws();
                let Some(lit) = lit_at(a.pos) else { continue };
                let mut path = match XPath::parse(&lit.text) {
                    Ok(p) => p,
                    Err(e) => {
                        report(lit.start, format!("bad xAPI path {:?}: {e}", lit.text));
                        continue;
                    }
                };
                if method == "command" && path.root() != Some(Root::Command) {
                    path.0.insert(0, Segment::Name("Command".into()));
                }
                let mut rest = Cursor {
                    code: &code,
                    pos: lit.end + 1,
                };
                let params_at = (rest.peek() == Some(b',')).then(|| {
                    rest.pos += 1;
                    rest.ws();
                    rest.pos
                });
                check_path(
                    schema,
                    &path,
                    lit.start,
                    params_at,
                    &code,
                    &lits,
                    &mut report,
                );
            }
            Some((name, args_at)) if name.starts_with(|c: char| c.is_ascii_uppercase()) => {
                segs.push(Segment::Name(name));
                let mut a = Cursor {
                    code: &code,
                    pos: args_at,
                };
                a.ws();
                check_path(
                    schema,
                    &XPath(segs),
                    start,
                    Some(a.pos),
                    &code,
                    &lits,
                    &mut report,
                );
            }
            _ if segs.is_empty() => {}
            _ => check_path(schema, &XPath(segs), start, None, &code, &lits, &mut report),
        }
    }
    out
}

fn check_path(
    schema: &Schema,
    path: &XPath,
    at: usize,
    params_at: Option<usize>,
    code: &[u8],
    lits: &[Literal],
    report: &mut impl FnMut(usize, String),
) {
    if path.has_wildcard() {
        let prefix: Vec<Segment> = path
            .0
            .iter()
            .take_while(|s| **s != Segment::AnyDepth)
            .cloned()
            .collect();
        if prefix.len() > 1 {
            check_path(schema, &XPath(prefix), at, None, code, lits, report);
        }
        return;
    }
    let Some(root) = path.root() else {
        report(
            at,
            format!("{path}: an xAPI path starts with Status, Config, Command or Event"),
        );
        return;
    };
    match root {
        Root::Command if path.0.len() > 1 => match schema.command(path) {
            Ok((params, _)) => {
                if let Some(p) = params_at {
                    check_params(path, params, p, code, lits, report);
                }
            }
            Err(e) => report(at, format!("unknown command {}: {}", tail(path), e)),
        },
        Root::Event => {
            // Deeper than an event's own path are its fields: fine.
            let mut probe = path.clone();
            loop {
                if let Ok(n) = schema.lookup(&probe)
                    && (matches!(n.entry, Some(Entry::Event)) || probe.0.len() == path.0.len())
                {
                    return;
                }
                if probe.0.len() <= 2 {
                    break;
                }
                probe.0.pop();
            }
            if let Err(e) = schema.lookup(path) {
                report(at, format!("unknown xAPI path {path}: {}", e));
            }
        }
        _ => {
            if let Err(e) = schema.lookup(path) {
                report(at, format!("unknown xAPI path {path}: {}", e));
            }
        }
    }
}

fn tail(p: &XPath) -> String {
    XPath(p.tail().to_vec()).to_string()
}

/// Parameter names of a literal `#{ ... }` at `at`, with their offsets.
fn literal_keys(code: &[u8], lits: &[Literal], at: usize) -> Option<Vec<(String, usize)>> {
    if !code[at..].starts_with(b"#{") {
        return None;
    }
    let mut keys = Vec::new();
    let mut i = at + 2;
    let mut depth = 1;
    let mut expect_key = true;
    while i < code.len() && depth > 0 {
        let ch = code[i];
        match ch {
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => depth -= 1,
            b',' if depth == 1 => expect_key = true,
            _ if ch.is_ascii_whitespace() => {}
            b'"' if depth == 1 && expect_key => {
                if let Some(l) = lits.iter().find(|l| l.start == i) {
                    keys.push((l.text.clone(), i));
                    i = l.end;
                }
                expect_key = false;
            }
            _ if depth == 1 && expect_key && is_ident(ch) => {
                let s = i;
                while i < code.len() && is_ident(code[i]) {
                    i += 1;
                }
                keys.push((String::from_utf8_lossy(&code[s..i]).into_owned(), s));
                expect_key = false;
                continue;
            }
            _ if depth == 1 => expect_key = false,
            _ => {}
        }
        i += 1;
    }
    Some(keys)
}

fn check_params(
    path: &XPath,
    params: &[crate::schema::Param],
    at: usize,
    code: &[u8],
    lits: &[Literal],
    report: &mut impl FnMut(usize, String),
) {
    let Some(keys) = literal_keys(code, lits, at) else {
        return;
    };
    for (k, pos) in &keys {
        if !params.iter().any(|p| p.name.eq_ignore_ascii_case(k)) {
            let hint = nearest(k, params.iter().map(|p| &p.name))
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            report(
                *pos,
                format!("command {}: unknown parameter {k:?}{hint}", tail(path)),
            );
        }
    }
    let missing: Vec<&str> = params
        .iter()
        .filter(|p| p.required && !keys.iter().any(|(k, _)| k.eq_ignore_ascii_case(&p.name)))
        .map(|p| p.name.as_str())
        .collect();
    if !missing.is_empty() {
        report(
            at,
            format!(
                "command {}: missing required parameter(s) {}",
                tail(path),
                missing.join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let json = serde_json::json!({"objects": [
            {"type":"Status","path":"Audio Volume","products":["p"],"attributes":{"valuespace":{"type":"Integer"}}},
            {"type":"Status","path":"Video Input Connector[n] Connected","products":["p"],"attributes":{}},
            {"type":"Configuration","path":"Audio DefaultVolume","products":["p"],"attributes":{"default":"50","valuespace":{"type":"Integer","Min":"0","Max":"100"}}},
            {"type":"Command","path":"Audio Volume Set","products":["p"],"attributes":{"params":[{"name":"Level","required":true,"valuespace":{"type":"Integer","Min":"0","Max":"100"}}]}},
            {"type":"Command","path":"UserInterface Message Prompt Display","products":["p"],"attributes":{"params":[{"name":"Text","required":true,"valuespace":{"type":"String"}},{"name":"Option.1","required":false,"valuespace":{"type":"String"}}]}},
            {"type":"Event","path":"UserInterface Extensions Widget Action","products":["p"],"attributes":{"children":{}}}
        ]});
        Schema::from_json(&json, None).unwrap()
    }

    fn findings(src: &str) -> Vec<String> {
        scan("t.rhai", src, &schema())
            .into_iter()
            .map(|f| f.to_string())
            .collect()
    }

    #[test]
    fn good_scripts_pass() {
        let src = r#"
// xapi.Status.Nope in a comment is ignored
let v = xapi.Status.Audio.Volume.get();
xapi.Config.Audio.DefaultVolume.set(50);
xapi.Command.Audio.Volume.Set(#{ Level: v });
xapi.Command.UserInterface.Message.Prompt.Display(#{ Text: "x", "Option.1": "Yes" });
xapi.Status.Video.Input.Connector[2].Connected.on(|c| print(c));
xapi.Event.UserInterface.Extensions.Widget.Action.on(|e| print(e));
xapi.on("Event UserInterface Extensions Widget Action WidgetId", |e| ());
xapi.get("Status Audio Volume");
xapi.command("Audio Volume Set", #{ Level: 3 });
xapi.query("Status ** Volume");
let s = "xapi.Status.Nope inside a string";
"#;
        assert_eq!(findings(src), Vec::<String>::new());
    }

    #[test]
    fn unknown_paths_and_parameters_are_named() {
        let f =
            findings("let v = xapi.Status.Audio.Volum.get();\nxapi.get(\"Status Audio Volum\");");
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(
            f[0].starts_with("t.rhai:1:9: unknown xAPI path Status Audio Volum"),
            "{f:?}"
        );
        assert!(f[0].contains("did you mean \"Volume\""), "{f:?}");
        assert!(f[1].starts_with("t.rhai:2:10:"), "{f:?}");
        let f = findings("xapi.Command.Audio.Volume.Set(#{ Levl: 3 });");
        assert!(
            f.iter()
                .any(|x| x.contains("unknown parameter \"Levl\" (did you mean \"Level\"?)")),
            "{f:?}"
        );
        assert!(
            f.iter()
                .any(|x| x.contains("missing required parameter(s) Level")),
            "{f:?}"
        );
        let f = findings("xapi.Command.Audio.Volume.Explode();");
        assert!(
            f[0].contains("unknown command Audio Volume Explode"),
            "{f:?}"
        );
        let f = findings("xapi.command(\"Audio Volume Set\", #{ Volume: 1 });");
        assert!(
            f.iter().any(|x| x.contains("unknown parameter \"Volume\"")),
            "{f:?}"
        );
    }

    #[test]
    fn variables_and_non_literals_are_not_guessed() {
        assert!(
            findings("let n = 2; xapi.Status.Video.Input.Connector[n].Connected.get();").is_empty()
        );
        assert!(findings("let p = #{}; xapi.Command.Audio.Volume.Set(p);").is_empty());
    }
}
