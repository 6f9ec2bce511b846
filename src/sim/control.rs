//! Simulator-only control methods, sent on the same socket as the xAPI
//! (`xSim/...`; a real codec answers them with -32601). They let tests and
//! benchmarks drive the device and inject faults. Params are read strictly
//! ([`super::args`]): a key a method does not take, a value of the wrong
//! type or a wait past a day is refused with -32602 and a message naming
//! the key, never ignored (`null` counts as absent).
//!
//! | method | params | effect |
//! | --- | --- | --- |
//! | `xSim/SetStatus` | `Path`, `Value` | set a status value or sub-document, with feedback |
//! | `xSim/Event` | `Path` (starts with `Event`), `Value`? | emit an event; fields the schema (or the built-in model) gives it and `Value` lacks get plausible values, and given ones its types (`OptionId: "3"` is sent as 3) |
//! | `xSim/CommandResult` | `Command` (path words or array), `Result`, or `Error` {`Cause`, `Reason`}; neither clears | what the command answers from now on, instead of its own (and without its effects) |
//! | `xSim/HttpResponse` | `Method`? (any when absent), `Url` (exact or glob with `*`, `?`), `StatusCode`?, `Headers`? (an object, `"Key: Value"` strings, or `[{"Key", "Value"}]` as the device reports them), `Body`?; or `Clear` | what HttpClient answers for matching requests (the latest match wins) |
//! | `xSim/HttpRequests` | `Clear`? | `Requests`: every HttpClient request (`Method`, `Url`, `Headers`, `Body`, `Time`) in order |
//! | `xSim/UiLog` | `Clear`? | `Entries`: alerts, prompts, text lines and inputs shown or cleared, in order (`Seq`, `Kind`, `Action`, the command's arguments) |
//! | `xSim/People` | `Count` | people count and presence; people entering a sleeping room wake it to halfwake |
//! | `xSim/WidgetAction` | `WidgetId`, `Type`? (default: pressed, released, clicked), `Value`? | someone uses a UI extension widget |
//! | `xSim/PanelClick` | `PanelId` | someone opens a UI extension panel (`Event UserInterface Extensions Panel Clicked`) |
//! | `xSim/Hangup` | `CallId`? | the far end ends a call (`CallDisconnect` with `RemoteDisconnect`) |
//! | `xSim/RemoveStatus` | `Path` (ends with an element id) | remove an element; its ghost is sent |
//! | `xSim/EmitEvent` | `Path` (starts with `Event`), `Value` | emit an event as given, its fields in the schema's types |
//! | `xSim/IncomingCall` | `Number`, `DisplayName`? | a ringing call plus `Event IncomingCallIndication`; answers `CallId` |
//! | `xSim/DropSessions` | `CloseCode`?, `Reason`? | close every session: with that close frame, or cut without one |
//! | `xSim/Reboot` | `Down`?, `NotReady`? (seconds, at most a day) | cut sessions; 502 on upgrade for `Down`, then -31997 for `NotReady` |
//! | `xSim/Delay` | `Ms` (at most a day) | delay every response by `Ms` (0 to stop) |
//! | `xSim/Freeze` | `Ms` (at most a day) | every session stops reading and writing for `Ms` (a half-open link) |
//! | `xSim/Refuse` | `Method` (prefix), `Code`, `Message`?, `Data`?, `Count`? | answer matching requests with that error |
//! | `xSim/SendRaw` | `Kind`: `text`, `binary`, `nonjson`, `oversize`, `deep`; `Text`?, `Size`?, `Depth`?, `All`? | send a malformed frame to this session (or to every session) |
//! | `xSim/Burst` | `Count`, `Path`? (default `Event Sim Burst`), `RatePerSec`? | emit `Count` events `{Seq, SentUs}` as fast as possible (or paced); answers when all are queued |
//! | `xSim/Configure` | `MaxSubscriptions`?, `Password`? | change device limits, or the password new connections need |
//! | `xSim/Inspect` | | `Commands` sent (last 1000; refused ones too, each with its `Result` or `Error`), `Panels`, `Sessions`, `Subscriptions`, `Requests` (counts by method and path, as `xGet Status Audio Volume`; every command as `xCommand`; the first 256 kinds), `AuthFailures`, `Closes` (close codes clients sent), `Upgrades` (Unix ms of upgrade attempts, the last 100,000) |

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::args::{self, Args};
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

impl Args<'_> {
    /// The `Path` param: a path under `root` without `**`.
    fn path(&self, root: Root) -> Result<Path, RpcError> {
        self.path_at("Path", root)
    }

    fn path_at(&self, key: &str, root: Root) -> Result<Path, RpcError> {
        let raw = self
            .value(key)
            .ok_or_else(|| self.bad(key, "is missing (a path such as \"Status Audio Volume\")"))?;
        let path = match raw {
            Value::String(s) => Path::parse(s),
            Value::Array(_) => Path::from_json(raw),
            other => {
                return Err(self.bad(key, format!("must be a path, got {}", args::kind(other))));
            }
        }
        .map_err(|e| self.bad(key, e))?;
        if path.root() != Some(root) || path.has_wildcard() {
            return Err(self.bad(
                key,
                format!(
                    "must start with {} and hold no **, got {path}",
                    root.as_str()
                ),
            ));
        }
        Ok(path)
    }

    /// `Clear: true` (false or absent: no).
    fn clear(&self) -> Result<bool, RpcError> {
        Ok(self.bool("Clear")? == Some(true))
    }
}

const SECOND: Duration = Duration::from_secs(1);
const MILLI: Duration = Duration::from_millis(1);

/// Handles one control request.
pub fn handle(device: &Device, method: &str, params: &Value) -> Action {
    match action(device, method, params) {
        Ok(a) => a,
        Err(e) => Action::Reply(Err(e)),
    }
}

fn ok() -> Result<Action, RpcError> {
    Ok(Action::Reply(Ok(Value::Bool(true))))
}

fn reply(v: Value) -> Result<Action, RpcError> {
    Ok(Action::Reply(Ok(v)))
}

fn action(device: &Device, method: &str, params: &Value) -> Result<Action, RpcError> {
    let known: &[&str] = match method {
        "SetStatus" | "EmitEvent" | "Event" => &["Path", "Value"],
        "RemoveStatus" => &["Path"],
        "CommandResult" => &["Command", "Result", "Error"],
        "HttpResponse" => &["Method", "Url", "StatusCode", "Headers", "Body", "Clear"],
        "HttpRequests" | "UiLog" => &["Clear"],
        "People" => &["Count"],
        "WidgetAction" => &["WidgetId", "Type", "Value"],
        "PanelClick" => &["PanelId"],
        "Hangup" => &["CallId"],
        "IncomingCall" => &["Number", "DisplayName"],
        "DropSessions" => &["CloseCode", "Reason"],
        "Reboot" => &["Down", "NotReady"],
        "Delay" | "Freeze" => &["Ms"],
        "Refuse" => &["Method", "Code", "Message", "Data", "Count"],
        "SendRaw" => &["Kind", "Text", "Size", "Depth", "All"],
        "Burst" => &["Count", "Path", "RatePerSec"],
        "Configure" => &["MaxSubscriptions", "Password"],
        "Inspect" => &[],
        _ => return Err(RpcError::method_not_found()),
    };
    let a = Args::new(method, params, known)?;
    match method {
        "SetStatus" => {
            let path = a.path(Root::Status)?;
            let value = a
                .value("Value")
                .cloned()
                .ok_or_else(|| a.bad("Value", "is missing (the value or sub-document to set)"))?;
            device.lock().set(&path.0, value);
            ok()
        }
        "RemoveStatus" => {
            let path = a.path(Root::Status)?;
            if device.lock().remove(&path.0) {
                ok()
            } else {
                Err(a.bad("Path", format!("names no element: {path}")))
            }
        }
        "Event" => {
            let path = a.path(Root::Event)?;
            let given = match a.value("Value") {
                None => json!({}),
                Some(v @ Value::Object(_)) => v.clone(),
                Some(other) => {
                    return Err(a.bad(
                        "Value",
                        format!(
                            "must be an object of the event's fields, got {}",
                            args::kind(other)
                        ),
                    ));
                }
            };
            let value = status::fill_event(&device.schema, &path, given);
            device.lock().emit(&path.0, value);
            ok()
        }
        "EmitEvent" => {
            let path = a.path(Root::Event)?;
            let given = a.value("Value").cloned().unwrap_or(json!({}));
            let value = status::typed_event(&device.schema, &path, given);
            device.lock().emit(&path.0, value);
            ok()
        }
        "CommandResult" => command_result(device, &a).map(|v| Action::Reply(Ok(v))),
        "HttpResponse" => {
            let clear = a.clear()?;
            let mut st = device.lock();
            if clear {
                if let Some(other) = known
                    .iter()
                    .find(|k| **k != "Clear" && a.value(k).is_some())
                {
                    return Err(a.bad(
                        other,
                        "cannot come with Clear: true (Clear forgets every rule)",
                    ));
                }
                st.room.http_rules.clear();
                return ok();
            }
            let rule = http::Rule::from_args(&a)?;
            if st.room.http_rules.len() == model::LOG_LIMIT {
                st.room.http_rules.remove(0);
            }
            st.room.http_rules.push(rule);
            ok()
        }
        "HttpRequests" => {
            let clear = a.clear()?;
            let mut st = device.lock();
            let requests: Vec<Value> = st.room.http_log.iter().cloned().collect();
            if clear {
                st.room.http_log.clear();
            }
            reply(json!({ "Requests": requests }))
        }
        "UiLog" => {
            let clear = a.clear()?;
            let mut st = device.lock();
            let entries: Vec<Value> = st.room.ui_log.iter().cloned().collect();
            if clear {
                st.room.ui_log.clear();
            }
            reply(json!({ "Entries": entries }))
        }
        "People" => {
            let n = a.need_u64("Count")?;
            model::room::people(&mut device.lock(), n);
            ok()
        }
        "WidgetAction" => {
            let widget = a.need_str("WidgetId")?;
            let kind = a.str("Type")?;
            let value = a.text("Value")?.unwrap_or_default();
            ui::widget_action(&mut device.lock(), widget, kind, &value);
            ok()
        }
        "PanelClick" => {
            let id = a.need_str("PanelId")?;
            let mut st = device.lock();
            model::standby::wake(&mut st);
            st.emit(
                &Path::parse("Event UserInterface Extensions Panel Clicked")
                    .expect("valid")
                    .0,
                json!({ "PanelId": id, "Origin": "OSD" }),
            );
            ok()
        }
        "Hangup" => {
            let id = a.i64("CallId")?;
            calls::remote_hangup(&mut device.lock(), id).map(|v| Action::Reply(Ok(v)))
        }
        "IncomingCall" => {
            let number = a.need_str("Number")?;
            if number.trim().is_empty() {
                return Err(a.bad("Number", "is empty (the caller's number or URI)"));
            }
            let display = a.str("DisplayName")?.unwrap_or(number);
            let id = model::incoming(&mut device.lock(), number, display);
            reply(json!({ "CallId": id }))
        }
        "DropSessions" => drop_sessions(device, &a),
        "Reboot" => {
            let down = a.wait("Down", SECOND)?.unwrap_or_default();
            let not_ready = a.wait("NotReady", SECOND)?.unwrap_or_default();
            device.lock().pending_reboot = Some((down, not_ready));
            ok()
        }
        "Delay" => {
            device.lock().delay = a.wait("Ms", MILLI)?.unwrap_or_default();
            ok()
        }
        "Freeze" => {
            let ms = a.wait("Ms", MILLI)?.unwrap_or_default();
            device.lock().frozen_until = Some(Instant::now() + ms);
            ok()
        }
        "Refuse" => refuse(device, &a).map(|v| Action::Reply(Ok(v))),
        "SendRaw" => {
            let action = raw(&a)?;
            if a.bool("All")? == Some(true)
                && let Action::Raw(msg) = &action
            {
                let st = device.lock();
                for slot in st.sessions.values() {
                    let _ = slot.tx.try_send(msg.clone());
                }
                return reply(json!({ "Sent": st.sessions.len() }));
            }
            Ok(action)
        }
        "Burst" => {
            let count = a.u64("Count")?.unwrap_or(1);
            let path = match a.value("Path") {
                Some(_) => a.path(Root::Event)?,
                None => Path::parse("Event Sim Burst").expect("valid"),
            };
            let rate = a.u64("RatePerSec")?.filter(|r| *r > 0);
            Ok(Action::Burst { count, path, rate })
        }
        "Configure" => {
            let max = a.u64("MaxSubscriptions")?;
            let password = a.str("Password")?;
            let mut st = device.lock();
            if let Some(n) = max {
                st.max_subscriptions = usize::try_from(n).unwrap_or(usize::MAX);
            }
            if let Some(p) = password {
                let user = st
                    .credentials
                    .split(':')
                    .next()
                    .unwrap_or("admin")
                    .to_string();
                st.credentials = format!("{user}:{p}");
            }
            ok()
        }
        "Inspect" => {
            let subscriptions = device.subscription_count();
            let st = device.lock();
            reply(json!({
                "Commands": st.command_log,
                "Panels": st.panels,
                "Sessions": st.sessions.len(),
                "Subscriptions": subscriptions,
                "Requests": st.requests,
                "AuthFailures": st.auth_failures,
                "Upgrades": st.upgrades,
                "Closes": st.closes,
            }))
        }
        _ => Err(RpcError::method_not_found()),
    }
}

/// `xSim/DropSessions`: every session closes with that close frame, or is
/// cut without one.
fn drop_sessions(device: &Device, a: &Args) -> Result<Action, RpcError> {
    let code = a.u64("CloseCode")?;
    let reason = a.str("Reason")?.unwrap_or("");
    if let Some(c) = code
        && !(1000..=4999).contains(&c)
    {
        return Err(a.bad("CloseCode", format!("{c} is not a close code (1000..4999)")));
    }
    if reason.len() > 123 {
        return Err(a.bad("Reason", "is longer than a close frame holds (123 bytes)"));
    }
    if code.is_none() && a.value("Reason").is_some() {
        return Err(a.bad(
            "Reason",
            "needs a CloseCode (without one, sessions are cut)",
        ));
    }
    let st = device.lock();
    match code {
        Some(code) => {
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
    reply(json!({ "Dropped": st.sessions.len() }))
}

/// `xSim/CommandResult`: scripts (or, with neither `Result` nor `Error`,
/// forgets) what a command answers.
fn command_result(device: &Device, a: &Args) -> Result<Value, RpcError> {
    let raw = a
        .value("Command")
        .ok_or_else(|| a.bad("Command", "is missing (path words or a list, \"Dial\")"))?;
    let mut path = path_param(&json!({ "Command": raw }), "Command")
        .map_err(|_| a.bad("Command", format!("is not a command path: {raw}")))?;
    if path.0.first() == Some(&Segment::Name("Command".into())) {
        path.0.remove(0);
    }
    device
        .schema
        .command(&path)
        .map_err(|e| a.bad("Command", format!("{path}: {e}")))?;
    let name = path.to_string();
    let answer = match (a.value("Result"), a.value("Error")) {
        (Some(_), Some(_)) => {
            return Err(a.bad("Error", "cannot come with Result (one answer per command)"));
        }
        (None, Some(err)) => {
            let e = Args::new("CommandResult Error", err, &["Cause", "Reason"])?;
            let cause = e.u64("Cause")?.unwrap_or(1);
            let cause = u32::try_from(cause).map_err(|_| e.bad("Cause", "is too large"))?;
            let reason = e.str("Reason")?.unwrap_or("Command returned an error.");
            Some(Err(model::command_error(cause, reason)))
        }
        (Some(result), None) => Some(Ok(result.clone())),
        (None, None) => None,
    };
    let mut st = device.lock();
    st.room.scripted.retain(|(c, _)| *c != name);
    if let Some(answer) = answer {
        st.room.scripted.push((name, answer));
    }
    Ok(Value::Bool(true))
}

fn refuse(device: &Device, a: &Args) -> Result<Value, RpcError> {
    let prefix = a.need_str("Method")?;
    let code = a
        .i64("Code")?
        .ok_or_else(|| a.bad("Code", "is missing (the error code; 0 stops refusing)"))?;
    let message = a.str("Message")?.unwrap_or("Refused by the simulator");
    let remaining = a.u64("Count")?;
    let mut error = RpcError::new(code, message);
    error.data = a.value("Data").cloned();
    let mut st = device.lock();
    st.refusals.retain(|r| r.method_prefix != prefix);
    if code != 0 {
        st.refusals.push(Refusal {
            method_prefix: prefix.to_string(),
            error,
            remaining,
        });
    }
    Ok(Value::Bool(true))
}

/// Largest `Size` (bytes) or `Depth` a raw frame may ask for: enough to
/// cross any client limit, small enough that the simulator survives.
pub const MAX_RAW_BYTES: u64 = 128 << 20;

fn raw(a: &Args) -> Result<Action, RpcError> {
    let kind = a.str("Kind")?.unwrap_or("text");
    for key in ["Size", "Depth"] {
        if let Some(n) = a.u64(key)?
            && n > MAX_RAW_BYTES
        {
            return Err(a.bad(key, format!("{n} is over the limit of {MAX_RAW_BYTES}")));
        }
    }
    let size = a.u64("Size")?.unwrap_or(1 << 20) as usize;
    let text = a.str("Text")?;
    let msg = match kind {
        "text" => Message::text(text.unwrap_or("")),
        "binary" => Message::binary(b"\x00\x01binary".to_vec()),
        "nonjson" => Message::text("this is not JSON {"),
        "oversize" => {
            let pad = "x".repeat(size);
            Message::text(format!(
                r#"{{"jsonrpc":"2.0","method":"xFeedback/Event","params":{{"Id":0,"Event":{{"Pad":"{pad}"}}}}}}"#
            ))
        }
        "deep" => {
            let depth = a.u64("Depth")?.unwrap_or(100_000) as usize;
            Message::text(format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
        }
        other => {
            return Err(a.bad(
                "Kind",
                format!("{other:?} is not one of text, binary, nonjson, oversize, deep"),
            ));
        }
    };
    Ok(Action::Raw(msg))
}
