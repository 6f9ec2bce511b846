//! Where an instance runs and what it may reach ([`InstanceCtx`]): the
//! spec it was started from, and what changes while it runs: the callbacks
//! and timers it registered (capped), whether it is stopping, the token
//! that ends its waits, and its top-level variables.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use rhai::FnPtr;
use tokio_util::sync::CancellationToken;

use super::spec::{InstanceSpec, span};
use super::{Instance, Job};

/// Where an instance runs and what it may reach: the spec it was started
/// from (its fields read through, as `ctx.codec`), and its running state.
pub struct InstanceCtx {
    spec: InstanceSpec,
    /// Cancels host calls in progress when the instance stops.
    pub cancel: CancellationToken,
    /// Ends the waits (`sleep`, host calls) of the job running when a stop
    /// begins; `on_unload` gets a fresh one.
    interrupt: Mutex<CancellationToken>,
    /// Callbacks removed by a stop, dropped by the `on_unload` job.
    pub(super) retired: Mutex<Vec<FnPtr>>,
    pub(crate) registry: Mutex<Registry>,
    pub(crate) closing: AtomicBool,
    pub(super) instance: Mutex<Weak<Instance>>,
    /// The top-level variables' cells, shared with `fn`s and callbacks.
    pub(super) top_level: crate::script::toplevel::Cells,
    /// How much it may log (its own: never a former instance's count).
    log_limit: Mutex<crate::log::ratelimit::RateLimit>,
}

impl std::ops::Deref for InstanceCtx {
    type Target = InstanceSpec;

    fn deref(&self) -> &InstanceSpec {
        &self.spec
    }
}

/// A callback the script registered.
pub(crate) struct Registered {
    pub f: FnPtr,
    pub once: bool,
    /// The task that feeds it (timers, connection changes), aborted when
    /// the callback goes.
    pub task: Option<tokio::task::AbortHandle>,
    /// The codec subscription that feeds it; dropped (unsubscribed) with
    /// the callback.
    pub feed: Option<crate::xows::FeedGuard>,
    /// For timers: set while a tick waits in the mailbox, so a timer never
    /// queues a second tick behind the first (ticks that find it set are
    /// skipped).
    pub pending: Option<Arc<AtomicBool>>,
    /// For timers: how deep in a chain of timers it was set.
    pub nesting: u8,
}

#[derive(Default)]
pub(crate) struct Registry {
    next: u64,
    /// Boxed: a table's empty buckets then cost a pointer each, not a whole
    /// callback (a table of one callback was about 500 bytes).
    pub(super) items: HashMap<u64, Box<Registered>>,
    /// How many of `items` are timers.
    timers: usize,
}

impl Registry {
    pub(super) fn remove(&mut self, id: u64) -> Option<Registered> {
        let r = *self.items.remove(&id)?;
        if r.pending.is_some() {
            self.timers -= 1;
        }
        Some(r)
    }

    pub(super) fn drain(&mut self) -> Vec<Registered> {
        self.timers = 0;
        self.items.drain().map(|(_, r)| *r).collect()
    }
}

/// Why a callback could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("the script is stopping")]
    Stopping,
    #[error("too many timers: a script may hold {0} at once (cancel some with .cancel())")]
    TooManyTimers(usize),
}

impl InstanceCtx {
    /// A fresh context from a spec.
    pub(crate) fn new(spec: &InstanceSpec) -> Arc<InstanceCtx> {
        Arc::new(InstanceCtx {
            spec: spec.clone(),
            cancel: CancellationToken::new(),
            interrupt: Mutex::new(CancellationToken::new()),
            retired: Mutex::new(Vec::new()),
            registry: Mutex::new(Registry::default()),
            closing: AtomicBool::new(false),
            instance: Mutex::new(Weak::new()),
            top_level: crate::script::toplevel::Cells::default(),
            log_limit: Mutex::default(),
        })
    }

    /// The cells of the script's top-level variables.
    pub(crate) fn top_level(&self) -> &crate::script::toplevel::Cells {
        &self.top_level
    }

    /// The limit on what this instance logs (see [`crate::script::output`]).
    pub(crate) fn log_limit(&self) -> std::sync::MutexGuard<'_, crate::log::ratelimit::RateLimit> {
        self.log_limit.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands a log line to the sink, if any.
    pub(crate) fn note(&self, level: &str, text: &str) {
        if let Some(sink) = &self.spec.log_sink {
            sink(level, text);
        }
    }

    /// The token that ends the running job's waits when a stop begins.
    pub fn interrupt(&self) -> CancellationToken {
        self.interrupt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn fresh_interrupt(&self) {
        *self.interrupt.lock().unwrap_or_else(|p| p.into_inner()) = CancellationToken::new();
    }

    pub(crate) fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a callback; refused once the instance is stopping.
    pub(crate) fn register(&self, f: FnPtr, once: bool) -> Result<u64, RegisterError> {
        self.add(f, once, None, 0)
    }

    /// Registers a timer callback, within the timer cap; the flag is its
    /// "tick pending" mark. `nesting` is how deep in a chain of timers it
    /// is set (its callback runs with that as its `timer_nesting`).
    pub(crate) fn register_timer(
        &self,
        f: FnPtr,
        once: bool,
        nesting: u8,
    ) -> Result<(u64, Arc<AtomicBool>), RegisterError> {
        let pending = Arc::new(AtomicBool::new(false));
        let id = self.add(f, once, Some(pending.clone()), nesting)?;
        Ok((id, pending))
    }

    fn add(
        &self,
        f: FnPtr,
        once: bool,
        pending: Option<Arc<AtomicBool>>,
        nesting: u8,
    ) -> Result<u64, RegisterError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(RegisterError::Stopping);
        }
        let mut r = self.registry();
        if pending.is_some() {
            if r.timers >= self.limits.max_timers {
                return Err(RegisterError::TooManyTimers(self.limits.max_timers));
            }
            r.timers += 1;
        }
        r.next += 1;
        let id = r.next;
        r.items.insert(
            id,
            Box::new(Registered {
                f,
                once,
                task: None,
                feed: None,
                pending,
                nesting,
            }),
        );
        Ok(id)
    }

    /// Attaches the task that feeds callback `id` (aborted on `off`/stop).
    pub(crate) fn attach_task(&self, id: u64, task: tokio::task::AbortHandle) {
        match self.registry().items.get_mut(&id) {
            Some(r) => r.task = Some(task),
            None => task.abort(),
        }
    }

    /// Attaches the codec subscription that feeds callback `id` (dropped,
    /// so unsubscribed, on `off`/stop).
    pub(crate) fn attach_feed(&self, id: u64, feed: crate::xows::FeedGuard) {
        if let Some(r) = self.registry().items.get_mut(&id) {
            r.feed = Some(feed);
        }
    }

    /// Removes a callback and stops what feeds it.
    pub(crate) fn unregister(&self, id: u64) -> bool {
        match self.registry().remove(id) {
            Some(r) => {
                if let Some(t) = r.task {
                    t.abort();
                }
                true
            }
            None => false,
        }
    }

    /// Queues a job for this instance (from any thread); whether it was.
    pub fn post(&self, job: Job) -> bool {
        self.instance().is_some_and(|inst| inst.post(job))
    }

    /// The running instance (`None` once it is gone).
    pub(crate) fn instance(&self) -> Option<Arc<Instance>> {
        self.instance
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .upgrade()
    }

    /// The span this instance's log lines carry. It is a root span: made
    /// while another span is entered (a worker running this instance's
    /// job, a connection task), it still stands alone, so a line names the
    /// script once (`script{codec=main script=room-setup}: ...`), never
    /// nested in a copy of itself or in the codec's span.
    pub fn span(&self) -> tracing::Span {
        span(&self.codec_name, &self.script)
    }
}
