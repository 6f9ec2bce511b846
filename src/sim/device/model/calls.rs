//! The call life cycle as a device plays it, with its events in order:
//! Dial (refused with an empty Number) → `OutgoingCallIndication`, then,
//! once the answer is sent, Connecting → Connected and `CallSuccessful`;
//! an incoming call rings with `IncomingCallIndication` until accepted or
//! rejected; every end sends `CallDisconnect` with its cause and leaves an
//! entry in the call history (`CallHistory Get` / `Recents`). A person in
//! the room can answer, decline and place calls too (`person_*`, what the
//! test runner's `room.answer()`, `room.reject()` and `room.dial()` do).

use serde_json::{Map, Value, json};
use tracing::info;

use super::{Deferred, cause, command_error, element, elements, int, ok, p, text};
use crate::sim::device::State;
use crate::xows::protocol::RpcError;

const CALL: &str = "Status Call";

/// The call commands; `None` for any other command.
pub fn execute(
    st: &mut State,
    name: &str,
    args: &Map<String, Value>,
) -> Option<Result<Value, RpcError>> {
    let id = int(args, "CallId");
    Some(match name {
        "Dial" => dial(st, args),
        "Call Disconnect" => {
            find(st, id).map(|c| end(st, &c, "LocalDisconnect", "Normal clearing"))
        }
        "Call Reject" => find(st, id).and_then(|c| {
            if c["Status"] != "Ringing" {
                return Err(command_error(cause::FAILED, "The call is not ringing"));
            }
            Ok(end(st, &c, "LocalReject", "Call rejected"))
        }),
        "Call Accept" => accept(st, id),
        "Call Hold" => hold(st, id, true),
        "Call Resume" => hold(st, id, false),
        "CallHistory Get" | "CallHistory Recents" => Ok(history(st, args)),
        "CallHistory DeleteAll" => {
            st.room.history.clear();
            ok()
        }
        _ => return None,
    })
}

fn dial(st: &mut State, args: &Map<String, Value>) -> Result<Value, RpcError> {
    let number = text(args, "Number").trim().to_string();
    if number.is_empty() {
        return Err(command_error(
            cause::ILLEGAL_ARGUMENT,
            "Missing or invalid parameter(s): Number is empty",
        ));
    }
    let id = st.next_call_id;
    st.next_call_id += 1;
    let display = match text(args, "DisplayName") {
        "" => number.clone(),
        d => d.to_string(),
    };
    let call_type = match text(args, "CallType") {
        "" | "Auto" => "Video",
        t => t,
    };
    let protocol = match (text(args, "Protocol"), scheme(&number)) {
        ("", Some((_, p))) => p,
        ("", None) => "Sip",
        (p, _) => p,
    };
    let call = call(
        st, "Dialling", "Outgoing", &number, &display, protocol, call_type,
    );
    st.set(&element(CALL, id, None), call);
    st.room
        .call_started
        .insert(id, (super::utc_now(st), super::now_text(st)));
    st.emit(&p("Event OutgoingCallIndication"), json!({ "CallId": id }));
    count(st);
    st.room.after_answer.push(Deferred::Connect(id));
    info!("room: dialling {number} (call {id})");
    Ok(json!({ "CallId": id, "ConferenceId": id }))
}

/// URI schemes a number may already carry, with the protocol each means.
const SCHEMES: &[(&str, &str)] = &[
    ("sip", "Sip"),
    ("sips", "Sip"),
    ("spark", "Spark"),
    ("h323", "H323"),
    ("tel", "Sip"),
];

/// The scheme `number` starts with (`sip:alice@example.com`), if it is one
/// a device dials, and the protocol it stands for.
fn scheme(number: &str) -> Option<(&str, &'static str)> {
    let (head, _) = number.split_once(':')?;
    SCHEMES
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(head))
        .map(|(_, p)| (head, *p))
}

/// The URI a device shows for `number` dialled with `protocol`: the number
/// as it is when it already has a scheme, else with the protocol's.
pub fn uri(protocol: &str, number: &str) -> String {
    match scheme(number) {
        Some(_) => number.to_string(),
        None => format!("{}:{number}", protocol.to_ascii_lowercase()),
    }
}

fn call(
    st: &State,
    status: &str,
    direction: &str,
    number: &str,
    display: &str,
    protocol: &str,
    call_type: &str,
) -> Value {
    super::new_element(
        st,
        CALL,
        json!({
            "Status": status,
            "Direction": direction,
            "AnswerState": "Unanswered",
            "RemoteNumber": number,
            "CallbackNumber": uri(protocol, number),
            "DisplayName": display,
            "Protocol": protocol,
            "CallType": call_type,
            "Duration": 0,
        }),
    )
}

/// The far end answers an outgoing call (run after Dial's answer is sent).
pub fn connect(st: &mut State, id: u64) {
    let Some(c) = st.get(&element(CALL, id, None)) else {
        return;
    };
    if c["Status"] != "Dialling" {
        return;
    }
    st.set(&element(CALL, id, Some("Status")), json!("Connecting"));
    connected(st, id, &c);
}

fn connected(st: &mut State, id: u64, c: &Value) {
    st.set(
        &element(CALL, id, None),
        json!({ "Status": "Connected", "AnswerState": "Answered" }),
    );
    st.emit(
        &p("Event CallSuccessful"),
        json!({
            "CallId": id,
            "Protocol": c["Protocol"],
            "Direction": c["Direction"],
            "CallRate": c["TransmitCallRate"].as_i64().unwrap_or(6000),
            "RemoteURI": c["CallbackNumber"],
            "EncryptionIn": "Off",
            "EncryptionOut": "Off",
        }),
    );
    count(st);
    info!(
        "room: call {id} with {} connected",
        c["DisplayName"].as_str().unwrap_or_default()
    );
}

/// A call arriving from `number` (the simulator's `xSim/IncomingCall`).
pub fn incoming(st: &mut State, number: &str, name: &str) -> u64 {
    let id = st.next_call_id;
    st.next_call_id += 1;
    let call = call(st, "Ringing", "Incoming", number, name, "Sip", "Video");
    st.set(&element(CALL, id, None), call);
    st.room
        .call_started
        .insert(id, (super::utc_now(st), super::now_text(st)));
    st.emit(
        &p("Event IncomingCallIndication"),
        json!({ "CallId": id, "RemoteURI": uri("Sip", number), "DisplayNameValue": name }),
    );
    count(st);
    info!("room: incoming call {id} from {name} <{number}> is ringing");
    id
}

/// The call `id` names; the first call when it names none (`CallId` left
/// out, or 0: the parameter's default).
fn find(st: &State, id: Option<i64>) -> Result<Value, RpcError> {
    let calls = elements(st, CALL);
    match id.filter(|id| *id != 0) {
        Some(id) => calls
            .into_iter()
            .find(|c| c["id"].as_i64() == Some(id))
            .ok_or_else(|| {
                command_error(cause::ILLEGAL_ARGUMENT, format!("No call with CallId {id}"))
            }),
        None => calls
            .into_iter()
            .next()
            .ok_or_else(|| command_error(cause::FAILED, "No active call")),
    }
}

fn accept(st: &mut State, id: Option<i64>) -> Result<Value, RpcError> {
    let c = find(st, id)?;
    if c["Status"] != "Ringing" {
        return Err(command_error(cause::FAILED, "The call is not ringing"));
    }
    let id = c["id"].as_u64().unwrap_or_default();
    connected(st, id, &c);
    ok()
}

fn hold(st: &mut State, id: Option<i64>, on: bool) -> Result<Value, RpcError> {
    let c = find(st, id)?;
    let id = c["id"].as_u64().unwrap_or_default();
    let (status, placed) = if on {
        ("OnHold", "True")
    } else {
        ("Connected", "False")
    };
    st.set(
        &element(CALL, id, None),
        json!({ "Status": status, "PlacedOnHold": placed }),
    );
    count(st);
    ok()
}

/// Ends a call for `cause_type` (LocalDisconnect, RemoteDisconnect,
/// LocalReject, ...): ghost, `CallDisconnect`, history entry.
pub fn end(st: &mut State, c: &Value, cause_type: &str, cause_string: &str) -> Value {
    let id = c["id"].as_u64().unwrap_or_default();
    let (started, start_text) = st
        .room
        .call_started
        .remove(&id)
        .unwrap_or_else(|| (super::utc_now(st), super::now_text(st)));
    let duration = (super::utc_now(st) - started).num_seconds().max(0);
    st.remove(&element(CALL, id, None));
    st.emit(
        &p("Event CallDisconnect"),
        json!({
            "CallId": id,
            "CauseType": cause_type,
            "CauseValue": 1,
            "CauseCode": 16,
            "CauseString": cause_string,
            "CauseOrigin": "Internal",
            "RemoteURI": c["CallbackNumber"],
            "RequestedURI": c["CallbackNumber"],
            "DisplayName": c["DisplayName"],
            "Duration": duration,
            "OrigCallDirection": c["Direction"].as_str().unwrap_or("").to_ascii_lowercase(),
            "Protocol": c["Protocol"],
            "CallType": c["CallType"],
            "CallRate": c["TransmitCallRate"].as_i64().unwrap_or(6000),
            "Encryption": "Off",
            "PeopleCountAverage": 0,
        }),
    );
    count(st);
    let occurrence = match (c["Direction"].as_str(), c["Status"].as_str(), cause_type) {
        (Some("Outgoing"), Some("Connected" | "OnHold"), _) => "Placed",
        (Some("Outgoing"), _, _) => "NoAnswer",
        (_, Some("Ringing"), "LocalReject") => "Rejected",
        (_, Some("Ringing"), _) => "Missed",
        _ => "Received",
    };
    st.room.next_history += 1;
    let entry = json!({
        "CallHistoryId": st.room.next_history,
        "CallbackNumber": c["CallbackNumber"],
        "DisplayName": c["DisplayName"],
        "StartTime": start_text,
        "StartTimeUTC": start_text,
        "DaysAgo": 0,
        "OccurrenceType": occurrence,
        "IsAcknowledged": if occurrence == "Missed" { "Unacknowledged" } else { "Acknowledged" },
        "CallType": c["CallType"],
        "Protocol": c["Protocol"],
        "Duration": duration,
        "Count": 1,
    });
    st.room.history.insert(0, entry);
    st.room.history.truncate(super::LOG_LIMIT);
    info!(
        "room: call {id} with {} ended ({cause_type})",
        c["DisplayName"].as_str().unwrap_or_default()
    );
    json!({ "status": "OK" })
}

/// `CallHistory Get`: newest first, with `Entry` and `ResultInfo`.
fn history(st: &State, args: &Map<String, Value>) -> Value {
    let filter = match text(args, "Filter") {
        "" | "All" => None,
        f => Some(f),
    };
    let search = text(args, "SearchString").to_ascii_lowercase();
    let wanted = int(args, "CallHistoryId");
    let matching: Vec<&Value> = st
        .room
        .history
        .iter()
        .filter(|e| filter.is_none_or(|f| e["OccurrenceType"] == f))
        .filter(|e| wanted.is_none_or(|w| e["CallHistoryId"].as_i64() == Some(w)))
        .filter(|e| {
            search.is_empty()
                || ["DisplayName", "CallbackNumber"].iter().any(|k| {
                    e[*k]
                        .as_str()
                        .is_some_and(|s| s.to_ascii_lowercase().contains(&search))
                })
        })
        .collect();
    let offset = int(args, "Offset").unwrap_or(0).max(0) as usize;
    let limit = int(args, "Limit").unwrap_or(65534).max(0) as usize;
    let entries: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .enumerate()
        .map(|(i, e)| {
            let mut e = (*e).clone();
            e["id"] = json!(i + 1);
            e
        })
        .collect();
    json!({
        "status": "OK",
        "Entry": entries,
        "ResultInfo": { "Offset": offset, "Limit": limit, "TotalRows": matching.len() },
    })
}

/// Recounts `SystemUnit State`; a call coming, changing or going is
/// activity that wakes the device.
fn count(st: &mut State) {
    super::standby::wake(st);
    let calls = elements(st, CALL);
    let with = |s: &str| calls.iter().filter(|c| c["Status"] == s).count();
    let (active, held) = (with("Connected"), with("OnHold"));
    st.set(
        &p("Status SystemUnit State"),
        json!({
            "NumberOfActiveCalls": active,
            "NumberOfSuspendedCalls": held,
            "NumberOfInProgressCalls": calls.len() - active - held,
        }),
    );
}

/// Ends a call from the far end (the simulator's `xSim/Hangup`); the first
/// call when `id` is `None`.
pub fn remote_hangup(st: &mut State, id: Option<i64>) -> Result<Value, RpcError> {
    let c = find(st, id)?;
    Ok(end(st, &c, "RemoteDisconnect", "Normal clearing"))
}

/// The first call that is ringing, if any.
fn ringing(st: &State) -> Option<Value> {
    elements(st, CALL)
        .into_iter()
        .find(|c| c["Status"] == "Ringing")
}

fn nothing_rings() -> RpcError {
    command_error(cause::FAILED, "no call is ringing")
}

/// A person in the room answers the ringing call on the touch panel, as
/// `Call Accept` does: Connected, `CallSuccessful`. Gives its CallId.
pub fn person_answers(st: &mut State) -> Result<u64, RpcError> {
    let c = ringing(st).ok_or_else(nothing_rings)?;
    let id = c["id"].as_u64().unwrap_or_default();
    connected(st, id, &c);
    Ok(id)
}

/// A person in the room declines the ringing call, as `Call Reject` does:
/// `CallDisconnect` with `LocalReject`, a rejected entry in the history.
/// Gives its CallId.
pub fn person_declines(st: &mut State) -> Result<u64, RpcError> {
    let c = ringing(st).ok_or_else(nothing_rings)?;
    end(st, &c, "LocalReject", "Call rejected");
    Ok(c["id"].as_u64().unwrap_or_default())
}

/// A person in the room places a call from the touch panel: the life cycle
/// of a `Dial` (`OutgoingCallIndication`, then, once the deferred work
/// runs, Connected and `CallSuccessful`). Gives its CallId.
pub fn person_dials(st: &mut State, number: &str) -> Result<u64, RpcError> {
    let mut args = Map::new();
    args.insert("Number".into(), json!(number));
    let answer = dial(st, &args)?;
    Ok(answer["CallId"].as_u64().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_that_already_has_a_scheme_keeps_it() {
        assert_eq!(uri("Sip", "alice@example.com"), "sip:alice@example.com");
        assert_eq!(uri("Sip", "sip:alice@example.com"), "sip:alice@example.com");
        assert_eq!(uri("Sip", "spark:bob@example.com"), "spark:bob@example.com");
        assert_eq!(
            uri("Spark", "SIPS:carol@example.com"),
            "SIPS:carol@example.com"
        );
        assert_eq!(uri("H323", "10.0.0.1:1720"), "h323:10.0.0.1:1720");
        assert_eq!(scheme("spark:bob@example.com"), Some(("spark", "Spark")));
        assert_eq!(scheme("host.example.com:5060"), None);
    }
}
