//! Bookings as a scheduled room has them: a meeting going on now and the
//! next one later today, made when the device starts (relative to the
//! clock), reflected in `Status Bookings Current Id` and `Availability`.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::{cause, command_error, text};
use crate::sim::device::State;
use crate::xows::protocol::RpcError;

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn booking(id: &str, title: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Value {
    json!({
        "Id": id,
        "MeetingId": format!("{id}-meeting"),
        "Title": title,
        "Agenda": "",
        "Privacy": "Public",
        "Organizer": { "FirstName": "Sim", "LastName": "Organizer", "Email": "organizer@example.com", "Id": "" },
        "Time": {
            "StartTime": stamp(start),
            "StartTimeBuffer": 300,
            "EndTime": stamp(end),
            "EndTimeBuffer": 0,
        },
        "MaximumMeetingExtension": 5,
        "MeetingExtensionAvailability": 5,
        "BookingStatus": "OK",
        "BookingStatusMessage": "",
        "Encryption": "BestEffort",
        "Role": "Master",
        "Recording": "Disabled",
        "DialInfo": {
            "Calls": { "Call": [{ "id": 1, "Number": format!("{id}@meet.example.com"), "Protocol": "SIP", "CallRate": 6000, "CallType": "Video" }] },
            "ConnectMode": "OBTP",
        },
    })
}

/// The current and the next meeting as of `now`, and the Status they imply
/// (`Bookings` subtree).
pub fn initial(now: DateTime<Utc>) -> (Vec<Value>, Value) {
    let start = now - Duration::minutes(10);
    let end = now + Duration::minutes(20);
    let next_start = now + Duration::minutes(60);
    let list = vec![
        booking("sim-current", "Weekly sync", start, end),
        booking(
            "sim-next",
            "Design review",
            next_start,
            next_start + Duration::minutes(30),
        ),
    ];
    let status = json!({
        "Current": { "Id": "sim-current" },
        "Availability": { "Status": "BookedUntil", "TimeStamp": stamp(end) },
    });
    (list, status)
}

/// `Bookings List`: every booking, with `ResultInfo`.
pub fn list(st: &State, args: &Map<String, Value>) -> Value {
    let offset = args.get("Offset").and_then(Value::as_u64).unwrap_or(0) as usize;
    let limit = args.get("Limit").and_then(Value::as_u64).unwrap_or(65534) as usize;
    let items: Vec<Value> = st
        .room
        .bookings
        .iter()
        .skip(offset)
        .take(limit)
        .enumerate()
        .map(|(i, b)| {
            let mut b = b.clone();
            b["id"] = json!(i + 1);
            b
        })
        .collect();
    json!({
        "status": "OK",
        "ResultInfo": { "TotalRows": st.room.bookings.len() },
        "LastUpdated": stamp(Utc::now()),
        "Booking": items,
    })
}

/// `Bookings Get`: one booking by `Id` or `MeetingId`.
pub fn get(st: &State, args: &Map<String, Value>) -> Result<Value, RpcError> {
    let (id, meeting) = (text(args, "Id"), text(args, "MeetingId"));
    st.room
        .bookings
        .iter()
        .find(|b| {
            (!id.is_empty() && b["Id"] == id) || (!meeting.is_empty() && b["MeetingId"] == meeting)
        })
        .map(|b| json!({ "status": "OK", "Booking": b }))
        .ok_or_else(|| command_error(cause::ILLEGAL_ARGUMENT, "No booking with that Id"))
}
