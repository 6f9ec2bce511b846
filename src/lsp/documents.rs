//! The files the editor has open (full text on every change: the server
//! asks for full-document sync) and the conversion between the two ways of
//! naming a place: Rhai's 1-based line and column counted in characters,
//! and LSP's 0-based line and character counted in UTF-16 code units.

use std::collections::HashMap;
use std::sync::Arc;

use lsp_types::{Position, Range, Uri};

/// One open file.
#[derive(Debug, Clone)]
pub struct Doc {
    pub uri: Uri,
    pub version: i32,
    pub text: Arc<str>,
}

/// The open files, by URI.
#[derive(Debug, Default)]
pub struct Documents(HashMap<String, Doc>);

impl Documents {
    pub fn open(&mut self, uri: Uri, version: i32, text: String) -> Doc {
        let doc = Doc {
            uri: uri.clone(),
            version,
            text: text.into(),
        };
        self.0.insert(uri.as_str().to_string(), doc.clone());
        doc
    }

    /// Replaces a file's text (full sync); `None` if it is not open.
    pub fn change(&mut self, uri: &Uri, version: i32, text: String) -> Option<Doc> {
        let doc = self.0.get_mut(uri.as_str())?;
        doc.version = version;
        doc.text = text.into();
        Some(doc.clone())
    }

    pub fn close(&mut self, uri: &Uri) {
        self.0.remove(uri.as_str());
    }

    pub fn get(&self, uri: &Uri) -> Option<&Doc> {
        self.0.get(uri.as_str())
    }

    pub fn all(&self) -> impl Iterator<Item = &Doc> {
        self.0.values()
    }
}

/// Line `n` (0-based) of `text`, without its line break.
pub fn line(text: &str, n: usize) -> &str {
    text.split('\n')
        .nth(n)
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or("")
}

/// The LSP position of Rhai's `line`:`col` (1-based, characters) in `text`.
pub fn to_lsp(text: &str, line_no: usize, col: usize) -> Position {
    let l = line_no.saturating_sub(1);
    let units: usize = line(text, l)
        .chars()
        .take(col.saturating_sub(1))
        .map(char::len_utf16)
        .sum();
    Position::new(l as u32, units as u32)
}

/// The LSP range of `len` characters from Rhai's `line`:`col`.
pub fn range(text: &str, line_no: usize, col: usize, len: usize) -> Range {
    Range::new(to_lsp(text, line_no, col), to_lsp(text, line_no, col + len))
}

/// The byte offset in `text` of an LSP position (clamped to its line, and
/// to the end of the text).
pub fn offset(text: &str, at: Position) -> usize {
    let mut start = 0;
    for _ in 0..at.line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let mut units = 0;
    for (i, c) in text[start..end].char_indices() {
        if units >= at.character as usize {
            return start + i;
        }
        units += c.len_utf16();
    }
    end
}

/// Rhai's 1-based line and column (characters) of a byte offset.
pub fn rhai_place(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "let a = 1;\nlet s = \"Grüße 😀\"; xapi.Status\r\nend";

    #[test]
    fn places_on_a_non_ascii_line_convert_to_utf16_and_back() {
        // `xapi` is the 20th character of its line; 19 characters stand
        // before it, the emoji two UTF-16 code units, so 20 units.
        let p = to_lsp(TEXT, 2, 20);
        assert_eq!(p, Position::new(1, 20));
        let at = offset(TEXT, p);
        assert!(TEXT[at..].starts_with("xapi"), "{:?}", &TEXT[at..]);
        assert_eq!(rhai_place(TEXT, at), (2, 20));
        assert_eq!(
            to_lsp(TEXT, 2, 16),
            Position::new(1, 15),
            "before the emoji"
        );
        assert_eq!(to_lsp(TEXT, 2, 17), Position::new(1, 17), "after the emoji");
    }

    #[test]
    fn positions_past_a_line_or_the_text_are_clamped() {
        assert_eq!(offset(TEXT, Position::new(0, 99)), 10);
        assert_eq!(offset(TEXT, Position::new(9, 0)), TEXT.len());
        assert_eq!(line(TEXT, 1), "let s = \"Grüße 😀\"; xapi.Status");
    }
}
