//! Text made safe inside HTML and XML (the status page, JUnit reports):
//! the five markup characters become entities, and the characters XML 1.0
//! cannot carry at all (most control characters, U+FFFE, U+FFFF) are
//! written out as `\u{..}`.

use std::fmt::Write as _;

/// `text` with the five markup characters as entities (`&#39;` reads the
/// same in HTML and XML) and the characters XML 1.0 forbids spelled out.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if !xml_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether XML 1.0 can carry `c` (its `Char` production; a Rust `char` is
/// never a surrogate).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_character_xml_forbids_is_spelled_out_and_the_rest_kept() {
        let text = "a\u{1}b\u{FFFE}c\u{FFFF}d\u{FFFD}\u{1F600}\t\n<&>";
        let out = escape(text);
        assert_eq!(
            out,
            "a\\u{1}b\\u{fffe}c\\u{ffff}d\u{FFFD}\u{1F600}\t\n&lt;&amp;&gt;"
        );
        assert!(out.chars().all(xml_char));
    }
}
