//! Hints for JavaScript habits: a macro writer's hands type `{ Text: "hi" }`,
//! `(e) => ...`, `'hello'`, `function add(...)` and `console.log`, and
//! Rhai's parser answers `Expecting ';' to terminate this statement`. Each
//! habit here is plain data (what gives it away, and what to write
//! instead, in the words of docs/scripting.md's "Coming from JavaScript
//! macros"); [`for_compile_error`] adds the one that fits to a compile
//! error, [`for_runtime_error`] to a runtime one, and [`unbalanced_brace`]
//! points at the `{` a syntax error far below it likely comes from.

use super::lex::{Lexeme, lex};

/// A JavaScript habit: how to recognise it in the tokens of the line an
/// error is on (up to the error's column), and the Rhai way.
struct Habit {
    /// Whether the habit shows in these tokens (the error's line, up to
    /// and including the token at the error).
    seen: fn(&[Lexeme]) -> bool,
    hint: &'static str,
}

/// The habits, most specific first.
const HABITS: &[Habit] = &[
    Habit {
        seen: |t| t.iter().any(|l| l.raw == "=>"),
        hint: "arrow functions are closures in Rhai: `|e| { ... }` (or `|e| expr`) for `(e) => { ... }`",
    },
    Habit {
        seen: |t| t.iter().any(|l| l.raw == "function"),
        hint: "functions are declared with `fn` in Rhai: `fn add(a, b) { a + b }` for `function add(a, b) { ... }`",
    },
    Habit {
        seen: |t| {
            t.iter()
                .any(|l| l.raw.len() > 3 && l.raw.starts_with('\'') && l.raw.ends_with('\''))
        },
        hint: "strings take double quotes or backticks in Rhai (\"hello\" or `hello`); single quotes hold one character ('h')",
    },
    Habit {
        seen: object_literal,
        hint: "object literals are written `#{ }` in Rhai: `#{ Text: \"hi\" }` for `{ Text: \"hi\" }`",
    },
];

/// A `{` that is no map (`#{`) followed by `Name:`: JavaScript's object
/// literal, which Rhai reads as a block.
fn object_literal(tokens: &[Lexeme]) -> bool {
    let code: Vec<&Lexeme> = tokens
        .iter()
        .filter(|l| !matches!(l.token, rhai::Token::Comment(_)))
        .collect();
    code.windows(3).any(|w| {
        w[0].raw == "{"
            && matches!(
                w[1].token,
                rhai::Token::Identifier(_) | rhai::Token::StringConstant(_)
            )
            && w[2].raw == ":"
    })
}

/// Rhai's compile errors a mismatched brace leads to, far from the brace.
const BRACE_SYMPTOMS: &[&str] = &[
    "must be at global level",
    "Expecting '}'",
    "Unexpected '}'",
    "Script is incomplete",
    "end of script",
];

/// A hint for a compile error of `src` at (line, column), both from 1:
/// the JavaScript habit on the error's line, else the `{` a mismatched
/// brace error likely comes from. `None` when nothing fits.
pub fn for_compile_error(src: &str, message: &str, at: Option<(usize, usize)>) -> Option<String> {
    if let Some((line, col)) = at {
        let tokens: Vec<Lexeme> = lex(src)
            .into_iter()
            .filter(|l| l.at.line() == Some(line) && l.at.position().is_some_and(|c| c <= col))
            .collect();
        if let Some(h) = HABITS.iter().find(|h| (h.seen)(&tokens)) {
            return Some(h.hint.to_string());
        }
    }
    if BRACE_SYMPTOMS.iter().any(|s| message.contains(s)) {
        return unbalanced_brace(src, at);
    }
    None
}

/// A hint for a runtime error message (`Variable not found: console`).
pub fn for_runtime_error(message: &str) -> Option<&'static str> {
    message.contains("Variable not found: console").then_some(
        "`console.log(x)` is `print(x)` in Rhai (`warn(x)` and `error(x)` for the other levels)",
    )
}

/// Where `src` uses JavaScript's `console` (`console.log(x)`), as (line,
/// column): it compiles, and fails when it runs, so `check` says so first.
pub fn console_uses(src: &str) -> Vec<(usize, usize)> {
    let tokens = lex(src);
    tokens
        .windows(2)
        .filter(|w| w[0].raw == "console" && w[1].raw == ".")
        .filter_map(|w| Some((w[0].at.line()?, w[0].at.position()?)))
        .collect()
}

/// The `{` a brace mismatch most likely starts at, judged by indentation
/// (as a reader would): the first `{` whose `}` sits at another indentation
/// than the line that opened it, or that is still open at `before` (the
/// error's line and column). Says where it is and why.
pub fn unbalanced_brace(src: &str, before: Option<(usize, usize)>) -> Option<String> {
    let lines: Vec<&str> = src.lines().collect();
    let indent = |line: usize| {
        lines
            .get(line.saturating_sub(1))
            .map_or(0, |l| l.len() - l.trim_start().len())
    };
    let mut open: Vec<usize> = Vec::new();
    let mut suspects: Vec<(usize, String)> = Vec::new();
    for l in lex(src) {
        let Some(line) = l.at.line() else { continue };
        let col = l.at.position().unwrap_or(1);
        if before.is_some_and(|b| (line, col) >= b) {
            break;
        }
        match l.raw.as_str() {
            "{" | "#{" | "${" => open.push(line),
            "}" => {
                if let Some(from) = open.pop()
                    && l.raw == "}"
                    && line != from
                    && indent(line) != indent(from)
                {
                    suspects.push((
                        from,
                        format!(
                            "the `{{` on line {from} may lack its `}}`: the `}}` on line {line} that closes it is indented differently"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    if let Some(first) = suspects.into_iter().min_by_key(|(from, _)| *from) {
        return Some(first.1);
    }
    open.last()
        .map(|from| format!("the `{{` on line {from} is never closed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_error(src: &str) -> (String, Option<(usize, usize)>) {
        let engine = crate::script::engine::parser();
        let e = engine.compile(src).unwrap_err();
        let pos = e.position();
        (
            e.to_string(),
            pos.line().map(|l| (l, pos.position().unwrap_or(1))),
        )
    }

    fn hint_for(src: &str) -> String {
        let (message, at) = compile_error(src);
        for_compile_error(src, &message, at).unwrap_or_else(|| panic!("no hint for {message}"))
    }

    #[test]
    fn an_object_literal_is_told_to_become_a_map() {
        let h = hint_for("xapi.Command.UserInterface.Message.Alert.Display({ Text: \"hi\" });\n");
        assert!(h.contains("#{ }"), "{h}");
        let h = hint_for("let o = { \"Option.1\": 1 };\n");
        assert!(h.contains("#{ }"), "{h}");
    }

    #[test]
    fn an_arrow_function_is_told_to_become_a_closure() {
        let h = hint_for("xapi.Status.Audio.Volume.on((v) => {\n  print(v);\n});\n");
        assert!(h.contains("|e| { ... }"), "{h}");
        let h = hint_for("xapi.Status.Audio.Volume.on(v => print(v));\n");
        assert!(h.contains("|e| { ... }"), "{h}");
    }

    #[test]
    fn a_single_quoted_string_is_told_to_take_double_quotes_or_backticks() {
        let h = hint_for("let s = 'hello';\n");
        assert!(h.contains("double quotes or backticks"), "{h}");
    }

    #[test]
    fn a_function_keyword_is_told_to_become_fn() {
        let h = hint_for("function add(a, b) {\n  return a + b;\n}\n");
        assert!(h.contains("`fn`"), "{h}");
    }

    #[test]
    fn console_log_is_told_to_become_print() {
        let h = for_runtime_error("Variable not found: console (line 1, position 1)").unwrap();
        assert!(h.contains("print(x)"), "{h}");
        assert_eq!(for_runtime_error("Variable not found: cons"), None);
    }

    #[test]
    fn console_is_found_in_code_and_not_in_strings_or_comments() {
        let src = "let s = \"console.log\"; // console.log\nconsole.log(s);\n  console.error(1);\n";
        assert_eq!(console_uses(src), vec![(2, 1), (3, 3)]);
    }

    #[test]
    fn an_extra_brace_is_traced_to_the_line_that_opened_it() {
        let src = "let x = 1;\nif x > 0 {\n  if x > 1 {\n    print(\"a\");\n\n  print(\"b\");\n}\nfn f() {\n  1\n}\n";
        let (message, at) = compile_error(src);
        assert_eq!(
            at.map(|a| a.0),
            Some(8),
            "{message}: the parser stops far below"
        );
        let h = for_compile_error(src, &message, at).unwrap();
        assert!(h.contains("line 3"), "{h}");
    }

    #[test]
    fn a_brace_never_closed_is_named() {
        let src = "fn f() {\n  print(1);\n\nfn g() {\n  2\n}\n";
        let (message, at) = compile_error(src);
        let h = for_compile_error(src, &message, at).unwrap();
        assert!(h.contains("line 1"), "{message}: {h}");
    }

    #[test]
    fn code_rhai_accepts_and_unrelated_errors_get_no_hint() {
        let src = "let m = #{ Text: \"hi\" };\nlet x = ;\n";
        let (message, at) = compile_error(src);
        assert_eq!(for_compile_error(src, &message, at), None, "{message}");
    }
}
