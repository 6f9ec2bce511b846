//! The codec's tolerance for hand-written frames: a comma right before a
//! closing `}` or `]` is accepted (Cisco's XoWS article sends
//! `"NotifyCurrentValue": true,}}` and the device answers it). JSON parsers
//! refuse that, so the simulator drops such commas and parses again.

/// The text without commas that directly precede `}` or `]` (whitespace
/// between them allowed), leaving string contents alone; `None` when there
/// was no such comma.
pub fn strip_trailing_commas(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut changed = false;
    for (i, c) in text.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = bytes[i + 1..]
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .copied();
            if matches!(next, Some(b'}') | Some(b']')) {
                changed = true;
                continue;
            }
        }
        out.push(c);
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comma_before_a_closing_brace_goes() {
        let t = r#"{"params": {"Query": ["Status"], "NotifyCurrentValue": true,}}"#;
        let fixed = strip_trailing_commas(t).unwrap();
        assert_eq!(
            fixed,
            r#"{"params": {"Query": ["Status"], "NotifyCurrentValue": true}}"#
        );
        assert_eq!(
            strip_trailing_commas("[1, 2 , ]").as_deref(),
            Some("[1, 2  ]")
        );
    }

    #[test]
    fn commas_inside_strings_and_valid_json_stay() {
        assert_eq!(strip_trailing_commas(r#"{"a": "x,}", "b": 1}"#), None);
        assert_eq!(
            strip_trailing_commas(r#"{"a": "q\",}", "b": [1,],}"#).as_deref(),
            Some(r#"{"a": "q\",}", "b": [1]}"#)
        );
    }
}
