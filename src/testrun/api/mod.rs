//! What a `*.test.rhai` file can call: `test`, `sim` and the room's
//! actions ([`actions`]), what a test observes of a room ([`observe`]),
//! the clock (`advance`, `set_time`, `set_zone`: [`clock`]), `assert` and
//! `assert_eq`. Every action waits for the scripts to be idle before it
//! returns. The running test's state reaches each function in Rhai's
//! per-call tag ([`state::with`]).

mod actions;
mod clock;
mod observe;

use std::sync::{Arc, Mutex};

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, NativeCallContext, Position};
use serde_json::Value;

use super::room::Room;
use super::state::{self, TestState};
use super::values::{FAILED, assert_eq};
use crate::script::api::{from_dynamic, to_dynamic};

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Marks a script under test that does not compile.
pub const SCRIPT_ERROR: &str = "script error";

/// A test declared by `test("name", || ...)`.
#[derive(Clone)]
pub struct Declared {
    pub name: String,
    pub body: FnPtr,
    pub line: usize,
}

/// Tests a file declared, in order.
pub type Declarations = Arc<Mutex<Vec<Declared>>>;

/// The product a schema room simulates when nobody names one.
pub const DEFAULT_PRODUCT: &str = "barents";

/// `sim()`'s value: one room of the running test.
#[derive(Clone)]
pub struct RoomRef(usize);

fn fail(pos: Position, text: String) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(text.into(), pos).into()
}

fn err(ctx: &NativeCallContext, text: String) -> Box<EvalAltResult> {
    fail(ctx.call_position(), text)
}

fn room(ctx: &NativeCallContext, r: &RoomRef) -> RhaiResult<Arc<Room>> {
    state::with(ctx.tag(), |t| {
        t.rooms
            .get(r.0)
            .cloned()
            .ok_or_else(|| "this room belongs to another test".to_string())
    })
    .map_err(|e| err(ctx, e))
}

/// Runs an action with the test's state, then waits for the scripts.
fn act<T>(
    ctx: &NativeCallContext,
    f: impl FnOnce(&mut TestState) -> Result<T, String>,
) -> RhaiResult<T> {
    state::with(ctx.tag(), |t| {
        let out = f(t)?;
        t.settle().map_err(|e| e.to_string())?;
        Ok(out)
    })
    .map_err(|e| err(ctx, e))
}

fn json_of(ctx: &NativeCallContext, d: &Dynamic) -> RhaiResult<Value> {
    from_dynamic(d).map_err(|e| err(ctx, e.to_string()))
}

fn dynamic_of(ctx: &NativeCallContext, v: &Value) -> RhaiResult<Dynamic> {
    to_dynamic(v).map_err(|e| err(ctx, e.to_string()))
}

fn rooted(root: &str, path: &str) -> String {
    let path = path.trim();
    if path
        .split_whitespace()
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case(root))
    {
        path.to_string()
    } else {
        format!("{root} {path}")
    }
}

/// Registers the test API into the engine that runs test files (with the
/// scripts' JSON, time, regex and random functions; `now()` reads the
/// test's clock); `tests` collects what `test(...)` declares.
pub fn register(engine: &mut Engine, tests: Declarations) {
    crate::script::stdlib::register(engine, Arc::new(clock::local_now));
    declarations(engine, tests);
    engine.register_type_with_name::<RoomRef>("room");
    actions::register(engine);
    observe::register(engine);
    clock::register(engine);
    checks(engine);
}

/// `test("name", || { ... })`: declares a test of the file.
fn declarations(engine: &mut Engine, tests: Declarations) {
    engine.register_fn(
        "test",
        move |ctx: NativeCallContext, name: &str, body: FnPtr| -> RhaiResult<()> {
            let mut all = tests.lock().unwrap_or_else(|p| p.into_inner());
            if all.iter().any(|t| t.name == name) {
                return Err(err(
                    &ctx,
                    format!("a test named {name:?} is declared twice"),
                ));
            }
            all.push(Declared {
                name: name.to_string(),
                body,
                line: ctx.call_position().line().unwrap_or(0),
            });
            Ok(())
        },
    );
}

/// `assert` and `assert_eq`.
fn checks(engine: &mut Engine) {
    engine
        .register_fn("assert", |ctx: NativeCallContext, cond: bool| {
            if cond {
                Ok(())
            } else {
                Err(err(&ctx, format!("{FAILED}: assert")))
            }
        })
        .register_fn("assert", |ctx: NativeCallContext, cond: bool, msg: &str| {
            if cond {
                Ok(())
            } else {
                Err(err(&ctx, format!("{FAILED}: {msg}")))
            }
        })
        .register_fn(
            "assert_eq",
            |ctx: NativeCallContext, a: Dynamic, b: Dynamic| assert_eq(&ctx, &a, &b, ""),
        )
        .register_fn(
            "assert_eq",
            |ctx: NativeCallContext, a: Dynamic, b: Dynamic, msg: &str| {
                assert_eq(&ctx, &a, &b, msg)
            },
        );
}
