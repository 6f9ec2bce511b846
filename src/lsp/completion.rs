//! Completion: after `xapi.` the roots and the API's methods; after a
//! proxy path its children in the schema (and the methods that path
//! takes); in a string path the next word; in a command's argument map its
//! parameter names (required ones first) and, after `Name: `, the values
//! of an enumerated value space; after `store.`, `codec.` and `args.`
//! their members; elsewhere the script API, the standard library and the
//! file's own functions, with signatures.

use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionList, CompletionTextEdit, Documentation,
    InsertTextFormat, MarkupContent, MarkupKind, TextEdit,
};
use rhai::Token;

use super::context::{self, Context, Word};
use super::hover::{describe_param, required_first, space, word_range};
use super::library::{self, Item};
use super::workspace::{Model, Place, Workspace};
use crate::schema::{Entry, Node, ValueSpace};
use crate::script::lex;
use crate::xows::path::Root;

/// The completions at byte `offset` of `text`.
pub fn complete(
    ws: &Workspace,
    model: &Model,
    text: &str,
    offset: usize,
    place: &Place,
) -> CompletionList {
    let prefix = &text[..offset.min(text.len())];
    let mut list = Items {
        text,
        items: Vec::new(),
    };
    match context::at_end(prefix) {
        Context::Proxy { path, word } if path.is_empty() => {
            list.library(&word, library::ROOTS, CompletionItemKind::MODULE);
            list.library(&word, library::XAPI, CompletionItemKind::METHOD);
        }
        Context::Proxy { path, word } => {
            let path = context::absolute(path);
            if let Ok(node) = model.schema.lookup(&path) {
                list.children(&word, node);
                let methods: &[&str] = match path.root() {
                    Some(Root::Status) => &["get", "on", "once", "query"],
                    Some(Root::Configuration) => &["get", "set", "on", "once", "query"],
                    Some(Root::Event) => &["on", "once"],
                    Some(Root::Command) if matches!(node.entry, Some(Entry::Command { .. })) => {
                        &["send"]
                    }
                    _ => &[],
                };
                let items: Vec<Item> = library::PATH_METHODS
                    .iter()
                    .filter(|m| methods.contains(&m.name))
                    .copied()
                    .collect();
                list.library(&word, &items, CompletionItemKind::METHOD);
            }
        }
        Context::StringPath { path, word } => {
            if let Ok(node) = model.schema.lookup(&path) {
                list.children(&word, node);
            }
        }
        Context::ArgKey {
            command,
            present,
            word,
        } => {
            if let Ok((params, _)) = model.schema.command(&command) {
                for (rank, p) in required_first(params).enumerate() {
                    if present.iter().any(|k| k.eq_ignore_ascii_case(&p.name)) {
                        continue;
                    }
                    let key = if p.name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        p.name.clone()
                    } else {
                        format!("{:?}", p.name)
                    };
                    list.push(
                        &word,
                        Choice {
                            label: p.name.clone(),
                            insert: format!("{key}: "),
                            kind: CompletionItemKind::FIELD,
                            detail: format!(
                                "{}{}",
                                if p.required { "required · " } else { "" },
                                space(&p.valuespace)
                            ),
                            doc: Some(describe_param(p)),
                            sort: Some(format!("{rank:03}")),
                        },
                    );
                }
            }
        }
        Context::ArgValue {
            command,
            key,
            word,
            quoted,
        } => {
            if let Ok((params, _)) = model.schema.command(&command)
                && let Some(p) = params.iter().find(|p| p.name.eq_ignore_ascii_case(&key))
            {
                let values = match &p.valuespace {
                    ValueSpace::Literal(v) => v.clone(),
                    ValueSpace::Array { item, .. } => match &**item {
                        ValueSpace::Literal(v) => v.clone(),
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                };
                for (rank, v) in values.iter().enumerate() {
                    list.push(
                        &word,
                        Choice {
                            label: v.clone(),
                            insert: if quoted { v.clone() } else { format!("{v:?}") },
                            kind: CompletionItemKind::ENUM_MEMBER,
                            detail: format!("{} {}", p.name, space(&p.valuespace)),
                            doc: None,
                            sort: Some(format!("{rank:03}")),
                        },
                    );
                }
            }
        }
        Context::Member { of, word } => match of.as_str() {
            "store" => list.library(&word, library::STORE, CompletionItemKind::METHOD),
            "codec" => list.library(&word, library::CODEC, CompletionItemKind::FIELD),
            "codec.settings" => {
                for k in ws.settings_of(place) {
                    let on = if k.set_on == k.codecs {
                        format!("every codec ({})", k.codecs)
                    } else {
                        format!("{} of {} codecs", k.set_on, k.codecs)
                    };
                    list.push(
                        &word,
                        Choice {
                            label: k.name.clone(),
                            insert: k.name,
                            kind: CompletionItemKind::FIELD,
                            detail: format!("= {} (config; set on {on})", k.example),
                            doc: None,
                            sort: None,
                        },
                    );
                }
            }
            _ => {
                for (k, v) in ws.args_of(place).into_iter().flatten() {
                    list.push(
                        &word,
                        Choice {
                            label: k.clone(),
                            insert: k.clone(),
                            kind: CompletionItemKind::FIELD,
                            detail: format!("= {v} (config)"),
                            doc: None,
                            sort: None,
                        },
                    );
                }
            }
        },
        Context::Name { word } => {
            list.library(&word, library::GLOBALS, CompletionItemKind::FUNCTION);
            for f in own_functions(text) {
                list.push(
                    &word,
                    Choice {
                        label: f.clone(),
                        insert: f,
                        kind: CompletionItemKind::FUNCTION,
                        detail: "fn in this file".into(),
                        doc: None,
                        sort: None,
                    },
                );
            }
        }
        Context::Nothing => {}
    }
    CompletionList {
        is_incomplete: false,
        items: list.items,
    }
}

/// The functions a file defines (`fn name(...)`).
pub fn own_functions(text: &str) -> Vec<String> {
    let tokens = lex::lex(text);
    let mut names: Vec<String> = tokens
        .windows(2)
        .filter(|w| w[0].token == Token::Fn)
        .filter_map(|w| match &w[1].token {
            Token::Identifier(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// One completion before it is made an LSP item.
struct Choice {
    label: String,
    insert: String,
    kind: CompletionItemKind,
    detail: String,
    doc: Option<String>,
    sort: Option<String>,
}

struct Items<'a> {
    text: &'a str,
    items: Vec<CompletionItem>,
}

impl Items<'_> {
    fn push(&mut self, word: &Word, e: Choice) {
        self.items.push(CompletionItem {
            label: e.label.clone(),
            kind: Some(e.kind),
            detail: (!e.detail.is_empty()).then_some(e.detail),
            documentation: e.doc.map(|d| {
                Documentation::MarkupContent(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: d,
                })
            }),
            sort_text: e.sort,
            filter_text: Some(e.label),
            insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
            text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                range: word_range(self.text, word),
                new_text: e.insert,
            })),
            ..Default::default()
        });
    }

    fn library(&mut self, word: &Word, items: &[Item], kind: CompletionItemKind) {
        for item in items {
            self.push(
                word,
                Choice {
                    label: item.name.to_string(),
                    insert: item.name.to_string(),
                    kind: if item.callable {
                        kind
                    } else {
                        CompletionItemKind::VARIABLE
                    },
                    detail: item.signature.lines().next().unwrap_or("").to_string(),
                    doc: Some(library::markdown(item)),
                    sort: None,
                },
            );
        }
    }

    /// The children of a schema node.
    fn children(&mut self, word: &Word, node: &Node) {
        for (name, child) in &node.children {
            let (kind, detail) = match &child.entry {
                Some(Entry::Command { params, .. }) => (
                    CompletionItemKind::FUNCTION,
                    format!("command, {} parameter(s)", params.len()),
                ),
                Some(Entry::Event { .. }) => (CompletionItemKind::EVENT, "event".to_string()),
                Some(Entry::Status { valuespace }) => {
                    (CompletionItemKind::PROPERTY, space(valuespace))
                }
                Some(Entry::Configuration { valuespace, .. }) => {
                    (CompletionItemKind::PROPERTY, space(valuespace))
                }
                None => (CompletionItemKind::MODULE, String::new()),
            };
            let detail = match child.index_range {
                Some((lo, hi)) if hi != u64::MAX => format!("[{lo}..{hi}] {detail}"),
                Some(_) => format!("[n] {detail}"),
                None => detail,
            };
            self.push(
                word,
                Choice {
                    label: name.clone(),
                    insert: name.clone(),
                    kind,
                    detail: detail.trim().to_string(),
                    doc: child.description.clone(),
                    sort: None,
                },
            );
        }
    }
}
