//! The Rhai runtime: one module per concern.
//!
//! - [`engine`]: the sandboxed engine shared by every script.
//! - [`allow`]: the xAPI a script may touch (`allow` patterns), as data.
//! - [`budget`]: wall-clock deadlines for callbacks, compiles and waits.
//! - [`depth`]: the depth bound on values the host prints or converts.
//! - [`memory`]: the counting allocator behind each instance's memory budget.
//! - [`fault`]: the `#{ code, message }` errors scripts catch.
//! - [`api`]: the `xapi` object and the other globals scripts see.
//! - [`guard`]: each call checked against `allow` and put on the audit trail.
//! - [`convert`]: script values to JSON and back.
//! - [`feedback`]: codec feedback into an instance's mailbox, in wire order.
//! - [`home`]: the library a callback was made in, to call it there.
//! - [`toplevel`]: top-level variables as state shared with `fn`s and callbacks.
//! - [`limits`]: what one script may use, and the sizes of values.
//! - [`instance`]: one running (script, codec) instance: mailbox and jobs;
//!   what it is started from (`spec`), its compiled program and the calls
//!   into it (`program`), its context with callbacks and timers (`context`).
//! - [`diagnose`]: `file:line:col: message` for a script error.
//! - [`pool`]: the OS threads instances run on (never tokio's).
//! - [`retry`]: which top levels are started again, and when.
//! - [`loader`]: compiling, with imports confined to the scripts directory.
//! - [`lex`]: Rhai's tokens with their raw text (for `check` and editors).
//! - [`hints`]: what to write instead when a JavaScript habit fails to compile.
//! - [`stdlib`]: JSON, local time, regular expressions and random numbers.
//! - [`send`]: fire-and-forget commands whose refusal is logged.
//! - [`steps`]: pauses between commands that hold no worker.
//! - [`output`]: what scripts log, escaped and rate limited.
//! - [`wait`]: how a script thread waits for a host call's answer.
//!
//! One thing lives here rather than in a part: [`OnThread`], what the
//! thread running script code keeps where Rhai hands it no context, one
//! field per part that needs it.

pub mod allow;
pub mod api;
pub mod budget;
pub mod convert;
pub mod depth;
pub mod diagnose;
pub mod engine;
pub mod fault;
pub mod feedback;
pub mod files;
pub mod guard;
pub mod hints;
pub mod home;
pub mod instance;
pub mod lex;
pub mod limits;
pub mod loader;
pub mod memory;
pub mod output;
pub mod pool;
pub mod retry;
pub mod send;
pub mod stdlib;
pub mod steps;
pub mod toplevel;
pub mod wait;

use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// What the thread running script code (a job, a compile, a unit test's
/// engine) keeps where Rhai hands that code no context. Everywhere Rhai
/// calls us with a context, the context carries what we need instead: a
/// job's instance travels in the per-call tag ([`instance::JobCtx`]), a
/// test's state in the test body's tag. The allocator's account is the
/// other thread-local ([`memory`]): an allocator has no context at all.
pub(crate) struct OnThread {
    /// The instance whose job runs here: Rhai calls the `print` hook
    /// (`Engine::on_print`) with the text alone, no tag, and the line goes
    /// to that instance's log ([`instance::with_current`]).
    pub(crate) instance: RefCell<Option<Arc<instance::InstanceCtx>>>,
    /// The running work's wall-clock budget: Rhai calls the progress hook
    /// (`Engine::on_progress`), which enforces it, with the operation count
    /// alone ([`budget`]).
    pub(crate) deadline: Cell<Option<budget::Deadline>>,
    /// The compile running here: `Engine::compile_into_self_contained`
    /// calls the module resolver with no context (no tag, no source, no
    /// position), and one engine serves every compile ([`loader`]).
    pub(crate) compile: RefCell<Option<loader::Session>>,
    /// The imports being resolved, to report a cycle (with or without a
    /// compile: a test file's imports resolve as it runs).
    pub(crate) imports: RefCell<Vec<(String, u64)>>,
    /// How this thread's recent waits for host calls went (whether the
    /// next one spins before parking): a property of the thread, not of any
    /// job or call, so it has no context to live in ([`wait`]).
    pub(crate) spin: Cell<wait::Adapt>,
}

thread_local! {
    /// See [`OnThread`].
    static ON_THREAD: OnThread = const {
        OnThread {
            instance: RefCell::new(None),
            deadline: Cell::new(None),
            compile: RefCell::new(None),
            imports: RefCell::new(Vec::new()),
            spin: Cell::new(wait::Adapt::NEW),
        }
    };
}

/// Runs `f` with this thread's [`OnThread`].
pub(crate) fn on_thread<R>(f: impl FnOnce(&OnThread) -> R) -> R {
    ON_THREAD.with(f)
}
