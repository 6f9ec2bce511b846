//! Splits a config's text into its `[[codec]]` tables and the rest, so a
//! whole fleet's config (100,000 codecs and more, read by every shard) is
//! parsed one small table at a time. Parsing the file in one go builds a
//! tree of every key of every table before the first codec is looked at
//! (about 18 KB per codec: 1.8 GB for 100,000); table by table, only the
//! text and what is kept of each codec stay in memory.
//!
//! The rest is the same text with the codec tables blanked out (spaces,
//! newlines kept), so every offset, line and column in it, and in the
//! tables, is the one in the file.

use std::ops::Range;

use crate::config::bounds;

/// One `[[codec]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecTable {
    /// Where its header starts.
    pub header: usize,
    /// Its keys: from the line after the header to the next header's line.
    pub body: Range<usize>,
}

/// A config's text, split.
#[derive(Debug)]
pub struct Split {
    /// Everything but the codec tables, at the same offsets.
    pub rest: String,
    pub tables: Vec<CodecTable>,
}

/// Splits `text`, refusing more than `max_codecs` tables at the first one
/// too many (before any is parsed), and a sub-table of a codec table.
/// Also checks the nesting ([`bounds::check_nesting`]). An error is a byte
/// offset and what is wrong.
pub fn split(text: &str, max_codecs: usize) -> Result<Split, (usize, String)> {
    let mut headers: Vec<(usize, bool)> = Vec::new();
    let mut count = 0usize;
    bounds::scan(text, &mut |at, header| {
        let array = header.starts_with("[[");
        let name = header.trim_start_matches('[').trim();
        let codec = array && is_codec(name);
        if codec {
            count += 1;
            if count > max_codecs {
                return Err(format!(
                    "[[codec]] #{count}: one config names at most {max_codecs} codecs"
                ));
            }
        } else if let Some((first, _)) = name.split_once('.')
            && is_codec(first.trim())
        {
            let close = if array { "]]" } else { "]" };
            return Err(format!(
                "{header}{close}: a [[codec]] table has no sub-tables; write its keys under [[codec]]"
            ));
        }
        headers.push((at, codec));
        Ok(())
    })?;
    let mut tables = Vec::with_capacity(count);
    let mut rest = text.as_bytes().to_vec();
    for (i, &(at, codec)) in headers.iter().enumerate() {
        if !codec {
            continue;
        }
        let body_start = text[at..].find('\n').map_or(text.len(), |n| at + n + 1);
        let end = match headers.get(i + 1) {
            Some(&(next, _)) => text[..next].rfind('\n').map_or(next, |n| n + 1),
            None => text.len(),
        };
        let end = end.max(body_start);
        for b in &mut rest[at..end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
        tables.push(CodecTable {
            header: at,
            body: body_start..end,
        });
    }
    // Whole lines of whole characters were blanked: still UTF-8.
    let rest = String::from_utf8(rest).map_err(|e| (0, format!("not UTF-8 text: {e}")))?;
    Ok(Split { rest, tables })
}

/// Whether a header's key is `codec` (bare or quoted).
fn is_codec(key: &str) -> bool {
    matches!(key, "codec" | "\"codec\"" | "'codec'")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "scripts = \"s\"\n[defaults]\npassword_env = \"P\"\n\n[[codec]]\nname = \"a\"\nurl = \"ws://x/ws\"\n  [[ codec ]]  # second\nname = \"b\"\nnote = \"\"\"\n[[codec]]\n\"\"\"\n[script.x]\nargs = { a = [\n[1]] }\n";

    #[test]
    fn codec_tables_come_out_and_the_rest_keeps_its_offsets() {
        let s = split(TEXT, 10).unwrap();
        assert_eq!(s.tables.len(), 2, "a header inside a string is not one");
        assert_eq!(
            &TEXT[s.tables[0].body.clone()],
            "name = \"a\"\nurl = \"ws://x/ws\"\n"
        );
        assert_eq!(
            &TEXT[s.tables[1].body.clone()],
            "name = \"b\"\nnote = \"\"\"\n[[codec]]\n\"\"\"\n"
        );
        assert_eq!(s.rest.len(), TEXT.len());
        assert_eq!(s.rest.lines().count(), TEXT.lines().count());
        assert!(!s.rest.contains("codec") && !s.rest.contains("name"));
        let at = TEXT.find("[script.x]").unwrap();
        assert_eq!(&s.rest[at..at + 10], "[script.x]");
    }

    #[test]
    fn one_table_too_many_is_refused_at_its_header() {
        let (at, why) = split(TEXT, 1).unwrap_err();
        assert_eq!(at, TEXT.find("[[ codec ]]").unwrap());
        assert!(
            why.contains("#2") && why.contains("at most 1 codecs"),
            "{why}"
        );
    }

    #[test]
    fn a_sub_table_of_a_codec_is_refused_by_name() {
        let text = "[[codec]]\nname = \"a\"\n[codec.tls]\nca = \"x\"\n";
        let (at, why) = split(text, 10).unwrap_err();
        assert_eq!(at, text.find("[codec.tls]").unwrap());
        assert!(why.starts_with("[codec.tls]: a [[codec]] table"), "{why}");
    }
}
