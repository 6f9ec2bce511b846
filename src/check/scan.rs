//! The AST scan of `xmacro check`: literal xAPI paths (proxy chains and
//! string paths) and literal command parameters in one file, looked up in
//! the schema or in a script's `allow` list, each finding with the exact
//! text at fault.

use rhai::{ASTNode, Expr, FnCallExpr, Ident, Position};

use super::{Finding, Span};
use crate::schema::{Entry, ParamError, Schema, nearest};
use crate::script::allow::AllowList;
use crate::script::engine;
use crate::script::lex::token_width;
use crate::xows::path::{Path as XPath, Root, Segment};

/// Where a segment of a path (or a parameter, or a value) was written: the
/// place of its first character and, when known, its length.
#[derive(Debug, Clone, Copy)]
struct Mark {
    at: Position,
    len: Option<usize>,
}

impl Mark {
    fn token(at: Position) -> Mark {
        Mark { at, len: None }
    }
}

/// Collects findings for one file, measuring each marked token in the source.
struct Report<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
    out: Vec<Finding>,
}

impl Report<'_> {
    fn add(&mut self, at: Position, mark: Mark, message: String) {
        let line = mark.at.line().unwrap_or(0);
        let col = mark.at.position().unwrap_or(0);
        let len = mark.len.unwrap_or_else(|| self.token_len(line, col));
        self.out.push(Finding {
            file: self.file.to_string(),
            line: at.line().unwrap_or(0),
            col: at.position().unwrap_or(0),
            message,
            span: Span { line, col, len },
        });
    }

    fn token_len(&self, line: usize, col: usize) -> usize {
        let text = line.checked_sub(1).and_then(|i| self.lines.get(i));
        token_width(text.copied().unwrap_or(""), col)
    }
}

/// One link of a dotted chain as the parser sees it: `xapi`, `.Status`,
/// `[2]`, `.get(...)`.
enum Link<'a> {
    Var(&'a str, Position),
    Prop(&'a str, Position),
    Index(&'a Expr),
    Call(&'a FnCallExpr, Position),
    Other,
}

/// The links of a chain, left to right. Rhai nests chains to the right:
/// `a.b[2].c()` is `Dot(a, Index(b, Dot(2, MethodCall c)))`.
fn links<'a>(e: &'a Expr, out: &mut Vec<Link<'a>>) {
    match e {
        Expr::Dot(b, _, _) => {
            out.push(link(&b.lhs));
            links(&b.rhs, out);
        }
        Expr::Index(b, _, _) => {
            out.push(link(&b.lhs));
            index_links(&b.rhs, out);
        }
        other => out.push(link(other)),
    }
}

/// After `[`: the first element is the index, the rest continues the chain.
fn index_links<'a>(e: &'a Expr, out: &mut Vec<Link<'a>>) {
    match e {
        Expr::Dot(b, _, _) => {
            out.push(Link::Index(&b.lhs));
            links(&b.rhs, out);
        }
        Expr::Index(b, _, _) => {
            out.push(Link::Index(&b.lhs));
            index_links(&b.rhs, out);
        }
        other => out.push(Link::Index(other)),
    }
}

fn link(e: &Expr) -> Link<'_> {
    match e {
        Expr::Variable(v, _, pos) => Link::Var(v.1.as_str(), *pos),
        Expr::Property(p, pos) => Link::Prop(p.2.as_str(), *pos),
        Expr::MethodCall(f, pos) => Link::Call(f, *pos),
        _ => Link::Other,
    }
}

/// The methods of the string style (`xapi.get("Status Audio Volume")`),
/// whose first argument is a path.
pub const METHODS: &[&str] = &["get", "set", "query", "command", "send", "on", "once"];

/// Scans one file for xAPI paths and checks them. It reads the script
/// through Rhai's own parser, so strings, characters and comments are never
/// mistaken for code; a path computed at run time (a variable index, an
/// interpolated or concatenated string) is not guessed at. A file that does
/// not parse yields nothing here: its compile error is reported apart.
pub fn scan(file: &str, src: &str, schema: &Schema) -> Vec<Finding> {
    scan_against(file, src, Against::Schema(schema))
}

/// What literal paths are checked against: the schema (they must exist),
/// or a script's `allow` list (they must be in it).
#[derive(Clone, Copy)]
pub enum Against<'a> {
    Schema(&'a Schema),
    Allow {
        script: &'a str,
        allow: &'a AllowList,
    },
}

/// [`scan`] against the schema or an `allow` list.
pub fn scan_against(file: &str, src: &str, against: Against) -> Vec<Finding> {
    let Ok(ast) = engine::parser().compile(src) else {
        return Vec::new();
    };
    let mut report = Report {
        file,
        lines: src.lines().collect(),
        out: Vec::new(),
    };
    ast.walk(&mut |nodes: &[ASTNode]| {
        if let Some(ASTNode::Expr(e @ (Expr::Dot(..) | Expr::Index(..)))) = nodes.last() {
            let mut chain = Vec::new();
            links(e, &mut chain);
            check_chain(against, &chain, &mut report);
        }
        true
    });
    report.out
}

/// Checks one chain that starts at `xapi` or `codecs[...]`.
fn check_chain(schema: Against, chain: &[Link], report: &mut Report) {
    let (start, rest) = match chain {
        [Link::Var("xapi", at), rest @ ..] => (*at, rest),
        [Link::Var("codecs", at), Link::Index(_), rest @ ..] => (*at, rest),
        _ => return,
    };
    let mut segs: Vec<Segment> = Vec::new();
    let mut marks: Vec<Mark> = Vec::new();
    for l in rest {
        match l {
            Link::Prop(name, at) => {
                segs.push(Segment::Name(name.to_string()));
                marks.push(Mark::token(*at));
            }
            Link::Index(e @ Expr::IntegerConstant(n, _)) if *n >= 0 => {
                segs.push(Segment::Index(*n as u64));
                marks.push(Mark::token(e.position()));
            }
            // A computed index or anything unusual: not guessed at.
            Link::Index(_) | Link::Var(..) | Link::Other => return,
            Link::Call(f, at) => {
                check_call(schema, segs, marks, f, *at, start, report);
                return;
            }
        }
    }
    if !segs.is_empty() {
        check_path(schema, &rooted(segs), start, &marks, None, report);
    }
}

/// Root spelling as scripts write it: Config means Configuration.
fn rooted(mut segs: Vec<Segment>) -> XPath {
    if let Some(Segment::Name(first)) = segs.first_mut()
        && let Some(root) = Root::parse(first)
    {
        *first = root.as_str().to_string();
    }
    XPath(segs)
}

fn check_call(
    schema: Against,
    mut segs: Vec<Segment>,
    mut marks: Vec<Mark>,
    f: &FnCallExpr,
    method_at: Position,
    start: Position,
    report: &mut Report,
) {
    let method = f.name.as_str();
    if segs.is_empty() && METHODS.contains(&method) {
        // String form: a literal first argument is the path.
        let Some(Expr::StringConstant(text, at)) = f.args.first() else {
            return;
        };
        let mut path = match XPath::parse(text) {
            Ok(p) => p,
            Err(e) => {
                report.add(
                    *at,
                    Mark::token(*at),
                    format!("bad xAPI path {text:?}: {e}"),
                );
                return;
            }
        };
        let mut implied = 0;
        if matches!(method, "command" | "send") && path.root() != Some(Root::Command) {
            path.0.insert(0, Segment::Name("Command".into()));
            implied = 1;
        }
        let marks = string_marks(report, *at, text, &path, implied);
        check_path(schema, &path, *at, &marks, f.args.get(1), report);
    } else if method.starts_with(|c: char| c.is_ascii_uppercase()) {
        segs.push(Segment::Name(method.to_string()));
        marks.push(Mark::token(method_at));
        check_path(schema, &rooted(segs), start, &marks, f.args.first(), report);
    } else if method == "send" && !segs.is_empty() {
        // `xapi.Command.X.Y.send(#{...})`: a command sent without waiting.
        check_path(schema, &rooted(segs), start, &marks, f.args.first(), report);
    } else if !segs.is_empty() {
        check_path(schema, &rooted(segs), start, &marks, None, report);
    }
}

/// Where each segment of a string path was written: each word of the
/// literal when the source spells it as its value (no escapes), else the
/// whole literal; `implied` leading segments (a `Command` the method
/// implies) mark the whole literal.
fn string_marks(
    report: &Report,
    at: Position,
    text: &str,
    path: &XPath,
    implied: usize,
) -> Vec<Mark> {
    let whole = vec![Mark::token(at); path.0.len()];
    let (Some(line), Some(col)) = (at.line(), at.position()) else {
        return whole;
    };
    let Some(source) = report.lines.get(line - 1) else {
        return whole;
    };
    let written: String = source.chars().skip(col).collect();
    if !written.starts_with(text) {
        return whole;
    }
    let mut marks = vec![Mark::token(at); implied];
    let mut word = String::new();
    let mut word_at = col + 1; // the first character inside the quote
    for (offset, c) in (col + 1..).zip(text.chars().chain(std::iter::once(' '))) {
        if c.is_whitespace() || c == '/' {
            if !word.is_empty() {
                let count = XPath::parse(&word).map_or(0, |p| p.0.len());
                let name_len = word.find('[').unwrap_or(word.len());
                let name_chars = word[..name_len].chars().count();
                for i in 0..count {
                    let (c, len) = if i == 0 {
                        (word_at, name_chars)
                    } else {
                        (word_at + name_chars, word.chars().count() - name_chars)
                    };
                    marks.push(Mark {
                        at: Position::new(line as u16, c as u16),
                        len: Some(len.max(1)),
                    });
                }
            }
            word.clear();
            word_at = offset + 1;
        } else {
            word.push(c);
        }
    }
    if marks.len() == path.0.len() {
        marks
    } else {
        whole
    }
}

/// The index of the segment at fault when `path` is not in the schema: the
/// last of its shortest prefix the schema lacks (the whole path's last
/// segment when every prefix exists but the whole is not what was wanted).
fn fault(schema: &Schema, path: &XPath) -> usize {
    (1..=path.0.len())
        .find(|&n| schema.lookup(&XPath(path.0[..n].to_vec())).is_err())
        .unwrap_or(path.0.len())
        .saturating_sub(1)
}

/// Checks one literal path against the schema or an `allow` list.
fn check_path(
    against: Against,
    path: &XPath,
    at: Position,
    marks: &[Mark],
    params: Option<&Expr>,
    report: &mut Report,
) {
    match against {
        Against::Schema(schema) => check_in_schema(schema, path, at, marks, params, report),
        Against::Allow { script, allow } if !allow.permits(path) => report.add(
            at,
            marks.first().copied().unwrap_or(Mark::token(at)),
            format!(
                "{path} is outside the allow list of script {script:?}: {} (the call would be denied)",
                allow.describe()
            ),
        ),
        Against::Allow { .. } => {}
    }
}

fn check_in_schema(
    schema: &Schema,
    path: &XPath,
    at: Position,
    marks: &[Mark],
    params: Option<&Expr>,
    report: &mut Report,
) {
    let mark_of = |i: usize| marks.get(i).copied().unwrap_or(Mark::token(at));
    if path.has_wildcard() {
        let prefix: Vec<Segment> = path
            .0
            .iter()
            .take_while(|s| **s != Segment::AnyDepth)
            .cloned()
            .collect();
        if prefix.len() > 1 {
            check_in_schema(schema, &XPath(prefix), at, marks, None, report);
        }
        return;
    }
    let Some(root) = path.root() else {
        report.add(
            at,
            mark_of(0),
            format!("{path}: an xAPI path starts with Status, Config, Command or Event"),
        );
        return;
    };
    match root {
        Root::Command if path.0.len() > 1 => match schema.command(path) {
            Ok((known, _)) => {
                if let Some(Expr::Map(map, at)) = params {
                    check_params(path, known, &map.0, *at, report);
                }
            }
            Err(e) => report.add(
                at,
                mark_of(fault(schema, path)),
                format!("unknown command {}: {}", tail(path), e),
            ),
        },
        Root::Event => {
            // Deeper than an event's own path are its fields: fine.
            let mut probe = path.clone();
            loop {
                if let Ok(n) = schema.lookup(&probe)
                    && (matches!(n.entry, Some(Entry::Event { .. }))
                        || probe.0.len() == path.0.len())
                {
                    return;
                }
                if probe.0.len() <= 2 {
                    break;
                }
                probe.0.pop();
            }
            if let Err(e) = schema.lookup(path) {
                report.add(
                    at,
                    mark_of(fault(schema, path)),
                    format!("unknown xAPI path {path}: {}", e),
                );
            }
        }
        _ => {
            if let Err(e) = schema.lookup(path) {
                report.add(
                    at,
                    mark_of(fault(schema, path)),
                    format!("unknown xAPI path {path}: {}", e),
                );
            }
        }
    }
}

fn tail(p: &XPath) -> String {
    XPath(p.tail().to_vec()).to_string()
}

/// A literal argument as the JSON a codec would receive, when the script
/// spells it out (numbers, strings, booleans, arrays of them); anything
/// computed is `None` and not guessed at.
fn literal(e: &Expr) -> Option<serde_json::Value> {
    use serde_json::Value;
    Some(match e {
        Expr::IntegerConstant(n, _) => Value::from(*n),
        Expr::FloatConstant(f, _) => Value::from(**f),
        Expr::StringConstant(s, _) => Value::from(s.as_str()),
        Expr::BoolConstant(b, _) => Value::Bool(*b),
        Expr::Array(items, _) => Value::Array(items.iter().map(literal).collect::<Option<_>>()?),
        _ => return None,
    })
}

fn check_params(
    path: &XPath,
    params: &[crate::schema::Param],
    keys: &[(Ident, Expr)],
    at: Position,
    report: &mut Report,
) {
    for (k, value) in keys {
        let k_name = k.name.as_str();
        let Some(p) = params.iter().find(|p| p.name.eq_ignore_ascii_case(k_name)) else {
            let hint = nearest(k_name, params.iter().map(|p| &p.name))
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            report.add(
                k.pos,
                Mark::token(k.pos),
                format!("command {}: unknown parameter {k_name:?}{hint}", tail(path)),
            );
            continue;
        };
        if let Some(v) = literal(value)
            && let Err(why) = p.valuespace.check(&v)
        {
            let bad = ParamError::BadValue {
                name: p.name.clone(),
                why,
            };
            let at = value.position();
            report.add(
                at,
                Mark::token(at),
                format!("command {}: {bad}", tail(path)),
            );
        }
    }
    let missing: Vec<&str> = params
        .iter()
        .filter(|p| {
            p.required
                && !keys
                    .iter()
                    .any(|(k, _)| k.name.as_str().eq_ignore_ascii_case(&p.name))
        })
        .map(|p| p.name.as_str())
        .collect();
    if !missing.is_empty() {
        report.add(
            at,
            Mark::token(at),
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
    fn commands_sent_without_waiting_are_checked_like_commands() {
        assert_eq!(
            findings(
                "xapi.Command.Audio.Volume.Set.send(#{ Level: 3 });\nxapi.send(\"Audio Volume Set\", #{ Level: 3 });"
            ),
            Vec::<String>::new()
        );
        let f = findings("xapi.Command.Audio.Volume.Set.send(#{ Levl: 3 });");
        assert!(
            f.iter().any(|x| x.contains("unknown parameter \"Levl\"")),
            "{f:?}"
        );
        let f = findings("xapi.send(\"Audio Volume Sett\", #{ Level: 3 });");
        assert!(f.iter().any(|x| x.contains("Audio Volume Sett")), "{f:?}");
    }

    #[test]
    fn computed_paths_are_not_flagged() {
        let src = r#"
let p = "Audio Volume";
let kind = "Post";
xapi.get(`Status ${p}`);
xapi.command("HttpClient " + kind, #{ Url: "https://x" });
xapi.on(`Event ${p}`, |e| ());
let path = "Status Nope";
xapi.get(path);
"#;
        assert_eq!(findings(src), Vec::<String>::new());
    }

    #[test]
    fn strings_chars_and_comments_are_never_read_as_code() {
        let src = r#"
let quote = '"'; xapi.Status.Audio.Volume.get(); let q2 = '`';
/* a block comment with xapi.Status.Nope and a " quote */
let s = `template with xapi.Status.Nope and ${ "a \" quote" }`;
xapi.Status.Audio.Volume.get(); // xapi.Status.Nope
"#;
        assert_eq!(findings(src), Vec::<String>::new());
        let f = findings("let c = '\"'; xapi.Status.Audio.Volum.get();");
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].starts_with("t.rhai:1:14: unknown xAPI path"), "{f:?}");
    }

    #[test]
    fn paths_inside_functions_and_closures_are_checked() {
        let f = findings("fn later() { set_timeout(|| xapi.Status.Audio.Volum.get(), 10); }");
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].contains("Status Audio Volum"), "{f:?}");
        let f = findings("let c = codecs[\"b\"]; codecs[\"b\"].Status.Audio.Volum.get();");
        assert_eq!(f.len(), 1, "{f:?}");
    }

    fn spans(src: &str) -> Vec<(usize, usize, usize, String)> {
        scan("t.rhai", src, &schema())
            .into_iter()
            .map(|f| (f.span.line, f.span.col, f.span.len, f.message))
            .collect()
    }

    #[test]
    fn literal_values_outside_a_parameter_s_value_space_are_named() {
        let f = findings("xapi.Command.Audio.Volume.Set(#{ Level: 101 });");
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].contains("command Audio Volume Set: bad argument to parameter \"Level\": 101 is outside 0..100"),
            "{f:?}"
        );
        let f = findings("xapi.command(\"Audio Volume Set\", #{ Level: \"loud\" });");
        assert!(f[0].contains("expected an integer"), "{f:?}");
        assert!(findings("xapi.Command.Audio.Volume.Set(#{ Level: 100 });").is_empty());
        assert!(findings("let l = 500; xapi.Command.Audio.Volume.Set(#{ Level: l });").is_empty());
    }

    #[test]
    fn each_finding_marks_the_exact_text_at_fault() {
        let s = spans("let v = xapi.Status.Audio.Volum.get();");
        assert_eq!((s[0].0, s[0].1, s[0].2), (1, 27, 5), "{s:?}");
        let s = spans("\nxapi.get(\"Status Audio Volum\");");
        assert_eq!((s[0].0, s[0].1, s[0].2), (2, 24, 5), "{s:?}");
        let s = spans("xapi.command(\"Audio Volum Set\", #{});");
        assert_eq!((s[0].1, s[0].2), (21, 5), "{s:?}");
        let s = spans("xapi.Command.Audio.Volume.Set(#{ Levl: 3 });");
        assert_eq!((s[0].1, s[0].2), (34, 4), "{s:?}");
        assert_eq!(
            (s[1].1, s[1].2),
            (31, 2),
            "the map of a missing parameter: {s:?}"
        );
        let s = spans("xapi.Command.Audio.Volume.Set(#{ Level: 1000 });");
        assert_eq!((s[0].1, s[0].2), (41, 4), "{s:?}");
        let s = spans(
            "xapi.Command.UserInterface.Message.Prompt.Display(#{ Text: \"x\", \"Option.9\": 1 });",
        );
        assert_eq!((s[0].1, s[0].2), (65, 10), "a quoted key: {s:?}");
        let s = spans("xapi.Status.Audio[12].Volume.get();");
        assert_eq!(
            (s[0].1, s[0].2),
            (19, 2),
            "an element id where none is: {s:?}"
        );
    }

    #[test]
    fn columns_count_characters_on_a_line_with_non_ascii_text() {
        let s = spans("let s = \"Grüße, 会議室\"; xapi.Status.Audio.Volum.get();");
        assert_eq!((s[0].1, s[0].2), (41, 5), "{s:?}");
        let s = spans("let s = \"会議室\"; xapi.get(\"Status Audio Volum\");");
        assert_eq!((s[0].1, s[0].2), (39, 5), "{s:?}");
    }

    #[test]
    fn variables_and_non_literals_are_not_guessed() {
        assert!(
            findings("let n = 2; xapi.Status.Video.Input.Connector[n].Connected.get();").is_empty()
        );
        assert!(findings("let p = #{}; xapi.Command.Audio.Volume.Set(p);").is_empty());
    }
}
