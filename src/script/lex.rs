//! Rhai's own tokenizer over a text, each token with its raw text as
//! written (quotes and escapes included) and comments kept. `xmacro check`
//! measures what it flags with it; `xmacro lsp` reads what the cursor is in
//! with it, in text that need not parse. Never a tokenizer of our own:
//! strings, comments and interpolations are what Rhai says they are.

use rhai::{Engine, Position};

/// An engine that only parses, with the same syntax limits as
/// [`super::engine::build`] and no optimisation, so the AST keeps every
/// expression as written (`check` reads paths and argument maps from it).
/// It lives here, not in the engine, so the tokenizer (and the hints built
/// on it) stand below the whole runtime.
pub fn parser() -> Engine {
    let mut engine = Engine::new_raw();
    engine
        .set_max_expr_depths(64, 32)
        .set_optimization_level(rhai::OptimizationLevel::None)
        .disable_symbol("eval");
    engine
}

/// One token of a script as Rhai's own tokenizer reads it, with its raw
/// text as written (quotes and escapes included).
#[derive(Debug, Clone)]
pub struct Lexeme {
    pub token: rhai::Token,
    pub at: Position,
    pub raw: String,
}

/// The tokens of `src`, comments included, up to the end (an unfinished
/// string at the end is a `LexError` whose raw text is what was typed so
/// far).
pub fn lex(src: &str) -> Vec<Lexeme> {
    use rhai::Token;
    let engine = parser();
    let inputs = [src];
    let (mut tokens, control) = engine.lex(&inputs);
    tokens.state.include_comments = true;
    tokens.state.last_token = Some(Default::default());
    let mut out = Vec::new();
    // Open braces, each marked when it opens the code of an interpolated
    // string (`${`): after its `}` the tokenizer goes back to the text, as
    // Rhai's parser tells it to.
    let mut braces: Vec<bool> = Vec::new();
    let mut interpolating = false;
    while let Some((token, at)) = tokens.next() {
        if token == Token::EOF {
            break;
        }
        match token {
            Token::InterpolatedString(_) => interpolating = true,
            Token::LeftBrace | Token::MapStart => {
                braces.push(interpolating && token == Token::LeftBrace);
                interpolating = false;
            }
            Token::RightBrace => {
                if braces.pop() == Some(true) {
                    control.borrow_mut().is_within_text = true;
                }
            }
            _ => interpolating = false,
        }
        let raw = tokens
            .state
            .last_token
            .replace(Default::default())
            .map(|t| t.to_string())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| match &token {
                Token::Comment(text) => text.to_string(),
                t if t.is_literal() => t.literal_syntax().to_string(),
                _ => String::new(),
            });
        out.push(Lexeme { token, at, raw });
    }
    out
}

/// The length in characters of the token written at column `col` (1-based)
/// of `line`, clipped to the line; at least 1.
pub fn token_width(line: &str, col: usize) -> usize {
    let rest: String = line.chars().skip(col.saturating_sub(1)).collect();
    lex(&rest)
        .first()
        .map_or(1, |t| t.raw.trim_end().chars().count())
        .clamp(1, rest.chars().count().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lexer_keeps_raw_text_comments_and_an_unfinished_string() {
        let t = lex("let a = \"x\\ty\"; // note\nxapi.get(\"Status Au");
        let raw: Vec<&str> = t.iter().map(|t| t.raw.as_str()).collect();
        assert_eq!(raw[3], "\"x\\ty\"", "{raw:?}");
        assert!(matches!(t[5].token, rhai::Token::Comment(_)), "{t:?}");
        let last = t.last().unwrap();
        assert!(matches!(last.token, rhai::Token::LexError(_)), "{t:?}");
        assert_eq!(last.raw, "\"Status Au");
        assert_eq!((last.at.line(), last.at.position()), (Some(2), Some(10)));
        // After an interpolation's `}` the tokenizer is back in the text.
        let t = lex("let s = `a ${#{b: 1}.b} c}`; xapi");
        assert!(
            matches!(&t.last().unwrap().token, rhai::Token::Identifier(x) if x.as_str() == "xapi"),
            "{t:?}"
        );
    }
}
