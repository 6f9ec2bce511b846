//! The room around the codec: standby with halfwake, do-not-disturb,
//! presentation instances, selfview, people presence and count, camera
//! positions and presets. Every change goes through the Status document,
//! so subscribers get feedback for it.

use serde_json::{Map, Value, json};
use tracing::info;

use super::{cause, command_error, element, elements, int, ok, p, set, text};
use crate::sim::device::State;
use crate::xows::protocol::RpcError;

const INSTANCES: &str = "Status Conference Presentation LocalInstance";

/// The room commands; `None` for any other command.
pub fn execute(
    st: &mut State,
    name: &str,
    args: &Map<String, Value>,
) -> Option<Result<Value, RpcError>> {
    Some(match name {
        "Audio Volume Set" => volume(st, int(args, "Level").unwrap_or(0)),
        "Audio Volume Increase" => step_volume(st, int(args, "Steps").unwrap_or(5)),
        "Audio Volume Decrease" => step_volume(st, -int(args, "Steps").unwrap_or(5)),
        "Audio Volume SetToDefault" => {
            let d = st.get(&p("Configuration Audio DefaultVolume"));
            volume(st, d.and_then(|v| v.as_i64()).unwrap_or(50))
        }
        "Audio Volume Mute" => set(st, "Status Audio VolumeMute", json!("On")),
        "Audio Volume Unmute" => set(st, "Status Audio VolumeMute", json!("Off")),
        "Audio Microphones Mute" => set(st, "Status Audio Microphones Mute", json!("On")),
        "Audio Microphones Unmute" => set(st, "Status Audio Microphones Mute", json!("Off")),
        "Audio Microphones ToggleMute" => {
            let on = st.get(&p("Status Audio Microphones Mute")) == Some(json!("On"));
            let next = if on { "Off" } else { "On" };
            set(st, "Status Audio Microphones Mute", json!(next))
        }
        "Standby Activate" => standby(st, "Standby"),
        "Standby Deactivate" => standby(st, "Off"),
        "Standby Halfwake" => standby(st, "Halfwake"),
        "Standby ResetTimer" => {
            super::standby::reset_timer(st, int(args, "Delay"));
            ok()
        }
        "Conference DoNotDisturb Activate" => {
            set(st, "Status Conference DoNotDisturb", json!("Active"))
        }
        "Conference DoNotDisturb Deactivate" => {
            set(st, "Status Conference DoNotDisturb", json!("Inactive"))
        }
        "Presentation Start" => {
            super::standby::wake(st);
            start_presentation(st, args)
        }
        "Presentation Stop" => stop_presentation(st, args),
        "Video Selfview Set" => {
            for key in ["Mode", "FullscreenMode", "OnMonitorRole", "PIPPosition"] {
                if let Some(v) = args.get(key) {
                    st.set(&p(&format!("Status Video Selfview {key}")), v.clone());
                }
            }
            ok()
        }
        "Camera PositionSet" => {
            let cam = int(args, "CameraId").unwrap_or(1) as u64;
            let mut pos = args.clone();
            pos.remove("CameraId");
            st.set(
                &element("Status Cameras Camera", cam, Some("Position")),
                Value::Object(pos),
            );
            ok()
        }
        "Camera Preset Store" => store_preset(st, args),
        "Camera Preset List" => Ok(list_presets(st, args)),
        "Camera Preset Activate" => activate_preset(st, int(args, "PresetId")),
        "Camera Preset Remove" => match st.room.presets.remove(&preset_id(args)) {
            Some(_) => ok(),
            None => Err(command_error(cause::ILLEGAL_ARGUMENT, "No such preset")),
        },
        _ => return None,
    })
}

fn volume(st: &mut State, level: i64) -> Result<Value, RpcError> {
    set(st, "Status Audio Volume", json!(level.clamp(0, 100)))
}

fn step_volume(st: &mut State, steps: i64) -> Result<Value, RpcError> {
    let now = st
        .get(&p("Status Audio Volume"))
        .and_then(|v| v.as_i64())
        .unwrap_or(50);
    volume(st, now + steps)
}

fn standby(st: &mut State, state: &str) -> Result<Value, RpcError> {
    info!("room: standby {state}");
    let r = set(st, "Status Standby State", json!(state));
    super::standby::activity(st);
    r
}

/// People walk in or out (the simulator's `xSim/People`): count and
/// presence change; people entering a sleeping room wake it to halfwake.
pub fn people(st: &mut State, count: u64) {
    st.set(&p("Status RoomAnalytics PeopleCount Current"), json!(count));
    let presence = if count > 0 { "Yes" } else { "No" };
    st.set(&p("Status RoomAnalytics PeoplePresence"), json!(presence));
    if count > 0 && st.get(&p("Status Standby State")) == Some(json!("Standby")) {
        st.set(&p("Status Standby State"), json!("Halfwake"));
    }
    super::standby::activity(st);
    info!("room: {count} people in the room");
}

fn start_presentation(st: &mut State, args: &Map<String, Value>) -> Result<Value, RpcError> {
    let taken: Vec<u64> = elements(st, INSTANCES)
        .iter()
        .filter_map(|i| i["id"].as_u64())
        .collect();
    let instance = match text(args, "Instance").parse::<u64>() {
        Ok(n) => n,
        Err(_) => (1..=6)
            .find(|n| !taken.contains(n))
            .ok_or_else(|| command_error(cause::FAILED, "Every presentation instance is in use"))?,
    };
    let first = |key: &str| match args.get(key) {
        Some(Value::Array(a)) => a.first().cloned(),
        other => other.cloned(),
    };
    let source = first("PresentationSource")
        .or_else(|| first("ConnectorId"))
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
        .unwrap_or(1);
    let mode = match text(args, "SendingMode") {
        "" => "LocalRemote",
        m => m,
    };
    let elem = super::new_element(
        st,
        INSTANCES,
        json!({ "SendingMode": mode, "Source": source }),
    );
    st.set(&element(INSTANCES, instance, None), elem);
    st.set(
        &p("Status Conference Presentation Mode"),
        json!(if mode == "LocalOnly" {
            "Off"
        } else {
            "Sending"
        }),
    );
    st.emit(
        &p("Event PresentationStarted"),
        json!({ "Cause": "userRequested", "ConferenceId": 0, "CallId": 0,
                "Mode": mode, "LocalInstance": instance, "LocalSource": source }),
    );
    info!("room: presentation {instance} started from source {source}");
    Ok(json!({ "Instance": instance }))
}

fn stop_presentation(st: &mut State, args: &Map<String, Value>) -> Result<Value, RpcError> {
    let wanted = text(args, "Instance").parse::<u64>().ok();
    let stopping: Vec<Value> = elements(st, INSTANCES)
        .into_iter()
        .filter(|i| wanted.is_none_or(|w| i["id"].as_u64() == Some(w)))
        .collect();
    for i in &stopping {
        let id = i["id"].as_u64().unwrap_or_default();
        st.remove(&element(INSTANCES, id, None));
        st.emit(
            &p("Event PresentationStopped"),
            json!({ "Cause": "userRequested", "ConferenceId": 0, "CallId": 0,
                    "Mode": i["SendingMode"], "LocalInstance": id, "LocalSource": i["Source"] }),
        );
        info!("room: presentation {id} stopped");
    }
    if elements(st, INSTANCES).is_empty() {
        st.set(&p("Status Conference Presentation Mode"), json!("Off"));
    }
    ok()
}

fn preset_id(args: &Map<String, Value>) -> u64 {
    int(args, "PresetId").unwrap_or(0) as u64
}

fn store_preset(st: &mut State, args: &Map<String, Value>) -> Result<Value, RpcError> {
    let id = match preset_id(args) {
        0 => (1..=35)
            .find(|n| !st.room.presets.contains_key(n))
            .ok_or_else(|| command_error(cause::FAILED, "Every preset slot is in use"))?,
        n => n,
    };
    let cam = int(args, "CameraId").unwrap_or(1) as u64;
    let position = st
        .get(&element("Status Cameras Camera", cam, Some("Position")))
        .unwrap_or_else(|| json!({}));
    st.room.presets.insert(
        id,
        json!({
            "PresetId": id,
            "CameraId": cam,
            "Name": text(args, "Name"),
            "ListPosition": int(args, "ListPosition").unwrap_or(id as i64),
            "DefaultPosition": args.get("DefaultPosition").cloned().unwrap_or(json!("False")),
            "Position": position,
        }),
    );
    Ok(json!({ "status": "OK", "PresetId": id }))
}

fn list_presets(st: &State, args: &Map<String, Value>) -> Value {
    let cam = int(args, "CameraId");
    let presets: Vec<Value> = st
        .room
        .presets
        .values()
        .filter(|p| cam.is_none_or(|c| p["CameraId"].as_i64() == Some(c)))
        .enumerate()
        .map(|(i, p)| {
            let mut p = p.clone();
            p["id"] = json!(i + 1);
            if let Some(m) = p.as_object_mut() {
                m.remove("Position");
            }
            p
        })
        .collect();
    json!({ "status": "OK", "Preset": presets })
}

fn activate_preset(st: &mut State, id: Option<i64>) -> Result<Value, RpcError> {
    let id = id.unwrap_or(0) as u64;
    let preset = st
        .room
        .presets
        .get(&id)
        .cloned()
        .ok_or_else(|| command_error(cause::ILLEGAL_ARGUMENT, format!("No preset {id}")))?;
    let cam = preset["CameraId"].as_u64().unwrap_or(1);
    st.set(
        &element("Status Cameras Camera", cam, Some("Position")),
        preset["Position"].clone(),
    );
    info!("room: camera {cam} moved to preset {id}");
    ok()
}
