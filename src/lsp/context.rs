//! What the cursor is in, read from the text before it with Rhai's own
//! tokenizer (so strings, comments and interpolations are what Rhai says
//! they are): a proxy path (`xapi.Status.Audio.`), a string path
//! (`xapi.get("Status Audio Vol`), a command's argument map (`#{ Lev` or
//! `#{ Device: `), a member of a global (`store.`), or a name. The text
//! need not parse: the file is usually half-written while this runs.

use rhai::Token;

use super::documents::rhai_place;
use crate::check::METHODS;
use crate::script::lex::{Lexeme, lex};
use crate::xows::path::{Path as XPath, Root, Segment};

/// The word the cursor is in or after (maybe empty), and where it starts:
/// Rhai's 1-based line and column, in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub line: usize,
    pub col: usize,
}

/// What is being written at the cursor.
#[derive(Debug, Clone, PartialEq)]
pub enum Context {
    /// After `xapi.` or a proxy path (`codecs["x"].` too): `path` is what
    /// stands before the word, as written (`Config`, not `Configuration`).
    Proxy { path: Vec<Segment>, word: Word },
    /// After `store.`, `codec.`, `args.` or `codec.settings.`.
    Member { of: String, word: Word },
    /// Inside a string path: `path` (absolute: root first, and `Command`
    /// for `command` and `send`) is what the words before this one name.
    StringPath { path: XPath, word: Word },
    /// A key of a command's argument map; `present` are those written.
    ArgKey {
        command: XPath,
        present: Vec<String>,
        word: Word,
    },
    /// A value after `key:` in a command's argument map; `quoted` when the
    /// cursor is inside a string already.
    ArgValue {
        command: XPath,
        key: String,
        word: Word,
        quoted: bool,
    },
    /// A name on its own (a function, a global).
    Name { word: Word },
    /// A comment, a number, a place nothing is offered for.
    Nothing,
}

/// The context at the end of `prefix` (the text before the cursor).
pub fn at_end(prefix: &str) -> Context {
    let all = lex(prefix);
    let (line, col) = rhai_place(prefix, prefix.len());
    let here = Word {
        text: String::new(),
        line,
        col,
    };
    let Some(last) = all.last() else {
        return Context::Name { word: here };
    };
    let touches = end_of(last) == (line, col);
    let tokens: Vec<&Lexeme> = all
        .iter()
        .filter(|t| !matches!(t.token, Token::Comment(_)))
        .collect();
    let before = &tokens[..tokens.len().saturating_sub(1)];
    match &last.token {
        Token::Comment(_) if touches => Context::Nothing,
        _ if unfinished_string(last) => in_string(before, last),
        Token::Identifier(name) if touches => after(
            before,
            Word {
                text: name.to_string(),
                line: last.at.line().unwrap_or(line),
                col: last.at.position().unwrap_or(col),
            },
        ),
        _ if touches
            && last.raw.ends_with(|c: char| {
                c.is_alphanumeric() || c == '_' || c == '"' || c == '`' || c == '\''
            }) =>
        {
            Context::Nothing
        }
        _ => after(&tokens, here),
    }
}

/// Where a token ends (the place just after it).
fn end_of(t: &Lexeme) -> (usize, usize) {
    let line = t.at.line().unwrap_or(0);
    let col = t.at.position().unwrap_or(0);
    match t.raw.rfind('\n') {
        Some(i) => (
            line + t.raw.matches('\n').count(),
            t.raw[i + 1..].chars().count() + 1,
        ),
        None => (line, col + t.raw.chars().count()),
    }
}

/// A string the text ends inside of.
fn unfinished_string(t: &Lexeme) -> bool {
    let Some(quote) = t.raw.chars().next().filter(|c| *c == '"' || *c == '`') else {
        return false;
    };
    match t.token {
        Token::LexError(_) => true,
        Token::StringConstant(_) => {
            quote == '`' && (t.raw.chars().count() < 2 || !t.raw.ends_with('`'))
        }
        _ => false,
    }
}

fn ident(t: &Lexeme) -> Option<&str> {
    match &t.token {
        Token::Identifier(s) => Some(s.as_str()),
        _ => None,
    }
}

fn is(t: Option<&&Lexeme>, token: Token) -> bool {
    t.is_some_and(|t| t.token == token)
}

/// After the tokens `before`, with `word` being typed.
fn after(before: &[&Lexeme], word: Word) -> Context {
    let last = before.last();
    if is(last, Token::Period) {
        return match chain(&before[..before.len() - 1]) {
            Some((root, path)) if root == "xapi" || root == "codecs" => {
                Context::Proxy { path, word }
            }
            Some((root, path))
                if path.is_empty() && ["store", "codec", "args"].contains(&root.as_str()) =>
            {
                Context::Member { of: root, word }
            }
            Some((root, path)) if root == "codec" && path == [Segment::Name("settings".into())] => {
                Context::Member {
                    of: "codec.settings".into(),
                    word,
                }
            }
            _ => Context::Nothing,
        };
    }
    if is(last, Token::DoubleColon) {
        return Context::Nothing;
    }
    if let Some(m) = open_map(before)
        && let Some(command) = command_of_map(before, m)
    {
        return match spot(&before[m + 1..]) {
            Spot::Key(present) => Context::ArgKey {
                command,
                present,
                word,
            },
            Spot::Value(key) => Context::ArgValue {
                command,
                key,
                word,
                quoted: false,
            },
            Spot::Other => Context::Nothing,
        };
    }
    let after_value = last.is_some_and(|t| {
        matches!(
            t.token,
            Token::Identifier(_)
                | Token::IntegerConstant(_)
                | Token::StringConstant(_)
                | Token::RightParen
                | Token::RightBracket
        )
    });
    if word.text.is_empty() && after_value {
        return Context::Nothing;
    }
    Context::Name { word }
}

/// Inside the unfinished string `s`, after the tokens `before`.
fn in_string(before: &[&Lexeme], s: &Lexeme) -> Context {
    let text: String = s.raw.chars().skip(1).collect();
    let line = s.at.line().unwrap_or(0);
    let col = s.at.position().unwrap_or(0) + 1;
    let n = before.len();
    if n >= 3
        && before[n - 1].token == Token::LeftParen
        && before[n - 3].token == Token::Period
        && let Some(method) = ident(before[n - 2]).filter(|m| METHODS.contains(m))
        && let Some((root, base)) = chain(&before[..n - 3])
        && (root == "xapi" || root == "codecs")
    {
        let cut = text
            .rfind(|c: char| c.is_whitespace() || c == '/')
            .map_or(0, |i| i + 1);
        let written = &text[..cut];
        let mut segs = base;
        if !written.trim().is_empty() {
            match XPath::parse(written) {
                Ok(p) => segs.extend(p.0),
                Err(_) => return Context::Nothing,
            }
        }
        let mut path = absolute(segs);
        if matches!(method, "command" | "send") && path.root() != Some(Root::Command) {
            path.0.insert(0, Segment::Name("Command".into()));
        }
        return Context::StringPath {
            path,
            word: Word {
                text: text[cut..].to_string(),
                line,
                col: col + text[..cut].chars().count(),
            },
        };
    }
    if let Some(m) = open_map(before)
        && let Some(command) = command_of_map(before, m)
        && let Spot::Value(key) = spot(&before[m + 1..])
    {
        return Context::ArgValue {
            command,
            key,
            word: Word { text, line, col },
            quoted: true,
        };
    }
    Context::Nothing
}

/// A path as scripts write it made absolute: `Config` is `Configuration`.
pub fn absolute(mut segs: Vec<Segment>) -> XPath {
    if let Some(Segment::Name(first)) = segs.first_mut()
        && let Some(root) = Root::parse(first)
    {
        *first = root.as_str().to_string();
    }
    XPath(segs)
}

/// The chain of names the tokens end with: `xapi.Status.Audio` is
/// `("xapi", [Status, Audio])`, `codecs["x"].Status` is `("codecs", [Status])`,
/// `Connector[2]` an element.
fn chain(tokens: &[&Lexeme]) -> Option<(String, Vec<Segment>)> {
    let mut segs = Vec::new();
    let mut i = tokens.len();
    loop {
        let t = tokens.get(i.checked_sub(1)?)?;
        match &t.token {
            Token::Identifier(name) => {
                if i >= 2 && tokens[i - 2].token == Token::Period {
                    segs.push(Segment::Name(name.to_string()));
                    i -= 2;
                } else {
                    if i >= 2 && tokens[i - 2].token == Token::DoubleColon {
                        return None;
                    }
                    segs.reverse();
                    return Some((name.to_string(), segs));
                }
            }
            Token::RightBracket if i >= 3 && tokens[i - 3].token == Token::LeftBracket => {
                match &tokens[i - 2].token {
                    Token::IntegerConstant(n) if *n >= 0 => segs.push(Segment::Index(*n as u64)),
                    Token::StringConstant(_)
                        if i >= 4
                            && ident(tokens[i - 4]) == Some("codecs")
                            && (i < 5 || tokens[i - 5].token != Token::Period) =>
                    {
                        segs.reverse();
                        return Some(("codecs".into(), segs));
                    }
                    _ => return None,
                }
                i -= 3;
            }
            _ => return None,
        }
    }
}

/// The innermost open bracket, when it is a map (`#{`).
fn open_map(tokens: &[&Lexeme]) -> Option<usize> {
    let mut open = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match t.token {
            Token::LeftParen | Token::LeftBracket | Token::LeftBrace | Token::MapStart => {
                open.push(i)
            }
            Token::RightParen | Token::RightBracket | Token::RightBrace => {
                open.pop();
            }
            _ => {}
        }
    }
    let top = *open.last()?;
    (tokens[top].token == Token::MapStart).then_some(top)
}

/// The command whose arguments the map at `m` is: `xapi.Command.A.B(#{`,
/// `xapi.Command.A.B.send(#{`, or `xapi.command("A B", #{`.
fn command_of_map(tokens: &[&Lexeme], m: usize) -> Option<XPath> {
    let before = &tokens[..m];
    let n = before.len();
    // Proxy style: the map is the first argument.
    if n >= 3 && before[n - 1].token == Token::LeftParen && before[n - 3].token == Token::Period {
        let method = ident(before[n - 2])?;
        let (root, mut segs) = chain(&before[..n - 3])?;
        if root != "xapi" && root != "codecs" {
            return None;
        }
        if method.starts_with(|c: char| c.is_ascii_uppercase()) {
            segs.push(Segment::Name(method.to_string()));
        } else if method != "send" {
            return None;
        }
        let path = absolute(segs);
        return (path.root() == Some(Root::Command) && path.0.len() > 1).then_some(path);
    }
    // String style: the map follows the path.
    if n >= 5
        && before[n - 1].token == Token::Comma
        && before[n - 3].token == Token::LeftParen
        && before[n - 5].token == Token::Period
        && let Token::StringConstant(text) = &before[n - 2].token
        && let Some(method) = ident(before[n - 4])
        && matches!(method, "command" | "send")
    {
        let (root, _) = chain(&before[..n - 5])?;
        if root != "xapi" && root != "codecs" {
            return None;
        }
        let mut path = XPath::parse(text).ok()?;
        if path.root() != Some(Root::Command) {
            path.0.insert(0, Segment::Name("Command".into()));
        }
        return Some(path);
    }
    None
}

/// Where in a map the cursor is.
enum Spot {
    /// Where a key goes; the keys written.
    Key(Vec<String>),
    /// After `key:`.
    Value(String),
    Other,
}

/// `inside` are the map's tokens after `#{` up to the word being typed.
fn spot(inside: &[&Lexeme]) -> Spot {
    let mut depth = 0usize;
    let mut keys = Vec::new();
    let mut entry_start = 0;
    for (i, t) in inside.iter().enumerate() {
        match t.token {
            Token::LeftParen | Token::LeftBracket | Token::LeftBrace | Token::MapStart => {
                depth += 1
            }
            Token::RightParen | Token::RightBracket | Token::RightBrace => {
                depth = depth.saturating_sub(1)
            }
            Token::Comma if depth == 0 => entry_start = i + 1,
            Token::Colon if depth == 0 && i > 0 => {
                if let Some(k) = key_name(inside[i - 1]) {
                    keys.push(k);
                }
            }
            _ => {}
        }
    }
    match &inside[entry_start..] {
        [] => Spot::Key(keys),
        [k, colon] if colon.token == Token::Colon => key_name(k).map_or(Spot::Other, Spot::Value),
        _ => Spot::Other,
    }
}

fn key_name(t: &Lexeme) -> Option<String> {
    match &t.token {
        Token::Identifier(s) | Token::StringConstant(s) => Some(s.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> XPath {
        XPath::parse(text).unwrap()
    }

    fn word(ctx: &Context) -> (String, usize, usize) {
        let w = match ctx {
            Context::Proxy { word, .. }
            | Context::Member { word, .. }
            | Context::StringPath { word, .. }
            | Context::ArgKey { word, .. }
            | Context::ArgValue { word, .. }
            | Context::Name { word } => word,
            Context::Nothing => panic!("no word in {ctx:?}"),
        };
        (w.text.clone(), w.line, w.col)
    }

    #[test]
    fn a_proxy_path_is_read_up_to_the_word_being_typed() {
        let c = at_end("let v = xapi.Status.Audio.Vol");
        assert_eq!(
            c,
            Context::Proxy {
                path: vec![
                    Segment::Name("Status".into()),
                    Segment::Name("Audio".into())
                ],
                word: Word {
                    text: "Vol".into(),
                    line: 1,
                    col: 27
                }
            }
        );
        let c = at_end("codecs[\"b\"].Status.Video.Input.Connector[2].");
        let Context::Proxy { path, .. } = &c else {
            panic!("{c:?}")
        };
        assert_eq!(path.len(), 5, "{c:?}");
        assert_eq!(path[4], Segment::Index(2));
        assert!(matches!(at_end("xapi."), Context::Proxy { path, .. } if path.is_empty()));
        assert!(matches!(at_end("store.ge"), Context::Member { of, .. } if of == "store"));
        assert_eq!(at_end("other.Status."), Context::Nothing);
    }

    #[test]
    fn a_string_path_gives_the_words_before_the_one_being_typed() {
        let c = at_end("xapi.get(\"Status Audio Vol");
        assert_eq!(
            c,
            Context::StringPath {
                path: path("Status Audio"),
                word: Word {
                    text: "Vol".into(),
                    line: 1,
                    col: 24
                }
            }
        );
        let Context::StringPath { path: p, .. } = at_end("xapi.command(\"Audio Volume ") else {
            panic!()
        };
        assert_eq!(p, path("Command Audio Volume"));
        let Context::StringPath { path: p, .. } = at_end("xapi.Config.get(\"Audio/Def") else {
            panic!()
        };
        assert_eq!(p, path("Configuration Audio"));
        let Context::StringPath { path: p, .. } = at_end("xapi.on(\"") else {
            panic!()
        };
        assert!(p.0.is_empty());
        assert_eq!(at_end("print(\"Status Au"), Context::Nothing);
    }

    #[test]
    fn a_command_s_argument_map_gives_keys_then_values() {
        let c = at_end("xapi.Command.Audio.Volume.Set(#{ Level: 3, ");
        assert_eq!(
            c,
            Context::ArgKey {
                command: path("Command Audio Volume Set"),
                present: vec!["Level".into()],
                word: Word {
                    text: String::new(),
                    line: 1,
                    col: 44
                }
            }
        );
        let c = at_end("xapi.command(\"Audio Volume Set\", #{ Device: Int");
        assert!(
            matches!(&c, Context::ArgValue { key, quoted: false, .. } if key == "Device"),
            "{c:?}"
        );
        assert_eq!(word(&c).0, "Int");
        let c = at_end("xapi.Command.Audio.Volume.Set.send(#{\n  Device: \"Head");
        assert!(
            matches!(&c, Context::ArgValue { key, quoted: true, .. } if key == "Device"),
            "{c:?}"
        );
        assert_eq!(word(&c), ("Head".into(), 2, 12));
        let c = at_end("xapi.Command.Audio.Volume.Set(#{ Level: [1, 2], De");
        assert!(matches!(&c, Context::ArgKey { .. }), "{c:?}");
        assert_eq!(
            at_end("let m = #{ a"),
            Context::Name {
                word: Word {
                    text: "a".into(),
                    line: 1,
                    col: 12
                }
            }
        );
    }

    #[test]
    fn after_codec_settings_the_members_are_the_settings() {
        let c = at_end("let seats = codec.settings.cap");
        assert!(
            matches!(&c, Context::Member { of, word } if of == "codec.settings" && word.text == "cap"),
            "{c:?}"
        );
        assert!(matches!(at_end("codec.url.x"), Context::Nothing));
    }

    #[test]
    fn comments_numbers_and_finished_strings_offer_nothing() {
        assert_eq!(at_end("// xapi.Status."), Context::Nothing);
        assert_eq!(at_end("let a = 12"), Context::Nothing);
        assert_eq!(at_end("xapi.get(\"Status\""), Context::Nothing);
        assert_eq!(at_end("let a = b "), Context::Nothing);
        assert!(matches!(at_end("/* note */ set_t"), Context::Name { .. }));
        assert!(matches!(at_end("let s = `${ xapi."), Context::Proxy { .. }));
    }

    #[test]
    fn columns_of_words_count_characters_not_bytes() {
        let c = at_end("let s = \"Grüße\"; xapi.Status.Au");
        assert_eq!(word(&c), ("Au".into(), 1, 30));
    }
}
