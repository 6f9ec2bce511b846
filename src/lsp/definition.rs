//! Go to definition: on an `import "lib/x"` string, the library file; on
//! a library's alias (`x` in `x::f()`), the library; on a function name,
//! its `fn` in this file or, called as `x::f()`, in the library `x`.

use std::path::PathBuf;

use lsp_types::{Location, Range};
use rhai::Token;

use super::documents;
use super::workspace::{Place, file_uri};
use crate::script::lex::{Lexeme, lex};
use crate::script::loader;

/// The definition of what is at byte `offset` of `text`; `read` gives a
/// library's text (the editor's, when it has the file open).
pub fn definition(
    text: &str,
    offset: usize,
    place: &Place,
    uri: &lsp_types::Uri,
    read: &dyn Fn(&std::path::Path) -> Option<String>,
) -> Option<Location> {
    let tokens = lex(text);
    let (line, col) = documents::rhai_place(text, offset);
    let i = tokens.iter().position(|t| covers(t, line, col))?;
    let prev = |n: usize| {
        i.checked_sub(n)
            .and_then(|j| tokens.get(j))
            .map(|t| &t.token)
    };
    let library = |alias: &str| -> Option<PathBuf> {
        let path = imports(&tokens).into_iter().find(|(_, a)| a == alias)?.0;
        library_file(place, &path)
    };
    match &tokens[i].token {
        Token::StringConstant(path) if prev(1) == Some(&Token::Import) => {
            let file = library_file(place, path)?;
            Some(Location::new(file_uri(&file)?, Range::default()))
        }
        Token::Identifier(name) => {
            if tokens.get(i + 1).map(|t| &t.token) == Some(&Token::DoubleColon) {
                let file = library(name)?;
                return Some(Location::new(file_uri(&file)?, Range::default()));
            }
            if prev(1) == Some(&Token::DoubleColon)
                && let Some(Token::Identifier(alias)) = prev(2)
            {
                let file = library(alias)?;
                let lib_text = read(&file)?;
                let lib_tokens = lex(&lib_text);
                let at = function(&lib_tokens, name)?;
                return Some(Location::new(file_uri(&file)?, range(&lib_text, at)));
            }
            let at = function(&tokens, name)?;
            Some(Location::new(uri.clone(), range(text, at)))
        }
        _ => None,
    }
}

/// Whether token `t` holds the place `line`:`col` (or ends right at it).
fn covers(t: &Lexeme, line: usize, col: usize) -> bool {
    let start = t.at.position().unwrap_or(0);
    t.at.line() == Some(line)
        && !t.raw.contains('\n')
        && col >= start
        && col <= start + t.raw.chars().count()
        && !matches!(t.token, Token::Comment(_))
}

/// `import "path" as alias` statements: (path, alias).
fn imports(tokens: &[Lexeme]) -> Vec<(String, String)> {
    tokens
        .windows(4)
        .filter_map(
            |w| match (&w[0].token, &w[1].token, &w[2].token, &w[3].token) {
                (Token::Import, Token::StringConstant(p), Token::As, Token::Identifier(a)) => {
                    Some((p.to_string(), a.to_string()))
                }
                _ => None,
            },
        )
        .collect()
}

/// The file `import "path"` reads, when the path is one `run` accepts.
fn library_file(place: &Place, path: &str) -> Option<PathBuf> {
    loader::check_import(path).ok()?;
    let rel = if path.ends_with(".rhai") {
        path.to_string()
    } else {
        format!("{path}.rhai")
    };
    Some(place.dir.as_ref()?.join(rel))
}

/// The name token of `fn name` in `tokens`.
fn function<'a>(tokens: &'a [Lexeme], name: &str) -> Option<&'a Lexeme> {
    tokens
        .windows(2)
        .find(|w| {
            w[0].token == Token::Fn
                && matches!(&w[1].token, Token::Identifier(n) if n.as_str() == name)
        })
        .map(|w| &w[1])
}

fn range(text: &str, t: &Lexeme) -> Range {
    documents::range(
        text,
        t.at.line().unwrap_or(1),
        t.at.position().unwrap_or(1),
        t.raw.chars().count(),
    )
}
