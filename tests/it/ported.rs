//! The public macros ported to Rhai (examples/ported/): each runs the real
//! file in a host against a simulator of the product it targets (the public
//! schema's `bandai`) and is driven the way a room drives it; and `xmacro
//! check` finds every path they use in that product's schema.

use std::path::{Path, PathBuf};

use crate::common::rig::{self, TempDir};
use crate::common::{Raw, Sim};
use crate::scripts::{wait_command, wait_value};
use serde_json::{Value, json};
use xmacro::host::HostHandle;
use xmacro::sim::{DeviceOptions, SimOptions};

/// The product the ports are written for (a desk device: the only one with
/// virtual backgrounds, which "Be Right Back" needs).
const PRODUCT: &str = "bandai";

fn ported_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ported")
}

/// A simulator of [`PRODUCT`] (the schema is read once per test binary;
/// `None`: it is not at hand, the test is skipped).
async fn product_sim() -> Option<Sim> {
    let schema = crate::common::cisco_schema(PRODUCT)?;
    let sim = Sim::start(SimOptions {
        device: DeviceOptions {
            schema: Some(schema),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    Some(sim)
}

/// Runs the port `name` with `args` on `sim`; answers a client to drive it.
async fn run(name: &str, sim: &Sim, args: Value) -> (TempDir, HostHandle, Raw) {
    let dir = TempDir::new(&format!("ported-{name}"));
    std::fs::copy(
        ported_dir().join(format!("{name}.rhai")),
        dir.scripts().join(format!("{name}.rhai")),
    )
    .unwrap();
    let mut opts = rig::options(&dir, vec![rig::codec("room", sim)]);
    opts.scripts = rig::scripts_map(vec![(name, rig::script_config(args, None))]);
    let host = rig::start(opts).await;
    rig::wait_log(&[&format!("script={name}"), "started"]).await;
    let raw = Raw::connect(&sim.url()).await;
    (dir, host, raw)
}

async fn event(raw: &mut Raw, path: &str, value: Value) {
    raw.ok("xSim/EmitEvent", json!({ "Path": path, "Value": value }))
        .await;
}

async fn status(raw: &mut Raw, path: &str, value: Value) {
    raw.ok("xSim/SetStatus", json!({ "Path": path, "Value": value }))
        .await;
}

/// Someone types `text` into the text input `feedback` and submits it.
async fn typed(raw: &mut Raw, feedback: &str, text: &str) {
    let value = json!({"FeedbackId": feedback, "Text": text});
    event(raw, "Event UserInterface Message TextInput Response", value).await;
}

/// Waits for a text input whose parameters satisfy `pred`.
async fn text_input_shown(raw: &mut Raw, pred: impl Fn(&Value) -> bool) {
    wait_command(raw, "UserInterface Message TextInput Display", pred).await;
}

/// Dials out and waits until the call is up.
async fn in_a_call(raw: &mut Raw, number: &str) {
    raw.ok("xCommand/Dial", json!({ "Number": number })).await;
    wait_value(raw, "Status SystemUnit State NumberOfActiveCalls", json!(1)).await;
}

async fn shutdown(host: HostHandle) {
    crate::common::within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn pin_code_asks_on_wake_again_on_a_wrong_pin_and_halfwakes_when_dismissed() {
    let Some(sim) = product_sim().await else {
        return;
    };
    let (_d, host, mut raw) = run("pin-code", &sim, json!({"pin": "4321"})).await;
    raw.ok("xCommand/Standby/Activate", json!({})).await;
    raw.ok("xCommand/Standby/Deactivate", json!({})).await;
    text_input_shown(&mut raw, |p| {
        p["Text"] == "Enter PIN code" && p["InputType"] == "PIN"
    })
    .await;
    typed(&mut raw, "pin-code", "1111").await;
    text_input_shown(&mut raw, |p| p["Text"] == "Incorrect PIN, try again").await;
    typed(&mut raw, "pin-code", "4321").await;
    rig::wait_log(&["script=pin-code", "pin correct"]).await;
    event(
        &mut raw,
        "Event UserInterface Message TextInput Clear",
        json!({"FeedbackId": "pin-code"}),
    )
    .await;
    wait_value(&mut raw, "Status Standby State", json!("Halfwake")).await;
    shutdown(host).await;
}

#[tokio::test]
async fn auto_video_mute_follows_the_microphones() {
    let Some(sim) = product_sim().await else {
        return;
    };
    let (_d, host, mut raw) = run("auto-video-mute", &sim, json!({})).await;
    let mute = "Event Audio MicrophonesMuteStatus";
    event(&mut raw, mute, json!({"Mute": "On"})).await;
    wait_command(&mut raw, "Video Input MainVideo Mute", |_| true).await;
    event(&mut raw, mute, json!({"Mute": "Off"})).await;
    wait_command(&mut raw, "Video Input MainVideo Unmute", |_| true).await;
    shutdown(host).await;
}

#[tokio::test]
async fn launch_halfwake_panel_sends_the_room_to_halfwake() {
    let Some(sim) = product_sim().await else {
        return;
    };
    let (_d, host, mut raw) = run("launch-halfwake", &sim, json!({})).await;
    raw.ok("xSim/PanelClick", json!({"PanelId": "another"}))
        .await;
    raw.ok("xSim/PanelClick", json!({"PanelId": "halfwake"}))
        .await;
    wait_value(&mut raw, "Status Standby State", json!("Halfwake")).await;
    let halfwakes = crate::scripts::commands(&mut raw)
        .await
        .into_iter()
        .filter(|c| c["Command"] == "Standby Halfwake")
        .count();
    assert_eq!(halfwakes, 1, "only the halfwake panel acts");
    shutdown(host).await;
}

#[tokio::test]
async fn language_selector_switches_language_and_resets_on_standby() {
    let Some(sim) = product_sim().await else {
        return;
    };
    let (_d, host, mut raw) = run("language-selector", &sim, json!({})).await;
    let language = "Configuration UserInterface Language";
    raw.ok("xSim/WidgetAction", json!({"WidgetId": "lang_german"}))
        .await;
    wait_value(&mut raw, language, json!("German")).await;
    raw.ok("xSim/WidgetAction", json!({"WidgetId": "lang_italian"}))
        .await;
    wait_value(&mut raw, language, json!("Italian")).await;
    raw.ok("xCommand/Standby/Activate", json!({})).await;
    wait_value(&mut raw, language, json!("English")).await;
    shutdown(host).await;
}

#[tokio::test]
async fn booking_countdown_counts_down_and_says_time_is_up() {
    let Some(sim) = product_sim().await else {
        return;
    };
    let (_d, host, mut raw) = run("booking-countdown", &sim, json!({})).await;
    event(
        &mut raw,
        "Event Bookings TimeRemaining",
        json!({"Seconds": 1}),
    )
    .await;
    for left in ["00:01", "00:00"] {
        wait_command(&mut raw, "UserInterface Message TextLine Display", |p| {
            p["Text"] == format!("Time left of scheduled meeting: {left}")
        })
        .await;
    }
    wait_command(&mut raw, "UserInterface Message Alert Display", |p| {
        p["Text"] == "Time is up!" && p["Title"] == "00:00"
    })
    .await;
    wait_command(&mut raw, "Audio Sound Play", |p| {
        p["Sound"] == "CallWaiting"
    })
    .await;
    wait_command(&mut raw, "UserInterface Message TextLine Clear", |_| true).await;
    shutdown(host).await;
}

#[tokio::test]
async fn big_red_button_toggles_halfwake_outside_a_call_and_mutes_in_one() {
    let Some(sim) = product_sim().await else {
        return;
    };
    let (_d, host, mut raw) = run("big-red-button", &sim, json!({})).await;
    wait_value(
        &mut raw,
        "Configuration Peripherals InputDevice Mode",
        json!("On"),
    )
    .await;
    let key = "Event UserInterface InputDevice Key Action";
    let space = json!({"Key": "KEY_SPACE", "Type": "Released"});
    raw.ok("xCommand/Standby/Deactivate", json!({})).await;
    event(&mut raw, key, space.clone()).await;
    wait_value(&mut raw, "Status Standby State", json!("Halfwake")).await;
    event(&mut raw, key, space.clone()).await;
    wait_value(&mut raw, "Status Standby State", json!("Off")).await;

    in_a_call(&mut raw, "alice@example.com").await;
    raw.ok("xCommand/Audio/Microphones/Unmute", json!({})).await;
    event(
        &mut raw,
        key,
        json!({"Key": "KEY_SPACE", "Type": "Pressed"}),
    )
    .await;
    event(&mut raw, key, space).await;
    wait_value(&mut raw, "Status Audio Microphones Mute", json!("On")).await;
    shutdown(host).await;
}

#[tokio::test]
async fn be_right_back_sets_the_picture_and_offers_to_remove_it_when_someone_is_close() {
    let Some(sim) = product_sim().await else {
        return;
    };
    let (_d, host, mut raw) = run(
        "be-right-back",
        &sim,
        json!({"base": "https://pictures.example.com/", "spot": "User2"}),
    )
    .await;
    raw.ok(
        "xSim/WidgetAction",
        json!({"WidgetId": "berightback_img", "Type": "released", "Value": "coffee"}),
    )
    .await;
    wait_command(&mut raw, "Cameras Background Fetch", |p| {
        p["Url"] == "https://pictures.example.com/coffee.jpeg" && p["Image"] == "User2"
    })
    .await;
    wait_command(&mut raw, "Cameras Background Set", |p| {
        p["Mode"] == "Image" && p["Image"] == "User2"
    })
    .await;

    in_a_call(&mut raw, "bob@example.com").await;
    status(
        &mut raw,
        "Status Cameras Background",
        json!({"Mode": "Image", "Image": "User2"}),
    )
    .await;
    // The schema's plausible value is already "True": someone steps back first.
    let close = "Status RoomAnalytics Engagement CloseProximity";
    status(&mut raw, close, json!("False")).await;
    wait_command(&mut raw, "UserInterface Message Prompt Clear", |_| true).await;
    status(&mut raw, close, json!("True")).await;
    wait_command(&mut raw, "UserInterface Message Prompt Display", |p| {
        p["FeedbackId"] == "berightback_disable"
    })
    .await;
    event(
        &mut raw,
        "Event UserInterface Message Prompt Response",
        json!({"FeedbackId": "berightback_disable", "OptionId": 1}),
    )
    .await;
    wait_command(&mut raw, "Cameras Background Set", |p| p["Mode"] == "Blur").await;
    wait_command(&mut raw, "UserInterface Extensions Widget SetValue", |p| {
        p["WidgetId"] == "berightback_img" && p["Value"] == "none"
    })
    .await;
    shutdown(host).await;
}

#[tokio::test]
async fn energy_price_shows_todays_price_with_tax_and_charts_the_day() {
    let Some(sim) = product_sim().await else {
        return;
    };
    let mut raw = Raw::connect(&sim.url()).await;
    // Every hour of yesterday, today and tomorrow costs 0.5 before tax: the
    // port must pick the current hour's key, whatever the time.
    let today = chrono::Local::now().date_naive();
    let mut table = serde_json::Map::new();
    for day in [today.pred_opt().unwrap(), today, today.succ_opt().unwrap()] {
        for h in 0..24 {
            table.insert(
                format!("{day}T{h:02}:00:00+01:00"),
                json!({"NOK_per_kWh": 0.5}),
            );
        }
    }
    raw.ok(
        "xSim/HttpResponse",
        json!({"Url": "https://prices.example.com/*", "Body": Value::Object(table).to_string()}),
    )
    .await;
    let (_d, host, mut raw) = run(
        "energy-price",
        &sim,
        json!({"service": "https://prices.example.com/", "zone": "NO3"}),
    )
    .await;
    let shown = crate::common::within("the price on the home screen", async {
        loop {
            let v = raw.get("Configuration UserInterface CustomMessage").await;
            if v.as_str().is_some_and(|s| s.contains("NOK")) {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        shown.as_str().unwrap().starts_with("⚡️ 0.63 NOK / kWh"),
        "{shown}"
    );
    let requests = raw.ok("xSim/HttpRequests", json!({})).await["Requests"].clone();
    let url = requests[0]["Url"].as_str().unwrap().to_string();
    assert!(url.contains("zone=NO3&date=20"), "{url}");
    raw.ok("xSim/PanelClick", json!({"PanelId": "energy-prices"}))
        .await;
    wait_command(&mut raw, "UserInterface WebView Display", |p| {
        p["Url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://quickchart.io/chart?c=") && u.contains("0.63"))
    })
    .await;
    shutdown(host).await;
}

#[tokio::test]
async fn audio_dial_pad_dials_with_the_prefix_and_asks_again_on_bad_input() {
    let Some(sim) = product_sim().await else {
        return;
    };
    let (_d, host, mut raw) = run(
        "audio-dial-pad",
        &sim,
        json!({"prefix": "9", "pattern": "^([0-9]{3,10})$"}),
    )
    .await;
    raw.ok("xSim/PanelClick", json!({"PanelId": "audiocall"}))
        .await;
    text_input_shown(&mut raw, |p| {
        p["FeedbackId"] == "dialpad" && p["InputType"] == "Numeric"
    })
    .await;
    typed(&mut raw, "dialpad", "12").await;
    text_input_shown(&mut raw, |p| {
        p["Text"].as_str().is_some_and(|t| t.contains("invalid"))
    })
    .await;
    typed(&mut raw, "dialpad", "5551234").await;
    wait_command(&mut raw, "Dial", |p| {
        p["Number"] == "95551234" && p["CallType"] == "Audio"
    })
    .await;
    shutdown(host).await;
}

#[tokio::test]
async fn book_room_asks_when_people_use_an_unbooked_room_and_books_on_yes() {
    let Some(sim) = product_sim().await else {
        return;
    };
    let mut raw = Raw::connect(&sim.url()).await;
    status(&mut raw, "Status Bookings Current Id", json!("")).await;
    raw.ok("xSim/People", json!({"Count": 0})).await;
    let (_d, host, mut raw) = run(
        "book-room",
        &sim,
        json!({"on_presence": true, "delay_ms": 50}),
    )
    .await;
    raw.ok("xSim/People", json!({"Count": 3})).await;
    wait_command(&mut raw, "UserInterface Message Prompt Display", |p| {
        p["FeedbackId"] == "bookRoom"
    })
    .await;
    event(
        &mut raw,
        "Event UserInterface Message Prompt Response",
        json!({"FeedbackId": "bookRoom", "OptionId": 1}),
    )
    .await;
    wait_command(&mut raw, "Bookings Book", |p| {
        // An absolute start time, as toISOString gives: with the UTC offset.
        let start = p["StartTime"].as_str().unwrap_or_default();
        p["Duration"] == 15
            && p["Title"] == "Personal Meeting Room"
            && start.len() == 25
            && matches!(&start[19..20], "+" | "-")
    })
    .await;
    shutdown(host).await;
}

#[tokio::test]
async fn check_finds_every_path_of_the_ports_in_their_products_schema() {
    let Some(schema) = crate::common::cisco_schema_file() else {
        return;
    };
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .arg("check")
        .arg(ported_dir())
        .arg("--schema")
        .arg(schema)
        .args(["--product", PRODUCT])
        .output();
    let out = crate::common::within("xmacro check", out).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("10 script(s)"),
        "{stdout}\n{stderr}"
    );
}

#[tokio::test]
async fn a_fn_reads_top_level_constants_as_global_names_in_callbacks_too() {
    let sim = rig::sim().await;
    let mut reports = rig::Reports::new(&sim).await;
    let dir = TempDir::new("ported-global-const");
    dir.write(
        "consts.rhai",
        r#"const K = "constant";
fn label(x) { `${x}:${global::K}` }
report(label("top"));
set_timeout(|| report(label("timer")), 10);
xapi.Event.Sim.Ping.on(|e| report(label("on")));
"#,
    );
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    reports.expect("top:constant").await;
    reports.expect("timer:constant").await;
    rig::emit(reports.raw(), "Ping", json!({})).await;
    reports.expect("on:constant").await;
    shutdown(host).await;
}
