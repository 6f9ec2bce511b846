//! Host calls into the codec: `get`, `query`, `set` and commands (by name
//! or proxy style, `xapi.Command.Dial(#{...})`). Each blocks only the
//! calling instance, has a timeout and ends when the instance stops.

use rhai::{Dynamic, Engine, ImmutableString, NativeCallContext};
use serde_json::Map;

use super::path::{XPath, command_path, need_root, relative};
use super::{RhaiResult, Tag, at, ctx, from_dynamic, throw, to_dynamic, usage};
use crate::audit::Kind;
use crate::script::budget;
pub use crate::script::guard::Site;
use crate::script::instance::InstanceCtx;
use crate::script::pool::Pool;
use crate::xows::error::local_code;
use crate::xows::path::{Root, Segment};
use crate::xows::protocol::{Call, RpcError};

/// Runs a host call for the current instance: blocks this instance only
/// (its worker does not count against the pool's cap meanwhile), ends when
/// the instance stops, and is not the script's own time: the wait moves
/// the callback's deadline on and counts against its bound for waits
/// instead (see [`budget`]).
pub(super) fn block<T>(
    ctx: &InstanceCtx,
    fut: impl std::future::Future<Output = Result<T, crate::xows::Error>>,
) -> RhaiResult<T> {
    let cancel = ctx.cancel.clone();
    let interrupt = ctx.interrupt();
    let allowed = budget::codec_wait();
    let rt = ctx.rt.clone();
    let started = std::time::Instant::now();
    let out = Pool::global().blocking(|| {
        crate::script::wait::block_on(&rt, async {
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

/// Registers `get`, `query`, `set` and `command` on paths.
pub(super) fn register(engine: &mut Engine) {
    engine
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
        );
}
