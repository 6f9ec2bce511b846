//! The host-wide limit on connection attempts (`connect_rate`, issue 31):
//! a fleet that starts, or comes back after its codecs restart, reaches
//! them at no more than the configured rate. The attempts are counted as
//! the host starts them (its debug line per attempt, written in the poll
//! that sends the TCP connect); the simulator's record says every codec
//! came back. Counted at the simulator instead, arrivals on this loaded
//! 2-core test machine bunch by a few hundred milliseconds of scheduling
//! delay on either side (54 in a second was seen with 45 a second sent):
//! `benches/fleet-capacity.sh` counts there, with 10,000 codecs.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use xmacro::sim::SimOptions;

use crate::common::{Raw, Sim, rebind, rig::TempDir};

/// The most upgrade attempts inside any one second (a sliding window that
/// starts at each attempt), from `xSim/Inspect`'s `Upgrades` (Unix ms).
fn busiest_second(upgrades: &[u64]) -> usize {
    upgrades
        .iter()
        .map(|&t| upgrades.iter().filter(|&&u| u >= t && u < t + 1000).count())
        .max()
        .unwrap_or(0)
}

/// When the host started each connection attempt (Unix ms), from its
/// JSON log lines.
fn host_attempts(log: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(log).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("connection attempt to"))
        })
        .map(|v| {
            let at = v["timestamp"].as_str().unwrap();
            chrono::DateTime::parse_from_rfc3339(at)
                .unwrap_or_else(|e| panic!("timestamp {at:?}: {e}"))
                .timestamp_millis() as u64
        })
        .collect()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Asks the simulator, on `raw`'s own session, until what it says passes
/// `done`; returns that answer.
async fn until(raw: &mut Raw, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let seen = raw.ok("xSim/Inspect", json!({})).await;
        if done(&seen) {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {} sessions and {} subscriptions after 40 s",
            seen["Sessions"],
            seen["Subscriptions"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `sessions` are open; returns the upgrade attempts recorded.
async fn until_sessions(raw: &mut Raw, sessions: u64, what: &str) -> Vec<u64> {
    let seen = until(raw, what, |s| s["Sessions"].as_u64() == Some(sessions)).await;
    let ups = seen["Upgrades"].as_array().unwrap();
    ups.iter().map(|v| v.as_u64().unwrap()).collect()
}

#[tokio::test]
async fn two_hundred_codecs_with_connect_rate_50_start_and_come_back_at_50_a_second_at_most() {
    const CODECS: usize = 200;
    let sim = Sim::start(SimOptions::default()).await;
    let addr = sim.addr;
    // The test's own session first: its upgrade is the record's first.
    let mut raw = Raw::connect(&sim.url()).await;
    let dir = TempDir::new("fleet-pace");
    dir.write("a.rhai", "xapi.Event.Sim.Pace.on(|e| print(`${e}`));");
    let mut config = String::from(
        "scripts = \"scripts\"\nstate = \"state\"\nconnect_rate = 50\n[defaults]\npassword_env = \"PW\"\n",
    );
    for i in 0..CODECS {
        config += &format!(
            "[[codec]]\nname = \"room-{i:03}\"\nurl = \"{}\"\n",
            sim.url()
        );
    }
    std::fs::write(dir.0.join("xmacro.toml"), config).unwrap();
    let log = dir.0.join("host.log");
    let mut host = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .args(["--log-format", "json", "run", "--config"])
        .arg(dir.0.join("xmacro.toml"))
        .env("PW", "")
        .env("RUST_LOG", "warn,xmacro::xows::connection=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // Start-up follows the limit.
    let ups = until_sessions(&mut raw, CODECS as u64 + 1, "start-up").await;
    let host_ups = &ups[1..];
    assert_eq!(host_ups.len(), CODECS, "one attempt per codec: {ups:?}");
    let started = host_attempts(&log).len();
    assert!(started >= CODECS, "{started} attempts in the host's log");

    // The simulator restarts on the same address: every session is cut,
    // and the fleet comes back at the same pace.
    drop(raw);
    drop(sim);
    let _sim = Sim::start_on(rebind(addr).await, SimOptions::default());
    let before = now_ms();
    let mut raw = crate::common::connect_when_up(&format!("ws://{addr}/ws")).await;
    let after = now_ms();
    let mut ups = until_sessions(&mut raw, CODECS as u64 + 1, "after the restart").await;
    // Leave out the test's own session (the one attempt in its time span).
    let own = ups
        .iter()
        .position(|&t| t >= before && t <= after)
        .expect("the test's own upgrade is recorded");
    ups.remove(own);
    assert!(ups.len() >= CODECS, "every codec came back: {}", ups.len());

    // Scripts are running again on every codec (each subscribed anew).
    until(&mut raw, "every script subscribed again", |s| {
        s["Subscriptions"].as_u64().unwrap_or(0) >= CODECS as u64
    })
    .await;
    host.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), host.wait()).await;

    // At start-up, while the simulator was away and on the way back: never
    // more than the rate in any one second.
    let attempts = host_attempts(&log);
    assert!(attempts.len() >= 2 * CODECS, "{} attempts", attempts.len());
    let most = busiest_second(&attempts);
    assert!(most <= 50, "{most} connection attempts in one second");
}
