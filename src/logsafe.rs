//! What keeps logs honest and secret-free, whatever the subscriber:
//!
//! - [`NoSecrets`], a layer that disables the WebSocket library's handshake
//!   tracing, which prints the whole upgrade request (with `Authorization:
//!   Basic ...` or the `auth-...` sub-protocol) at trace level;
//! - [`OneLine`], a writer wrapper that escapes newlines and control
//!   characters inside an event, so one event is always one line and a
//!   script or a file name cannot forge a log line;
//! - [`escape`] for text from outside (script output), [`redact_url`]
//!   for text that may hold `user:password@`, and [`excerpt`] for text
//!   too long to show whole (a frame, a value, a config line).
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
    meta.target().starts_with("tungstenite::handshake") && *meta.level() >= Level::DEBUG
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

/// Replaces the password of every `scheme://user:password@host` (or
/// `user:password@host` without a scheme) in `text` with `***`; anything
/// else is kept.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let is_break = |c: char| c.is_whitespace() || c == '"' || c == '\'';
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(is_break).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(word_end);
        out.push_str(&redact_word(word));
        let sep = tail.chars().next().map_or(0, char::len_utf8);
        out.push_str(&tail[..sep]);
        rest = &tail[sep..];
    }
    out
}

/// One whitespace- or quote-delimited word of [`redact_url`].
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
/// and control characters inside an event are escaped; the event's final
/// newline and terminal colour codes (ESC) are kept.
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

fn needs_escape(b: u8) -> bool {
    (b < 0x20 && b != b'\t' && b != 0x1b) || b == 0x7f
}

/// `buf` with its inner newlines and control bytes escaped.
pub fn one_line(buf: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let (body, end) = match buf.strip_suffix(b"\n") {
        Some(b) => (b, true),
        None => (buf, false),
    };
    if !body.iter().copied().any(needs_escape) {
        return std::borrow::Cow::Borrowed(buf);
    }
    let mut out = Vec::with_capacity(buf.len() + 16);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b if needs_escape(b) => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            b => out.push(b),
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
