//! Fire-and-forget commands: `xapi.Command.Audio.Volume.Set.send(#{...})`
//! and `xapi.send("Audio Volume Set", #{...})`, the counterpart of a
//! JavaScript `xapi.Command.Audio.Volume.Set({...})` nobody awaits. The
//! command is queued to the codec before `send` returns (so commands keep
//! their order), the script goes on at once, and a refusal is logged with
//! the `file:line:col` of the `send` instead of stopping the caller (in
//! the host's log and in the instance's log sink: `room.logs()` in a test).
//! Sends still waiting for their answer are counted per instance, so the
//! test runner can wait for their outcome ([`in_flight`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::task::Poll;

use rhai::{Engine, EvalAltResult, ImmutableString, NativeCallContext};
use serde_json::Map;
use tracing::Instrument;

use super::api::{XPath, command_path, ctx, from_dynamic, usage};
use super::guard::Site;
use super::instance::InstanceCtx;
use crate::audit::Kind;
use crate::xows::path::{Path, Root};
use crate::xows::protocol::Call;

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Sends without an answer yet, by instance (its context's address).
static IN_FLIGHT: LazyLock<Mutex<HashMap<usize, usize>>> = LazyLock::new(Mutex::default);

fn key(ctx: &Arc<InstanceCtx>) -> usize {
    Arc::as_ptr(ctx) as usize
}

fn in_flight_map() -> std::sync::MutexGuard<'static, HashMap<usize, usize>> {
    IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many of this instance's sends still wait for their answer (a
/// refusal is logged before the count drops).
pub fn in_flight(ctx: &Arc<InstanceCtx>) -> usize {
    in_flight_map().get(&key(ctx)).copied().unwrap_or(0)
}

/// One send waiting for its answer; counted until dropped.
struct Pending(Arc<InstanceCtx>);

impl Pending {
    fn new(ctx: Arc<InstanceCtx>) -> Pending {
        *in_flight_map().entry(key(&ctx)).or_default() += 1;
        Pending(ctx)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        {
            let mut map = in_flight_map();
            let k = key(&self.0);
            if let Some(n) = map.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&k);
                }
            }
        }
        // Whoever waits for the scripts to be idle looks again.
        super::instance::WENT_IDLE.notify_waiters();
    }
}

/// Queues command `p` and returns; its failure is logged.
fn send(
    c: NativeCallContext,
    p: &XPath,
    params: Option<rhai::Map>,
    body: Option<String>,
) -> RhaiResult<()> {
    if p.path.root() != Some(Root::Command) || p.path.0.len() < 2 {
        return Err(usage(format!(
            "{}.send(): send runs a command, as xapi.Command.Audio.Volume.Set.send(#{{ Level: 50 }})",
            p.describe()
        )));
    }
    let mut map = Map::new();
    for (k, v) in params.unwrap_or_default() {
        map.insert(k.to_string(), from_dynamic(&v)?);
    }
    let ctx = ctx(c.tag())?;
    let codec_name = p.codec.name();
    ctx.guard
        .admit(codec_name, Kind::Command, &p.path, Site::of(&c))?;
    let audit = ctx
        .guard
        .pending(codec_name, Kind::Command, &p.path, &map, body.as_deref());
    let guard = ctx.guard.clone();
    let where_ = Site::of(&c).describe(&format!("{}.rhai", ctx.script));
    let what = Path(p.path.tail().to_vec()).to_string();
    let codec = p.codec.clone();
    let call = Call::command(&p.path, map, body);
    let cancel = ctx.cancel.clone();
    let mut reply = Box::pin(async move {
        tokio::select! {
            r = codec.call(call, codec.timeout()) => Some(r),
            _ = cancel.cancelled() => None,
        }
    });
    let pending = Pending::new(ctx.clone());
    let report = move |r: Option<Result<serde_json::Value, crate::xows::Error>>| {
        guard.finish_with(
            audit,
            match &r {
                Some(Ok(_)) => Ok(()),
                Some(Err(e)) => {
                    let e = e.to_rpc();
                    Err((e.code, e.message))
                }
                None => Err((0, "the script stopped before the answer came".into())),
            },
        );
        if let Some(Err(e)) = r {
            let e = e.to_rpc();
            let line = format!(
                "{where_}: command {what} (sent without waiting) failed: {} {}",
                e.code, e.message
            );
            pending.0.note("error", &line);
            tracing::error!("{line}");
        }
        drop(pending);
    };
    // The first poll queues the request to the codec, in order with the
    // script's other calls; the reply is awaited off the worker.
    let first = ctx.rt.block_on(std::future::poll_fn(|cx| {
        Poll::Ready(reply.as_mut().poll(cx))
    }));
    match first {
        Poll::Ready(r) => report(r),
        Poll::Pending => {
            ctx.rt
                .spawn(async move { report(reply.await) }.instrument(ctx.span()));
        }
    }
    Ok(())
}

/// Registers `send` on paths.
pub fn register(engine: &mut Engine) {
    engine
        .register_fn("send", |c: NativeCallContext, p: &mut XPath| {
            send(c, p, None, None)
        })
        .register_fn(
            "send",
            |c: NativeCallContext, p: &mut XPath, params: rhai::Map| send(c, p, Some(params), None),
        )
        .register_fn(
            "send",
            |c: NativeCallContext, p: &mut XPath, params: rhai::Map, body: &str| {
                send(c, p, Some(params), Some(body.to_string()))
            },
        )
        .register_fn(
            "send",
            |c: NativeCallContext, p: &mut XPath, path: &str| -> RhaiResult<()> {
                let target = command_path(p, path)?;
                send(c, &target, None, None)
            },
        )
        .register_fn(
            "send",
            |c: NativeCallContext,
             p: &mut XPath,
             path: &str,
             params: rhai::Map|
             -> RhaiResult<()> {
                let target = command_path(p, path)?;
                send(c, &target, Some(params), None)
            },
        )
        .register_fn(
            "send",
            |c: NativeCallContext,
             p: &mut XPath,
             path: &str,
             params: rhai::Map,
             body: ImmutableString|
             -> RhaiResult<()> {
                let target = command_path(p, path)?;
                send(c, &target, Some(params), Some(body.to_string()))
            },
        );
}
