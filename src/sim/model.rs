//! What the built-in commands do to the simulated device: volume, mute,
//! standby, calls, UI messages and extensions, messages, HTTP client and
//! boot. Commands known to the schema but not modelled here answer OK.

use serde_json::{Map, Value, json};

use super::device::{Device, State};
use crate::xows::path::{Path, Segment};
use crate::xows::protocol::{RpcError, code};

fn p(text: &str) -> Vec<Segment> {
    Path::parse(text).expect("model paths are valid").0
}

/// `Status Call[id]`, or a leaf under it.
fn call_path(id: u64, leaf: Option<&str>) -> Vec<Segment> {
    let mut path = p("Status Call");
    path.push(Segment::Index(id));
    if let Some(l) = leaf {
        path.push(Segment::Name(l.into()));
    }
    path
}

fn ok() -> Result<Value, RpcError> {
    Ok(json!({ "status": "OK" }))
}

/// A command error (code 1) with its reason, as a codec answers.
pub fn command_error(reason: impl Into<String>) -> RpcError {
    RpcError::new(code::COMMAND_ERROR, "Command returned an error.")
        .with_data(json!({ "Reason": reason.into() }))
}

fn int(args: &Map<String, Value>, key: &str) -> Option<i64> {
    args.get(key).and_then(Value::as_i64)
}

fn text<'a>(args: &'a Map<String, Value>, key: &str) -> &'a str {
    args.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Runs a command whose arguments were already checked.
pub fn execute(
    st: &mut State,
    device: &Device,
    name: &str,
    args: &Map<String, Value>,
) -> Result<Value, RpcError> {
    match name {
        "Audio Volume Set" => set_volume(st, int(args, "Level").unwrap_or(0)),
        "Audio Volume Increase" => step_volume(st, int(args, "Steps").unwrap_or(5)),
        "Audio Volume Decrease" => step_volume(st, -int(args, "Steps").unwrap_or(5)),
        "Audio Volume SetToDefault" => {
            let d = st.get(&p("Configuration Audio DefaultVolume"));
            set_volume(st, d.and_then(|v| v.as_i64()).unwrap_or(50))
        }
        "Audio Volume Mute" => set(st, "Status Audio VolumeMute", "On"),
        "Audio Volume Unmute" => set(st, "Status Audio VolumeMute", "Off"),
        "Audio Microphones Mute" => set(st, "Status Audio Microphones Mute", "On"),
        "Audio Microphones Unmute" => set(st, "Status Audio Microphones Mute", "Off"),
        "Audio Microphones ToggleMute" => {
            let on = st.get(&p("Status Audio Microphones Mute")) == Some(json!("On"));
            set(
                st,
                "Status Audio Microphones Mute",
                if on { "Off" } else { "On" },
            )
        }
        "Standby Activate" => set(st, "Status Standby State", "Standby"),
        "Standby Deactivate" => set(st, "Status Standby State", "Off"),
        "Standby Halfwake" => set(st, "Status Standby State", "Halfwake"),
        "Dial" => dial(st, args),
        "Call Disconnect" => end_call(st, int(args, "CallId"), "LocalDisconnect"),
        "Call Reject" => end_call(st, int(args, "CallId"), "LocalReject"),
        "Call Accept" => accept(st, int(args, "CallId")),
        "UserInterface Extensions Panel Save" => {
            st.panels
                .insert(text(args, "PanelId").into(), text(args, "body").into());
            ok()
        }
        "UserInterface Extensions Panel Remove" => match st.panels.remove(text(args, "PanelId")) {
            Some(_) => ok(),
            None => Err(command_error("Panel not found")),
        },
        "UserInterface Extensions Widget SetValue" => {
            widget_value(st, text(args, "WidgetId"), text(args, "Value"))
        }
        "UserInterface Extensions Widget UnsetValue" => {
            widget_value(st, text(args, "WidgetId"), "")
        }
        "Message Send" => {
            st.emit(
                &p("Event Message Send"),
                json!({ "Text": text(args, "Text") }),
            );
            ok()
        }
        "HttpClient Post" | "HttpClient Get" => {
            let mode = st.get(&p("Configuration HttpClient Mode"));
            if mode != Some(json!("On")) {
                return Err(command_error(
                    "HttpClient is disabled (Configuration HttpClient Mode is Off)",
                ));
            }
            Ok(json!({ "status": "OK", "StatusCode": 200, "Headers": [], "Body": "" }))
        }
        "SystemUnit Boot" => {
            st.pending_reboot = Some((device.options.boot_down, device.options.boot_not_ready));
            ok()
        }
        _ => ok(),
    }
}

fn set(st: &mut State, path: &str, value: &str) -> Result<Value, RpcError> {
    st.set(&p(path), Value::String(value.into()));
    ok()
}

fn set_volume(st: &mut State, level: i64) -> Result<Value, RpcError> {
    st.set(&p("Status Audio Volume"), json!(level.clamp(0, 100)));
    ok()
}

fn step_volume(st: &mut State, steps: i64) -> Result<Value, RpcError> {
    let now = st
        .get(&p("Status Audio Volume"))
        .and_then(|v| v.as_i64())
        .unwrap_or(50);
    set_volume(st, now + steps)
}

fn calls(st: &State) -> Vec<Value> {
    st.get(&p("Status Call"))
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn count_calls(st: &mut State) {
    let calls = calls(st);
    let active = calls
        .iter()
        .filter(|c| c["Status"] == json!("Connected"))
        .count();
    st.set(
        &p("Status SystemUnit State"),
        json!({
            "NumberOfActiveCalls": active,
            "NumberOfInProgressCalls": calls.len() - active,
        }),
    );
}

fn dial(st: &mut State, args: &Map<String, Value>) -> Result<Value, RpcError> {
    let id = st.next_call_id;
    st.next_call_id += 1;
    let number = text(args, "Number");
    let mut call = json!({
        "Status": "Connected",
        "Direction": "Outgoing",
        "RemoteNumber": number,
        "CallbackNumber": number,
        "DisplayName": args.get("DisplayName").and_then(Value::as_str).unwrap_or(number),
        "Protocol": args.get("Protocol").and_then(Value::as_str).unwrap_or("Sip"),
        "CallType": "Video",
        "Duration": 0,
    });
    if let Some(t) = args.get("CallType").and_then(Value::as_str)
        && t != "Auto"
    {
        call["CallType"] = json!(t);
    }
    st.set(&call_path(id, None), call);
    count_calls(st);
    Ok(json!({ "CallId": id, "ConferenceId": id }))
}

/// A call arriving from `number` (the simulator's `xSim/IncomingCall`).
pub fn incoming(st: &mut State, number: &str, display: &str) -> u64 {
    let id = st.next_call_id;
    st.next_call_id += 1;
    let call = json!({
        "Status": "Ringing",
        "Direction": "Incoming",
        "RemoteNumber": number,
        "CallbackNumber": number,
        "DisplayName": display,
        "Protocol": "Sip",
        "CallType": "Video",
        "Duration": 0,
    });
    st.set(&call_path(id, None), call);
    st.emit(
        &p("Event IncomingCallIndication"),
        json!({ "CallId": id, "RemoteURI": number, "DisplayNameValue": display }),
    );
    count_calls(st);
    id
}

fn find_call(st: &State, id: Option<i64>) -> Result<Value, RpcError> {
    let calls = calls(st);
    match id {
        Some(id) => calls
            .into_iter()
            .find(|c| c["id"].as_i64() == Some(id))
            .ok_or_else(|| command_error(format!("No call with CallId {id}"))),
        None => calls
            .into_iter()
            .next()
            .ok_or_else(|| command_error("No active call")),
    }
}

fn end_call(st: &mut State, id: Option<i64>, cause: &str) -> Result<Value, RpcError> {
    let call = find_call(st, id)?;
    let id = call["id"].as_u64().unwrap_or_default();
    st.remove(&call_path(id, None));
    st.emit(
        &p("Event CallDisconnect"),
        json!({
            "CallId": id,
            "CauseType": cause,
            "CauseValue": 1,
            "CauseString": "",
            "RemoteURI": call["RemoteNumber"],
            "DisplayName": call["DisplayName"],
            "Duration": call["Duration"],
            "OrigCallDirection": call["Direction"],
            "Protocol": call["Protocol"],
            "CallType": call["CallType"],
        }),
    );
    count_calls(st);
    ok()
}

fn accept(st: &mut State, id: Option<i64>) -> Result<Value, RpcError> {
    let call = find_call(st, id)?;
    if call["Status"] != json!("Ringing") {
        return Err(command_error("The call is not ringing"));
    }
    let id = call["id"].as_u64().unwrap_or_default();
    st.set(&call_path(id, Some("Status")), json!("Connected"));
    count_calls(st);
    ok()
}

fn widget_value(st: &mut State, widget: &str, value: &str) -> Result<Value, RpcError> {
    let widgets = st
        .get(&p("Status UserInterface Extensions Widget"))
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let id = widgets
        .iter()
        .find(|w| w["WidgetId"] == json!(widget))
        .and_then(|w| w["id"].as_u64())
        .unwrap_or_else(|| {
            widgets
                .iter()
                .filter_map(|w| w["id"].as_u64())
                .max()
                .unwrap_or(0)
                + 1
        });
    st.set(
        &[
            p("Status UserInterface Extensions Widget").as_slice(),
            &[Segment::Index(id)],
        ]
        .concat(),
        json!({ "WidgetId": widget, "Value": value }),
    );
    ok()
}
