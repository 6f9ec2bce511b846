//! One running (script, codec) instance: its mailbox and how a job runs.
//!
//! A callback runs to completion before the next job of the same instance.
//! Feedback and timers post jobs into a bounded mailbox and never wait on
//! the script; the codec's connection task posts feedback straight into it
//! ([`crate::script::feedback`]), so callbacks run in the order the codec sent the
//! feedback, across all of the instance's subscriptions. On overflow a
//! Status or Configuration change supersedes the waiting change of the
//! same shape for the same callback and waits at the tail (the latest value
//! of every path arrives, and nothing kept is reordered: see
//! [`crate::xows::feedback_queue`]), and an event or timer tick is
//! dropped; both are counted, and
//! one warning names the start of such a burst, one its totals. Stopping
//! an instance removes every subscription and timer first, ends a wait the
//! running callback is in, then runs `on_unload`, so nothing keeps firing
//! into a dead script. Timers are capped per instance and a timer never has
//! two ticks queued. Each job runs within a wall-clock budget and the
//! instance's memory account; an instance over its memory budget is
//! stopped for good (until reloaded). How the top level ended is published
//! ([`Instance::top_level_ended`]): the host starts one again that its
//! codec, not its code, stopped.
//!
//! It is started from an [`InstanceSpec`] ([`spec`]) holding its compiled
//! [`program`]; its context (callbacks, timers, stopping) is [`context`];
//! what a job runs in travels with each call in Rhai's tag
//! ([`job::JobCtx`]). Host functions read the instance from the tag
//! (`api::ctx`); only the `print` hook, which Rhai calls without any
//! context, finds it on the thread ([`crate::script::OnThread`]).

pub mod context;
pub mod job;
pub mod program;
pub mod spec;

pub use context::{InstanceCtx, RegisterError};
pub use job::JobCtx;
pub use program::{Constants, Program};
pub use spec::{InstanceSpec, LogSink, span};

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rhai::{Dynamic, EvalAltResult, FnPtr};
use serde_json::Value;
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::script::diagnose::describe_error;
use crate::script::pool::{Pool, Runnable};
use crate::script::retry::TopLevelEnd;
use crate::xows::feedback_queue::{Burst, FeedbackQueue, Pushed};
use job::call_fnptr;

/// Work for an instance.
pub enum Job {
    /// Run the script's top level.
    Start,
    /// Run callback `id` with these arguments (JSON, converted on the worker).
    Call { id: u64, args: Vec<Value> },
    /// Run `on_unload`, then report.
    Unload(oneshot::Sender<()>),
}

/// What a state change supersedes in a full mailbox: a waiting change for
/// the same callback with the same shape (the same paths and element ids,
/// [`crate::xows::doc::shape`]), which the new one wholly replaces.
type StateKey = (u64, u64);

struct Mailbox {
    jobs: FeedbackQueue<StateKey, Job>,
    scheduled: bool,
    /// Jobs queued so far (the test runner's idle check compares it).
    posted: u64,
}

/// One running (script, codec) pair.
pub struct Instance {
    pub ctx: Arc<InstanceCtx>,
    program: Arc<Program>,
    mailbox: Mutex<Mailbox>,
    pool: Arc<Pool>,
    /// What this instance's jobs allocate is counted here.
    account: crate::script::memory::Account,
    /// The top-level `const`s, for `global::NAME` in `fn`s that callbacks
    /// call (the top-level run fills it).
    constants: Constants,
    /// How the top level ended, once it has, and the signal to those who
    /// wait for it (inline: a watch channel was a 380-byte allocation per
    /// instance, kept for its whole life).
    top_level_end: Mutex<Option<TopLevelEnd>>,
    top_level_ended: tokio::sync::Notify,
}

/// The name of the function the top-level run asks for after the
/// statements: none has it, so "not found" there means the top level ran
/// through (Rhai runs an AST with a per-call tag only on the way to a
/// function).
const AFTER_TOP_LEVEL: &str = "$top level done$";

/// Signalled whenever an instance has run its last queued job (the test
/// runner waits on it instead of polling).
pub static WENT_IDLE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// The instance whose code this worker thread is running.
pub fn current() -> Option<Arc<InstanceCtx>> {
    crate::script::on_thread(|t| t.instance.borrow().clone())
}

/// Runs `f` with `ctx` as the current instance (also used by `check`).
pub fn with_current<T>(ctx: Option<Arc<InstanceCtx>>, f: impl FnOnce() -> T) -> T {
    let prev = crate::script::on_thread(|t| t.instance.replace(ctx));
    let out = f();
    crate::script::on_thread(|t| *t.instance.borrow_mut() = prev);
    out
}

impl Instance {
    /// Creates an instance of `spec` (a fresh context: no callbacks,
    /// timers or variables yet) and queues its start.
    pub fn start(spec: &InstanceSpec) -> Arc<Instance> {
        let ctx = InstanceCtx::new(spec);
        let program = spec.program.clone();
        let inst = Arc::new(Instance {
            ctx: ctx.clone(),
            program,
            mailbox: Mutex::new(Mailbox {
                jobs: FeedbackQueue::new(ctx.limits.mailbox),
                scheduled: false,
                posted: 0,
            }),
            pool: Pool::global(),
            account: crate::script::memory::Account::new(),
            constants: Constants::default(),
            top_level_end: Mutex::new(None),
            top_level_ended: tokio::sync::Notify::new(),
        });
        *ctx.instance.lock().unwrap_or_else(|p| p.into_inner()) = Arc::downgrade(&inst);
        inst.post(Job::Start);
        inst
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the top level has ended, and says how.
    pub async fn top_level_ended(&self) -> TopLevelEnd {
        loop {
            // Registered before the look, so an end set in between wakes it.
            let notified = self.top_level_ended.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(end) = self
                .top_level_end
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                return end;
            }
            notified.await;
        }
    }

    /// Queues a job; a full mailbox drops a call and counts the drop (a
    /// start or an unload always passes). Returns whether the job was
    /// queued.
    pub fn post(self: &Arc<Self>, job: Job) -> bool {
        queued(self.post_event(job))
    }

    /// [`Instance::post`], saying what became of the job.
    pub(crate) fn post_event(self: &Arc<Self>, job: Job) -> Pushed {
        let is_call = matches!(job, Job::Call { .. });
        if is_call && self.ctx.closing.load(Ordering::SeqCst) {
            return Pushed::Closed;
        }
        let mut mb = self.lock();
        let pushed = if is_call {
            mb.jobs.push_event(job)
        } else {
            mb.jobs.push_always(job);
            Pushed::Queued
        };
        self.posted(mb, pushed)
    }

    /// Queues a state change for callback `id`; when the mailbox is full it
    /// supersedes the waiting change of the same shape for that callback
    /// and waits at the tail (see [`crate::xows::feedback_queue`]).
    pub(crate) fn post_state(self: &Arc<Self>, id: u64, value: Value) -> Pushed {
        if self.ctx.closing.load(Ordering::SeqCst) {
            return Pushed::Closed;
        }
        let key = (id, crate::xows::doc::shape(&value));
        let job = Job::Call {
            id,
            args: vec![value],
        };
        let mut mb = self.lock();
        let pushed = mb.jobs.push_state(key, job);
        self.posted(mb, pushed)
    }

    fn posted(
        self: &Arc<Self>,
        mut mb: std::sync::MutexGuard<'_, Mailbox>,
        pushed: Pushed,
    ) -> Pushed {
        let m = crate::telemetry::metrics();
        match pushed {
            Pushed::Queued => {}
            Pushed::Coalesced => m.feedback_coalesced.inc(),
            Pushed::Dropped | Pushed::Closed => m.feedback_dropped_mailbox.inc(),
        }
        let began = pushed != Pushed::Queued && mb.jobs.burst_began();
        let schedule = match pushed {
            Pushed::Queued | Pushed::Coalesced => {
                mb.posted += 1;
                !std::mem::replace(&mut mb.scheduled, true)
            }
            Pushed::Dropped | Pushed::Closed => false,
        };
        drop(mb);
        if began {
            let _g = self.ctx.span().entered();
            warn!(
                "the script is not keeping up: its mailbox of {} is full, so events are dropped and state changes merged from now on; the counts follow when it catches up",
                self.ctx.limits.mailbox
            );
        }
        if schedule {
            self.pool.schedule(self.clone());
        }
        pushed
    }

    fn caught_up(&self, burst: Option<Burst>) {
        if let Some(b) = burst {
            warn!(
                "the script fell behind a feedback burst and caught up: {} state change(s) merged into later ones, {} event(s) dropped (mailbox of {})",
                b.coalesced, b.dropped, self.ctx.limits.mailbox
            );
        }
    }

    /// Whether no job waits or runs (a running job may be in a codec
    /// call), with the count of jobs queued so far: two equal idle readings
    /// around a round trip mean nothing happened in between.
    pub fn idle(&self) -> (bool, u64) {
        let mb = self.lock();
        (!mb.scheduled && mb.jobs.is_empty(), mb.posted)
    }

    /// Stops the instance: subscriptions and timers go first, then
    /// `on_unload` runs (bounded by the unload limit), then host calls still
    /// in progress are cancelled.
    pub async fn stop(self: &Arc<Self>) {
        self.ctx.closing.store(true, Ordering::SeqCst);
        // A callback asleep or waiting on the codec ends now.
        self.ctx.interrupt().cancel();
        let items = self.ctx.registry().drain();
        let mut callbacks = Vec::with_capacity(items.len());
        for r in items {
            if let Some(t) = r.task {
                t.abort();
            }
            callbacks.push(r.f);
        }
        // What the callbacks captured may be deeply nested: it is dropped on
        // a worker's big stack, not on this runtime thread.
        *self.ctx.retired.lock().unwrap_or_else(|p| p.into_inner()) = callbacks;
        let (tx, rx) = oneshot::channel();
        {
            // Queued work (even a start that never ran) is dropped.
            self.lock().jobs.clear();
        }
        self.post(Job::Unload(tx));
        if tokio::time::timeout(self.ctx.limits.unload + self.ctx.limits.budget, rx)
            .await
            .is_err()
        {
            let _g = self.ctx.span().entered();
            warn!("did not stop in time; cancelling its host calls");
        }
        self.ctx.cancel.cancel();
    }

    fn run_job(&self, job: Job) {
        let ctx = &self.ctx;
        let file = &self.program.file;
        let started = Instant::now();
        // `on_unload`'s waits for the codec count as its own time.
        let (budget, wait) = match job {
            Job::Unload(_) => {
                ctx.fresh_interrupt();
                (ctx.limits.unload, Duration::ZERO)
            }
            _ => (ctx.limits.budget, ctx.limits.wait),
        };
        let Some((what, place, result)) =
            crate::script::budget::with_budgets(budget, wait, || self.run_body(job))
        else {
            return;
        };
        let file = place.as_deref().unwrap_or(file);
        let took = started.elapsed();
        let top_level = what == "top level";
        let report = crate::telemetry::board::JobReport {
            script: &ctx.script,
            codec: &ctx.codec_name,
            top_level,
            took,
        };
        if top_level {
            let end = match &result {
                Ok(()) => TopLevelEnd::Ran,
                Err(e)
                    if crate::script::retry::not_its_own(e)
                        && !ctx.closing.load(Ordering::SeqCst) =>
                {
                    // The host logs it (once) and starts it again.
                    let msg = describe_error(file, e);
                    report.retrying(&msg);
                    ctx.note(
                        "warn",
                        &format!("top level stopped, not by its code: {msg}"),
                    );
                    TopLevelEnd::Retry(msg)
                }
                Err(_) => TopLevelEnd::Failed,
            };
            let retry = matches!(end, TopLevelEnd::Retry(_));
            *self.top_level_end.lock().unwrap_or_else(|p| p.into_inner()) = Some(end);
            self.top_level_ended.notify_waiters();
            if retry {
                return;
            }
        }
        match result {
            Ok(()) if took > ctx.limits.slow => {
                report.ok();
                warn!(
                    "{what} took {:.1}s (slow: the script's events wait meanwhile; its own work may take {budget:?}, waiting for its codec not counted)",
                    took.as_secs_f64(),
                );
            }
            Ok(()) => report.ok(),
            Err(e) if crate::script::budget::is_stopping(&e) => {
                info!("{what} ended early: the script is stopping");
            }
            Err(e) if crate::script::memory::is_exceeded(&e) => {
                let msg = describe_error(file, &e);
                report.failed(true, &msg);
                let line =
                    format!("{what} stopped: {msg}; the script stays stopped until it is reloaded");
                ctx.note("error", &line);
                error!("{line}");
                self.stop_over_budget();
            }
            Err(e) => {
                let stopped = matches!(*e, EvalAltResult::ErrorTerminated(..))
                    || matches!(*e, EvalAltResult::ErrorTooManyOperations(..));
                let msg = describe_error(file, &e);
                report.failed(stopped, &msg);
                ctx.note("error", &format!("{what} failed: {msg}"));
                if stopped {
                    error!("{what} stopped after {:.1}s: {msg}", took.as_secs_f64());
                } else {
                    error!("{what} failed: {msg}");
                }
            }
        }
    }

    /// Ends an instance over its memory budget: no more events or timers,
    /// and what its callbacks held is freed (here, on the worker).
    fn stop_over_budget(&self) {
        self.ctx.closing.store(true, Ordering::SeqCst);
        let items = self.ctx.registry().drain();
        for r in &items {
            if let Some(t) = &r.task {
                t.abort();
            }
        }
        drop(items);
        self.ctx.top_level.clear();
        self.lock().jobs.retain(|j| matches!(j, Job::Unload(_)));
    }

    /// Runs one job's script code: what ran, the file its errors are
    /// reported in when not the script, and how it ended; `None` when there
    /// was nothing to run.
    fn run_body(&self, job: Job) -> Option<JobOutcome> {
        let ctx = &self.ctx;
        let mut job_ctx = JobCtx {
            instance: ctx.clone(),
            program: self.program.clone(),
            constants: self.constants.clone(),
            timer_nesting: 0,
        };
        let engine = &self.program.engine;
        let ast = &self.program.ast;
        Some(match job {
            Job::Start => {
                let mut scope = rhai::Scope::new();
                let options = rhai::CallFnOptions::new()
                    .eval_ast(true)
                    .rewind_scope(false)
                    .with_tag(job_ctx.tag());
                let r = engine
                    .call_fn_with_options::<Dynamic>(options, &mut scope, ast, AFTER_TOP_LEVEL, ())
                    .map(|_| ())
                    .or_else(|e| match *e {
                        EvalAltResult::ErrorFunctionNotFound(ref f, _) if f == AFTER_TOP_LEVEL => {
                            Ok(())
                        }
                        _ => Err(e),
                    });
                let mut constants = self.constants.write().unwrap_or_else(|p| p.into_inner());
                for (name, constant, value) in scope.iter() {
                    if constant {
                        constants.insert(name.into(), value);
                    }
                }
                drop(constants);
                if r.is_ok() {
                    info!("started");
                }
                ("top level", None, r)
            }
            Job::Call { id, args } => {
                let (f, nesting) = {
                    let mut reg = ctx.registry();
                    match reg.items.get(&id) {
                        Some(r) if r.once => reg.remove(id).map(|r| (r.f, r.nesting)),
                        Some(r) => {
                            if let Some(p) = &r.pending {
                                p.store(false, Ordering::SeqCst);
                            }
                            Some((r.f.clone(), r.nesting))
                        }
                        None => None,
                    }
                }?;
                job_ctx.timer_nesting = nesting;
                let (file, r) = call_fnptr(&job_ctx, &f, args);
                ("callback", file, r)
            }
            Job::Unload(done) => {
                drop(std::mem::take(
                    &mut *ctx.retired.lock().unwrap_or_else(|p| p.into_inner()),
                ));
                let has = ast
                    .iter_functions()
                    .any(|f| f.name == "on_unload" && f.params.is_empty());
                let r = if has {
                    FnPtr::new("on_unload")
                        .and_then(|f| job_ctx.call(&f, Vec::new()))
                        .map(|_| ())
                } else {
                    Ok(())
                };
                // The script's variables go with it, dropped here on the
                // worker's big stack.
                ctx.top_level.clear();
                // Nothing of the job holds the instance once it reports.
                drop(job_ctx);
                let _ = done.send(());
                ("on_unload", None, r)
            }
        })
    }
}

/// What a job ran, the file its errors are reported in (when not the
/// script), and how it ended.
type JobOutcome = (&'static str, Option<String>, Result<(), Box<EvalAltResult>>);

/// Whether a push left the job waiting (on its own, or superseding).
fn queued(p: Pushed) -> bool {
    matches!(p, Pushed::Queued | Pushed::Coalesced)
}

impl Runnable for Instance {
    fn run_some(self: Arc<Self>) -> bool {
        let _span = self.ctx.span().entered();
        let budget = self.ctx.limits.memory;
        self.account.enter(budget, || {
            with_current(Some(self.ctx.clone()), || {
                for _ in 0..64 {
                    let (job, burst) = self.lock().jobs.pop();
                    self.caught_up(burst);
                    let Some(j) = job else { break };
                    // A panic in a host function must not take the worker, or
                    // this instance's schedule, with it.
                    let run = std::panic::AssertUnwindSafe(|| self.run_job(j));
                    if let Err(p) = std::panic::catch_unwind(run) {
                        let what = p
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "unknown panic".into());
                        error!("callback failed: a host function panicked: {what}");
                    }
                }
            })
        });
        let mut mb = self.lock();
        if mb.jobs.is_empty() {
            mb.scheduled = false;
            drop(mb);
            WENT_IDLE.notify_waiters();
            false
        } else {
            true
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use rhai::Engine;

    #[tokio::test]
    async fn a_panicking_host_function_does_not_stop_the_instance() {
        let mut engine = Engine::new();
        engine.register_fn("boom", || -> i64 { panic!("boom from a host function") });
        let engine = Arc::new(engine);
        let ast = Arc::new(engine.compile("boom();").unwrap());
        let program = Arc::new(Program::new(engine, ast, "panic.rhai".into()));
        let dir = std::env::temp_dir().join(format!("xmacro-panic-{}", std::process::id()));
        let spec = InstanceSpec::unconnected(program, "panic", &dir);
        let codec = spec.codec.clone();
        let inst = Instance::start(&spec);
        // The start job panicked; the instance still runs its next job.
        tokio::time::timeout(Duration::from_secs(5), inst.stop())
            .await
            .expect("the instance still answers after a panic");
        codec.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
