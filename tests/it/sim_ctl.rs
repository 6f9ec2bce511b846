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
