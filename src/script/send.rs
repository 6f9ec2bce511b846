//! Fire-and-forget commands: `xapi.Command.Audio.Volume.Set.send(#{...})`
//! and `xapi.send("Audio Volume Set", #{...})`, the counterpart of a
//! JavaScript `xapi.Command.Audio.Volume.Set({...})` nobody awaits. The
//! command is queued to the codec before `send` returns (so commands keep
//! their order), the script goes on at once, and a refusal is logged with
//! the `file:line:col` of the `send` instead of stopping the caller.

use std::future::Future;
use std::task::Poll;

use rhai::{Engine, EvalAltResult, ImmutableString, NativeCallContext, Position};
use serde_json::Map;
use tracing::Instrument;

use super::api::{XPath, command_path, ctx, from_dynamic, usage};
use crate::xows::path::{Path, Root};
use crate::xows::protocol::Call;

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// `file:line:col` of the native call in `c`.
fn place(c: &NativeCallContext, default_file: &str) -> String {
    let file = c.call_source().unwrap_or(default_file);
    let pos: Position = c.call_position();
    match (pos.line(), pos.position()) {
        (Some(l), Some(col)) => format!("{file}:{l}:{col}"),
        (Some(l), None) => format!("{file}:{l}"),
        _ => file.to_string(),
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
    let where_ = place(&c, &format!("{}.rhai", ctx.script));
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
    let report = move |r: Option<Result<serde_json::Value, crate::xows::Error>>| {
        if let Some(Err(e)) = r {
            let e = e.to_rpc();
            tracing::error!(
                "{where_}: command {what} (sent without waiting) failed: {} {}",
                e.code,
                e.message
            );
        }
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
