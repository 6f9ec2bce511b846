//! The message loop: the initialize handshake, the requests (completion,
//! hover, definition, shutdown), the notifications (open, change, save,
//! close, exit). Each request is answered here at once; checking runs on
//! the [`Checker`]'s thread. A request this server does not know gets
//! "method not found", one with bad parameters "invalid params", and a
//! handler that fails answers "internal error": the loop goes on.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use lsp_server::{ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::{
    CompletionOptions, CompletionParams, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, GotoDefinitionParams, GotoDefinitionResponse, HoverParams,
    HoverProviderCapability, InitializeParams, InitializeResult, MessageType, OneOf,
    PositionEncodingKind, ServerCapabilities, ServerInfo, ShowMessageParams,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, Uri,
};
use serde_json::Value;

use super::diagnostics::Checker;
use super::documents::{self, Documents};
use super::transport::{self, Incoming, Out};
use super::workspace::{self, Workspace};
use super::{LspError, Options, completion, definition, hover};

/// Characters after which an editor asks for completions unprompted.
pub const TRIGGERS: &[&str] = &[".", "\"", " ", "/", "{", ":"];

/// Serves one client on `input` and `output` until it sends `exit` (or
/// the input ends). `Ok` when it asked for `shutdown` first.
pub fn serve(
    options: Options,
    input: impl BufRead + Send + 'static,
    output: impl Write + Send + 'static,
) -> Result<(), LspError> {
    let incoming = transport::reader(input);
    // A client that stops reading ends the writer; the loop still ends at
    // the client's exit or the end of its input.
    let out = transport::writer(output);
    let mut server = Server {
        options,
        out,
        docs: Documents::default(),
        ws: None,
        checker: None,
        shut_down: false,
    };
    server.run(&incoming)
}

struct Server {
    options: Options,
    out: Out,
    docs: Documents,
    ws: Option<Arc<Workspace>>,
    checker: Option<Checker>,
    shut_down: bool,
}

/// An error answer: a JSON-RPC code and what to tell the user.
type Refusal = (ErrorCode, String);

impl Server {
    fn run(&mut self, incoming: &Receiver<Incoming>) -> Result<(), LspError> {
        for message in incoming {
            match message {
                Incoming::Malformed { id, code, why } => {
                    tracing::warn!("skipped a message: {why}");
                    self.out
                        .error(id, code, format!("xmacro lsp skipped a message: {why}"));
                }
                Incoming::Message(Message::Request(r)) => self.request(r),
                Incoming::Message(Message::Notification(n)) if n.method == "exit" => {
                    return if self.shut_down {
                        Ok(())
                    } else {
                        Err(LspError::ExitWithoutShutdown)
                    };
                }
                Incoming::Message(Message::Notification(n)) => self.notification(n),
                // This server sends no requests, so it expects no answers.
                Incoming::Message(Message::Response(r)) => {
                    tracing::debug!("ignored an answer to {:?}", r.id);
                }
            }
        }
        if self.shut_down {
            Ok(())
        } else {
            Err(LspError::Closed)
        }
    }

    fn request(&mut self, r: Request) {
        let id = r.id.clone();
        let method = r.method.clone();
        let answer = if self.ws.is_none() && method != "initialize" {
            Err((
                ErrorCode::ServerNotInitialized,
                format!("{method} before initialize"),
            ))
        } else if self.shut_down {
            Err((
                ErrorCode::InvalidRequest,
                format!("{method} after shutdown"),
            ))
        } else {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.answer(&method, r.params)
            }))
            .unwrap_or_else(|panic| {
                let why = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("a panic");
                tracing::error!("{method} failed: {why}");
                Err((
                    ErrorCode::InternalError,
                    format!("xmacro lsp failed on {method} (a bug): {why}"),
                ))
            })
        };
        self.respond(id, answer);
    }

    fn respond(&self, id: RequestId, answer: Result<Value, Refusal>) {
        let response = match answer {
            Ok(v) => Response::new_ok(id, v),
            Err((code, message)) => Response::new_err(id, code as i32, message),
        };
        self.out.send(Message::Response(response));
    }

    fn answer(&mut self, method: &str, params: Value) -> Result<Value, Refusal> {
        match method {
            "initialize" => {
                let p: InitializeParams = parse(method, params)?;
                Ok(json(self.initialize(&p)))
            }
            "shutdown" => {
                self.shut_down = true;
                Ok(Value::Null)
            }
            "textDocument/completion" => {
                let p: CompletionParams = parse(method, params)?;
                let at = &p.text_document_position;
                Ok(self.at_doc(
                    &at.text_document.uri,
                    at.position,
                    |ws, text, offset, place| {
                        json(completion::complete(ws, &ws.model(), text, offset, place))
                    },
                ))
            }
            "textDocument/hover" => {
                let p: HoverParams = parse(method, params)?;
                let at = &p.text_document_position_params;
                Ok(self.at_doc(
                    &at.text_document.uri,
                    at.position,
                    |ws, text, offset, place| {
                        json(hover::hover(ws, &ws.model(), text, offset, place))
                    },
                ))
            }
            "textDocument/definition" => {
                let p: GotoDefinitionParams = parse(method, params)?;
                let at = &p.text_document_position_params;
                let uri = at.text_document.uri.clone();
                let docs = &self.docs;
                let read = |path: &std::path::Path| {
                    workspace::file_uri(path)
                        .and_then(|u| docs.get(&u).map(|d| d.text.to_string()))
                        .or_else(|| std::fs::read_to_string(path).ok())
                };
                Ok(self.at_doc(&uri, at.position, |_, text, offset, place| {
                    json(
                        definition::definition(text, offset, place, &uri, &read)
                            .map(GotoDefinitionResponse::Scalar),
                    )
                }))
            }
            other => Err((
                ErrorCode::MethodNotFound,
                format!("xmacro lsp does not handle {other}"),
            )),
        }
    }

    /// Runs `f` on an open file's text at a position; `null` for a file
    /// that is not open.
    fn at_doc(
        &self,
        uri: &Uri,
        at: lsp_types::Position,
        f: impl FnOnce(&Workspace, &str, usize, &workspace::Place) -> Value,
    ) -> Value {
        let (Some(ws), Some(doc)) = (&self.ws, self.docs.get(uri)) else {
            return Value::Null;
        };
        let offset = documents::offset(&doc.text, at);
        f(ws, &doc.text, offset, &ws.place(uri))
    }

    fn initialize(&mut self, p: &InitializeParams) -> InitializeResult {
        let root = workspace::root_of(p);
        let (ws, problem) = Workspace::new(&self.options, root);
        tracing::info!(
            "workspace {}, scripts in {}",
            ws.root.display(),
            ws.scripts.display()
        );
        let ws = Arc::new(ws);
        if let Some(problem) = problem {
            self.show(MessageType::WARNING, problem);
        }
        // The schema loads in the background; the first request that needs
        // it waits for it.
        {
            let ws = ws.clone();
            let out = self.out.clone();
            std::thread::Builder::new()
                .name("lsp-schema".into())
                .spawn(move || {
                    if let Some(problem) = &ws.model().problem {
                        tracing::error!("{problem}");
                        show(&out, MessageType::ERROR, problem.clone());
                    }
                })
                .ok();
        }
        self.checker = Some(Checker::start(ws.clone(), self.out.clone()));
        self.ws = Some(ws);
        InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(PositionEncodingKind::UTF16),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::FULL),
                        save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                        ..Default::default()
                    },
                )),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(TRIGGERS.iter().map(|s| s.to_string()).collect()),
                    resolve_provider: Some(false),
                    ..Default::default()
                }),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                definition_provider: Some(OneOf::Left(true)),
                ..Default::default()
            },
            server_info: Some(ServerInfo {
                name: "xmacro".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
        }
    }

    fn notification(&mut self, n: Notification) {
        let method = n.method.clone();
        let done =
            match method.as_str() {
                "textDocument/didOpen" => parse::<DidOpenTextDocumentParams>(&method, n.params)
                    .map(|p| {
                        let d = p.text_document;
                        let doc = self.docs.open(d.uri, d.version, d.text);
                        self.check(doc);
                    }),
                "textDocument/didChange" => parse::<DidChangeTextDocumentParams>(&method, n.params)
                    .map(|p| {
                        let uri = p.text_document.uri;
                        let Some(old) = self.docs.get(&uri) else {
                            tracing::warn!("a change to {} which is not open", uri.as_str());
                            return;
                        };
                        let mut text = old.text.to_string();
                        for change in p.content_changes {
                            match change.range {
                                // Sent only by a client that ignores the full sync
                                // asked for; applied all the same.
                                Some(r) => {
                                    let (a, b) = (
                                        documents::offset(&text, r.start),
                                        documents::offset(&text, r.end),
                                    );
                                    text.replace_range(a..b.max(a), &change.text);
                                }
                                None => text = change.text,
                            }
                        }
                        if let Some(doc) = self.docs.change(&uri, p.text_document.version, text) {
                            self.check(doc);
                        }
                    }),
                "textDocument/didSave" => {
                    // A saved library changes what the files importing it see.
                    let open: Vec<_> = self.docs.all().cloned().collect();
                    open.into_iter().for_each(|d| self.check(d));
                    Ok(())
                }
                "textDocument/didClose" => parse::<DidCloseTextDocumentParams>(&method, n.params)
                    .map(|p| {
                        self.docs.close(&p.text_document.uri);
                        if let Some(c) = &self.checker {
                            c.forget(p.text_document.uri);
                        }
                    }),
                _ => {
                    // `initialized`, `$/cancelRequest` (requests are answered at
                    // once), `$/setTrace` and others need nothing.
                    tracing::debug!("notification {method}");
                    Ok(())
                }
            };
        if let Err((_, why)) = done {
            tracing::warn!("{why}");
            show(
                &self.out,
                MessageType::WARNING,
                format!("xmacro lsp: {why}"),
            );
        }
    }

    fn check(&self, doc: documents::Doc) {
        if let Some(c) = &self.checker {
            c.check(doc);
        }
    }

    fn show(&self, typ: MessageType, message: String) {
        show(&self.out, typ, message);
    }
}

fn show(out: &Out, typ: MessageType, message: String) {
    out.notify("window/showMessage", ShowMessageParams { typ, message });
}

fn parse<T: serde::de::DeserializeOwned>(method: &str, params: Value) -> Result<T, Refusal> {
    serde_json::from_value(params).map_err(|e| {
        (
            ErrorCode::InvalidParams,
            format!("bad parameters to {method}: {e}"),
        )
    })
}

fn json(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
