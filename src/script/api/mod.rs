//! The script API: the `xapi` proxy (`xapi.Status.Audio.Volume.get()`,
//! `xapi.Command.Dial(#{...})`), the string forms (`xapi.get("...")`),
//! feedback (`on`/`once`/`off`), `codecs`, `store`, timers, `daily` and the
//! log functions. Host calls block only the calling instance, have a
//! timeout, and end when the instance stops; their failures reach the
//! script as catchable maps `#{ code, message, data }`.

mod calls;
mod events;
mod globals;
mod path;

use std::sync::Arc;
use std::time::Duration;

use rhai::{Dynamic, Engine, EvalAltResult, INT, ImmutableString, NativeCallContext, Position};

use super::budget;
use super::instance::{InstanceCtx, JobCtx, current};
use super::pool::Pool;
use crate::xows::protocol::RpcError;

pub use calls::dispatch_command;
pub(crate) use events::timer;
pub use events::{FREE_NESTING, Handle};
pub use globals::{Codecs, GLOBAL_NAMES, StoreHandle, global};
pub use path::XPath;
pub(crate) use path::command_path;

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

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

/// One line of script output from the job a call runs in (its tag), limited
/// per instance (see [`super::output`]).
fn say(tag: Tag, level: tracing::Level, text: &str) {
    let job = tag.and_then(JobCtx::of);
    super::output::line(job.as_ref().map(|j| &*j.instance), level, text);
}

/// The call's tag: it carries the running job (see [`JobCtx`]).
pub(crate) type Tag<'a> = Option<&'a Dynamic>;

/// The instance of the job a call runs in, from the call's tag.
pub(crate) fn ctx(tag: Tag) -> RhaiResult<Arc<InstanceCtx>> {
    tag.and_then(JobCtx::of).map(|j| j.instance).ok_or_else(|| {
        usage("the xapi API works inside a running script (not at a library's top level)")
    })
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

/// Gives an error without a place the place of the call.
fn at<T>(pos: Position, r: RhaiResult<T>) -> RhaiResult<T> {
    r.map_err(|mut e| {
        if e.position().is_none() {
            e.set_position(pos);
        }
        e
    })
}

fn log_text(d: &Dynamic) -> String {
    if d.is_string() {
        d.clone().cast::<ImmutableString>().to_string()
    } else {
        d.to_string()
    }
}

/// Registers the API into an engine.
pub fn register(engine: &mut Engine) {
    path::register(engine);
    calls::register(engine);
    events::register(engine);
    globals::register(engine);
    engine
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
        .register_fn("warn", |c: NativeCallContext, d: Dynamic| {
            say(c.tag(), tracing::Level::WARN, &log_text(&d))
        })
        .register_fn("error", |c: NativeCallContext, d: Dynamic| {
            say(c.tag(), tracing::Level::ERROR, &log_text(&d))
        });

    // Rhai calls `print` with no context (no tag): the running instance is
    // the worker's current one.
    engine.on_print(|text| super::output::line(current().as_deref(), tracing::Level::INFO, text));
    engine.on_debug(|text, _src, pos| {
        tracing::debug!("{text} ({pos})");
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::xows::Codec;

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
