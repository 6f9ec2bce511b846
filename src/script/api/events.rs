//! What calls the script back: feedback (`on`/`once`), connection changes
//! (`on_connection`), timers (`set_timeout`, `set_interval`, `daily`), and
//! the handle that stops each (`off`, `cancel`, `clear_timeout`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rhai::{Engine, FnPtr, INT, NativeCallContext};
use serde_json::Value;

use super::calls::block;
use super::path::{XPath, relative};
use super::{RhaiResult, Tag, ctx, refused, usage};
use crate::script::instance::{InstanceCtx, Job, JobCtx};
use crate::xows::ConnState;
use crate::xows::path::Root;

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

fn subscribe(
    tag: Tag,
    site: super::calls::Site,
    p: &XPath,
    f: FnPtr,
    once: bool,
) -> RhaiResult<Handle> {
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
        .admit(p.codec.name(), crate::audit::Kind::Subscribe, &p.path, site)?;
    let Some(inst) = ctx.instance() else {
        return Err(crate::script::fault::error(
            "stopping",
            "the script is stopping",
        ));
    };
    let id = ctx.register(f, once).map_err(refused)?;
    // The connection task posts into the mailbox itself, in wire order.
    let sink =
        crate::script::feedback::ScriptSink::new(Arc::downgrade(&inst), id, p.path.clone(), once);
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

/// Registers feedback, timers and the handle that stops them.
pub(super) fn register(engine: &mut Engine) {
    engine
        .register_fn("on", |c: NativeCallContext, p: XPath, f: FnPtr| {
            subscribe(c.tag(), super::calls::Site::of(&c), &p, f, false)
        })
        .register_fn("once", |c: NativeCallContext, p: XPath, f: FnPtr| {
            subscribe(c.tag(), super::calls::Site::of(&c), &p, f, true)
        })
        .register_fn(
            "on",
            |c: NativeCallContext, p: XPath, path: &str, f: FnPtr| {
                subscribe(
                    c.tag(),
                    super::calls::Site::of(&c),
                    &relative(&p, path)?,
                    f,
                    false,
                )
            },
        )
        .register_fn(
            "once",
            |c: NativeCallContext, p: XPath, path: &str, f: FnPtr| {
                subscribe(
                    c.tag(),
                    super::calls::Site::of(&c),
                    &relative(&p, path)?,
                    f,
                    true,
                )
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
        .register_fn("set_timeout", |c: NativeCallContext, f: FnPtr, ms: INT| {
            timer(c.tag(), f, ms, false)
        })
        .register_fn("set_interval", |c: NativeCallContext, f: FnPtr, ms: INT| {
            timer(c.tag(), f, ms, true)
        })
        .register_fn("daily", daily);
}
