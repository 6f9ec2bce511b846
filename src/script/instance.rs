//! One (script, codec) instance: its context (codec, args, store, clock),
//! its mailbox, the callbacks and timers it registered, and how a job runs.
//!
//! A callback runs to completion before the next job of the same instance.
//! Feedback and timers post jobs into a bounded mailbox and never wait on
//! the script; the codec's connection task posts feedback straight into it
//! ([`super::feedback`]), so callbacks run in the order the codec sent the
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
//! What a job runs in (its program, instance and top-level constants)
//! travels with each call in Rhai's tag (see [`JobCtx`]). One
//! thread-local stays, `CURRENT`: Rhai calls the `print`/`debug` hooks and
//! the progress hook (memory and time budgets) without any context, and
//! they need the running instance. Host functions read the instance from
//! the tag (`api::ctx`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rhai::{AST, Dynamic, Engine, EvalAltResult, FnPtr};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::pool::{Pool, Runnable};
use super::retry::TopLevelEnd;
use crate::clock::Clock;
use crate::store::Store;
use crate::xows::Codec;
use crate::xows::feedback_queue::{Burst, FeedbackQueue, Pushed};

/// Limits that keep one script from hurting others.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Rhai operations one callback may take.
    pub max_operations: u64,
    /// Wall-clock time one callback's own work may take before it is
    /// stopped (waiting for its codec is not counted: see `wait`).
    pub budget: Duration,
    /// Time one callback may spend waiting for its codec in all (each call
    /// also has its request timeout, a catchable error).
    pub wait: Duration,
    /// A callback slower than this is warned about.
    pub slow: Duration,
    /// Jobs that may wait per instance.
    pub mailbox: usize,
    /// How long `on_unload` may take.
    pub unload: Duration,
    /// Timers (`set_timeout`, `set_interval`, `daily`) one instance may
    /// hold at once; one more is a catchable error.
    pub max_timers: usize,
    /// The shortest interval: `set_interval(f, 1)` ticks at this pace.
    pub min_interval: Duration,
    /// Bytes one instance may hold; past it the instance is stopped.
    pub memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 20_000_000,
            budget: Duration::from_secs(5),
            wait: Duration::from_secs(60),
            slow: Duration::from_secs(1),
            // The slack a script had when each subscription buffered 4096
            // documents in front of a mailbox of 4096.
            mailbox: 8192,
            unload: Duration::from_secs(3),
            max_timers: 256,
            min_interval: Duration::from_millis(10),
            memory: 64 << 20,
        }
    }
}

/// A compiled script version shared by all its instances.
pub struct Program {
    pub engine: Arc<Engine>,
    pub ast: Arc<AST>,
    /// The file, relative to the scripts directory, for messages.
    pub file: String,
    /// `file` as the source name a call runs under (made once).
    source: rhai::ImmutableString,
    /// The script's top-level imports (alias, module), so callbacks that run
    /// later still see `ui::alert(...)`.
    imports: Vec<(rhai::ImmutableString, Arc<rhai::Module>)>,
    /// The libraries compiled in, where callbacks made in them live.
    libraries: super::home::Libraries,
    /// The names the top level defines (shared with `fn`s and callbacks).
    shape: super::toplevel::Shape,
}

impl Program {
    pub fn new(engine: Arc<Engine>, ast: Arc<AST>, file: String) -> Program {
        let (prepared, shape) = super::toplevel::prepare(&ast);
        let ast = Arc::new(prepared);
        let mut imports = Vec::new();
        if let Some(resolver) = ast.resolver() {
            for stmt in ast.statements() {
                if let rhai::Stmt::Import(x, _) = stmt
                    && let (rhai::Expr::StringConstant(path, _), alias) = &**x
                    && let Some((_, m)) = resolver.iter().find(|(p, _)| *p == path.as_str())
                {
                    imports.push((alias.name.clone(), m.clone()));
                }
            }
        }
        let libraries = super::home::Libraries::of(&ast);
        Program {
            engine,
            ast,
            source: file.as_str().into(),
            file,
            imports,
            libraries,
            shape,
        }
    }

    /// Calls a script function or closure outside the top-level run, with
    /// the script's functions and imports in reach; one made in a library
    /// runs in that library's environment.
    pub(crate) fn call(
        &self,
        job: &JobCtx,
        f: &FnPtr,
        args: Vec<Dynamic>,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let arity = f.curry().len() + args.len();
        let home = self.libraries.find(&self.ast, f.fn_name(), Some(arity));
        self.call_at(job, f, home.as_ref(), args)
    }

    /// [`Program::call`] with the function's home already found.
    fn call_at(
        &self,
        job: &JobCtx,
        f: &FnPtr,
        home: Option<&super::home::Home>,
        mut args: Vec<Dynamic>,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let mut global = self.engine.new_global_runtime_state();
        global.tag = job.tag();
        // Rhai gives an error that stops a function (a budget, a size
        // limit) the place of the call, and a callback has none: the place
        // of the callback in the script is the nearest one known.
        let place = home.map(|h| h.body);
        match home.and_then(|h| h.module.map(|m| (m, h.source))) {
            Some((m, source)) => {
                // The library's module first (Rhai finds a closure by its
                // hash in the first), then the script's own functions: a
                // library callback may call what the script handed it
                // (`f.call(x)` with the script's `fn` or closure), as it may
                // when called at once. Inside, the library's own functions
                // come before the script's (Rhai adds the library's
                // environment last, and the last added is searched first).
                global.lib.push(m.clone());
                global.lib.push(self.ast.shared_lib().clone());
                global.source = source.cloned();
            }
            None => {
                global.lib.push(self.ast.shared_lib().clone());
                global.source = Some(self.source.clone());
            }
        }
        for (alias, m) in &self.imports {
            global.push_import(alias.clone(), m.clone());
        }
        global.constants = Some(job.constants.clone());
        let ctx = rhai::NativeCallContext::new_with_all_fields(
            &self.engine,
            f.fn_name(),
            None,
            &global,
            rhai::Position::NONE,
        );
        f.call_raw(&ctx, None, &mut args).map_err(|mut e| {
            if let Some(at) = place
                && e.is_system_exception()
                && e.position().is_none()
            {
                e.set_position(at);
            }
            e
        })
    }
}

impl Program {
    /// What the script's top level defines.
    pub(crate) fn shape(&self) -> &super::toplevel::Shape {
        &self.shape
    }

    /// The file errors of a callback living at `home` are reported in: the
    /// library it was made in, or the script.
    fn file_in(&self, home: Option<&super::home::Home>) -> String {
        home.and_then(|h| h.source)
            .map_or_else(|| self.file.clone(), |s| s.to_string())
    }
}

/// The script's top-level constants, as Rhai's `global::` reads them.
pub type Constants = Arc<std::sync::RwLock<BTreeMap<rhai::ImmutableString, Dynamic>>>;

/// What one job runs in, passed per call: Rhai carries a `tag` in every
/// call's runtime state (`CallFnOptions::with_tag` for the top level, the
/// global state built for each callback), and host code reads it back from
/// `NativeCallContext::tag()` or `EvalContext::tag()`.
#[derive(Clone)]
pub struct JobCtx {
    pub instance: Arc<InstanceCtx>,
    pub program: Arc<Program>,
    pub constants: Constants,
    /// How many timers deep the running callback is (a timer set from a
    /// timer's callback is one deeper); 0 when it is not a timer's.
    pub timer_nesting: u8,
}

impl JobCtx {
    /// The tag that carries this context through Rhai's calls.
    pub fn tag(&self) -> Dynamic {
        Dynamic::from(self.clone())
    }

    /// The context a tag carries (`None` outside a job, as in `check` or a
    /// unit test's engine).
    pub fn of(tag: &Dynamic) -> Option<JobCtx> {
        tag.read_lock::<JobCtx>().map(|j| j.clone())
    }
}

/// Everything one (script, codec) instance is started from, in one place
/// for the host and the test runner; [`Instance::start`] starts it, and
/// starts it again with the same parts (a top level retried, a script a
/// test restarts): fresh callbacks, timers and variables, the same store.
#[derive(Clone)]
pub struct InstanceSpec {
    /// The compiled script ([`super::loader::program`]).
    pub program: Arc<Program>,
    /// The script's name (its file without `.rhai`).
    pub script: String,
    pub codec_name: String,
    pub codec: Codec,
    /// The codec's URL, as the script's `codec.url` shows it.
    pub codec_url: String,
    /// Every codec the script may reach by name (`codecs["name"]`).
    pub codecs: Arc<BTreeMap<String, Codec>>,
    /// The script's `args`.
    pub args: rhai::Map,
    pub store: Arc<Store>,
    /// The runtime its host calls and timers run on.
    pub rt: tokio::runtime::Handle,
    pub clock: Arc<dyn Clock>,
    /// The limits it runs within (the host's and the test runner's alike).
    pub limits: Limits,
    /// Where its log lines also go (`xmacro test` keeps them).
    pub log_sink: Option<LogSink>,
    /// Its `allow` list and audit trail ([`super::guard::Guard::open`]:
    /// everything allowed, nothing recorded).
    pub guard: Arc<super::guard::Guard>,
}

impl InstanceSpec {
    /// The span the instance's log lines carry (see [`InstanceCtx::span`]).
    pub fn span(&self) -> tracing::Span {
        span(&self.codec_name, &self.script)
    }
}

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
    retired: Mutex<Vec<FnPtr>>,
    pub(crate) registry: Mutex<Registry>,
    pub(crate) closing: AtomicBool,
    instance: Mutex<Weak<Instance>>,
    /// The top-level variables' cells, shared with `fn`s and callbacks.
    top_level: super::toplevel::Cells,
}

impl std::ops::Deref for InstanceCtx {
    type Target = InstanceSpec;

    fn deref(&self) -> &InstanceSpec {
        &self.spec
    }
}

/// Receives an instance's log lines: level ("info", "warn", "error"), text.
pub type LogSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

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
    items: HashMap<u64, Registered>,
    /// How many of `items` are timers.
    timers: usize,
}

impl Registry {
    fn remove(&mut self, id: u64) -> Option<Registered> {
        let r = self.items.remove(&id)?;
        if r.pending.is_some() {
            self.timers -= 1;
        }
        Some(r)
    }

    fn drain(&mut self) -> Vec<Registered> {
        self.timers = 0;
        self.items.drain().map(|(_, r)| r).collect()
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
    account: super::memory::Account,
    /// The top-level `const`s, for `global::NAME` in `fn`s that callbacks
    /// call (the top-level run fills it).
    constants: Constants,
    /// How the top level ended, once it has.
    top_level_end: tokio::sync::watch::Sender<Option<TopLevelEnd>>,
}

/// The name of the function the top-level run asks for after the
/// statements: none has it, so "not found" there means the top level ran
/// through (Rhai runs an AST with a per-call tag only on the way to a
/// function).
const AFTER_TOP_LEVEL: &str = "$top level done$";

/// Signalled whenever an instance has run its last queued job (the test
/// runner waits on it instead of polling).
pub static WENT_IDLE: tokio::sync::Notify = tokio::sync::Notify::const_new();

thread_local! {
    /// The instance whose code this worker thread runs, for the hooks Rhai
    /// calls without a context (`print`, the progress hook).
    static CURRENT: RefCell<Option<Arc<InstanceCtx>>> = const { RefCell::new(None) };
}

/// Calls a script function or closure the way callbacks are called (in
/// the library it was made in), from host code running a job.
pub(crate) fn call_in_program(
    c: &rhai::NativeCallContext,
    f: &FnPtr,
    args: Vec<Dynamic>,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let job = c
        .tag()
        .and_then(JobCtx::of)
        .ok_or_else(|| super::fault::usage("this works inside a running script"))?;
    job.program.call(&job, f, args)
}

/// Calls a closure made in a library from the script: Rhai looks an
/// anonymous function up among the running code's own functions only, so a
/// closure a library returned (`let g = relay::shouter(); g.call("hi")`)
/// fails with `Function not found: anon$...`. The engine's missing-function
/// hook calls this; it finds the closure in the library that made it and
/// calls it there, with that library's environment, at the current call
/// depth. `None` when `name` is no such closure (the hook goes on).
pub(crate) fn call_library_closure(
    name: &str,
    args: &mut [&mut Dynamic],
    mut ctx: rhai::EvalContext,
) -> Result<Option<Dynamic>, Box<EvalAltResult>> {
    // Closures are named `anon$<hash>`; no name a script writes looks so.
    if !name.starts_with("anon$") {
        return Ok(None);
    }
    let Some(job) = JobCtx::of(ctx.tag()) else {
        return Ok(None);
    };
    let program = &job.program;
    let Some(module) = program
        .libraries
        .find(&program.ast, name, Some(args.len()))
        .and_then(|h| h.module.cloned())
    else {
        return Ok(None);
    };
    let mut frame = ctx
        .new_frame()
        .with_namespace(module)
        .with_new_caching_layer();
    frame.call_fn_raw(name, false, false, args).map(Some)
}

/// The instance whose code this worker thread is running.
pub fn current() -> Option<Arc<InstanceCtx>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Runs `f` with `ctx` as the current instance (also used by `check`).
pub fn with_current<T>(ctx: Option<Arc<InstanceCtx>>, f: impl FnOnce() -> T) -> T {
    let prev = CURRENT.with(|c| c.replace(ctx));
    let out = f();
    CURRENT.with(|c| *c.borrow_mut() = prev);
    out
}

/// `file:line:col: message` for an error, pointing into the file (script or
/// library) where it happened.
pub fn describe_error(default_file: &str, err: &EvalAltResult) -> String {
    let mut file = default_file.to_string();
    let mut e = err;
    // The innermost call site with a place, for errors Rhai raises
    // without one (a data race).
    let mut call_site = None;
    loop {
        match e {
            EvalAltResult::ErrorInModule(name, inner, _) => {
                file = if name.ends_with(".rhai") {
                    name.to_string()
                } else {
                    format!("{name}.rhai")
                };
                e = inner;
            }
            EvalAltResult::ErrorInFunctionCall(_, src, inner, at) => {
                if !at.is_none() {
                    call_site = Some((file.clone(), *at));
                }
                if !src.is_empty() {
                    file = src.clone();
                }
                e = inner;
            }
            _ => break,
        }
    }
    let mut pos = e.position();
    if pos.is_none()
        && let Some((f, at)) = call_site
    {
        (file, pos) = (f, at);
    }
    let what = match e {
        EvalAltResult::ErrorDataRace(..) => format!(
            "{e}: a closure used a variable that the method running it holds (as `list.map(|x| list.len())`); copy it to a local first (`let n = list.len();`) and use the copy in the closure"
        ),
        EvalAltResult::ErrorTerminated(v, _) if v.is_string() => format!("terminated: {v}"),
        EvalAltResult::ErrorRuntime(v, _) if v.is_string() => v.to_string(),
        EvalAltResult::ErrorRuntime(v, _) if v.is_map() => {
            let m = v.clone().cast::<rhai::Map>();
            format!(
                "uncaught error {}: {}",
                m.get("code").map(|c| c.to_string()).unwrap_or_default(),
                m.get("message").map(|c| c.to_string()).unwrap_or_default()
            )
        }
        other => {
            let text = other.to_string();
            let suffix = format!(" ({pos})");
            text.strip_suffix(&suffix).unwrap_or(&text).to_string()
        }
    };
    match (pos.line(), pos.position()) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}: {what}"),
        (Some(l), None) => format!("{file}:{l}: {what}"),
        _ => format!("{file}: {what}"),
    }
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
            top_level: super::toplevel::Cells::default(),
        })
    }

    /// The cells of the script's top-level variables.
    pub(crate) fn top_level(&self) -> &super::toplevel::Cells {
        &self.top_level
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

    fn fresh_interrupt(&self) {
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
            Registered {
                f,
                once,
                task: None,
                feed: None,
                pending,
                nesting,
            },
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

/// The root span of the instance of `script` on `codec` (see
/// [`InstanceCtx::span`]).
pub fn span(codec: &str, script: &str) -> tracing::Span {
    tracing::info_span!(parent: None, "script", codec = %codec, script = %script)
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
            account: super::memory::Account::new(),
            constants: Constants::default(),
            top_level_end: tokio::sync::watch::Sender::new(None),
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
        let mut rx = self.top_level_end.subscribe();
        let end = rx.wait_for(Option::is_some).await.map(|e| e.clone());
        end.ok().flatten().unwrap_or(TopLevelEnd::Failed)
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
            super::budget::with_budgets(budget, wait, || self.run_body(job))
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
                Err(e) if super::retry::not_its_own(e) && !ctx.closing.load(Ordering::SeqCst) => {
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
            self.top_level_end.send_replace(Some(end));
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
            Err(e) if super::budget::is_stopping(&e) => {
                info!("{what} ended early: the script is stopping");
            }
            Err(e) if super::memory::is_exceeded(&e) => {
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
                        .and_then(|f| self.program.call(&job_ctx, &f, Vec::new()))
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

/// Calls a script callback with JSON arguments; a closure declared with
/// fewer parameters than given (`|| ...` for a feedback callback) gets fewer.
/// On an error, also the file it is reported in (the library the callback
/// was made in, or the script). The callback's home is looked up once.
fn call_fnptr(
    job: &JobCtx,
    f: &FnPtr,
    args: Vec<Value>,
) -> (Option<String>, Result<(), Box<EvalAltResult>>) {
    let program = &job.program;
    let mut values: Vec<Dynamic> = Vec::with_capacity(args.len());
    for a in args {
        values.push(super::convert::json_to_dynamic(&a));
    }
    let declared = program.libraries.find(&program.ast, f.fn_name(), None);
    if let Some(h) = &declared {
        values.truncate(h.params.saturating_sub(f.curry().len()));
    }
    // The function taking what is passed (another only where it is
    // overloaded by arity, or declares more than is given).
    let arity = f.curry().len() + values.len();
    let home = declared.filter(|h| h.params == arity).or_else(|| {
        program
            .libraries
            .find(&program.ast, f.fn_name(), Some(arity))
    });
    let r = program.call_at(job, f, home.as_ref(), values).map(|_| ());
    let file = r.as_ref().err().map(|_| program.file_in(home.as_ref()));
    (file, r)
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

    #[tokio::test]
    async fn a_panicking_host_function_does_not_stop_the_instance() {
        let mut engine = Engine::new();
        engine.register_fn("boom", || -> i64 { panic!("boom from a host function") });
        let engine = Arc::new(engine);
        let ast = Arc::new(engine.compile("boom();").unwrap());
        let program = Arc::new(Program::new(engine, ast, "panic.rhai".into()));
        let dir = std::env::temp_dir().join(format!("xmacro-panic-{}", std::process::id()));
        let codec =
            Codec::spawn(crate::xows::CodecConfig::from_url("ws://127.0.0.1:1/ws").unwrap());
        let spec = InstanceSpec {
            program,
            script: "panic".into(),
            codec_name: "nowhere".into(),
            codec: codec.clone(),
            codec_url: "ws://127.0.0.1:1/ws".into(),
            codecs: Arc::new(BTreeMap::new()),
            args: rhai::Map::new(),
            store: Arc::new(Store::open(&dir, "nowhere", "panic").unwrap()),
            rt: tokio::runtime::Handle::current(),
            clock: Arc::new(crate::clock::SystemClock),
            limits: Limits::default(),
            log_sink: None,
            guard: super::super::guard::Guard::open("panic"),
        };
        let inst = Instance::start(&spec);
        // The start job panicked; the instance still runs its next job.
        tokio::time::timeout(Duration::from_secs(5), inst.stop())
            .await
            .expect("the instance still answers after a panic");
        codec.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
