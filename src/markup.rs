//! Text made safe inside HTML and XML (the status page, JUnit reports):
//! the five markup characters become entities, and control characters that
//! XML 1.0 cannot carry at all are written out as `\u{..}`.

use std::fmt::Write as _;

/// `text` with the five markup characters as entities (`&#39;` reads the
/// same in HTML and XML) and unprintable control characters spelled out.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 cannot carry most control characters at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}
