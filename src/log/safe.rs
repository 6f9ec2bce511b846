//! What keeps logs honest and secret-free, whatever the subscriber:
//!
//! - [`NoSecrets`], a layer that disables the WebSocket library's handshake
//!   tracing, which prints the whole upgrade request (with `Authorization:
//!   Basic ...` or the `auth-...` sub-protocol) at trace level;
//! - [`OneLine`], a writer wrapper that escapes newlines and control
//!   characters inside an event, so one event is always one line and a
//!   script or a file name cannot forge a log line;
//! - [`escape`] for text from outside (script output), [`redact_url`]
//!   for text that may hold `user:password@`, [`masked_frame`] for a
//!   JSON frame whose parameters may hold a passphrase a script sends,
//!   and [`excerpt`] for text too long to show whole (a frame, a value, a
//!   config line).
//!
//! A subscriber composes them: `fmt().with_writer(OneLine(stderr)).finish()
//! .with(NoSecrets)`.

use std::io::{self, Write};

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};

/// Whether events from this place may carry credentials.
fn carries_secrets(meta: &Metadata<'_>) -> bool {
    // tungstenite logs the raw upgrade request and response at trace, and
    // its handshake state at debug: both see the headers.
    // Its frame traces print every payload whole, a passphrase a script
    // sends included; `xmacro::wire` traces the same frames masked.
    let websocket =
        meta.target().starts_with("tungstenite") || meta.target().starts_with("tokio_tungstenite");
    (meta.target().starts_with("tungstenite::handshake") && *meta.level() >= Level::DEBUG)
        || (websocket && *meta.level() == Level::TRACE)
}

/// A layer that turns off every event that may carry credentials, at any
/// `RUST_LOG` setting.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecrets;

impl<S: Subscriber> Layer<S> for NoSecrets {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if carries_secrets(meta) {
            tracing::subscriber::Interest::never()
        } else {
            tracing::subscriber::Interest::always()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        !carries_secrets(meta)
    }

    /// This layer only turns events off, so it enables no level of its own:
    /// the subscriber's hint stays the other layers' (without this it was
    /// "unknown", read as TRACE, and every `log` record of the WebSocket
    /// library, several per frame, went through the subscriber).
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::OFF)
    }
}

/// Escapes control characters (newlines included) in text from outside,
/// such as a script's `print`, so it stays on its one log line.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The first `max` bytes of `text` (cut at a character boundary) with
/// `... (N bytes)` when it is longer, so a long frame or value reaches a
/// log or an error as a readable head.
pub fn excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        text.to_string()
    } else {
        format!(
            "{}... ({} bytes)",
            &text[..text.floor_char_boundary(max)],
            text.len()
        )
    }
}

/// Whether a parameter of this name holds a secret: its name contains
/// `pass`, `secret`, `token` or `key`, in any case. The one rule for logs,
/// frames and the audit trail.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key"]
        .iter()
        .any(|w| n.contains(w))
}

/// Masks, in place, every value under a secret name ([`is_secret_name`])
/// at any depth: whether any was.
pub fn mask_json(v: &mut serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => {
            let mut any = false;
            for (k, x) in m.iter_mut() {
                if is_secret_name(k) {
                    *x = serde_json::Value::String("***".into());
                    any = true;
                } else {
                    any |= mask_json(x);
                }
            }
            any
        }
        serde_json::Value::Array(a) => a.iter_mut().fold(false, |any, x| mask_json(x) | any),
        _ => false,
    }
}

/// A JSON frame as the wire log shows it: values under secret names
/// masked; text that is not JSON, or holds no such name, as it is.
pub fn masked_frame(text: &str) -> std::borrow::Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !["pass", "secret", "token", "key"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(mut v) => {
            if mask_json(&mut v) {
                std::borrow::Cow::Owned(v.to_string())
            } else {
                std::borrow::Cow::Borrowed(text)
            }
        }
        // Not JSON: said by size only, in case it is a broken secret.
        Err(_) => std::borrow::Cow::Owned(format!("({} bytes, not JSON)", text.len())),
    }
}

/// Replaces the password of every `scheme://user:password@host` (or
/// `user:password@host` without a scheme) in `text` with `***`, and the
/// query string of every `scheme://...?query` (each value, and each bare
/// key but `legacy`, which only says how to talk) and its fragment, which
/// may as well carry a secret (`?token=...`); anything else is kept.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let is_break = |c: char| c.is_whitespace() || c == '"' || c == '\'';
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(is_break).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(word_end);
        out.push_str(&redact_query(&redact_word(word)));
        let sep = tail.chars().next().map_or(0, char::len_utf8);
        out.push_str(&tail[..sep]);
        rest = &tail[sep..];
    }
    out
}

/// A URL as logs and pages show it: [`redact_url`] of its text.
pub fn shown_url(url: &url::Url) -> String {
    redact_url(url.as_str())
}

/// The query and fragment of a word with a scheme, redacted.
fn redact_query(word: &str) -> String {
    let Some(scheme_end) = word.find("://") else {
        return word.to_string();
    };
    let Some(q) = word[scheme_end..].find(['?', '#']).map(|i| scheme_end + i) else {
        return word.to_string();
    };
    let (head, rest) = word.split_at(q);
    let (query, fragment) = match rest.find('#') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut out = head.to_string();
    if let Some(query) = query.strip_prefix('?') {
        let pairs: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some(("legacy", _)) => kv.to_string(),
                Some((k, _)) => format!("{k}=***"),
                None if kv == "legacy" || kv.is_empty() => kv.to_string(),
                None => "***".to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    match fragment {
        Some("") => out.push('#'),
        Some(_) => out.push_str("#***"),
        None => {}
    }
    out
}

/// The password part of one whitespace- or quote-delimited word of
/// [`redact_url`].
fn redact_word(word: &str) -> String {
    let start = word.find("://").map_or(0, |i| i + 3);
    let Some(first_at) = word[start..].find('@').map(|i| start + i) else {
        return word.to_string();
    };
    // The host ends at the path; a password may itself hold `@`.
    let end = word[first_at..]
        .find(['/', '?', '#'])
        .map_or(word.len(), |i| first_at + i);
    let at = word[..end].rfind('@').unwrap_or(first_at);
    let user_start = word[start..at].rfind('/').map_or(start, |i| start + i + 1);
    let Some(colon) = word[user_start..at].find(':').map(|i| user_start + i) else {
        return word.to_string();
    };
    format!("{}:***{}", &word[..colon], &word[at..])
}

/// A [`MakeWriter`] whose writers keep every event on one line: newlines
/// and control characters inside an event are escaped, and so is every
/// escape sequence but the formatter's colour codes (a script's file name
/// in a span field cannot set the window title or clear the screen); the
/// event's final newline is kept.
#[derive(Debug, Clone, Copy)]
pub struct OneLine<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for OneLine<M> {
    type Writer = OneLineWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        OneLineWriter(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        OneLineWriter(self.0.make_writer_for(meta))
    }
}

/// The writer of [`OneLine`]; the formatter hands it one whole event per
/// write.
#[derive(Debug)]
pub struct OneLineWriter<W>(W);

/// How many bytes of `body` from `i` are a colour code (SGR: `ESC [`
/// digits and `;` then `m`), the only escape sequence the formatter
/// writes; 0 if they are not one.
fn colour_code(body: &[u8], i: usize) -> usize {
    if body.get(i + 1) != Some(&b'[') {
        return 0;
    }
    let mut j = i + 2;
    while body
        .get(j)
        .is_some_and(|b| b.is_ascii_digit() || *b == b';')
    {
        j += 1;
    }
    if body.get(j) == Some(&b'm') {
        j + 1 - i
    } else {
        0
    }
}

/// Whether the byte at `i` must be escaped, and how many bytes it spans:
/// control bytes but tab (newlines included), an ESC that does not start
/// a colour code, and C1 controls (U+0080 to U+009F, such as the 8-bit
/// CSI some terminals obey).
fn escaped_at(body: &[u8], i: usize) -> Option<usize> {
    match body[i] {
        0x1b if colour_code(body, i) > 0 => None,
        b'\t' => None,
        b if b < 0x20 || b == 0x7f => Some(1),
        0xc2 if body.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)) => Some(2),
        _ => None,
    }
}

/// `buf` with its inner newlines and control bytes escaped.
pub fn one_line(buf: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let (body, end) = match buf.strip_suffix(b"\n") {
        Some(b) => (b, true),
        None => (buf, false),
    };
    if !(0..body.len()).any(|i| escaped_at(body, i).is_some()) {
        return std::borrow::Cow::Borrowed(buf);
    }
    let mut out = Vec::with_capacity(buf.len() + 16);
    let mut i = 0;
    while i < body.len() {
        match escaped_at(body, i) {
            None => {
                out.push(body[i]);
                i += 1;
            }
            Some(2) => {
                out.extend_from_slice(format!("\\u{{{:x}}}", body[i + 1]).as_bytes());
                i += 2;
            }
            Some(_) => {
                match body[i] {
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                }
                i += 1;
            }
        }
    }
    if end {
        out.push(b'\n');
    }
    std::borrow::Cow::Owned(out)
}

impl<W: Write> Write for OneLineWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(&one_line(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_shows_no_value_under_a_secret_name() {
        let f = r#"{"jsonrpc":"2.0","id":1,"method":"xCommand/Security/Passphrase/Set","params":{"NewPassphrase":"hunter2","Level":1}}"#;
        let shown = masked_frame(f);
        assert!(
            !shown.contains("hunter2") && shown.contains("\"NewPassphrase\":\"***\""),
            "{shown}"
        );
        assert!(shown.contains("\"Level\":1"));
        let plain = r#"{"id":2,"params":{"Level":1}}"#;
        assert!(matches!(masked_frame(plain), std::borrow::Cow::Borrowed(_)));
        assert_eq!(masked_frame("token hunter2 {"), "(15 bytes, not JSON)");
    }

    #[test]
    fn one_event_stays_one_line() {
        let line = b"INFO script: x\n2026-01-01 ERROR xmacro::host: FORGED\r\x07\n";
        let out = one_line(line);
        assert_eq!(
            &*out,
            b"INFO script: x\\n2026-01-01 ERROR xmacro::host: FORGED\\r\\x07\n"
        );
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        // Colours and tabs pass; clean lines are not copied.
        assert!(matches!(
            one_line(b"\x1b[32m INFO\x1b[0m\tok\n"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn escape_sequences_other_than_colours_are_shown_not_run() {
        // A script file name in a span field: a window title and a clear.
        let line = b"ERROR script{script=a\x1b]0;PWNED\x07\x1b[2Jb}: x\n";
        let out = one_line(line);
        assert_eq!(
            &*out,
            b"ERROR script{script=a\\x1b]0;PWNED\\x07\\x1b[2Jb}: x\n".as_slice()
        );
        // Every kind of escape that is not a colour: cursor moves, OSC
        // with ST, a bare ESC at the end, 8-bit CSI.
        for bad in [
            "\x1b[H",
            "\x1b[1;1H",
            "\x1b]2;t\x1b\\",
            "\x1b",
            "\x1b[31",
            "\x1bc",
            "\u{9b}2J",
        ] {
            let text = format!("x {bad} y\n");
            let out = one_line(text.as_bytes());
            assert!(
                !out.contains(&0x1b) && !String::from_utf8_lossy(&out).contains('\u{9b}'),
                "{bad:?} passed: {:?}",
                String::from_utf8_lossy(&out)
            );
        }
        // The formatter's colours still pass unchanged.
        let colours =
            b"\x1b[2m2026\x1b[0m \x1b[32m INFO\x1b[0m \x1b[1mscript\x1b[0m\x1b[1;31mx\x1b[0m\n";
        assert!(matches!(one_line(colours), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn script_text_is_escaped() {
        assert_eq!(escape("a\nb\r\x1b[2J"), "a\\nb\\r\\u{1b}[2J");
        assert_eq!(escape("plain text\t"), "plain text\t");
    }

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url("codec URL \"ws://admin:hunter2@host:99999/ws\": invalid port"),
            "codec URL \"ws://admin:***@host:99999/ws\": invalid port"
        );
        assert_eq!(
            redact_url("wss://a:b:c@x and ws://only-user@y/ws and ws://h/ws"),
            "wss://a:***@x and ws://only-user@y/ws and ws://h/ws"
        );
        assert_eq!(redact_url("ws://u:p@w@h/ws"), "ws://u:***@h/ws");
        assert_eq!(redact_url("no url here"), "no url here");
        assert_eq!(
            redact_url("\"admin:hunter2@10.0.0.5\" is not a URL; mail bob@x.org"),
            "\"admin:***@10.0.0.5\" is not a URL; mail bob@x.org"
        );
        assert_eq!(redact_url("wss//a:b@h/ws ok"), "wss//a:***@h/ws ok");
    }

    #[test]
    fn query_strings_in_urls_are_redacted() {
        assert_eq!(
            redact_url("connected to ws://10.0.0.5/ws?x=secret&token=t0p"),
            "connected to ws://10.0.0.5/ws?x=***&token=***"
        );
        // `legacy` says how to talk, not a secret: kept, as is a bare key.
        assert_eq!(
            redact_url("\"wss://h:8443/ws?legacy&k=v#frag\" failed"),
            "\"wss://h:8443/ws?legacy&k=***#***\" failed"
        );
        assert_eq!(
            redact_url("wss://u:pw@h/ws?legacy=1&x=s"),
            "wss://u:***@h/ws?legacy=1&x=***"
        );
        assert_eq!(
            redact_url("ws://h/ws and what? x=y"),
            "ws://h/ws and what? x=y"
        );
    }

    #[test]
    fn the_handshake_trace_is_switched_off() {
        use tracing_subscriber::layer::SubscriberExt;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = seen.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_writer(move || Sink(sink.clone()))
            .finish()
            .with(NoSecrets);
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "tungstenite::handshake::client", "Request: authorization: Basic c2VjcmV0");
            tracing::trace!(target: "xmacro::wire", "-> frame");
        });
        let text = String::from_utf8(seen.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("c2VjcmV0"), "{text}");
        assert!(text.contains("-> frame"), "{text}");
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
