//! Hover: on a path word, what the schema says of that path (its
//! description, its value space, a configuration's default, a command's
//! parameters); on a parameter name, the parameter; on a function of the
//! script API or the standard library, its signature and documentation.

use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind};

use super::context::{self, Context, Word};
use super::documents;
use super::library;
use super::workspace::{Model, Place, Workspace};
use crate::schema::{Entry, Node, Param, ValueSpace};
use crate::xows::path::{Path as XPath, Segment};

/// The hover at byte `offset` of `text`.
pub fn hover(
    ws: &Workspace,
    model: &Model,
    text: &str,
    offset: usize,
    place: &Place,
) -> Option<Hover> {
    let end = word_end(text, offset)?;
    let ctx = context::at_end(&text[..end]);
    let (markdown, word) = match ctx {
        Context::Proxy { path, word } if path.is_empty() => {
            let item = library::ROOTS
                .iter()
                .find(|r| r.name == word.text)
                .or_else(|| library::find(Some("xapi"), &word.text))?;
            (library::markdown(item), word)
        }
        Context::Proxy { path, word } => {
            let mut segs = path;
            segs.push(Segment::Name(word.text.clone()));
            let full = context::absolute(segs);
            match model.schema.lookup(&full) {
                Ok(node) => (describe_node(&full, node), word),
                Err(_) => (
                    library::markdown(library::find(Some("path"), &word.text)?),
                    word,
                ),
            }
        }
        Context::StringPath { mut path, word } => {
            path.0.extend(XPath::parse(&word.text).ok()?.0);
            let node = model.schema.lookup(&path).ok()?;
            (describe_node(&path, node), word)
        }
        Context::ArgKey { command, word, .. } => {
            let (params, _) = model.schema.command(&command).ok()?;
            let p = params
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(&word.text))?;
            (
                format!(
                    "**{}** (xCommand {})\n\n{}",
                    p.name,
                    tail(&command),
                    describe_param(p)
                ),
                word,
            )
        }
        Context::Member { of, word } if of == "args" => {
            let value = ws.args_of(place)?.get(&word.text)?;
            (
                format!("**args.{}** = `{value}` (from the config)", word.text),
                word,
            )
        }
        Context::Member { of, word } => (
            library::markdown(library::find(Some(&of), &word.text)?),
            word,
        ),
        Context::Name { word } => (library::markdown(library::find(None, &word.text)?), word),
        Context::ArgValue { .. } | Context::Nothing => return None,
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: markdown,
        }),
        range: Some(word_range(text, &word)),
    })
}

/// The LSP range of a word.
pub fn word_range(text: &str, word: &Word) -> lsp_types::Range {
    documents::range(text, word.line, word.col, word.text.chars().count())
}

/// The end of the name the cursor is in or just after, if it is in one.
fn word_end(text: &str, offset: usize) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let offset = offset.min(text.len());
    let after = text[offset..]
        .find(|c: char| !is_word(c))
        .map_or(text.len(), |i| offset + i);
    let touching = text[..offset].chars().next_back().is_some_and(is_word);
    (after > offset || touching).then_some(after)
}

fn tail(path: &XPath) -> String {
    XPath(path.tail().to_vec()).to_string()
}

/// Markdown for a schema node: its path, description and entry.
pub fn describe_node(path: &XPath, node: &Node) -> String {
    let mut out = format!("**x{path}**");
    if let Some(d) = &node.description {
        out.push_str(&format!("\n\n{d}"));
    }
    match &node.entry {
        Some(Entry::Status { valuespace }) => {
            out.push_str(&format!("\n\nValue space: {}", space(valuespace)));
        }
        Some(Entry::Configuration {
            valuespace,
            default,
        }) => {
            out.push_str(&format!("\n\nValue space: {}", space(valuespace)));
            if let Some(d) = default {
                out.push_str(&format!("  \nDefault: `{d}`"));
            }
        }
        Some(Entry::Command { params, multiline }) => {
            if params.is_empty() {
                out.push_str("\n\nNo parameters.");
            } else {
                out.push_str("\n\nParameters:");
                for p in required_first(params) {
                    out.push_str(&format!(
                        "\n- `{}`{}: {}",
                        p.name,
                        if p.required { " (required)" } else { "" },
                        describe_param(p)
                    ));
                }
            }
            if *multiline {
                out.push_str("\n\nTakes a body (multi-line text) after the parameters.");
            }
        }
        Some(Entry::Event { .. }) => out.push_str("\n\nAn event: `.on(f)` hears it."),
        None => {
            let names: Vec<&str> = node.children.keys().map(String::as_str).take(24).collect();
            if !names.is_empty() {
                let more = if node.children.len() > names.len() {
                    ", ..."
                } else {
                    ""
                };
                out.push_str(&format!("\n\nUnder it: {}{more}", names.join(", ")));
            }
        }
    }
    if let Some((lo, hi)) = node.index_range {
        out.push_str(&format!("\n\nElements: {}", ids(lo, hi)));
    }
    out
}

fn ids(lo: u64, hi: u64) -> String {
    if hi == u64::MAX {
        format!("{lo} and up")
    } else {
        format!("{lo}..{hi}")
    }
}

/// Parameters with the required ones first, each group in schema order.
pub fn required_first(params: &[Param]) -> impl Iterator<Item = &Param> {
    params
        .iter()
        .filter(|p| p.required)
        .chain(params.iter().filter(|p| !p.required))
}

/// A parameter's value space and description, on one line.
pub fn describe_param(p: &Param) -> String {
    match &p.description {
        Some(d) => format!("{}. {d}", space(&p.valuespace)),
        None => space(&p.valuespace),
    }
}

/// A value space in words: `integer 0..100`, `On | Off`, `string, 0..255 characters`.
pub fn space(vs: &ValueSpace) -> String {
    match vs {
        ValueSpace::Integer { min, max } if *min == i64::MIN && *max == i64::MAX => {
            "integer".into()
        }
        ValueSpace::Integer { min, max } => format!("integer {min}..{max}"),
        ValueSpace::Literal(values) => values.join(" | "),
        ValueSpace::String { min_len, max_len } if *max_len == usize::MAX => {
            if *min_len == 0 {
                "string".into()
            } else {
                format!("string, at least {min_len} characters")
            }
        }
        ValueSpace::String { min_len, max_len } => {
            format!("string, {min_len}..{max_len} characters")
        }
        ValueSpace::Array { item, max_count } if *max_count == usize::MAX => {
            format!("{}, repeatable", space(item))
        }
        ValueSpace::Array { item, max_count } => {
            format!("{}, up to {max_count} values", space(item))
        }
        ValueSpace::Any => "any value".into(),
    }
}
