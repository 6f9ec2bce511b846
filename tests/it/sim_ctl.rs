//! `xmacro sim ctl` as a user runs it against a running simulator: each
//! action, a scenario file replayed with its timings, and its help.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::Out;
use crate::common::rig::TempDir;
use crate::common::{Raw, Sim};
use serde_json::{Value, json};
use xmacro::sim::SimOptions;

async fn ctl(url: &str, args: &[&str]) -> Out {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .args(["sim", "ctl", url])
        .args(args)
        .env_remove("XMACRO_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("xmacro sim ctl did not finish")
        .unwrap();
    Out::from(out)
}

async fn ok(url: &str, args: &[&str]) -> Vec<Value> {
    let out = ctl(url, args).await;
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn each_action_reaches_the_simulator() {
    let sim = Sim::start(SimOptions::default()).await;
    let url = sim.url();
    let mut c = Raw::connect(&url).await;
    ok(
        &url,
        &["incoming-call", "alice@example.com", "--name", "Alice"],
    )
    .await;
    assert_eq!(c.get("Status Call[1] Status").await, "Ringing");
    assert_eq!(c.get("Status Call[1] DisplayName").await, "Alice");
    ok(&url, &["hangup"]).await;
    assert_eq!(
        c.get("Status SystemUnit State NumberOfInProgressCalls")
            .await,
        0
    );

    ok(&url, &["people", "5"]).await;
    assert_eq!(c.get("Status RoomAnalytics PeopleCount Current").await, 5);

    ok(&url, &["status", "Status", "Audio", "Volume", "70"]).await;
    assert_eq!(c.get("Status Audio Volume").await, 70);

    c.subscribe("Event UserInterface Extensions Widget Action")
        .await;
    ok(&url, &["widget-click", "speed-dial"]).await;
    let f = c.next_feedback().await;
    assert_eq!(
        f["Event"]["UserInterface"]["Extensions"]["Widget"]["Action"]["WidgetId"],
        "speed-dial"
    );

    ok(
        &url,
        &[
            "http-response",
            "https://api.test/*",
            "--status",
            "201",
            "--body",
            "made",
        ],
    )
    .await;
    c.ok(
        "xSet",
        json!({"Path": ["Configuration", "HttpClient", "Mode"], "Value": "On"}),
    )
    .await;
    let r = c
        .ok(
            "xCommand/HttpClient/Post",
            json!({"Url": "https://api.test/x", "ResultBody": "PlainText", "body": "{}"}),
        )
        .await;
    assert_eq!(
        (r["StatusCode"].clone(), r["Body"].clone()),
        (json!(201), json!("made"))
    );
    let reqs = ok(&url, &["http-requests"]).await;
    assert_eq!(
        reqs[0]["result"]["Requests"][0]["Url"],
        "https://api.test/x"
    );

    ok(
        &url,
        &[
            "command-result",
            "Bookings",
            "List",
            "--json",
            "{\"Booking\": []}",
        ],
    )
    .await;
    assert_eq!(
        c.ok("xCommand/Bookings/List", json!({})).await,
        json!({"Booking": []})
    );

    c.ok(
        "xCommand/UserInterface/Message/Alert/Display",
        json!({"Text": "Hello room"}),
    )
    .await;
    let log = ok(&url, &["ui-log"]).await;
    assert_eq!(log[0]["result"]["Entries"][0]["Text"], "Hello room");

    // What the simulator recorded, upgrade attempts included (this
    // inspect's own among them).
    let seen = ok(&url, &["inspect"]).await;
    let ups = seen[0]["result"]["Upgrades"].as_array().unwrap();
    assert!(ups.len() >= 2, "{seen:?}");
    assert!(
        seen[0]["result"]["Sessions"].as_u64().unwrap() >= 1,
        "{seen:?}"
    );

    let bad = ctl(&url, &["event", "Event", "X", "--json", "{nope"]).await;
    assert_eq!(bad.code, 2, "bad JSON is a usage error: {}", bad.stderr);
    assert!(bad.stderr.contains("--json"), "{}", bad.stderr);
}

#[tokio::test]
async fn a_scenario_file_replays_with_its_timings() {
    let sim = Sim::start(SimOptions::default()).await;
    let url = sim.url();
    let dir = TempDir::new("ctl-scenario");
    let file = dir.0.join("morning.txt");
    std::fs::write(
        &file,
        "# people arrive, a call rings, it ends\n0 people 3\n0.3 incoming-call bob@example.com --name 'Bob B'\n0.6 hangup\n",
    )
    .unwrap();
    let started = Instant::now();
    let lines = ok(&url, &["scenario", file.to_str().unwrap()]).await;
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "the last step waits for its time"
    );
    let at: Vec<f64> = lines.iter().map(|l| l["at"].as_f64().unwrap()).collect();
    assert_eq!(at, [0.0, 0.3, 0.6]);
    let mut c = Raw::connect(&url).await;
    assert_eq!(c.get("Status RoomAnalytics PeopleCount Current").await, 3);
    let h = c.ok("xCommand/CallHistory/Get", json!({})).await;
    assert_eq!(h["Entry"][0]["DisplayName"], "Bob B");
    assert_eq!(h["Entry"][0]["OccurrenceType"], "Missed");

    std::fs::write(&file, "0 people 3\nlater hangup\n").unwrap();
    let bad = ctl(&url, &["scenario", file.to_str().unwrap()]).await;
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("morning.txt:2:"),
        "names file and line: {}",
        bad.stderr
    );
}

#[tokio::test]
async fn help_teaches_with_examples() {
    let out = ctl("ws://127.0.0.1:1/ws", &["--help"]).await;
    let help = if out.stdout.is_empty() {
        // `--help` after the URL is clap's help for `sim ctl`.
        out.stderr
    } else {
        out.stdout
    };
    for want in [
        "incoming-call",
        "widget-click",
        "people 5",
        "http-response",
        "scenario",
    ] {
        assert!(help.contains(want), "{want} missing from:\n{help}");
    }
}

/// Starts a scenario, waits until its first step has run, sends `signal`
/// and gives the exit code and stderr (failing if it does not stop soon).
async fn stop_scenario_with(signal: &str) -> (i32, String) {
    let sim = Sim::start(SimOptions::default()).await;
    let url = sim.url();
    let dir = TempDir::new("ctl-signal");
    let file = dir.0.join("long.txt");
    // The second step is 10 minutes away.
    std::fs::write(&file, "0 people 1\n600 people 2\n").unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .args(["sim", "ctl", &url, "scenario", file.to_str().unwrap()])
        .env_remove("XMACRO_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut first),
    )
    .await
    .expect("the first step ran")
    .unwrap();
    assert!(first.contains("xSim/People"), "{first}");
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    let done = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output())
        .await
        .expect("the scenario did not stop on the signal")
        .unwrap();
    let mut c = Raw::connect(&url).await;
    assert_eq!(
        c.get("Status RoomAnalytics PeopleCount Current").await,
        1,
        "the second step never ran"
    );
    (
        done.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&done.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_scenario_waiting_between_steps_stops_at_once_on_sigterm_and_ctrl_c() {
    let (code, stderr) = stop_scenario_with("-TERM").await;
    assert_eq!(code, 143, "{stderr}");
    assert!(
        stderr.contains("stopped by SIGTERM after 1 of 2 step(s)"),
        "{stderr}"
    );
    let (code, stderr) = stop_scenario_with("-INT").await;
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("stopped by SIGINT"), "{stderr}");
}

#[tokio::test]
async fn a_scenario_time_out_of_range_is_refused_before_any_line_runs() {
    let sim = Sim::start(SimOptions::default()).await;
    let url = sim.url();
    let dir = TempDir::new("ctl-range");
    let file = dir.0.join("far.txt");
    for far in ["1e20", "86401", "1e308"] {
        std::fs::write(&file, format!("0 people 4\n{far} people 5\n")).unwrap();
        let out = ctl(&url, &["scenario", file.to_str().unwrap()]).await;
        assert_eq!(out.code, 2, "{far}: {}", out.stderr);
        assert!(out.stderr.contains("far.txt:2:"), "{far}: {}", out.stderr);
        assert!(out.stderr.contains("out of range"), "{far}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert!(out.stdout.is_empty(), "nothing ran: {}", out.stdout);
    }
    let mut c = Raw::connect(&url).await;
    assert_eq!(c.get("Status RoomAnalytics PeopleCount Current").await, 0);
    // A day is still fine to parse (the file is checked, not run, here).
    let steps = xmacro::cmd::sim::parse_scenario(
        std::path::Path::new("day.txt"),
        "0 people 1\n86400 people 0\n",
    )
    .unwrap();
    assert_eq!(steps.len(), 2);
}
