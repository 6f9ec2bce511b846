//! What a `*.test.rhai` file can call: `test`, `sim`, the room's methods
//! (acting as the room and observing it), `advance`, `set_time`,
//! `set_zone`, `assert` and `assert_eq`. Every action waits for the
//! scripts to be idle before it returns.

use std::sync::{Arc, Mutex};

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, INT, NativeCallContext, Position};
use serde_json::{Value, json};

use super::room::Room;
use super::state::{self, TestState};
use super::values::{FAILED, assert_eq, parse_duration};
use crate::script::api::{from_dynamic, to_dynamic};
use crate::sim::device::model::calls;

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
    state::with(|t| {
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
    state::with(|t| {
        let out = f(t)?;
        t.settle()?;
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

fn load(ctx: &NativeCallContext, r: &RoomRef, name: &str, args: rhai::Map) -> RhaiResult<()> {
    let room = room(ctx, r)?;
    let name = name.trim_end_matches(".rhai").to_string();
    act(ctx, |t| {
        let file = format!("{name}.rhai");
        let refused = |e: String| format!("room.load({name:?}): {e}");
        if !crate::host::is_script_file(&file) {
            return Err(refused("not a script name".into()));
        }
        room.can_load(&name).map_err(refused)?;
        let built = crate::script::loader::program(&t.engine, &t.dir, &file).map_err(|e| {
            t.script_error = true;
            format!("{SCRIPT_ERROR}: {}", e.message)
        })?;
        let codecs = t
            .rooms
            .iter()
            .map(|r| (r.name.clone(), r.codec.clone()))
            .collect();
        let launch = super::room::Launch {
            program: built.program,
            args,
            clock: t.clock.clone(),
            limits: t.limits.clone(),
            logs: t.logs.clone(),
            codecs: Arc::new(codecs),
        };
        let _guard = t.rt.enter();
        room.load(&name, launch, t.stores.clone()).map_err(refused)
    })
}

fn restart(ctx: &NativeCallContext, r: &RoomRef, name: &str) -> RhaiResult<()> {
    let room = room(ctx, r)?;
    act(ctx, |t| {
        t.block(room.restart(name))
            .map_err(|e| format!("room.restart({name:?}): {e}"))
    })
}

fn sim(ctx: &NativeCallContext, opts: rhai::Map) -> RhaiResult<RoomRef> {
    let get = |k: &str| opts.get(k).map(|v| v.to_string());
    for k in opts.keys() {
        if !["schema", "product", "name"].contains(&k.as_str()) {
            return Err(err(
                ctx,
                format!("sim(#{{...}}): unknown option {k:?} (known: schema, product, name)"),
            ));
        }
    }
    state::with(|t| {
        // The test's own schema (relative to the tests directory), else
        // the run's `--schema`; a product alone picks one of the latter.
        let source = match (get("schema"), &t.default_schema) {
            (Some(file), _) => Some((
                t.dir.join(file),
                get("product").unwrap_or_else(|| DEFAULT_PRODUCT.into()),
            )),
            (None, Some(d)) => Some((d.file.clone(), get("product").unwrap_or(d.product.clone()))),
            (None, None) if opts.contains_key("product") => {
                return Err("sim(#{...}): product needs a schema (sim(#{ schema: \"roomos.json\", product: \"barents\" }), or xmacro test --schema FILE)".into());
            }
            (None, None) => None,
        };
        let name = get("name").unwrap_or_else(|| format!("room-{}", t.rooms.len() + 1));
        if t.rooms.iter().any(|r| r.name == name) {
            return Err(format!(
                "sim(): this test already has a room named {name:?}"
            ));
        }
        let mut options = crate::sim::DeviceOptions {
            clock: t.clock.clone(),
            ..Default::default()
        };
        if let Some((path, product)) = source {
            let mut cache = t.schemas.lock().unwrap_or_else(|p| p.into_inner());
            let schema = match cache.get(&(path.clone(), product.clone())) {
                Some(s) => s.clone(),
                None => {
                    let s = crate::schema::Schema::load(&path, Some(&product))
                        .map_err(|e| format!("sim(): {e}"))?;
                    let s = Arc::new(s);
                    cache.insert((path, product), s.clone());
                    s
                }
            };
            options.schema = Some(schema);
        }
        let room = t.block(Room::start(&name, options))?;
        t.rooms.push(Arc::new(room));
        Ok(RoomRef(t.rooms.len() - 1))
    })
    .map_err(|e| err(ctx, e))
}

/// A widget's value as the device reports it: text; a toggle's `true` or
/// `false` is `on` or `off`, a number its digits.
fn widget_value(ctx: &NativeCallContext, v: &Dynamic) -> RhaiResult<String> {
    if let Some(on) = v.clone().try_cast::<bool>() {
        return Ok(if on { "on" } else { "off" }.into());
    }
    if v.is_string() || v.is_int() || v.is_float() {
        return Ok(v.to_string());
    }
    Err(err(
        ctx,
        format!(
            "room.widget(id, type, value): the value is text, a number or true/false, not {}",
            v.type_name()
        ),
    ))
}

/// A person in the room acts (`what` names the call for messages); gives
/// the call's id.
fn person(
    ctx: &NativeCallContext,
    r: &RoomRef,
    what: &str,
    f: impl FnOnce(&mut crate::sim::device::State) -> Result<u64, crate::xows::protocol::RpcError>,
) -> RhaiResult<INT> {
    let room = room(ctx, r)?;
    act(ctx, |_| {
        room.person(f)
            .map(|id| id as INT)
            .map_err(|e| format!("{what}: {e}"))
    })
}

fn control(ctx: &NativeCallContext, r: &RoomRef, method: &str, params: Value) -> RhaiResult<Value> {
    let room = room(ctx, r)?;
    act(ctx, |_| room.control(method, params))
}

fn observe(ctx: &NativeCallContext, r: &RoomRef, method: &str, key: &str) -> RhaiResult<Dynamic> {
    let room = room(ctx, r)?;
    let out = room.control(method, json!({})).map_err(|e| err(ctx, e))?;
    dynamic_of(ctx, out.get(key).unwrap_or(&Value::Null))
}

fn replay(ctx: &NativeCallContext, r: &RoomRef, file: &str, opts: rhai::Map) -> RhaiResult<INT> {
    let room = room(ctx, r)?;
    let timed = match opts.get("timed") {
        None => false,
        Some(v) => v
            .as_bool()
            .map_err(|_| err(ctx, "room.replay(file, #{ timed: true|false })".to_string()))?,
    };
    state::with(|t| {
        let entries = super::record::read(&t.dir.join(file))?;
        let start = t.clock.elapsed_ms();
        for e in &entries {
            if timed {
                let at = start.saturating_add(e.ms);
                t.clock
                    .check(at)
                    .map_err(|x| format!("{file}:{}: \"ms\": {} is {x}", e.line, e.ms))?;
                t.advance_to(at)?;
            }
            room.inject(&e.feedback)?;
            t.settle()?;
        }
        Ok(entries.len() as INT)
    })
    .map_err(|e| err(ctx, e))
}

/// `advance(...)` by `ms`; `asked` is how the test wrote it, for messages.
fn advance(ctx: &NativeCallContext, asked: String, ms: u64) -> RhaiResult<()> {
    state::with(|t| t.advance_to(t.clock.elapsed_ms().saturating_add(ms)))
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
fn local_now(_tag: Option<&rhai::Dynamic>) -> chrono::NaiveDateTime {
    state::with(|t| Ok(crate::clock::Clock::now(&*t.clock)))
        .unwrap_or_else(|_| chrono::Local::now().naive_local())
}

/// Registers the test API into the engine that runs test files (with the
/// scripts' JSON, time, regex and random functions; `now()` reads the
/// test's clock); `tests` collects what `test(...)` declares.
pub fn register(engine: &mut Engine, tests: Declarations) {
    crate::script::stdlib::register(engine, Arc::new(local_now));
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
    engine
        .register_type_with_name::<RoomRef>("room")
        .register_fn("sim", |ctx: NativeCallContext| sim(&ctx, rhai::Map::new()))
        .register_fn("sim", |ctx: NativeCallContext, o: rhai::Map| sim(&ctx, o))
        .register_fn(
            "load",
            |ctx: NativeCallContext, r: &mut RoomRef, name: &str| {
                load(&ctx, r, name, rhai::Map::new())
            },
        )
        .register_fn(
            "load",
            |ctx: NativeCallContext, r: &mut RoomRef, name: &str, args: rhai::Map| {
                load(&ctx, r, name, args)
            },
        )
        .register_fn(
            "status",
            |ctx: NativeCallContext, r: &mut RoomRef, path: &str, v: Dynamic| -> RhaiResult<()> {
                let value = json_of(&ctx, &v)?;
                let params = json!({ "Path": rooted("Status", path), "Value": value });
                control(&ctx, r, "SetStatus", params).map(|_| ())
            },
        )
        .register_fn(
            "event",
            |ctx: NativeCallContext, r: &mut RoomRef, path: &str| -> RhaiResult<()> {
                let params = json!({ "Path": rooted("Event", path) });
                control(&ctx, r, "Event", params).map(|_| ())
            },
        )
        .register_fn(
            "event",
            |ctx: NativeCallContext, r: &mut RoomRef, path: &str, v: Dynamic| -> RhaiResult<()> {
                let value = json_of(&ctx, &v)?;
                let params = json!({ "Path": rooted("Event", path), "Value": value });
                control(&ctx, r, "Event", params).map(|_| ())
            },
        )
        .register_fn(
            "incoming_call",
            |ctx: NativeCallContext, r: &mut RoomRef, number: &str| -> RhaiResult<Dynamic> {
                let out = control(&ctx, r, "IncomingCall", json!({ "Number": number }))?;
                dynamic_of(&ctx, out.get("CallId").unwrap_or(&Value::Null))
            },
        )
        .register_fn(
            "hangup",
            |ctx: NativeCallContext, r: &mut RoomRef| -> RhaiResult<()> {
                control(&ctx, r, "Hangup", json!({})).map(|_| ())
            },
        )
        .register_fn(
            "people",
            |ctx: NativeCallContext, r: &mut RoomRef, n: INT| -> RhaiResult<()> {
                control(&ctx, r, "People", json!({ "Count": n.max(0) })).map(|_| ())
            },
        )
        .register_fn(
            "widget",
            |ctx: NativeCallContext, r: &mut RoomRef, id: &str, kind: &str| -> RhaiResult<()> {
                let params = json!({ "WidgetId": id, "Type": kind });
                control(&ctx, r, "WidgetAction", params).map(|_| ())
            },
        )
        .register_fn(
            "widget",
            |ctx: NativeCallContext,
             r: &mut RoomRef,
             id: &str,
             kind: &str,
             value: Dynamic|
             -> RhaiResult<()> {
                let value = widget_value(&ctx, &value)?;
                let params = json!({ "WidgetId": id, "Type": kind, "Value": value });
                control(&ctx, r, "WidgetAction", params).map(|_| ())
            },
        )
        .register_fn("answer", |ctx: NativeCallContext, r: &mut RoomRef| {
            person(&ctx, r, "room.answer()", calls::person_answers)
        })
        .register_fn("reject", |ctx: NativeCallContext, r: &mut RoomRef| {
            person(&ctx, r, "room.reject()", calls::person_declines)
        })
        .register_fn(
            "dial",
            |ctx: NativeCallContext, r: &mut RoomRef, number: &str| {
                let what = format!("room.dial({number:?})");
                person(&ctx, r, &what, |st| calls::person_dials(st, number))
            },
        )
        .register_fn(
            "restart",
            |ctx: NativeCallContext, r: &mut RoomRef, name: &str| restart(&ctx, r, name),
        )
        .register_fn(
            "store",
            |ctx: NativeCallContext, r: &mut RoomRef, name: &str| -> RhaiResult<Dynamic> {
                let stored = room(&ctx, r)?
                    .store(name)
                    .map_err(|e| err(&ctx, format!("room.store({name:?}): {e}")))?;
                dynamic_of(&ctx, &Value::Object(stored))
            },
        )
        .register_fn(
            "http_response",
            |ctx: NativeCallContext, r: &mut RoomRef, m: rhai::Map| -> RhaiResult<()> {
                let params = json_of(&ctx, &m.into())?;
                control(&ctx, r, "HttpResponse", params).map(|_| ())
            },
        )
        .register_fn(
            "replay",
            |ctx: NativeCallContext, r: &mut RoomRef, file: &str| {
                replay(&ctx, r, file, rhai::Map::new())
            },
        )
        .register_fn(
            "replay",
            |ctx: NativeCallContext, r: &mut RoomRef, file: &str, o: rhai::Map| {
                replay(&ctx, r, file, o)
            },
        )
        .register_fn(
            "command_result",
            |ctx: NativeCallContext, r: &mut RoomRef, m: rhai::Map| -> RhaiResult<()> {
                let params = json_of(&ctx, &m.into())?;
                control(&ctx, r, "CommandResult", params).map(|_| ())
            },
        )
        .register_fn(
            "get",
            |ctx: NativeCallContext, r: &mut RoomRef, path: &str| -> RhaiResult<Dynamic> {
                let v = room(&ctx, r)?.get(path).map_err(|e| err(&ctx, e))?;
                dynamic_of(&ctx, &v)
            },
        )
        .register_fn(
            "commands",
            |ctx: NativeCallContext, r: &mut RoomRef| -> RhaiResult<Dynamic> {
                let all = Value::Array(room(&ctx, r)?.commands());
                dynamic_of(&ctx, &all)
            },
        )
        .register_fn("ui", |ctx: NativeCallContext, r: &mut RoomRef| {
            observe(&ctx, r, "UiLog", "Entries")
        })
        .register_fn(
            "http_requests",
            |ctx: NativeCallContext, r: &mut RoomRef| observe(&ctx, r, "HttpRequests", "Requests"),
        )
        .register_fn(
            "logs",
            |ctx: NativeCallContext, r: &mut RoomRef| -> RhaiResult<rhai::Array> {
                let room = room(&ctx, r)?;
                let suffix = format!("@{}", room.name);
                state::with(|t| {
                    let logs = t.logs.lock().unwrap_or_else(|p| p.into_inner());
                    Ok(logs
                        .iter()
                        .filter(|l| l.script.ends_with(&suffix))
                        .map(|l| Dynamic::from(l.text.clone()))
                        .collect())
                })
                .map_err(|e| err(&ctx, e))
            },
        )
        .register_fn("name", |r: &mut RoomRef| -> RhaiResult<String> {
            state::with(|t| Ok(t.rooms.get(r.0).map(|r| r.name.clone()).unwrap_or_default()))
                .map_err(|e| fail(Position::NONE, e))
        });
    engine
        .register_fn("advance", |ctx: NativeCallContext, ms: INT| {
            if ms < 0 {
                return Err(err(&ctx, format!("advance({ms}): time only moves forward")));
            }
            advance(&ctx, format!("advance({ms})"), ms as u64)
        })
        .register_fn("advance", |ctx: NativeCallContext, d: &str| {
            let ms = parse_duration(d).map_err(|e| err(&ctx, e))?;
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
            state::with(|t| {
                if t.rooms.iter().any(|r| r.idle().1 > 0) {
                    return Err("set_zone(): call it before room.load(...)".into());
                }
                t.clock
                    .set_zone(tz)
                    .map_err(|e| format!("set_zone({zone:?}): that is {e}"))
            })
            .map_err(|e| err(&ctx, e))
        })
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
