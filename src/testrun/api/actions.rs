//! What a test does to a room: `sim()` makes one; `room.load` starts a
//! script in it; the room's people and devices act (`status`, `event`,
//! calls, widgets, HTTP answers, command results, `replay` of recorded
//! feedback); `room.restart` restarts a script. Each waits for the scripts.

use std::sync::Arc;

use rhai::{Dynamic, Engine, INT, NativeCallContext};
use serde_json::{Value, json};

use super::{
    DEFAULT_PRODUCT, RhaiResult, RoomRef, SCRIPT_ERROR, act, dynamic_of, err, json_of, room, rooted,
};
use crate::sim::device::model::calls;
use crate::testrun::room::Room;
use crate::testrun::state;

/// Registers `sim` and the room's actions.
pub(super) fn register(engine: &mut Engine) {
    scripts(engine);
    device(engine);
    people(engine);
}

/// `sim()` and the scripts of a room: `load`, `restart`.
fn scripts(engine: &mut Engine) {
    engine
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
            "restart",
            |ctx: NativeCallContext, r: &mut RoomRef, name: &str| restart(&ctx, r, name),
        );
}

/// The room's devices: Status, events, HTTP answers, command results, replays.
fn device(engine: &mut Engine) {
    engine
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
        );
}

/// What the people in the room do: calls, the people count, widgets.
fn people(engine: &mut Engine) {
    engine
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
                widget_defined(&ctx, id)?;
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
                widget_defined(&ctx, id)?;
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
        );
}

fn load(ctx: &NativeCallContext, r: &RoomRef, name: &str, args: rhai::Map) -> RhaiResult<()> {
    let room = room(ctx, r)?;
    let name = name.trim_end_matches(".rhai").to_string();
    act(ctx, |t| {
        let file = format!("{name}.rhai");
        let refused = |e: &dyn std::fmt::Display| format!("room.load({name:?}): {e}");
        if !crate::script::files::is_script_file(&file) {
            return Err(refused(&"not a script name"));
        }
        room.can_load(&name).map_err(|e| refused(&e))?;
        let built = crate::script::loader::program(&t.engine, &t.dir, &file).map_err(|e| {
            t.script_error = true;
            format!("{SCRIPT_ERROR}: {}", e.message)
        })?;
        let codecs = t
            .rooms
            .iter()
            .map(|r| (r.name.clone(), r.codec.clone()))
            .collect();
        let launch = crate::testrun::room::Launch {
            program: built.program,
            args,
            clock: t.clock.clone(),
            limits: t.limits.clone(),
            logs: t.logs.clone(),
            codecs: Arc::new(codecs),
        };
        let _guard = t.rt.enter();
        room.load(&name, launch, t.stores.clone())
            .map_err(|e| refused(&e))
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
        if !["schema", "product", "name", "settings", "tags"].contains(&k.as_str()) {
            return Err(err(
                ctx,
                format!(
                    "sim(#{{...}}): unknown option {k:?} (known: schema, product, name, settings, tags)"
                ),
            ));
        }
    }
    let settings = match opts.get("settings") {
        None => rhai::Map::new(),
        Some(s) => s.clone().try_cast::<rhai::Map>().ok_or_else(|| {
            err(
                ctx,
                "sim(#{ settings: ... }): settings is a map, as #{ room_name: \"Oslo\" }".into(),
            )
        })?,
    };
    let tags: Vec<String> = match opts.get("tags") {
        None => Vec::new(),
        Some(t) => t
            .clone()
            .try_cast::<rhai::Array>()
            .ok_or_else(|| err(ctx, "sim(#{ tags: ... }): tags is an array of text".into()))?
            .into_iter()
            .map(|t| t.to_string())
            .collect(),
    };
    state::with(ctx.tag(), |t| {
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
            http_unscripted_fails: true,
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
        let mut room = t
            .block(Room::start(&name, options))
            .map_err(|e| e.to_string())?;
        room.settings = settings;
        if let Some(panels) = t.panels.clone() {
            crate::testrun::room::save_panels(&room, &panels, &tags).map_err(|e| e.to_string())?;
        }
        t.rooms.push(Arc::new(room));
        Ok(RoomRef(t.rooms.len() - 1))
    })
    .map_err(|e| err(ctx, e))
}

/// Refuses to act on a widget no panel of the project defines (when the
/// project has panels): the test fails naming the id.
fn widget_defined(ctx: &NativeCallContext, id: &str) -> RhaiResult<()> {
    let why = state::with(ctx.tag(), |t| {
        Ok(t.panels.as_ref().and_then(|p| p.undefined_widget(id)))
    })
    .map_err(|e| err(ctx, e))?;
    match why {
        Some(why) => Err(err(ctx, why)),
        None => Ok(()),
    }
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
    act(ctx, |_| {
        room.control(method, params).map_err(|e| e.to_string())
    })
}

fn replay(ctx: &NativeCallContext, r: &RoomRef, file: &str, opts: rhai::Map) -> RhaiResult<INT> {
    let room = room(ctx, r)?;
    let timed = match opts.get("timed") {
        None => false,
        Some(v) => v
            .as_bool()
            .map_err(|_| err(ctx, "room.replay(file, #{ timed: true|false })".to_string()))?,
    };
    state::with(ctx.tag(), |t| {
        let entries = crate::testrun::record::read(&t.dir.join(file))?;
        let start = t.clock.elapsed_ms();
        for e in &entries {
            if timed {
                let at = start.saturating_add(e.ms);
                t.clock
                    .check(at)
                    .map_err(|x| format!("{file}:{}: \"ms\": {} is {x}", e.line, e.ms))?;
                t.advance_to(at).map_err(|e| e.to_string())?;
            }
            room.inject(&e.feedback).map_err(|e| e.to_string())?;
            t.settle().map_err(|e| e.to_string())?;
        }
        Ok(entries.len() as INT)
    })
    .map_err(|e| err(ctx, e))
}
