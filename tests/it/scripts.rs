//! One test per bundled script (scripts/): each runs the real file in a
//! host against the simulator and asserts what it does to the room.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::common::rig::{self, TempDir};
use crate::common::{Raw, Sim, within};
use chrono::NaiveDate;
use serde_json::{Value, json};
use xmacro::clock::ManualClock;
use xmacro::host::{HostHandle, HostOptions};
use xmacro::sim::SimOptions;

/// A temporary copy of the bundled scripts: `name` and every library.
fn bundled(name: &str) -> TempDir {
    let dir = TempDir::new(&format!("bundled-{name}"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    std::fs::copy(
        src.join(format!("{name}.rhai")),
        dir.scripts().join(format!("{name}.rhai")),
    )
    .unwrap();
    for lib in std::fs::read_dir(src.join("lib")).unwrap() {
        let lib = lib.unwrap();
        std::fs::copy(lib.path(), dir.scripts().join("lib").join(lib.file_name())).unwrap();
    }
    dir
}

async fn run(name: &str, sim: &Sim, args: Value) -> (TempDir, HostHandle) {
    let dir = bundled(name);
    let mut opts = rig::options(&dir, vec![rig::codec("room", sim)]);
    opts.scripts = rig::scripts_map(vec![(name, rig::script_config(args, None))]);
    let host = rig::start(opts).await;
    rig::wait_log(&[&format!("script={name}"), "started"]).await;
    (dir, host)
}

async fn start_with(opts: HostOptions, name: &str) -> HostHandle {
    let host = rig::start(opts).await;
    rig::wait_log(&[&format!("script={name}"), "started"]).await;
    host
}

/// Commands the simulator ran, newest last.
pub(crate) async fn commands(raw: &mut Raw) -> Vec<Value> {
    raw.ok("xSim/Inspect", json!({})).await["Commands"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits for a command by name whose parameters satisfy `pred`.
pub(crate) async fn wait_command(
    raw: &mut Raw,
    name: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    within(&format!("command {name}"), async {
        loop {
            if let Some(c) = commands(raw)
                .await
                .into_iter()
                .find(|c| c["Command"] == name && pred(&c["Params"]))
            {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Waits until `path` reads `want`.
pub(crate) async fn wait_value(raw: &mut Raw, path: &str, want: Value) {
    within(&format!("{path} to be {want}"), async {
        while raw.get(path).await != want {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn volume_limit_caps_and_alerts() {
    let sim = rig::sim().await;
    let (_d, host) = run("volume-limit", &sim, json!({"max": 60})).await;
    let mut raw = Raw::connect(&sim.url()).await;
    raw.ok("xCommand/Audio/Volume/Set", json!({"Level": 80}))
        .await;
    wait_value(&mut raw, "Status Audio Volume", json!(60)).await;
    wait_command(&mut raw, "UserInterface Message Alert Display", |p| {
        p["Text"] == "Volume limited to 60"
    })
    .await;
    raw.ok("xCommand/Audio/Volume/Set", json!({"Level": 55}))
        .await;
    // The script sees changes in order: once it has capped a later 90, it
    // has long seen the 55, and must have left it alone.
    raw.ok("xCommand/Audio/Volume/Set", json!({"Level": 90}))
        .await;
    wait_value(&mut raw, "Status Audio Volume", json!(60)).await;
    let levels: Vec<Value> = commands(&mut raw)
        .await
        .into_iter()
        .filter(|c| c["Command"] == "Audio Volume Set")
        .map(|c| c["Params"]["Level"].clone())
        .collect();
    assert_eq!(
        levels,
        vec![json!(80), json!(60), json!(55), json!(90), json!(60)],
        "below the cap stays"
    );
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn speed_dial_gets_its_panel_from_the_panels_folder_and_dials() {
    let sim = rig::sim().await;
    let dir = bundled("speed-dial");
    let mut opts = rig::options(&dir, vec![rig::codec("room", &sim)]);
    opts.scripts = rig::scripts_map(vec![(
        "speed-dial",
        rig::script_config(json!({"numbers": {"speeddial-2": "lab@example.com"}}), None),
    )]);
    opts.panels = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("panels"));
    let host = start_with(opts, "speed-dial").await;
    within("the panel to be saved", host.idle()).await;
    let mut raw = Raw::connect(&sim.url()).await;
    let panel = raw.ok("xSim/Inspect", json!({})).await["Panels"]["speeddial"].clone();
    assert!(
        panel
            .as_str()
            .unwrap()
            .contains("<WidgetId>speeddial-2</WidgetId>"),
        "{panel}"
    );
    raw.ok(
        "xSim/EmitEvent",
        json!({"Path": "Event UserInterface Extensions Widget Action",
               "Value": {"WidgetId": "speeddial-2", "Type": "clicked", "Value": ""}}),
    )
    .await;
    wait_command(&mut raw, "Dial", |p| p["Number"] == "lab@example.com").await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn call_blocker_cuts_blocked_numbers_only() {
    let sim = rig::sim().await;
    let (_d, host) = run(
        "call-blocker",
        &sim,
        json!({"blocked": ["1900*"], "delay_ms": 150}),
    )
    .await;
    let mut raw = Raw::connect(&sim.url()).await;
    let allowed = raw
        .ok("xCommand/Dial", json!({"Number": "alice@example.com"}))
        .await["CallId"]
        .clone();
    let blocked = raw
        .ok("xCommand/Dial", json!({"Number": "19005551234"}))
        .await["CallId"]
        .clone();
    wait_command(&mut raw, "Call Disconnect", |p| p["CallId"] == blocked).await;
    wait_command(&mut raw, "UserInterface Message Alert Display", |p| {
        p["Text"].as_str().unwrap_or("").contains("19005551234")
    })
    .await;
    // Feedback reaches the script in order, so the allowed call (dialled
    // first) was seen before the blocked one was cut.
    let calls = raw.get("Status Call").await;
    assert_eq!(calls.as_array().unwrap().len(), 1, "{calls}");
    assert_eq!(calls[0]["id"], allowed);
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn auto_answer_answers_the_allow_list_only() {
    let sim = rig::sim().await;
    let (_d, host) = run("auto-answer", &sim, json!({"allow": ["*@trusted.example"]})).await;
    let mut raw = Raw::connect(&sim.url()).await;
    let friend = raw
        .ok(
            "xSim/IncomingCall",
            json!({"Number": "bob@trusted.example"}),
        )
        .await["CallId"]
        .clone();
    let stranger = raw
        .ok(
            "xSim/IncomingCall",
            json!({"Number": "eve@elsewhere.example"}),
        )
        .await["CallId"]
        .clone();
    wait_value(
        &mut raw,
        &format!("Status Call[{friend}] Status"),
        json!("Connected"),
    )
    .await;
    rig::wait_log(&["not answering", "eve@elsewhere.example"]).await;
    assert_eq!(
        raw.get(&format!("Status Call[{stranger}] Status")).await,
        "Ringing"
    );
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn mute_on_entry_mutes_when_a_call_connects() {
    let sim = rig::sim().await;
    let (_d, host) = run("mute-on-entry", &sim, json!({})).await;
    let mut raw = Raw::connect(&sim.url()).await;
    raw.ok("xCommand/Dial", json!({"Number": "a@example.com"}))
        .await;
    wait_value(&mut raw, "Status Audio Microphones Mute", json!("On")).await;
    raw.ok("xCommand/Audio/Microphones/Unmute", json!({})).await;
    let id = raw
        .ok("xSim/IncomingCall", json!({"Number": "b@example.com"}))
        .await["CallId"]
        .clone();
    assert_eq!(raw.get("Status Audio Microphones Mute").await, "Off");
    raw.ok("xCommand/Call/Accept", json!({"CallId": id})).await;
    wait_value(&mut raw, "Status Audio Microphones Mute", json!("On")).await;
    // The script saw the ringing before the accepted call connected, so a
    // mute for the ringing would be in the log before the one for the accept.
    let mutes = commands(&mut raw)
        .await
        .into_iter()
        .filter(|c| c["Command"] == "Audio Microphones Mute")
        .count();
    assert_eq!(mutes, 2, "ringing is not connected");
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn remember_volume_survives_a_restart() {
    let sim = rig::sim().await;
    let dir = bundled("remember-volume");
    let opts = || rig::options(&dir, vec![rig::codec("room", &sim)]);
    let host = start_with(opts(), "remember-volume").await;
    let mut raw = Raw::connect(&sim.url()).await;
    raw.ok("xCommand/Audio/Volume/Set", json!({"Level": 37}))
        .await;
    wait_value(&mut raw, "Configuration Audio DefaultVolume", json!(37)).await;
    within("shutdown", host.shutdown()).await;
    assert_eq!(
        rig::stored(&dir.state(), "room", "remember-volume", "volume"),
        37
    );
    raw.ok(
        "xSet",
        json!({"Path": ["Configuration", "Audio", "DefaultVolume"], "Value": 50}),
    )
    .await;
    let host = start_with(opts(), "remember-volume").await;
    wait_value(&mut raw, "Configuration Audio DefaultVolume", json!(37)).await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn daily_reboot_waits_for_calls_to_end() {
    let mut so = SimOptions::default();
    so.device.boot_down = Duration::from_millis(200);
    so.device.boot_not_ready = Duration::from_millis(100);
    let sim = Sim::start(so).await;
    let dir = bundled("daily-reboot");
    let day = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    let clock = Arc::new(ManualClock::new(day.and_hms_opt(2, 59, 0).unwrap()));
    let mut opts = rig::options(&dir, vec![rig::codec("room", &sim)]);
    opts.clock = clock.clone();
    opts.scripts = rig::scripts_map(vec![(
        "daily-reboot",
        rig::script_config(json!({"at": "03:00"}), None),
    )]);
    let host = start_with(opts, "daily-reboot").await;
    let mut raw = Raw::connect(&sim.url()).await;
    raw.ok("xCommand/Dial", json!({"Number": "a@example.com"}))
        .await;
    clock.set(day.and_hms_opt(3, 0, 0).unwrap());
    rig::wait_log(&["daily reboot skipped", "1 call(s)"]).await;
    assert!(
        !commands(&mut raw)
            .await
            .iter()
            .any(|c| c["Command"] == "SystemUnit Boot")
    );
    raw.ok("xCommand/Call/Disconnect", json!({})).await;
    clock.set(day.succ_opt().unwrap().and_hms_opt(3, 0, 0).unwrap());
    // The reboot cuts every session: wait for ours to go, then come back.
    within("the reboot to cut the session", async {
        while raw.recv().await.is_some() {}
    })
    .await;
    let mut raw = crate::common::connect_when_up(&sim.url()).await;
    let boot = wait_command(&mut raw, "SystemUnit Boot", |_| true).await;
    assert_eq!(boot["Params"]["Action"], "Restart");
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn room_capacity_warns_and_clears() {
    let sim = rig::sim().await;
    let (_d, host) = run("room-capacity", &sim, json!({"capacity": 3})).await;
    let mut raw = Raw::connect(&sim.url()).await;
    raw.ok(
        "xSim/SetStatus",
        json!({"Path": "Status RoomAnalytics PeopleCount Current", "Value": 5}),
    )
    .await;
    wait_command(&mut raw, "UserInterface Message TextLine Display", |p| {
        p["Text"] == "This room is for 3 people; 5 are here"
    })
    .await;
    raw.ok(
        "xSim/SetStatus",
        json!({"Path": "Status RoomAnalytics PeopleCount Current", "Value": 2}),
    )
    .await;
    wait_command(&mut raw, "UserInterface Message TextLine Clear", |_| true).await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn smart_button_toggles_standby_or_mute() {
    let sim = rig::sim().await;
    let (_d, host) = run("smart-button", &sim, json!({})).await;
    let mut raw = Raw::connect(&sim.url()).await;
    let click = json!({"Path": "Event UserInterface Extensions Panel Clicked", "Value": {"PanelId": "smart-button"}});
    raw.ok("xSim/EmitEvent", click.clone()).await;
    wait_value(&mut raw, "Status Standby State", json!("Standby")).await;
    raw.ok("xSim/EmitEvent", click.clone()).await;
    wait_value(&mut raw, "Status Standby State", json!("Off")).await;
    raw.ok("xCommand/Dial", json!({"Number": "a@example.com"}))
        .await;
    raw.ok("xSim/EmitEvent", click.clone()).await;
    wait_value(&mut raw, "Status Audio Microphones Mute", json!("On")).await;
    raw.ok("xSim/EmitEvent", click).await;
    wait_value(&mut raw, "Status Audio Microphones Mute", json!("Off")).await;
    assert_eq!(
        raw.get("Status Standby State").await,
        "Off",
        "in a call, standby is left alone"
    );
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn call_survey_asks_and_posts_the_answer() {
    let sim = rig::sim().await;
    let (_d, host) = run(
        "call-survey",
        &sim,
        json!({"url": "https://survey.test/answers"}),
    )
    .await;
    let mut raw = Raw::connect(&sim.url()).await;
    wait_value(&mut raw, "Configuration HttpClient Mode", json!("On")).await;
    raw.ok("xCommand/Dial", json!({"Number": "a@example.com"}))
        .await;
    raw.ok("xCommand/Call/Disconnect", json!({})).await;
    wait_command(&mut raw, "UserInterface Message Prompt Display", |p| {
        p["FeedbackId"] == "call-survey" && p["Option.1"] == "Great"
    })
    .await;
    raw.ok(
        "xSim/EmitEvent",
        json!({"Path": "Event UserInterface Message Prompt Response",
               "Value": {"FeedbackId": "call-survey", "OptionId": 3}}),
    )
    .await;
    let post = wait_command(&mut raw, "HttpClient Post", |_| true).await;
    assert_eq!(post["Params"]["Url"], "https://survey.test/answers");
    let body: Value = serde_json::from_str(post["Params"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"room": "room", "answer": "Poor"}));
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn divisible_room_mirrors_volume_to_its_partner() {
    let a = rig::sim().await;
    let b = rig::sim().await;
    let dir = bundled("divisible-room");
    let mut opts = rig::options(&dir, vec![rig::codec("north", &a), rig::codec("south", &b)]);
    opts.scripts = rig::scripts_map(vec![(
        "divisible-room",
        rig::script_config(json!({"partner": "south"}), Some(vec!["north"])),
    )]);
    let host = start_with(opts, "divisible-room").await;
    let mut ra = Raw::connect(&a.url()).await;
    let mut rb = Raw::connect(&b.url()).await;
    ra.ok("xCommand/Audio/Volume/Set", json!({"Level": 42}))
        .await;
    wait_value(&mut rb, "Status Audio Volume", json!(42)).await;
    ra.ok("xCommand/Audio/Volume/Set", json!({"Level": 43}))
        .await;
    wait_value(&mut rb, "Status Audio Volume", json!(43)).await;
    within("shutdown", host.shutdown()).await;
}
