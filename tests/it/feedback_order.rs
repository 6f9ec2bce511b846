//! Feedback reaches a script in the order the codec sent it, across all of
//! its subscriptions (two Event paths and a Status path here): thousands of
//! interleaved items from the simulator on one session, with and without a
//! host call in a callback, and in a burst past the mailbox's bound, where
//! what is kept must still be in wire order and the last status must
//! arrive. Every item carries its sequence number (the status value is the
//! number too), and the script counts any that comes after a later one.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::rig::{self, Reports, TempDir};
use crate::common::{Raw, within};

const SCRIPT: &str = r#"
let got = 0;
let bad = 0;
let first_bad = "none";
let last = -1;
let get = false;
let last_vol = ();
fn seen(s) {
    got += 1;
    if s <= last {
        bad += 1;
        if first_bad == "none" { first_bad = `${last}-then-${s}`; }
    }
    last = s;
}
xapi.Event.Sim.Start.on(|e| {
    got = 0; bad = 0; first_bad = "none"; last = -1;
    get = e.Get == true;
    report("started");
});
xapi.Event.Sim.A.on(|e| {
    if get { xapi.Status.Audio.Volume.get(); }
    seen(e.Seq);
});
xapi.Event.Sim.B.on(|e| seen(e.Seq));
xapi.Status.Audio.Volume.on(|v| { seen(v); last_vol = v; });
xapi.Event.Sim.Hold.on(|e| {
    report("holding");
    // Held until the test opens the gate: what comes meanwhile queues.
    while xapi.Status.Standby.State.get() != "Off" { sleep(0.01); }
});
xapi.Event.Sim.Done.on(|e| report(`done ${got} ${bad} ${first_bad} ${last_vol}`));
report("ready");
"#;

/// `count` items, numbered from 1: `Event Sim A`, `Event Sim B` or a
/// `Status Audio Volume` change, the first ones of the kinds in `lead`
/// (0: A, 1: B, 2: status), the rest mixed by a fixed pseudo-random
/// sequence; and the number of the last status change.
fn interleaved(count: u64, lead: &[u64]) -> (Vec<Value>, u64) {
    let mut frames = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut last_status = 0;
    for seq in 1..=count {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let kind = lead.get(seq as usize - 1).copied().unwrap_or(x % 3);
        let frame = match kind {
            0 => json!({"method": "xSim/EmitEvent",
                "params": {"Path": "Event Sim A", "Value": {"Seq": seq}}}),
            1 => json!({"method": "xSim/EmitEvent",
                "params": {"Path": "Event Sim B", "Value": {"Seq": seq}}}),
            _ => {
                last_status = seq;
                json!({"method": "xSim/SetStatus",
                    "params": {"Path": "Status Audio Volume", "Value": seq}})
            }
        };
        frames.push(frame);
    }
    (frames, last_status)
}

/// Sends `frames` pipelined on `drive` (one session, so the simulator
/// emits their feedback in this order) and waits for every answer.
async fn send_all(drive: &mut Raw, frames: &[Value]) {
    for (id, f) in frames.iter().enumerate() {
        let mut f = f.clone();
        f["jsonrpc"] = json!("2.0");
        f["id"] = json!(10_000 + id);
        drive.send_text(&f.to_string()).await;
    }
    for _ in frames {
        let answer = drive.recv_answer().await;
        assert!(answer.get("result").is_some(), "{answer}");
    }
}

/// Asks for the script's `done` line until it comes (a `Done` that finds
/// a full mailbox is dropped like any other event). Thousands of callbacks
/// take a debug build on a loaded machine a while: this waits up to a
/// minute for them.
async fn done(
    drive: &mut Raw,
    reports: &mut Reports,
    host: &xmacro::host::HostHandle,
) -> Vec<String> {
    let all = async {
        loop {
            rig::emit(drive, "Done", json!({})).await;
            host.idle().await;
            let seen = reports.flush().await;
            if let Some(d) = seen.iter().find(|s| s.starts_with("done ")) {
                return d.clone();
            }
        }
    };
    let line = tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("the script's counts within a minute");
    line.split(' ').map(str::to_string).collect()
}

async fn start(
    mailbox: Option<usize>,
) -> (
    crate::common::Sim,
    Reports,
    xmacro::host::HostHandle,
    Raw,
    TempDir,
) {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("feedback-order");
    dir.write("order.rhai", SCRIPT);
    let mut opts = rig::options(&dir, vec![rig::codec("order-room", &sim)]);
    if let Some(m) = mailbox {
        opts.limits.mailbox = m;
    }
    let host = rig::start(opts).await;
    reports.expect("ready").await;
    let drive = Raw::connect(&sim.url()).await;
    (sim, reports, host, drive, dir)
}

async fn run_in_order(with_host_call: bool) {
    const ITEMS: u64 = 3000;
    let (_sim, mut reports, host, mut drive, _dir) = start(None).await;
    rig::emit(&mut drive, "Start", json!({"Get": with_host_call})).await;
    reports.expect("started").await;
    let (frames, last_status) = interleaved(ITEMS, &[]);
    send_all(&mut drive, &frames).await;
    let f = done(&mut drive, &mut reports, &host).await;
    assert_eq!(
        (f[1].as_str(), f[2].as_str(), f[3].as_str()),
        (ITEMS.to_string().as_str(), "0", "none"),
        "every item once, none after a later one: {f:?}"
    );
    assert_eq!(f[4], last_status.to_string());
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_script_sees_thousands_of_interleaved_events_and_status_changes_in_wire_order() {
    run_in_order(false).await;
}

#[tokio::test]
async fn the_order_holds_while_a_callback_makes_host_calls() {
    run_in_order(true).await;
}

#[tokio::test]
async fn a_burst_past_the_mailbox_keeps_what_it_keeps_in_wire_order() {
    const MAILBOX: usize = 32;
    const ITEMS: u64 = 2000;
    let (_sim, mut reports, host, mut drive, _dir) = start(Some(MAILBOX)).await;
    let gate = |state: &str| json!({"Path": "Status Standby State", "Value": state});
    drive.ok("xSim/SetStatus", gate("Standby")).await;
    rig::emit(&mut drive, "Start", json!({})).await;
    reports.expect("started").await;
    rig::emit(&mut drive, "Hold", json!({})).await;
    reports.expect("holding").await;

    // A status change waits before a few events, and later ones replace
    // it once the mailbox is full: the latest must not run before them.
    let (frames, last_status) = interleaved(ITEMS, &[2, 0, 1, 0, 1, 2, 0]);
    send_all(&mut drive, &frames).await;
    drive.ok("xSim/SetStatus", gate("Off")).await;

    let f = done(&mut drive, &mut reports, &host).await;
    let got: usize = f[1].parse().unwrap();
    assert_eq!(
        (f[2].as_str(), f[3].as_str()),
        ("0", "none"),
        "what was kept ran in wire order: {f:?}"
    );
    assert!(
        got >= MAILBOX && got < ITEMS as usize,
        "the mailbox was full and dropped events, kept at least its bound: {f:?}"
    );
    assert_eq!(f[4], last_status.to_string(), "the last status arrived");
    within("shutdown", host.shutdown()).await;
}
