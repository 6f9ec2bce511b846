//! Automatic standby on the simulator's clock: halfwake after two minutes
//! and standby after `Standby Delay` minutes without activity (a virtual
//! clock stands in for the minutes, as under `xmacro test`), what holds
//! the countdown and what restarts it, and the same through `xmacro test`.

use std::sync::Arc;
use std::time::Duration;

use crate::common::rig::TempDir;
use crate::common::{Raw, Sim, cisco_schema, within};
use serde_json::{Value, json};
use xmacro::clock::vclock::VirtualClock;
use xmacro::schema::Schema;
use xmacro::sim::{DeviceOptions, SimOptions};

const MIN: u64 = 60_000;

/// A simulator counting on a virtual clock, and a client subscribed to
/// `Status Standby State`.
async fn sim_on(schema: Option<Arc<Schema>>) -> (Sim, Arc<VirtualClock>, Raw) {
    let start =
        chrono::NaiveDateTime::parse_from_str("2026-03-02 08:00", "%Y-%m-%d %H:%M").unwrap();
    let clock = Arc::new(VirtualClock::new(start, chrono_tz::Tz::UTC));
    let sim = Sim::start(SimOptions {
        device: DeviceOptions {
            schema,
            clock: clock.clone(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let mut c = Raw::connect(&sim.url()).await;
    c.subscribe("Status Standby State").await;
    (sim, clock, c)
}

/// When the countdown's next wait ends (virtual ms), once it is set.
async fn next_due(clock: &VirtualClock) -> u64 {
    within("the standby countdown", async {
        loop {
            if let Some(due) = clock.next_due() {
                return due;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// Waits until nothing counts down (the waits that were set are dropped).
async fn held(clock: &VirtualClock) {
    within("the countdown to stop", async {
        while clock.pending() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// Moves the clock to `ms`, firing what is due, and gives the standby
/// states the subscriber saw on the way. The runtime has one thread: by the
/// time a state's feedback arrives, the countdown has set its next wait.
async fn advance_to(c: &mut Raw, clock: &VirtualClock, ms: u64) -> Vec<Value> {
    let mut seen = Vec::new();
    while clock.fire_next(ms) {
        let f = c.next_feedback().await;
        seen.push(f["Status"]["Standby"]["State"].clone());
    }
    seen
}

async fn halfwake_then_standby_after_the_delay(schema: Option<Arc<Schema>>) {
    let (_s, clock, mut c) = sim_on(schema).await;
    assert_eq!(next_due(&clock).await, 2 * MIN, "halfwake at two minutes");
    assert!(advance_to(&mut c, &clock, 2 * MIN - 1).await.is_empty());
    assert_eq!(advance_to(&mut c, &clock, 2 * MIN).await, ["Halfwake"]);
    assert_eq!(c.get("Status Standby State").await, "Halfwake");
    assert_eq!(next_due(&clock).await, 10 * MIN, "standby at Standby Delay");
    assert_eq!(advance_to(&mut c, &clock, 10 * MIN).await, ["Standby"]);
    held(&clock).await;
    // Using the device wakes it, and the countdown starts again from now.
    c.ok("xCommand/Standby/Deactivate", json!({})).await;
    assert_eq!(c.next_feedback().await["Status"]["Standby"]["State"], "Off");
    assert_eq!(next_due(&clock).await, 12 * MIN);
}

#[tokio::test]
async fn the_built_in_device_goes_to_halfwake_then_standby_without_activity() {
    halfwake_then_standby_after_the_delay(None).await;
}

#[tokio::test]
async fn a_device_of_the_schema_goes_to_halfwake_then_standby_without_activity() {
    let Some(schema) = cisco_schema("barents") else {
        return;
    };
    halfwake_then_standby_after_the_delay(Some(schema)).await;
}

#[tokio::test]
async fn the_delay_and_halfwake_mode_are_the_devices_settings() {
    let (_s, clock, mut c) = sim_on(None).await;
    next_due(&clock).await;
    c.ok(
        "xSet",
        json!({"Path": ["Configuration", "Standby", "Delay"], "Value": 3}),
    )
    .await;
    c.ok(
        "xSet",
        json!({"Path": ["Configuration", "Standby", "Halfwake", "Mode"], "Value": "Manual"}),
    )
    .await;
    // Straight to standby, three minutes from the last setting.
    assert_eq!(next_due(&clock).await, 3 * MIN);
    assert_eq!(advance_to(&mut c, &clock, 3 * MIN).await, ["Standby"]);
    // Standby Control Off: nothing counts down.
    c.ok("xCommand/Standby/Deactivate", json!({})).await;
    c.next_feedback().await;
    c.ok(
        "xSet",
        json!({"Path": ["Configuration", "Standby", "Control"], "Value": "Off"}),
    )
    .await;
    held(&clock).await;
    // ResetTimer with a Delay counts that once.
    c.ok(
        "xSet",
        json!({"Path": ["Configuration", "Standby", "Control"], "Value": "On"}),
    )
    .await;
    c.ok("xCommand/Standby/ResetTimer", json!({"Delay": 1}))
        .await;
    assert_eq!(next_due(&clock).await, clock.elapsed_ms() + MIN);
}

#[tokio::test]
async fn a_call_or_people_in_the_room_hold_the_countdown_and_their_end_restarts_it() {
    let (_s, clock, mut c) = sim_on(None).await;
    next_due(&clock).await;
    assert!(advance_to(&mut c, &clock, MIN).await.is_empty());
    c.ok("xCommand/Dial", json!({"Number": "a@example.com"}))
        .await;
    held(&clock).await;
    assert!(advance_to(&mut c, &clock, 60 * MIN).await.is_empty());
    c.ok("xCommand/Call/Disconnect", json!({})).await;
    assert_eq!(
        next_due(&clock).await,
        62 * MIN,
        "two minutes from the call's end"
    );
    c.ok("xSim/People", json!({"Count": 2})).await;
    held(&clock).await;
    c.ok("xSim/People", json!({"Count": 0})).await;
    assert_eq!(next_due(&clock).await, 62 * MIN);
    // A widget used in halfwake wakes the device.
    assert_eq!(advance_to(&mut c, &clock, 62 * MIN).await, ["Halfwake"]);
    c.ok("xSim/WidgetAction", json!({"WidgetId": "lights"}))
        .await;
    assert_eq!(c.next_feedback().await["Status"]["Standby"]["State"], "Off");
    assert_eq!(next_due(&clock).await, 64 * MIN);
}

#[tokio::test]
async fn under_xmacro_test_the_virtual_clock_drives_standby() {
    let dir = TempDir::new("standby-test");
    std::fs::write(
        dir.0.join("standby.test.rhai"),
        r#"
test("the room sleeps after ten quiet minutes", || {
    let room = sim();
    advance("119s");
    assert_eq(room.get("Status Standby State"), "Off");
    advance("1s");
    assert_eq(room.get("Status Standby State"), "Halfwake");
    advance("8m");
    assert_eq(room.get("Status Standby State"), "Standby");
    room.people(1);
    assert_eq(room.get("Status Standby State"), "Halfwake");
});
"#,
    )
    .unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .arg("test")
        .arg(&dir.0)
        .env_remove("XMACRO_PASSWORD")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("xmacro test ended in time")
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}
