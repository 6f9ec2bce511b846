//! The test's clock: `advance` moves it on, firing the scripts' timers on
//! the way; `set_time` and `set_zone` set the local time; `now()` in a test
//! file reads it.

use rhai::{Engine, INT, NativeCallContext};

use super::{RhaiResult, act, err};
use crate::testrun::state;
use crate::testrun::values::parse_duration;

/// Registers `advance`, `set_time` and `set_zone`.
pub(super) fn register(engine: &mut Engine) {
    engine
        .register_fn("advance", |ctx: NativeCallContext, ms: INT| {
            if ms < 0 {
                return Err(err(&ctx, format!("advance({ms}): time only moves forward")));
            }
            advance(&ctx, format!("advance({ms})"), ms as u64)
        })
        .register_fn("advance", |ctx: NativeCallContext, d: &str| {
            let ms = parse_duration(d).map_err(|e| err(&ctx, e.to_string()))?;
            advance(&ctx, format!("advance({d:?})"), ms)
        })
        .register_fn("set_time", |ctx: NativeCallContext, at: &str| {
            set_time(&ctx, at)
        })
        .register_fn("set_zone", |ctx: NativeCallContext, zone: &str| {
            let tz: chrono_tz::Tz = zone.parse().map_err(|_| {
                err(
                    &ctx,
                    format!("set_zone({zone:?}): not a time zone name such as \"Europe/Oslo\""),
                )
            })?;
            state::with(ctx.tag(), |t| {
                if t.rooms.iter().any(|r| r.idle().1 > 0) {
                    return Err("set_zone(): call it before room.load(...)".into());
                }
                t.clock
                    .set_zone(tz)
                    .map_err(|e| format!("set_zone({zone:?}): that is {e}"))
            })
            .map_err(|e| err(&ctx, e))
        });
}

/// `advance(...)` by `ms`; `asked` is how the test wrote it, for messages.
fn advance(ctx: &NativeCallContext, asked: String, ms: u64) -> RhaiResult<()> {
    state::with(ctx.tag(), |t| {
        t.advance_to(t.clock.elapsed_ms().saturating_add(ms))
            .map_err(|e| e.to_string())
    })
    .map_err(|e| err(ctx, format!("{asked}: {e}")))
}

fn set_time(ctx: &NativeCallContext, text: &str) -> RhaiResult<()> {
    let at = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(text.trim(), f).ok())
    .ok_or_else(|| {
        err(
            ctx,
            format!("set_time({text:?}): write the local time as \"2026-03-02 07:59\""),
        )
    })?;
    act(ctx, |t| {
        t.clock
            .set_time(at)
            .map_err(|e| format!("set_time({text:?}): that is {e}"))
    })
}

/// The test's local time (for `now()` in test files), or the machine's
/// outside a test.
pub(super) fn local_now(tag: Option<&rhai::Dynamic>) -> chrono::NaiveDateTime {
    state::with(tag, |t| Ok(crate::clock::Clock::now(&*t.clock)))
        .unwrap_or_else(|_| chrono::Local::now().naive_local())
}
