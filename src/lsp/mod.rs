//! `xmacro lsp`: a language server, so any editor with an LSP client
//! (VS Code, Neovim, Helix, Zed, Emacs) completes, checks and explains
//! xAPI paths in Rhai macros with the schema at hand.
//!
//! It speaks the Language Server Protocol over stdio. The parts, one
//! concept per file:
//!
//! - [`transport`]: JSON-RPC messages framed by `Content-Length`, read and
//!   written on threads of their own; a malformed message is answered, not
//!   fatal.
//! - [`server`]: the message loop: the handshake, the requests, shutdown
//!   and exit. It answers completion, hover and definition itself (they are
//!   quick) and hands checking to [`diagnostics`], so no request waits
//!   behind a check.
//! - [`workspace`]: the project around the files (config, scripts folder,
//!   the script's `args`) and the schema, loaded once in the background.
//! - [`documents`]: the open files' text and the conversion between
//!   Rhai's places (1-based, in characters) and LSP's (0-based, in UTF-16
//!   code units).
//! - [`diagnostics`]: a worker thread that checks a file a moment after
//!   its last change (debounced) with the same code as `xmacro check`.
//! - [`context`]: what the cursor is in (a proxy path, a string path, a
//!   command's argument map, a name), read with Rhai's own tokenizer.
//! - [`completion`], [`hover`], [`definition`]: the answers.
//! - [`library`]: the script API and standard library, with signatures
//!   and documentation.

pub mod completion;
pub mod context;
pub mod definition;
pub mod diagnostics;
pub mod documents;
pub mod hover;
pub mod library;
pub mod server;
pub mod transport;
pub mod workspace;

pub use server::serve;

use std::path::PathBuf;

/// What the command line says.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--schema FILE`; else the config's `schema`, else the built-in model.
    pub schema: Option<PathBuf>,
    /// `--product NAME`: only that product's part of the schema.
    pub product: Option<String>,
    /// `--config FILE`; else `xmacro.toml` in the workspace's root.
    pub config: Option<PathBuf>,
}

/// Why the server stopped other than by `shutdown` and `exit`.
#[derive(Debug, thiserror::Error)]
pub enum LspError {
    #[error("the client sent exit without shutdown first")]
    ExitWithoutShutdown,
    #[error("the client closed the connection without shutdown")]
    Closed,
}
