//! Simulator-only control methods, sent on the same socket as the xAPI
//! (`xSim/...`; a real codec answers them with -32601). They let tests and
//! benchmarks drive the device and inject faults:
//!
//! | method | params | effect |
//! | --- | --- | --- |
//! | `xSim/SetStatus` | `Path`, `Value` | set a status value or sub-document, with feedback |
//! | `xSim/Event` | `Path` (starts with `Event`), `Value`? | emit an event; fields the schema (or the built-in model) gives it and `Value` lacks get plausible values |
//! | `xSim/CommandResult` | `Command` (path words or array), `Result`, or `Error` {`Cause`, `Reason`}; neither clears | what the command answers from now on, instead of its own (and without its effects) |
//! | `xSim/HttpResponse` | `Method`? (any when absent), `Url` (exact or glob with `*`, `?`), `StatusCode`?, `Headers`? (object or `"Key: Value"` list), `Body`?; or `Clear` | what HttpClient answers for matching requests (the latest match wins) |
//! | `xSim/HttpRequests` | `Clear`? | `Requests`: every HttpClient request (`Method`, `Url`, `Headers`, `Body`, `Time`) in order |
//! | `xSim/UiLog` | `Clear`? | `Entries`: alerts, prompts, text lines and inputs shown or cleared, in order (`Seq`, `Kind`, `Action`, the command's arguments) |
//! | `xSim/People` | `Count` | people count and presence; people entering a sleeping room wake it to halfwake |
//! | `xSim/WidgetAction` | `WidgetId`, `Type`? (default: pressed, released, clicked), `Value`? | someone uses a UI extension widget |
//! | `xSim/PanelClick` | `PanelId` | someone opens a UI extension panel (`Event UserInterface Extensions Panel Clicked`) |
//! | `xSim/Hangup` | `CallId`? | the far end ends a call (`CallDisconnect` with `RemoteDisconnect`) |
//! | `xSim/RemoveStatus` | `Path` (ends with an element id) | remove an element; its ghost is sent |
//! | `xSim/EmitEvent` | `Path` (starts with `Event`), `Value` | emit an event |
//! | `xSim/IncomingCall` | `Number`, `DisplayName`? | a ringing call plus `Event IncomingCallIndication`; answers `CallId` |
//! | `xSim/DropSessions` | `CloseCode`?, `Reason`? | close every session: with that close frame, or cut without one |
//! | `xSim/Reboot` | `Down`, `NotReady` (seconds) | cut sessions; 502 on upgrade for `Down`, then -31997 for `NotReady` |
//! | `xSim/Delay` | `Ms` | delay every response by `Ms` (0 to stop) |
//! | `xSim/Freeze` | `Ms` | every session stops reading and writing for `Ms` (a half-open link) |
//! | `xSim/Refuse` | `Method` (prefix), `Code`, `Message`?, `Data`?, `Count`? | answer matching requests with that error |
//! | `xSim/SendRaw` | `Kind`: `text`, `binary`, `nonjson`, `oversize`, `deep`; `Text`?, `Size`?, `Depth`?, `All`? | send a malformed frame to this session (or to every session) |
//! | `xSim/Burst` | `Count`, `Path`? (default `Event Sim Burst`), `RatePerSec`? | emit `Count` events `{Seq, SentUs}` as fast as possible (or paced); answers when all are queued |
//! | `xSim/Configure` | `MaxSubscriptions`?, `Password`? | change device limits, or the password new connections need |
//! | `xSim/Inspect` | | `Commands` sent (last 1000; refused ones too, each with its `Result` or `Error`), `Panels`, `Sessions`, `Subscriptions`, `AuthFailures`, `Closes` (close codes clients sent), `Upgrades` (Unix ms of upgrade attempts) |

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::device::model::{self, calls, http, ui};
use super::device::{Device, Refusal};
use super::status;
use crate::xows::path::{Path, Root, Segment};
use crate::xows::protocol::RpcError;
use crate::xows::protocol::path_param;

/// Prefix of every control method.
pub const PREFIX: &str = "xSim/";

/// What the session must do for a control request.
pub enum Action {
    /// Answer now.
    Reply(Result<Value, RpcError>),
    /// Send this frame to the caller (then answer `true`).
    Raw(Message),
    /// Emit a burst, then answer.
    Burst {
        count: u64,
        path: Path,
        /// Events per second; `None` sends as fast as the writers take them.
        rate: Option<u64>,
    },
}

fn path_arg(params: &Value, root: Root) -> Result<Path, RpcError> {
    let path = path_param(params, "Path")?;
    if path.root() != Some(root) || path.has_wildcard() {
        return Err(RpcError::invalid_params(format!(
            "Path must start with {} and hold no **",
            root.as_str()
        )));
    }
    Ok(path)
}

fn secs(params: &Value, key: &str) -> Duration {
    Duration::from_secs_f64(
        params
            .get(key)
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
            .max(0.0),
    )
}

fn ms(params: &Value) -> Duration {
    Duration::from_millis(params.get("Ms").and_then(Value::as_u64).unwrap_or(0))
}

/// Handles one control request.
pub fn handle(device: &Device, method: &str, params: &Value) -> Action {
    let result = match method {
        "SetStatus" => path_arg(params, Root::Status).map(|path| {
            let value = params.get("Value").cloned().unwrap_or(Value::Null);
            device.lock().set(&path.0, value);
            Value::Bool(true)
        }),
        "RemoveStatus" => path_arg(params, Root::Status).and_then(|path| {
            if device.lock().remove(&path.0) {
                Ok(Value::Bool(true))
            } else {
                Err(RpcError::invalid_params(format!("no element at {path}")))
            }
        }),
        "Event" => path_arg(params, Root::Event).map(|path| {
            let given = params.get("Value").cloned().unwrap_or(json!({}));
            let value = status::fill_event(&device.schema, &path, given);
            device.lock().emit(&path.0, value);
            Value::Bool(true)
        }),
        "CommandResult" => command_result(device, params),
        "HttpResponse" => {
            let mut st = device.lock();
            if clear(params) {
                st.room.http_rules.clear();
                return Action::Reply(Ok(Value::Bool(true)));
            }
            http::Rule::from_params(params).map(|rule| {
                if st.room.http_rules.len() == model::LOG_LIMIT {
                    st.room.http_rules.remove(0);
                }
                st.room.http_rules.push(rule);
                Value::Bool(true)
            })
        }
        "HttpRequests" => {
            let mut st = device.lock();
            let requests: Vec<Value> = st.room.http_log.iter().cloned().collect();
            if clear(params) {
                st.room.http_log.clear();
            }
            Ok(json!({ "Requests": requests }))
        }
        "UiLog" => {
            let mut st = device.lock();
            let entries: Vec<Value> = st.room.ui_log.iter().cloned().collect();
            if clear(params) {
                st.room.ui_log.clear();
            }
            Ok(json!({ "Entries": entries }))
        }
        "People" => match params.get("Count").and_then(Value::as_u64) {
            Some(n) => {
                model::room::people(&mut device.lock(), n);
                Ok(Value::Bool(true))
            }
            None => Err(RpcError::invalid_params("Count must be a number of people")),
        },
        "WidgetAction" => match params.get("WidgetId").and_then(Value::as_str) {
            Some(w) => {
                let kind = params.get("Type").and_then(Value::as_str);
                let value = params.get("Value").and_then(Value::as_str).unwrap_or("");
                ui::widget_action(&mut device.lock(), w, kind, value);
                Ok(Value::Bool(true))
            }
            None => Err(RpcError::invalid_params("missing WidgetId")),
        },
        "PanelClick" => match params.get("PanelId").and_then(Value::as_str) {
            Some(id) => {
                device.lock().emit(
                    &Path::parse("Event UserInterface Extensions Panel Clicked")
                        .expect("valid")
                        .0,
                    json!({ "PanelId": id, "Origin": "OSD" }),
                );
                Ok(Value::Bool(true))
            }
            None => Err(RpcError::invalid_params("missing PanelId")),
        },
        "Hangup" => {
            let id = params.get("CallId").and_then(Value::as_i64);
            calls::remote_hangup(&mut device.lock(), id)
        }
        "EmitEvent" => path_arg(params, Root::Event).map(|path| {
            let value = params.get("Value").cloned().unwrap_or(json!({}));
            device.lock().emit(&path.0, value);
            Value::Bool(true)
        }),
        "IncomingCall" => {
            let number = params.get("Number").and_then(Value::as_str).unwrap_or("");
            let display = params
                .get("DisplayName")
                .and_then(Value::as_str)
                .unwrap_or(number);
            let id = model::incoming(&mut device.lock(), number, display);
            Ok(json!({ "CallId": id }))
        }
        "DropSessions" => {
            let st = device.lock();
            match params.get("CloseCode").and_then(Value::as_u64) {
                Some(code) => {
                    let reason = params.get("Reason").and_then(Value::as_str).unwrap_or("");
                    for slot in st.sessions.values() {
                        let frame = CloseFrame {
                            code: CloseCode::from(code as u16),
                            reason: reason.to_string().into(),
                        };
                        if slot.tx.try_send(Message::Close(Some(frame))).is_err() {
                            slot.cancel.cancel();
                        }
                    }
                }
                None => st.sessions.values().for_each(|s| s.cancel.cancel()),
            }
            Ok(json!({ "Dropped": st.sessions.len() }))
        }
        "Reboot" => {
            device.lock().pending_reboot = Some((secs(params, "Down"), secs(params, "NotReady")));
            Ok(Value::Bool(true))
        }
        "Delay" => {
            device.lock().delay = ms(params);
            Ok(Value::Bool(true))
        }
        "Freeze" => {
            device.lock().frozen_until = Some(Instant::now() + ms(params));
            Ok(Value::Bool(true))
        }
        "Refuse" => refuse(device, params),
        "SendRaw" => {
            let action = raw(params);
            if params.get("All").and_then(Value::as_bool) == Some(true)
                && let Action::Raw(msg) = &action
            {
                let st = device.lock();
                for slot in st.sessions.values() {
                    let _ = slot.tx.try_send(msg.clone());
                }
                return Action::Reply(Ok(json!({ "Sent": st.sessions.len() })));
            }
            return action;
        }
        "Burst" => {
            let count = params.get("Count").and_then(Value::as_u64).unwrap_or(1);
            let path = if params.get("Path").is_some() {
                match path_arg(params, Root::Event) {
                    Ok(p) => p,
                    Err(e) => return Action::Reply(Err(e)),
                }
            } else {
                Path::parse("Event Sim Burst").expect("valid")
            };
            let rate = params
                .get("RatePerSec")
                .and_then(Value::as_u64)
                .filter(|r| *r > 0);
            return Action::Burst { count, path, rate };
        }
        "Configure" => {
            let mut st = device.lock();
            if let Some(n) = params.get("MaxSubscriptions").and_then(Value::as_u64) {
                st.max_subscriptions = n as usize;
            }
            if let Some(p) = params.get("Password").and_then(Value::as_str) {
                let user = st
                    .credentials
                    .split(':')
                    .next()
                    .unwrap_or("admin")
                    .to_string();
                st.credentials = format!("{user}:{p}");
            }
            Ok(Value::Bool(true))
        }
        "Inspect" => {
            let subscriptions = device.subscription_count();
            let st = device.lock();
            Ok(json!({
                "Commands": st.command_log,
                "Panels": st.panels,
                "Sessions": st.sessions.len(),
                "Subscriptions": subscriptions,
                "AuthFailures": st.auth_failures,
                "Upgrades": st.upgrades,
                "Closes": st.closes,
            }))
        }
        _ => Err(RpcError::method_not_found()),
    };
    Action::Reply(result)
}

fn clear(params: &Value) -> bool {
    params.get("Clear").and_then(Value::as_bool) == Some(true)
}

/// `xSim/CommandResult`: scripts (or, with neither `Result` nor `Error`,
/// forgets) what a command answers.
fn command_result(device: &Device, params: &Value) -> Result<Value, RpcError> {
    let mut path = path_param(params, "Command")?;
    if path.0.first() == Some(&Segment::Name("Command".into())) {
        path.0.remove(0);
    }
    device
        .schema
        .command(&path)
        .map_err(|e| RpcError::invalid_params(format!("Command {path}: {e}")))?;
    let name = path.to_string();
    let answer = match (params.get("Result"), params.get("Error")) {
        (_, Some(err)) => {
            let cause = err.get("Cause").and_then(Value::as_u64).unwrap_or(1) as u32;
            let reason = err
                .get("Reason")
                .and_then(Value::as_str)
                .unwrap_or("Command returned an error.");
            Some(Err(model::command_error(cause, reason)))
        }
        (Some(result), None) => Some(Ok(result.clone())),
        (None, None) => None,
    };
    let mut st = device.lock();
    st.room.scripted.retain(|(c, _)| *c != name);
    if let Some(a) = answer {
        st.room.scripted.push((name, a));
    }
    Ok(Value::Bool(true))
}

fn refuse(device: &Device, params: &Value) -> Result<Value, RpcError> {
    let prefix = params
        .get("Method")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("missing Method"))?;
    let code = params
        .get("Code")
        .and_then(Value::as_i64)
        .ok_or_else(|| RpcError::invalid_params("missing Code"))?;
    let message = params
        .get("Message")
        .and_then(Value::as_str)
        .unwrap_or("Refused by the simulator");
    let mut error = RpcError::new(code, message);
    error.data = params.get("Data").cloned();
    let mut st = device.lock();
    st.refusals.retain(|r| r.method_prefix != prefix);
    if code != 0 {
        st.refusals.push(Refusal {
            method_prefix: prefix.to_string(),
            error,
            remaining: params.get("Count").and_then(Value::as_u64),
        });
    }
    Ok(Value::Bool(true))
}

/// Largest `Size` (bytes) or `Depth` a raw frame may ask for: enough to
/// cross any client limit, small enough that the simulator survives.
pub const MAX_RAW_BYTES: u64 = 128 << 20;

fn raw(params: &Value) -> Action {
    let kind = params.get("Kind").and_then(Value::as_str).unwrap_or("text");
    for key in ["Size", "Depth"] {
        if let Some(n) = params.get(key).and_then(Value::as_u64)
            && n > MAX_RAW_BYTES
        {
            return Action::Reply(Err(RpcError::invalid_params(format!(
                "{key} {n} is over the limit of {MAX_RAW_BYTES}"
            ))));
        }
    }
    let size = params
        .get("Size")
        .and_then(Value::as_u64)
        .unwrap_or(1 << 20) as usize;
    let msg = match kind {
        "text" => Message::text(params.get("Text").and_then(Value::as_str).unwrap_or("")),
        "binary" => Message::binary(b"\x00\x01binary".to_vec()),
        "nonjson" => Message::text("this is not JSON {"),
        "oversize" => {
            let pad = "x".repeat(size);
            Message::text(format!(
                r#"{{"jsonrpc":"2.0","method":"xFeedback/Event","params":{{"Id":0,"Event":{{"Pad":"{pad}"}}}}}}"#
            ))
        }
        "deep" => {
            let depth = params
                .get("Depth")
                .and_then(Value::as_u64)
                .unwrap_or(100_000) as usize;
            Message::text(format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
        }
        other => {
            return Action::Reply(Err(RpcError::invalid_params(format!(
                "unknown Kind {other:?}"
            ))));
        }
    };
    Action::Raw(msg)
}
