//! The wire: JSON-RPC 2.0 messages framed by a `Content-Length` header, as
//! LSP sends them over stdio. Reading and writing each have a thread, so
//! the message loop never waits on a slow client.
//!
//! Messages are `lsp_server` types; the framing is ours because a client's
//! mistake must not end the session: a body that is not JSON is answered
//! with a parse error (-32700), one that is JSON but not JSON-RPC with an
//! invalid-request error (-32600), a broken header is skipped up to the next
//! `Content-Length`, and each is logged.

use std::io::{BufRead, Write};
use std::sync::mpsc::{Receiver, Sender, channel};

use lsp_server::{Message, RequestId};
use serde_json::{Value, json};

/// The largest message body accepted (a whole script is a few hundred KB).
pub const MAX_BODY: usize = 64 << 20;

/// What the reader thread hands to the message loop.
#[derive(Debug)]
pub enum Incoming {
    Message(Message),
    /// Something that could not be read as a message; `id` when it had one.
    Malformed {
        id: Option<RequestId>,
        code: i32,
        why: String,
    },
}

/// One frame as read: a body, or why the bytes were not one.
enum Frame {
    Body(String),
    Broken(String),
}

/// Reads frames until the input ends; the channel closes then.
pub fn reader(input: impl BufRead + Send + 'static) -> Receiver<Incoming> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("lsp-reader".into())
        .spawn(move || {
            let mut frames = Frames {
                input,
                held: None,
                skipping: false,
            };
            while let Some(frame) = frames.next_frame() {
                let incoming = match frame {
                    Frame::Body(text) => decode(&text),
                    Frame::Broken(why) => Incoming::Malformed {
                        id: None,
                        code: lsp_server::ErrorCode::ParseError as i32,
                        why,
                    },
                };
                let is_exit = matches!(&incoming, Incoming::Message(Message::Notification(n)) if n.method == "exit");
                if tx.send(incoming).is_err() || is_exit {
                    break;
                }
            }
        })
        .expect("a thread can be started");
    rx
}

/// A message from its JSON text, or why it is none.
fn decode(text: &str) -> Incoming {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Incoming::Malformed {
                id: None,
                code: lsp_server::ErrorCode::ParseError as i32,
                why: format!("the message is not JSON: {e}"),
            };
        }
    };
    let id = value.get("id").and_then(|id| match id {
        Value::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(RequestId::from),
        Value::String(s) => Some(RequestId::from(s.clone())),
        _ => None,
    });
    match serde_json::from_value::<Message>(value) {
        Ok(m) => Incoming::Message(m),
        Err(e) => Incoming::Malformed {
            id,
            code: lsp_server::ErrorCode::InvalidRequest as i32,
            why: format!("the message is not a JSON-RPC request, response or notification: {e}"),
        },
    }
}

const CONTENT_LENGTH: &str = "content-length:";

/// Frames from a byte stream, with one line of look-ahead for finding the
/// next header after a broken one.
struct Frames<R> {
    input: R,
    held: Option<String>,
    /// After a broken header: the bytes up to the next `Content-Length`
    /// are skipped first.
    skipping: bool,
}

impl<R: BufRead> Frames<R> {
    fn line(&mut self) -> Option<String> {
        if let Some(l) = self.held.take() {
            return Some(l);
        }
        let mut line = String::new();
        match self.input.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line),
        }
    }

    /// The next frame, or `None` at the end of the input.
    fn next_frame(&mut self) -> Option<Frame> {
        if self.skipping {
            self.skip_to_header()?;
        }
        let mut length = None;
        loop {
            let line = self.line()?;
            let header = line.trim_end_matches(['\r', '\n']);
            if header.is_empty() {
                if length.is_none() {
                    continue; // a stray blank line between messages
                }
                break;
            }
            match header.split_once(':') {
                Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                    match value.trim().parse::<usize>() {
                        Ok(n) => length = Some(n),
                        Err(e) => {
                            return Some(
                                self.resync(format!("bad Content-Length header {header:?}: {e}")),
                            );
                        }
                    }
                }
                Some(_) => {} // Content-Type and any other header: ignored
                None => {
                    return Some(self.resync(format!("a header line without a colon: {header:?}")));
                }
            }
        }
        let Some(n) = length else {
            return Some(Frame::Broken(
                "a message without a Content-Length header".into(),
            ));
        };
        Some(self.body(n))
    }

    /// A broken header: reported at once; the next frame starts at the
    /// next `Content-Length`.
    fn resync(&mut self, why: String) -> Frame {
        self.skipping = true;
        Frame::Broken(why)
    }

    /// Skips to the next `Content-Length` (which may follow a body on the
    /// same line) and keeps it for the frame; `None` at the end of input.
    fn skip_to_header(&mut self) -> Option<()> {
        loop {
            let line = self.line()?;
            if let Some(at) = line.to_ascii_lowercase().find(CONTENT_LENGTH)
                && line.is_char_boundary(at)
            {
                self.held = Some(line[at..].to_string());
                self.skipping = false;
                return Some(());
            }
        }
    }

    /// Reads the body the header announced.
    fn body(&mut self, n: usize) -> Frame {
        if n > MAX_BODY {
            // Read past it so the next message is found.
            let mut rest = std::io::Read::take(&mut self.input, n as u64);
            let _ = std::io::copy(&mut rest, &mut std::io::sink());
            return Frame::Broken(format!(
                "a message of {n} bytes (at most {MAX_BODY} are read)"
            ));
        }
        let mut buf = vec![0; n];
        if self.input.read_exact(&mut buf).is_err() {
            return Frame::Broken("the input ended inside a message".into());
        }
        match String::from_utf8(buf) {
            Ok(text) => Frame::Body(text),
            Err(e) => Frame::Broken(format!("the message is not UTF-8: {e}")),
        }
    }
}

/// The sending end of the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Out(Sender<String>);

impl Out {
    /// Sends a message.
    pub fn send(&self, message: Message) {
        let mut value = serde_json::to_value(&message).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert("jsonrpc".into(), json!("2.0"));
        }
        let _ = self.0.send(value.to_string());
    }

    /// A notification.
    pub fn notify(&self, method: &str, params: impl serde::Serialize) {
        self.send(Message::Notification(lsp_server::Notification::new(
            method.into(),
            params,
        )));
    }

    /// An error answer; `id` is `null` when the message had none (as
    /// JSON-RPC says for a parse error).
    pub fn error(&self, id: Option<RequestId>, code: i32, message: String) {
        match id {
            Some(id) => self.send(Message::Response(lsp_server::Response::new_err(
                id, code, message,
            ))),
            None => {
                let v = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
                let _ = self.0.send(v.to_string());
            }
        }
    }
}

/// Starts the writer thread; it ends once every [`Out`] is dropped, or at
/// the first failed write (the client is gone; that is logged).
pub fn writer(output: impl Write + Send + 'static) -> Out {
    let (tx, rx) = channel::<String>();
    std::thread::Builder::new()
        .name("lsp-writer".into())
        .spawn(move || {
            let mut output = output;
            for text in rx {
                let written = write!(output, "Content-Length: {}\r\n\r\n{text}", text.len())
                    .and_then(|()| output.flush());
                if let Err(e) = written {
                    tracing::warn!("writing to the client failed: {e}");
                    return;
                }
            }
        })
        .expect("a thread can be started");
    Out(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &str) -> Vec<Result<String, String>> {
        let mut r = Frames {
            input: std::io::Cursor::new(input.as_bytes().to_vec()),
            held: None,
            skipping: false,
        };
        std::iter::from_fn(|| r.next_frame())
            .map(|f| match f {
                Frame::Body(b) => Ok(b),
                Frame::Broken(w) => Err(w),
            })
            .collect()
    }

    #[test]
    fn frames_are_read_by_their_content_length() {
        let f =
            frames("Content-Length: 2\r\nContent-Type: x\r\n\r\n{}Content-Length: 4\r\n\r\nnull");
        assert_eq!(f, vec![Ok("{}".into()), Ok("null".into())]);
    }

    #[test]
    fn a_broken_header_is_reported_and_the_next_message_still_read() {
        let f = frames("garbage line\r\nmore\r\nContent-Length: 2\r\n\r\n{}");
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(
            f[0].as_ref().unwrap_err().contains("without a colon"),
            "{f:?}"
        );
        assert_eq!(f[1], Ok("{}".into()));
        let f = frames("Content-Length: x\r\n\r\n{\"a\":1}Content-Length: 2\r\n\r\n{}");
        assert!(
            f[0].as_ref().unwrap_err().contains("bad Content-Length"),
            "{f:?}"
        );
        assert_eq!(f[1], Ok("{}".into()), "{f:?}");
    }

    #[test]
    fn bodies_that_are_not_json_rpc_are_named_with_their_id() {
        assert!(matches!(
            decode("{nope"),
            Incoming::Malformed {
                id: None,
                code: -32700,
                ..
            }
        ));
        match decode(r#"{"jsonrpc":"2.0","id":7,"params":{}}"#) {
            Incoming::Malformed { id, code, .. } => {
                assert_eq!(id, Some(RequestId::from(7)));
                assert_eq!(code, -32600);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#),
            Incoming::Message(Message::Request(_))
        ));
    }
}
