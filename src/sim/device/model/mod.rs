//! What the built-in commands do to the simulated device, one area per
//! file: calls and call history ([`calls`]), the room itself (people,
//! presentation, selfview, standby, cameras: [`room`]), the user interface
//! ([`ui`]), the HTTP client ([`http`]), bookings ([`bookings`]) and
//! automatic standby ([`standby`]).
//! Commands known to the schema but not modelled here answer OK; an answer
//! scripted with `xSim/CommandResult` replaces a command's own.

pub mod bookings;
pub mod calls;
pub mod http;
pub mod room;
pub mod standby;
pub mod ui;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{Device, State};
use crate::xows::path::{Path, Segment};
use crate::xows::protocol::{RpcError, code};

pub use calls::incoming;

/// The numeric causes command errors carry in `data.Cause`, as devices
/// send them (Cisco's CSxAPI tests `Cause == 27` for an illegal argument).
pub mod cause {
    /// The command failed in the state the device is in.
    pub const FAILED: u32 = 1;
    /// An argument is missing, empty or names nothing that exists.
    pub const ILLEGAL_ARGUMENT: u32 = 27;
}

/// Work the model does right after a command's answer is sent, as a
/// device answers `Dial` before the call connects.
#[derive(Debug, Clone, PartialEq)]
pub enum Deferred {
    /// An outgoing call reaches the far end and connects.
    Connect(u64),
}

/// The room's state beyond the Status document.
#[derive(Debug, Default)]
pub struct Room {
    /// `xSim/CommandResult`: what a command answers instead of its own.
    pub(crate) scripted: Vec<(String, Result<Value, RpcError>)>,
    pub(crate) http_rules: Vec<http::Rule>,
    /// See [`crate::sim::DeviceOptions::http_unscripted_fails`].
    pub(crate) http_unscripted_fails: bool,
    pub(crate) http_log: VecDeque<Value>,
    pub(crate) ui_log: VecDeque<Value>,
    pub(crate) ui_seq: u64,
    pub(crate) history: Vec<Value>,
    pub(crate) next_history: u64,
    /// When each call began (for its duration) and the text of it.
    pub(crate) call_started: HashMap<u64, (DateTime<Utc>, String)>,
    pub(crate) presets: BTreeMap<u64, Value>,
    pub(crate) after_answer: Vec<Deferred>,
    /// The Status document with one element in every array, each with
    /// every field of the product: what new elements start from.
    pub(crate) template: Value,
    pub(crate) bookings: Vec<Value>,
    /// The web views shown by `UserInterface WebView Display`: target
    /// (OSD, Controller, ...) to its `Status UserInterface WebView` id.
    pub(crate) webviews: BTreeMap<String, u64>,
    /// Wakes the standby countdown ([`standby::run`]) on activity.
    pub(crate) activity: Arc<tokio::sync::Notify>,
    /// Counts activity: the countdown starts again when it changes.
    pub(crate) activity_seq: u64,
    /// `Standby ResetTimer Delay`: the countdown's length this once.
    pub(crate) standby_delay_once: Option<Duration>,
    /// The device's clock (see `DeviceOptions::clock`).
    pub(crate) clock: Option<std::sync::Arc<dyn crate::clock::Clock>>,
}

/// How many HTTP requests, UI actions, call history entries and scripted
/// HTTP responses are kept (the oldest go first).
pub const LOG_LIMIT: usize = 1000;

/// Appends to a bounded log.
pub(crate) fn remember(log: &mut VecDeque<Value>, entry: Value) {
    if log.len() == LOG_LIMIT {
        log.pop_front();
    }
    log.push_back(entry);
}

pub(crate) fn p(text: &str) -> Vec<Segment> {
    Path::parse(text).expect("model paths are valid").0
}

/// `PREFIX[id]`, or a leaf under it.
pub(crate) fn element(prefix: &str, id: u64, leaf: Option<&str>) -> Vec<Segment> {
    let mut path = p(prefix);
    path.push(Segment::Index(id));
    if let Some(l) = leaf {
        path.extend(p(l));
    }
    path
}

pub(crate) fn ok() -> Result<Value, RpcError> {
    Ok(json!({ "status": "OK" }))
}

/// A command error (code 1): the reason in `message`, and in `data` the
/// numeric `Cause` with the `Reason` again (scripts read either).
pub fn command_error(cause: u32, reason: impl Into<String>) -> RpcError {
    let reason = reason.into();
    RpcError::new(code::COMMAND_ERROR, reason.clone())
        .with_data(json!({ "Cause": cause, "Reason": reason }))
}

pub(crate) fn int(args: &Map<String, Value>, key: &str) -> Option<i64> {
    args.get(key).and_then(Value::as_i64)
}

pub(crate) fn text<'a>(args: &'a Map<String, Value>, key: &str) -> &'a str {
    args.get(key).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn set(st: &mut State, path: &str, value: Value) -> Result<Value, RpcError> {
    st.set(&p(path), value);
    ok()
}

/// The elements of the array at `path` (none when absent).
pub(crate) fn elements(st: &State, path: &str) -> Vec<Value> {
    st.get(&p(path))
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// A new element for the array at `array` (a Status path): every field
/// the product's template has, with `fields` laid over.
pub(crate) fn new_element(st: &State, array: &str, fields: Value) -> Value {
    let mut at = &st.room.template;
    for seg in p(array).iter().skip(1) {
        if let Segment::Name(n) = seg {
            at = &at[n.as_str()];
        }
    }
    let mut e = at.get(0).cloned().unwrap_or_else(|| json!({}));
    if let Value::Object(m) = &mut e {
        m.remove("id");
    }
    crate::sim::status::overlay(&mut e, &fields);
    e
}

/// The device's time now: its clock's, else the machine's.
pub(crate) fn utc_now(st: &State) -> DateTime<Utc> {
    st.room.clock.as_ref().map_or_else(Utc::now, |c| c.utc())
}

/// The device's time now as it writes it (`2026-11-21T21:30:00Z`).
pub(crate) fn now_text(st: &State) -> String {
    utc_now(st).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Runs a command whose arguments were already checked.
pub fn execute(
    st: &mut State,
    device: &Device,
    name: &str,
    args: &Map<String, Value>,
) -> Result<Value, RpcError> {
    if let Some((_, answer)) = st.room.scripted.iter().find(|(c, _)| c == name) {
        return answer.clone();
    }
    if let Some(r) = ui::execute(st, name, args) {
        return r;
    }
    if let Some(r) = room::execute(st, name, args) {
        return r;
    }
    if let Some(r) = calls::execute(st, name, args) {
        return r;
    }
    match name {
        "Message Send" => {
            st.emit(
                &p("Event Message Send"),
                json!({ "Text": text(args, "Text") }),
            );
            ok()
        }
        n if n.starts_with("HttpClient ") => http::execute(st, &n["HttpClient ".len()..], args),
        "Bookings List" => Ok(bookings::list(st, args)),
        "Bookings Get" => bookings::get(st, args),
        "SystemUnit Boot" => {
            st.pending_reboot = Some((device.options.boot_down, device.options.boot_not_ready));
            ok()
        }
        _ => ok(),
    }
}

/// Runs what the last answer left to do.
pub fn run_deferred(st: &mut State) {
    for job in std::mem::take(&mut st.room.after_answer) {
        match job {
            Deferred::Connect(id) => calls::connect(st, id),
        }
    }
}
