//! Bounds on what a config may ask of the host before it is parsed: its
//! size, how deep its tables and values nest, how many codecs it names,
//! and the passwords it points at (read through [`crate::files`], so a
//! password file that is `/dev/zero` is refused, not read until memory
//! runs out).
//!
//! The nesting scan is deliberately simple (strings and comments skipped,
//! headers, dotted keys and brackets counted) so a 5,000-level header is
//! reported with its line and key instead of the parser's bare "recursion
//! limit" at line 1.

use super::KeyError;
use crate::files::{MAX_PASSWORD_BYTES, read_bounded};

/// Largest config file read: 200,000 codecs of ~300 bytes each (a name, a
/// URL, tags and a fingerprint) fit. Each `[[codec]]` table is parsed on
/// its own ([`super::split`]), so a big file costs about its own size, not
/// a parse tree of it (docs/scaling.md has the figures).
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;
/// Most `[[codec]]` tables in one config: a whole fleet that every shard
/// reads (each keeps only the codecs it serves), with room to grow.
pub const MAX_CODECS: usize = 200_000;
/// Deepest nesting of table headers, dotted keys, arrays and inline tables.
pub const MAX_NESTING: usize = 64;

/// Where the nesting goes too deep: a byte offset and what is wrong.
pub fn check_nesting(text: &str) -> Result<(), (usize, String)> {
    scan(text, &mut |_, _| Ok(()))
}

/// Checks the nesting as [`check_nesting`] does, and meanwhile hands
/// `on_header` the offset and text of every table header, in order (the
/// text from its first `[` up to its first `]`, as `[[codec`); an error
/// from `on_header` stops the scan, blamed on that header.
pub fn scan(
    text: &str,
    on_header: &mut dyn FnMut(usize, &str) -> Result<(), String>,
) -> Result<(), (usize, String)> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    let mut line_start = true;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line_start = true;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                i = skip_string(b, i);
                line_start = false;
                continue;
            }
            _ => {}
        }
        if line_start && depth == 0 {
            line_start = false;
            // A header or a key: count its dotted parts.
            let start = i;
            let header = c == b'[';
            let (parts, end) = dotted_parts(b, i, header);
            if parts > MAX_NESTING {
                let what = if header { "table header" } else { "key" };
                return Err((
                    start,
                    format!(
                        "{what} {} nests {parts} levels; the limit is {MAX_NESTING}",
                        crate::log::safe::excerpt(text[start..end].trim(), 40)
                    ),
                ));
            }
            if header {
                on_header(start, &text[start..end]).map_err(|why| (start, why))?;
            }
            i = end;
            continue;
        }
        line_start = false;
        match c {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err((
                        i,
                        format!("a value nests more than {MAX_NESTING} arrays or tables deep"),
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Skips a quoted string (basic, literal, or their multi-line forms)
/// starting at `i`; returns the index after it.
fn skip_string(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let triple = b.len() >= i + 3 && b[i + 1] == q && b[i + 2] == q;
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < b.len() {
        if q == b'"' && b[j] == b'\\' {
            j += 2;
            continue;
        }
        if !triple && b[j] == b'\n' {
            return j;
        }
        if b[j] == q && (!triple || (b.len() >= j + 3 && b[j + 1] == q && b[j + 2] == q)) {
            return if triple { j + 3 } else { j + 1 };
        }
        j += 1;
    }
    j
}

/// Counts the dotted parts of a header (`[a.b]`, `[[a.b]]`) or a key
/// (`a.b = 1`) starting at `i`; returns the count and where it ends.
fn dotted_parts(b: &[u8], mut i: usize, header: bool) -> (usize, usize) {
    let mut parts = 1;
    if header {
        while i < b.len() && b[i] == b'[' {
            i += 1;
        }
    }
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                i = skip_string(b, i);
                continue;
            }
            b'.' => parts += 1,
            b']' if header => break,
            b'=' if !header => break,
            b'\n' => break,
            _ => {}
        }
        i += 1;
    }
    (parts, i)
}

/// The password named by `password_env` or `password_file` (one of them,
/// not both; `None` when neither is set), read without trusting the file's
/// size. An error names the key it is about. Codecs and the PostgreSQL
/// store both take their passwords this way.
pub fn password_from(
    password_env: Option<&String>,
    password_file: Option<&String>,
    rel: &dyn Fn(&str) -> std::path::PathBuf,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, KeyError> {
    match (password_env, password_file) {
        (Some(_), Some(_)) => Err(KeyError::new(
            "password_env",
            "give password_env or password_file, not both",
        )),
        (Some(var), None) => env(var).map(Some).ok_or_else(|| {
            KeyError::new(
                "password_env",
                format!("environment variable {var} is not set"),
            )
        }),
        (None, Some(f)) => {
            let path = rel(f);
            let bytes = read_bounded(&path, MAX_PASSWORD_BYTES)
                .map_err(|e| KeyError::new("password_file", e.to_string()))?;
            let text = String::from_utf8(bytes).map_err(|_| {
                KeyError::new(
                    "password_file",
                    format!("{} is not UTF-8 text", path.display()),
                )
            })?;
            Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_headers_keys_and_values_are_found_with_their_place() {
        let deep = format!("x = 1\n\n[{}]\ny = 2\n", vec!["a"; 5000].join("."));
        let (at, why) = check_nesting(&deep).unwrap_err();
        assert_eq!(at, 7);
        assert!(
            why.contains("table header [a.a.a") && why.contains("5000 levels"),
            "{why}"
        );

        let key = format!("{} = 1\n", vec!["k"; 100].join("."));
        assert!(check_nesting(&key).unwrap_err().1.starts_with("key k.k.k"));

        let value = format!("v = {}{}\n", "[".repeat(100), "]".repeat(100));
        assert_eq!(check_nesting(&value).unwrap_err().0, 4 + MAX_NESTING);
    }

    #[test]
    fn ordinary_configs_and_strings_with_brackets_pass() {
        let ok = "scripts = \"s\"  # [[[[\n[defaults]\npassword_env = \"A.B.C[[[{{\"\n\
                  [[codec]]\nname = 'a.b.c'\nurl = \"ws://x/ws\"\ntags = [\"a\", \"b\"]\n\
                  [script.\"x.y\"]\nargs = { max = [1, [2, {a = 3}]], s = \"\"\"\n]]]]\"\"\" }\n";
        check_nesting(ok).unwrap();
    }
}
