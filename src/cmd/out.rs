//! Standard output, written in one place: a reader that goes away (`xmacro
//! completions bash | head -1`, `xmacro status | grep -m1 ...`) ends the
//! output quietly instead of a panic, and the command finishes as it would.
//!
//! SIGPIPE stays ignored (Rust's default), not reset to the shell's
//! default: a long-running host also writes to sockets, pipes of child
//! processes and log sinks, and a peer going away there is an error to
//! handle, never a reason for the whole process to die. So a closed stdout
//! is an error like any other write error, and this is where it is
//! recognised.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::AppError;

/// Set once the reader of stdout has gone: later output is dropped.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout and flushes it. A closed pipe is no error (the
/// rest of the output is dropped, silently); any other write error is.
pub fn print(text: &str) -> Result<(), AppError> {
    if CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(AppError::Failed(format!("writing to standard output: {e}"))),
    }
}

/// Writes one line (`text` and a newline) to stdout, as [`print`].
pub fn line(text: &str) -> Result<(), AppError> {
    print(&format!("{text}\n"))
}

/// A line a long-running command says in passing (`listening on ...`):
/// nobody reading it stops nothing.
pub fn note(text: &str) {
    if let Err(e) = line(text) {
        tracing::warn!("{e}");
    }
}
