//! The script API: the `xapi` proxy (`xapi.Status.Audio.Volume.get()`,
//! `xapi.Command.Dial(#{...})`), the string forms (`xapi.get("...")`),
//! feedback (`on`/`once`/`off`), `codecs`, `store`, timers, `daily` and the
//! log functions. Host calls block only the calling instance, have a
//! timeout, and end when the instance stops; their failures reach the
//! script as catchable maps `#{ code, message, data }`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rhai::{
    Dynamic, Engine, EvalAltResult, FnPtr, INT, ImmutableString, NativeCallContext, Position,
};
use serde_json::{Map, Value};

use super::budget;
pub use super::guard::Site;
use super::instance::{InstanceCtx, Job, JobCtx, current};
use super::pool::Pool;
use crate::audit::Kind;
use crate::xows::error::local_code;
use crate::xows::path::{Path, Root, Segment};
use crate::xows::protocol::{Call, RpcError};
use crate::xows::{Codec, ConnState};

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// A place in one codec's xAPI tree: what `xapi`, `xapi.Status.Audio` and
/// `codecs["x"].Config` evaluate to.
#[derive(Clone)]
pub struct XPath {
    pub codec: Codec,
    pub path: Path,
    /// Where in the script the last part of the path was written, so a
    /// proxy-style command (`xapi.Command.X.Y(...)`, dispatched without a
    /// place of its own) fails at its place.
    pub pos: Position,
}

impl XPath {
    pub fn root(codec: Codec) -> Self {
        XPath {
            codec,
            path: Path::default(),
            pos: Position::NONE,
        }
    }

    pub(crate) fn describe(&self) -> String {
        if self.path.0.is_empty() {
            "xapi".into()
        } else {
            format!("xapi.{}", self.path.to_string().replace(' ', "."))
        }
    }
}

/// A registered callback; `.off()` stops it.
#[derive(Clone)]
pub struct Handle {
    ctx: std::sync::Weak<InstanceCtx>,
    id: u64,
}

impl Handle {
    pub(crate) fn off(&mut self) -> bool {
        self.ctx.upgrade().is_some_and(|c| c.unregister(self.id))
    }
}

/// `codecs["name"]`.
#[derive(Clone)]
pub struct Codecs;

/// The script's `store`.
#[derive(Clone)]
pub struct StoreHandle(Arc<crate::store::Store>);

/// A script-facing error value: `#{ code, message, data }`.
pub fn error_map(e: &RpcError) -> Dynamic {
    let mut m = rhai::Map::new();
    m.insert("code".into(), Dynamic::from_int(e.code));
    m.insert("message".into(), e.message.clone().into());
    m.insert(
        "data".into(),
        e.data
            .as_ref()
            .and_then(|d| to_dynamic(d).ok())
            .unwrap_or(Dynamic::UNIT),
    );
    m.into()
}

fn throw(e: RpcError) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(error_map(&e), Position::NONE).into()
}

pub(crate) use super::fault::usage;

/// Why a callback was not registered, as a script error.
fn refused(e: super::instance::RegisterError) -> Box<EvalAltResult> {
    use super::instance::RegisterError;
    match e {
        RegisterError::Stopping => super::fault::error("stopping", e.to_string()),
        RegisterError::TooManyTimers(_) => super::fault::limit(e.to_string()),
    }
}

/// A store write that could not be kept, as a script error.
fn store_failed(e: crate::store::StoreError) -> Box<EvalAltResult> {
    super::fault::error("store", e.to_string())
}

pub use super::convert::{from_dynamic, to_dynamic};

/// One line of script output, limited per instance (see [`super::output`]).
fn say(level: tracing::Level, text: &str) {
    let source = current().map_or(0, |c| Arc::as_ptr(&c) as usize);
    super::output::line(source, level, text);
}

/// The call's tag: it carries the running job (see [`JobCtx`]).
pub(crate) type Tag<'a> = Option<&'a Dynamic>;

/// The instance of the job a call runs in, from the call's tag.
pub(crate) fn ctx(tag: Tag) -> RhaiResult<Arc<InstanceCtx>> {
    tag.and_then(JobCtx::of).map(|j| j.instance).ok_or_else(|| {
        usage("the xapi API works inside a running script (not at a library's top level)")
    })
}

/// Runs a host call for the current instance: blocks this instance only
/// (its worker does not count against the pool's cap meanwhile), ends when
/// the instance stops, and is not the script's own time: the wait moves
/// the callback's deadline on and counts against its bound for waits
/// instead (see [`budget`]).
fn block<T>(
    ctx: &InstanceCtx,
    fut: impl std::future::Future<Output = Result<T, crate::xows::Error>>,
) -> RhaiResult<T> {
    let cancel = ctx.cancel.clone();
    let interrupt = ctx.interrupt();
    let allowed = budget::codec_wait();
    let rt = ctx.rt.clone();
    let started = std::time::Instant::now();
    let out = Pool::global().blocking(|| {
        super::wait::block_on(&rt, async {
            let expired = async {
                match allowed {
                    Some((left, _)) => tokio::time::sleep(left).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = fut => r.map_err(|e| throw(e.to_rpc())),
                _ = cancel.cancelled() => Err(throw(RpcError::new(local_code::CLOSED, "the script is stopping"))),
                _ = interrupt.cancelled() => Err(budget::stopping()),
                _ = expired => Err(allowed.map_or_else(budget::exceeded, |(_, out)| out())),
            }
        })
    });
    budget::waited(started.elapsed());
    out
}

/// `sleep(seconds)`: Rhai's own would hold the thread past every budget.
/// This one ends at the deadline (then the callback stops) or when the
/// instance stops, and lets the pool run others meanwhile.
fn sleep(tag: Tag, want: Duration) -> RhaiResult<()> {
    let (wait, cut) = budget::bound(want);
    match ctx(tag).ok() {
        Some(ctx) => {
            let interrupt = ctx.interrupt();
            let interrupted = Pool::global().blocking(|| {
                ctx.rt.block_on(async {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => false,
                        _ = interrupt.cancelled() => true,
                    }
                })
            });
            if interrupted {
                return Err(budget::stopping());
            }
        }
        None => std::thread::sleep(wait),
    }
    if cut { Err(budget::exceeded()) } else { Ok(()) }
}

/// A path that remembers where it was written.
fn placed(c: rhai::NativeCallContext, p: RhaiResult<XPath>) -> RhaiResult<XPath> {
    p.map(|mut p| {
        p.pos = c.call_position();
        p
    })
}

/// Gives an error without a place the place of the call.
fn at<T>(pos: Position, r: RhaiResult<T>) -> RhaiResult<T> {
    r.map_err(|mut e| {
        if e.position().is_none() {
            e.set_position(pos);
        }
        e
    })
}

fn parse_path(text: &str) -> RhaiResult<Path> {
    Path::parse(text).map_err(|e| usage(format!("path {text:?}: {e}")))
}

fn need_root(p: &XPath, roots: &[Root], what: &str) -> RhaiResult<()> {
    match p.path.root() {
        Some(r) if roots.contains(&r) => Ok(()),
        _ => Err(usage(format!(
            "{what} works on {} paths, not {}",
            roots
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join("/"),
            p.describe()
        ))),
    }
}

fn child_name(p: &mut XPath, name: &str) -> RhaiResult<XPath> {
    let mut next = p.clone();
    next.pos = Position::NONE;
    if p.path.0.is_empty() {
        let root = Root::parse(name).ok_or_else(|| {
            usage(format!(
                "xapi has no {name:?}: use xapi.Status, xapi.Config, xapi.Command or xapi.Event"
            ))
        })?;
        next.path.0.push(Segment::Name(root.as_str().into()));
    } else {
        next.path.0.push(Segment::Name(name.into()));
    }
    Ok(next)
}

fn child_index(p: &mut XPath, index: INT) -> RhaiResult<XPath> {
    if index < 1 {
        return Err(usage(format!(
            "{}[{index}]: element ids start at 1",
            p.describe()
        )));
    }
    let mut next = p.clone();
    next.pos = Position::NONE;
    next.path.0.push(Segment::Index(index as u64));
    Ok(next)
}

fn relative(p: &XPath, text: &str) -> RhaiResult<XPath> {
    let sub = parse_path(text)?;
    let mut next = p.clone();
    if sub.root().is_some() || p.path.0.is_empty() {
        next.path = sub;
    } else {
        next.path.0.extend(sub.0);
    }
    Ok(next)
}

fn get(tag: Tag, site: Site, p: &XPath) -> RhaiResult<Dynamic> {
    need_root(p, &[Root::Status, Root::Configuration], "get()")?;
    let ctx = ctx(tag)?;
    ctx.guard.admit(p.codec.name(), Kind::Get, &p.path, site)?;
    let v = block(&ctx, p.codec.get(&p.path))?;
    to_dynamic(&v)
}

fn query(tag: Tag, site: Site, p: &XPath, text: &str) -> RhaiResult<Dynamic> {
    let q = relative(p, text)?;
    need_root(&q, &[Root::Status, Root::Configuration], "query()")?;
    let ctx = ctx(tag)?;
    ctx.guard
        .admit(q.codec.name(), Kind::Query, &q.path, site)?;
    let v = block(&ctx, q.codec.query(&q.path))?;
    to_dynamic(&v)
}

fn set(tag: Tag, site: Site, p: &XPath, value: Dynamic) -> RhaiResult<()> {
    need_root(p, &[Root::Configuration], "set()")?;
    let v = from_dynamic(&value)?;
    let ctx = ctx(tag)?;
    let codec = p.codec.name();
    ctx.guard.admit(codec, Kind::Set, &p.path, site)?;
    let pending = ctx.guard.pending_set(codec, &p.path, &v);
    let r = block(&ctx, p.codec.set(&p.path, v));
    ctx.guard.finish(pending, &r);
    r
}

fn command(
    tag: Tag,
    site: Site,
    p: &XPath,
    params: Option<rhai::Map>,
    body: Option<String>,
) -> RhaiResult<Dynamic> {
    let mut map = Map::new();
    for (k, v) in params.unwrap_or_default() {
        map.insert(k.to_string(), from_dynamic(&v)?);
    }
    let ctx = ctx(tag)?;
    let codec = p.codec.name();
    ctx.guard.admit(codec, Kind::Command, &p.path, site)?;
    let pending = ctx
        .guard
        .pending(codec, Kind::Command, &p.path, &map, body.as_deref());
    let call = Call::command(&p.path, map, body);
    let r = block(&ctx, p.codec.call(call, p.codec.timeout()));
    ctx.guard.finish(pending, &r);
    to_dynamic(&r?)
}

pub(crate) fn command_path(p: &XPath, text: &str) -> RhaiResult<XPath> {
    let mut c = relative(p, text)?;
    if c.path.root() != Some(Root::Command) {
        c.path.0.insert(0, Segment::Name("Command".into()));
    }
    Ok(c)
}

/// `xapi.Command.Audio.Volume.Set(#{...})`: method calls with capitalised
/// names on a Command path are commands (wired up as the engine's
/// missing-function handler).
pub fn dispatch_command(
    tag: Tag,
    source: Option<&str>,
    name: &str,
    args: &mut [&mut Dynamic],
) -> RhaiResult<Option<Dynamic>> {
    let Some(first) = args.first() else {
        return Ok(None);
    };
    if !first.is::<XPath>() || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Ok(None);
    }
    let base = Dynamic::clone(first).cast::<XPath>();
    let site = Site {
        source,
        pos: base.pos,
    };
    at(base.pos, dispatch_to(tag, site, base, name, args)).map(Some)
}

fn dispatch_to(
    tag: Tag,
    site: Site,
    base: XPath,
    name: &str,
    args: &mut [&mut Dynamic],
) -> RhaiResult<Dynamic> {
    if base.path.root() != Some(Root::Command) {
        return Err(usage(format!(
            "{}.{name}(): commands live under xapi.Command (as in xapi.Command.Dial(#{{ Number: \"...\" }}))",
            base.describe()
        )));
    }
    let mut target = base.clone();
    target.path.0.push(Segment::Name(name.into()));
    let mut params = None;
    let mut body = None;
    for a in args.iter().skip(1) {
        if a.is_map() && params.is_none() && body.is_none() {
            params = Some(Dynamic::clone(a).cast::<rhai::Map>());
        } else if a.is_string() && body.is_none() {
            body = Some(Dynamic::clone(a).cast::<ImmutableString>().to_string());
        } else {
            return Err(usage(format!(
                "{}(): takes #{{ parameters }} and an optional multi-line body string",
                target.describe()
            )));
        }
    }
    command(tag, site, &target, params, body)
}

fn subscribe(tag: Tag, site: Site, p: &XPath, f: FnPtr, once: bool) -> RhaiResult<Handle> {
    let rooted = matches!(
        p.path.root(),
        Some(Root::Status | Root::Configuration | Root::Event)
    );
    if !rooted {
        return Err(usage(format!(
            "{}: feedback is for Status, Config and Event paths",
            p.describe()
        )));
    }
    let ctx = ctx(tag)?;
    ctx.guard
        .admit(p.codec.name(), Kind::Subscribe, &p.path, site)?;
    let Some(inst) = ctx.instance() else {
        return Err(super::fault::error("stopping", "the script is stopping"));
    };
    let id = ctx.register(f, once).map_err(refused)?;
    // The connection task posts into the mailbox itself, in wire order.
    let sink = super::feedback::ScriptSink::new(Arc::downgrade(&inst), id, p.path.clone(), once);
    drop(inst);
    match block(&ctx, p.codec.subscribe_into(&p.path, false, Box::new(sink))) {
        Ok(feed) => ctx.attach_feed(id, feed),
        Err(e) => {
            ctx.unregister(id);
            return Err(e);
        }
    }
    Ok(Handle {
        ctx: Arc::downgrade(&ctx),
        id,
    })
}

fn on_connection(c: NativeCallContext, p: &mut XPath, f: FnPtr) -> RhaiResult<Handle> {
    let ctx = ctx(c.tag())?;
    let id = ctx.register(f, false).map_err(refused)?;
    let weak = Arc::downgrade(&ctx);
    let mut state = p.codec.watch_state();
    let task = ctx.rt.spawn(async move {
        let mut up = state.borrow_and_update().is_connected();
        while state.changed().await.is_ok() {
            let now = state.borrow_and_update().clone();
            let is_up = now.is_connected();
            if is_up != up && !matches!(now, ConnState::Closed) {
                up = is_up;
                let Some(ctx) = weak.upgrade() else { break };
                ctx.post(Job::Call {
                    id,
                    args: vec![Value::Bool(is_up)],
                });
            }
        }
    });
    ctx.attach_task(id, task.abort_handle());
    Ok(Handle {
        ctx: Arc::downgrade(&ctx),
        id,
    })
}

/// Posts a timer's tick unless the previous one still waits to run.
fn tick(weak: &std::sync::Weak<InstanceCtx>, id: u64, pending: &AtomicBool) -> bool {
    let Some(ctx) = weak.upgrade() else {
        return false;
    };
    if !pending.swap(true, Ordering::SeqCst) && !ctx.post(Job::Call { id, args: vec![] }) {
        pending.store(false, Ordering::SeqCst);
    }
    true
}

/// Timers set from timer callbacks this many deep run when asked; deeper
/// ones wait at least the shortest interval (browsers clamp nested
/// `setTimeout` the same way), so a chain of 0 ms timeouts ticks no faster
/// than an interval instead of tens of thousands of times a second.
pub const FREE_NESTING: u8 = 5;

/// How deep in a chain of timers a timer set now is: one deeper than the
/// timer callback running, if any.
fn nesting(tag: Tag) -> u8 {
    tag.and_then(JobCtx::of)
        .map_or(0, |j| j.timer_nesting)
        .saturating_add(1)
}

/// `set_timeout` / `set_interval`: at most `max_timers` per instance; an
/// interval ticks no faster than `min_interval`, and a tick that finds the
/// previous one still queued is skipped. A timeout set more than
/// [`FREE_NESTING`] timers deep waits at least `min_interval` too.
pub(crate) fn timer(tag: Tag, f: FnPtr, ms: INT, repeat: bool) -> RhaiResult<Handle> {
    if ms < 0 {
        return Err(usage(format!(
            "a timer needs a delay of 0 ms or more, not {ms}"
        )));
    }
    let ctx = ctx(tag)?;
    let nesting = nesting(tag);
    let (id, pending) = ctx.register_timer(f, !repeat, nesting).map_err(refused)?;
    let weak = Arc::downgrade(&ctx);
    let mut delay = Duration::from_millis(ms as u64);
    if nesting > FREE_NESTING {
        delay = delay.max(ctx.limits.min_interval);
    }
    let every = delay.max(ctx.limits.min_interval);
    // Waits go through the instance's clock, so `xmacro test` can move time.
    let clock = ctx.clock.clone();
    let task = ctx.rt.spawn(async move {
        clock.sleep(if repeat { every } else { delay }).await;
        if !tick(&weak, id, &pending) || !repeat {
            return;
        }
        loop {
            clock.sleep(every).await;
            if !tick(&weak, id, &pending) {
                break;
            }
        }
    });
    ctx.attach_task(id, task.abort_handle());
    Ok(Handle {
        ctx: Arc::downgrade(&ctx),
        id,
    })
}

fn daily(c: NativeCallContext, at: &str, f: FnPtr) -> RhaiResult<Handle> {
    let time = chrono::NaiveTime::parse_from_str(at.trim(), "%H:%M").map_err(|_| {
        usage(format!(
            "daily({at:?}, ...): the time must be HH:MM, as \"07:30\""
        ))
    })?;
    let ctx = ctx(c.tag())?;
    let (id, pending) = ctx
        .register_timer(f, false, nesting(c.tag()))
        .map_err(refused)?;
    let weak = Arc::downgrade(&ctx);
    let clock = ctx.clock.clone();
    let task = ctx.rt.spawn(async move {
        let mut next = crate::clock::next_daily(clock.now(), time);
        loop {
            if let Some(wait) = clock.wait_local(next) {
                // A clock that can tell (the test runner's): a set time
                // skips what lies between, as a changed wall clock would.
                if wait.await == crate::clock::LocalWake::Reached && !tick(&weak, id, &pending) {
                    break;
                }
                next = crate::clock::next_daily(clock.now(), time);
                continue;
            }
            let now = clock.now();
            if now >= next {
                if !tick(&weak, id, &pending) {
                    break;
                }
                next = crate::clock::next_daily(now, time);
                continue;
            }
            let left = (next - now).to_std().unwrap_or_default();
            tokio::time::sleep(left.min(clock.poll())).await;
        }
    });
    ctx.attach_task(id, task.abort_handle());
    Ok(Handle {
        ctx: Arc::downgrade(&ctx),
        id,
    })
}

fn log_text(d: &Dynamic) -> String {
    if d.is_string() {
        d.clone().cast::<ImmutableString>().to_string()
    } else {
        d.to_string()
    }
}

/// The names [`global`] answers; they win over a script's own variables.
pub const GLOBAL_NAMES: [&str; 5] = ["xapi", "codec", "codecs", "args", "store"];

/// The value `name` stands for in every script (on_var).
pub fn global(ctx: &InstanceCtx, name: &str) -> Option<Dynamic> {
    Some(match name {
        "xapi" => Dynamic::from(XPath::root(ctx.codec.clone())),
        "codec" => {
            let mut m = rhai::Map::new();
            m.insert("name".into(), ctx.codec_name.clone().into());
            m.insert("url".into(), ctx.codec_url.clone().into());
            m.into()
        }
        "codecs" => Dynamic::from(Codecs),
        "args" => ctx.args.clone().into(),
        "store" => Dynamic::from(StoreHandle(ctx.store.clone())),
        _ => return None,
    })
}

/// Registers the API into an engine.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<XPath>("xapi path")
        .register_indexer_get(|c: rhai::NativeCallContext, p: &mut XPath, name: &str| {
            placed(c, child_name(p, name))
        })
        .register_indexer_get(|c: rhai::NativeCallContext, p: &mut XPath, i: INT| {
            placed(c, child_index(p, i))
        })
        // Methods take the path by value: Rhai writes a `&mut` method's
        // target back up a property chain, trying a setter and an index
        // setter per level (each failing with a formatted error), which
        // made `xapi.Status.Audio.Volume.get()` cost 10-15 us more than
        // `xapi.get("Status/Audio/Volume")`. A clone of a path is cheap.
        .register_fn("to_string", |p: XPath| p.describe())
        .register_fn("to_debug", |p: XPath| p.describe())
        .register_fn("get", |c: NativeCallContext, p: XPath| {
            get(c.tag(), Site::of(&c), &p)
        })
        .register_fn("get", |c: NativeCallContext, p: XPath, path: &str| {
            get(c.tag(), Site::of(&c), &relative(&p, path)?)
        })
        .register_fn("query", |c: NativeCallContext, p: XPath, q: &str| {
            query(c.tag(), Site::of(&c), &p, q)
        })
        .register_fn("set", |c: NativeCallContext, p: XPath, v: Dynamic| {
            set(c.tag(), Site::of(&c), &p, v)
        })
        .register_fn(
            "set",
            |c: NativeCallContext, p: XPath, path: &str, v: Dynamic| {
                set(c.tag(), Site::of(&c), &relative(&p, path)?, v)
            },
        )
        .register_fn("command", |c: NativeCallContext, p: XPath, path: &str| {
            command(c.tag(), Site::of(&c), &command_path(&p, path)?, None, None)
        })
        .register_fn(
            "command",
            |c: NativeCallContext, p: XPath, path: &str, params: rhai::Map| {
                command(
                    c.tag(),
                    Site::of(&c),
                    &command_path(&p, path)?,
                    Some(params),
                    None,
                )
            },
        )
        .register_fn(
            "command",
            |c: NativeCallContext, p: XPath, path: &str, params: rhai::Map, body: &str| {
                command(
                    c.tag(),
                    Site::of(&c),
                    &command_path(&p, path)?,
                    Some(params),
                    Some(body.to_string()),
                )
            },
        )
        .register_fn("on", |c: NativeCallContext, p: XPath, f: FnPtr| {
            subscribe(c.tag(), Site::of(&c), &p, f, false)
        })
        .register_fn("once", |c: NativeCallContext, p: XPath, f: FnPtr| {
            subscribe(c.tag(), Site::of(&c), &p, f, true)
        })
        .register_fn(
            "on",
            |c: NativeCallContext, p: XPath, path: &str, f: FnPtr| {
                subscribe(c.tag(), Site::of(&c), &relative(&p, path)?, f, false)
            },
        )
        .register_fn(
            "once",
            |c: NativeCallContext, p: XPath, path: &str, f: FnPtr| {
                subscribe(c.tag(), Site::of(&c), &relative(&p, path)?, f, true)
            },
        )
        .register_fn("on_connection", on_connection);

    engine
        .register_type_with_name::<Handle>("handle")
        .register_fn("off", |h: &mut Handle| h.off())
        .register_fn("cancel", |h: &mut Handle| h.off());
    // JavaScript's `clearTimeout(t)`, and a handle never set (`()`) as a
    // no-op, as `clearTimeout(undefined)` is: `let t = (); ... t.cancel();`.
    for name in ["clear_timeout", "clear_interval"] {
        engine
            .register_fn(name, |h: &mut Handle| h.off())
            .register_fn(name, |_: ()| false);
    }
    for name in ["off", "cancel"] {
        engine.register_fn(name, |_: ()| false);
    }

    engine
        .register_type_with_name::<Codecs>("codecs")
        .register_indexer_get(
            |c: NativeCallContext, _: &mut Codecs, name: &str| -> RhaiResult<XPath> {
                let ctx = ctx(c.tag())?;
                match ctx.codecs.get(name) {
                    Some(c) => Ok(XPath::root(c.clone())),
                    None => Err(usage(format!(
                        "codecs[{name:?}]: no such codec (configured: {})",
                        ctx.codecs.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))),
                }
            },
        )
        .register_fn(
            "keys",
            |c: NativeCallContext, _: &mut Codecs| -> RhaiResult<rhai::Array> {
                Ok(ctx(c.tag())?
                    .codecs
                    .keys()
                    .map(|k| k.clone().into())
                    .collect())
            },
        );

    engine
        .register_type_with_name::<StoreHandle>("store")
        .register_fn(
            "get",
            |s: &mut StoreHandle, key: &str| -> RhaiResult<Dynamic> {
                s.0.get(key).map_or(Ok(Dynamic::UNIT), |v| to_dynamic(&v))
            },
        )
        .register_fn(
            "set",
            |s: &mut StoreHandle, key: &str, v: Dynamic| -> RhaiResult<()> {
                let v = from_dynamic(&v)?;
                // A write may wait for the store (a database reconnecting).
                Pool::global()
                    .blocking(|| s.0.set(key, v))
                    .map_err(store_failed)
            },
        )
        .register_fn(
            "remove",
            |s: &mut StoreHandle, key: &str| -> RhaiResult<Dynamic> {
                match Pool::global()
                    .blocking(|| s.0.remove(key))
                    .map_err(store_failed)?
                {
                    Some(v) => to_dynamic(&v),
                    None => Ok(Dynamic::UNIT),
                }
            },
        )
        .register_fn("keys", |s: &mut StoreHandle| -> rhai::Array {
            s.0.keys().into_iter().map(Dynamic::from).collect()
        });

    engine
        .register_fn("set_timeout", |c: NativeCallContext, f: FnPtr, ms: INT| {
            timer(c.tag(), f, ms, false)
        })
        .register_fn("set_interval", |c: NativeCallContext, f: FnPtr, ms: INT| {
            timer(c.tag(), f, ms, true)
        })
        .register_fn("daily", daily)
        .register_fn("sleep", |ctx: rhai::NativeCallContext, s: INT| {
            at(
                ctx.call_position(),
                sleep(ctx.tag(), budget::int_seconds(s)?),
            )
        })
        .register_fn("sleep", |ctx: rhai::NativeCallContext, s: rhai::FLOAT| {
            at(
                ctx.call_position(),
                sleep(ctx.tag(), budget::sleep_seconds(s)?),
            )
        })
        .register_fn("now_us", || -> INT { crate::clock::now_us() as INT })
        .register_fn("warn", |d: Dynamic| {
            say(tracing::Level::WARN, &log_text(&d))
        })
        .register_fn("error", |d: Dynamic| {
            say(tracing::Level::ERROR, &log_text(&d))
        });

    engine.on_print(|text| say(tracing::Level::INFO, text));
    engine.on_debug(|text, _src, pos| {
        tracing::debug!("{text} ({pos})");
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn cancelling_a_handle_never_set_does_nothing() {
        let mut engine = Engine::new();
        register(&mut engine);
        for script in [
            "let t = (); t.cancel()",
            "let h = (); h.off()",
            "clear_timeout(())",
            "clear_interval(())",
        ] {
            assert!(!engine.eval::<bool>(script).unwrap(), "{script}");
        }
        let e = engine.eval::<bool>("clear_timeout(5)").unwrap_err();
        assert!(e.to_string().contains("clear_timeout"), "{e}");
    }

    #[tokio::test]
    async fn a_method_at_the_end_of_a_path_does_not_write_the_path_back_up_the_chain() {
        static WRITE_BACKS: AtomicUsize = AtomicUsize::new(0);
        let mut engine = Engine::new();
        register(&mut engine);
        // Rhai would write a `&mut` method's target back through this, once
        // per level of the chain.
        engine.register_indexer_set(|_: &mut XPath, _: &str, _: XPath| {
            WRITE_BACKS.fetch_add(1, Ordering::SeqCst);
        });
        let codec =
            Codec::spawn(crate::xows::CodecConfig::from_url("ws://127.0.0.1:1/ws").unwrap());
        let mut scope = rhai::Scope::new();
        scope.push("xapi", XPath::root(codec.clone()));
        let text: String = engine
            .eval_with_scope(&mut scope, "xapi.Status.Audio.Volume.to_string()")
            .unwrap();
        assert_eq!(text, "xapi.Status.Audio.Volume");
        assert_eq!(WRITE_BACKS.load(Ordering::SeqCst), 0);
        tokio::time::timeout(Duration::from_secs(5), codec.close())
            .await
            .expect("the codec closes");
    }
}
