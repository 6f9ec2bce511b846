//! Feedback bursts at a script that cannot keep up: while its callback is
//! held, events beyond the mailbox's bound are dropped and counted, every
//! event up to the bound still runs, and Status changes are merged so the
//! last value of every path arrives.

use crate::common::rig::{self, Reports, TempDir};
use crate::common::{Raw, within};
use serde_json::json;

const SCRIPT: &str = r#"
let seqs = [];
let vols = 0;
let last_vol = ();
let last_mute = ();
xapi.Event.Sim.Hold.on(|e| {
    report("holding");
    // Held until the test opens the gate: everything below queues meanwhile.
    while xapi.Status.Standby.State.get() != "Off" { sleep(0.01); }
});
xapi.Event.Sim.Burst.on(|e| seqs.push(e.Seq));
xapi.Status.Audio.Volume.on(|v| { vols += 1; last_vol = v; });
xapi.Status.Audio.VolumeMute.on(|v| last_mute = v);
xapi.Event.Sim.Done.on(|e| {
    let in_order = 0;
    while in_order < seqs.len() && seqs[in_order] == in_order { in_order += 1; }
    report(`done ${seqs.len()} ${in_order} ${vols} ${last_vol} ${last_mute}`);
});
report("ready");
"#;

#[tokio::test]
async fn a_burst_at_a_held_callback_keeps_every_last_status_and_every_event_up_to_the_bound() {
    const BOUND: usize = 64;
    const EVENTS: usize = BOUND + 40;
    const CHANGES: usize = 300;
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("feedback-burst");
    dir.write("slowburst.rhai", SCRIPT);
    let mut opts = rig::options(&dir, vec![rig::codec("burst-room", &sim)]);
    opts.limits.mailbox = BOUND;
    let host = rig::start(opts).await;
    reports.expect("ready").await;

    let mut drive = Raw::connect(&sim.url()).await;
    let gate = |state: &str| json!({"Path": "Status Standby State", "Value": state});
    drive.ok("xSim/SetStatus", gate("Standby")).await;
    rig::emit(&mut drive, "Hold", json!({})).await;
    reports.expect("holding").await;

    // The burst, pipelined: events first, then a flood of Status changes.
    let mut frames = vec![json!({"method": "xSim/Burst", "params": {"Count": EVENTS}})];
    for i in 1..=CHANGES {
        frames.push(json!({"method": "xSim/SetStatus",
            "params": {"Path": "Status Audio Volume", "Value": i % 100}}));
        frames.push(json!({"method": "xSim/SetStatus",
            "params": {"Path": "Status Audio VolumeMute", "Value": if i % 2 == 0 { "Off" } else { "On" }}}));
    }
    for (id, mut f) in frames.iter().cloned().enumerate() {
        f["jsonrpc"] = json!("2.0");
        f["id"] = json!(1000 + id);
        drive.send_text(&f.to_string()).await;
    }
    for _ in 0..frames.len() {
        let answer = drive.recv_answer().await;
        assert!(answer.get("result").is_some(), "{answer}");
    }
    drive.ok("xSim/SetStatus", gate("Off")).await;

    // Ask until the script has worked through its mailbox (a `Done` sent
    // while it is still full of events is dropped like any other).
    let done = within("the script to catch up", async {
        loop {
            rig::emit(&mut drive, "Done", json!({})).await;
            let seen = reports.idle(&host).await;
            if let Some(d) = seen.iter().find(|s| s.starts_with("done ")) {
                return d.clone();
            }
        }
    })
    .await;
    let f: Vec<&str> = done.split(' ').collect();
    let (got, in_order, vol_calls) = (
        f[1].parse::<usize>().unwrap(),
        f[2].parse::<usize>().unwrap(),
        f[3].parse::<usize>().unwrap(),
    );
    assert!(got >= BOUND, "only {got} of {EVENTS} events ran: {done}");
    assert_eq!(in_order, got, "events ran in order, none missing: {done}");
    assert_eq!(f[4], (CHANGES % 100).to_string(), "last volume: {done}");
    assert_eq!(f[5], "Off", "last mute: {done}");
    assert!(
        vol_calls < CHANGES,
        "volume changes were merged while the callback was held: {done}"
    );
    let line = rig::wait_log(&["script=slowburst", "caught up"]).await;
    assert!(line.contains("codec=burst-room"), "{line}");
    // Every Burst event that did not run is counted (a `Done` asked for
    // while the mailbox was still full may be too).
    let dropped: usize = line
        .split(" event(s) dropped")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line}"));
    assert!(dropped >= EVENTS - got, "{line}");
    within("shutdown", host.shutdown()).await;
}
