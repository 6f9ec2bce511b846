//! What a test reads of a room: its Status and Configuration (`get`),
//! the commands the scripts sent, the UI and HTTP requests they made, the
//! panels saved, a script's store, the scripts' log lines, its name.

use rhai::{Dynamic, Engine, NativeCallContext, Position};
use serde_json::{Value, json};

use super::{RhaiResult, RoomRef, dynamic_of, err, fail, room};
use crate::testrun::state;

/// Registers the room's observations.
pub(super) fn register(engine: &mut Engine) {
    engine
        .register_fn(
            "panels",
            |ctx: NativeCallContext, r: &mut RoomRef| -> RhaiResult<rhai::Array> {
                let room = room(&ctx, r)?;
                let out = room
                    .control("Inspect", json!({}))
                    .map_err(|e| err(&ctx, e.to_string()))?;
                let ids = out["Panels"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>());
                Ok(ids
                    .unwrap_or_default()
                    .into_iter()
                    .map(Dynamic::from)
                    .collect())
            },
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
            "get",
            |ctx: NativeCallContext, r: &mut RoomRef, path: &str| -> RhaiResult<Dynamic> {
                let v = room(&ctx, r)?
                    .get(path)
                    .map_err(|e| err(&ctx, e.to_string()))?;
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
                state::with(ctx.tag(), |t| {
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
        .register_fn(
            "name",
            |ctx: NativeCallContext, r: &mut RoomRef| -> RhaiResult<String> {
                state::with(ctx.tag(), |t| {
                    Ok(t.rooms.get(r.0).map(|r| r.name.clone()).unwrap_or_default())
                })
                .map_err(|e| fail(Position::NONE, e))
            },
        );
}

fn observe(ctx: &NativeCallContext, r: &RoomRef, method: &str, key: &str) -> RhaiResult<Dynamic> {
    let room = room(ctx, r)?;
    let out = room
        .control(method, json!({}))
        .map_err(|e| err(ctx, e.to_string()))?;
    dynamic_of(ctx, out.get(key).unwrap_or(&Value::Null))
}
