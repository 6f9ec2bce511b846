//! A codec that answers slowly when a script starts (busy, a long link,
//! just rebooted) must not stop the script for good: time spent waiting for
//! the codec is not the script's own time, and a top level stopped by its
//! codec rather than its code is started again with a growing pause,
//! logged once and shown as retrying. A top level whose own code fails is
//! not tried again.

use std::time::Duration;

use serde_json::json;

use crate::common::rig::{self, Reports, TempDir, emit, logs};
use crate::common::{Raw, Sim, within};

/// Makes every answer of `sim` come `ms` late, from a connection of its
/// own: the answer to this very request is late too, so it is not awaited.
async fn delay_answers(sim: &Sim, ms: u64) -> Raw {
    let mut raw = Raw::connect(&sim.url()).await;
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": "xSim/Delay", "params": {"Ms": ms}});
    raw.send_text(&req.to_string()).await;
    raw
}

/// Answers at once again (the answer to this request is not late).
async fn answer_at_once(sim: &Sim) {
    Raw::connect(&sim.url())
        .await
        .ok("xSim/Delay", json!({"Ms": 0}))
        .await;
}

/// The log lines of `script` so far.
fn lines_of(script: &str) -> Vec<String> {
    let tag = format!("script={script}");
    logs()
        .lock()
        .unwrap()
        .lines()
        .filter(|l| l.contains(&tag))
        .map(str::to_string)
        .collect()
}

/// The first log line of `script` holding one of `needles`, waiting up to
/// `limit` (for waits longer than the rig's 5 s).
async fn first_line(script: &str, needles: &[&str], limit: Duration) -> String {
    tokio::time::timeout(limit, async {
        loop {
            let found = lines_of(script)
                .into_iter()
                .find(|l| needles.iter().any(|n| l.contains(n)));
            if let Some(l) = found {
                return l;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no line of {script} with any of {needles:?} in {limit:?}"))
}

#[tokio::test]
async fn a_codec_answering_six_seconds_late_at_start_does_not_stop_the_script() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let _late = delay_answers(&sim, 6000).await;
    let dir = TempDir::new("slow-start");
    dir.write(
        "latecomer.rhai",
        r#"xapi.Event.Sim.Ping.on(|e| report(`pong ${e.N}`));"#,
    );
    // The codec's own request timeout (10 s) is longer than the delay; the
    // script's budget (5 s) is shorter.
    let mut room = rig::codec("room", &sim);
    room.config.request_timeout = Duration::from_secs(10);
    let host = rig::start(rig::options(&dir, vec![room])).await;
    let line = first_line(
        "latecomer",
        &["started", "top level stopped", "top level failed"],
        Duration::from_secs(20),
    )
    .await;
    assert!(line.ends_with("started"), "{line}");
    answer_at_once(&sim).await;
    emit(r.raw(), "Ping", json!({"N": 1})).await;
    r.expect("pong 1").await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_top_level_stopped_by_its_codec_is_started_again_and_shown_as_retrying() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let _late = delay_answers(&sim, 6000).await;
    let dir = TempDir::new("retry-start");
    // Each try says so at once (the event goes out before the late answer),
    // and that call then times out.
    dir.write(
        "retrier.rhai",
        r#"
report("try");
xapi.Event.Sim.Ping.on(|e| report(`pong ${e.N}`));
report("up");
"#,
    );
    // Counts its tries in its store: no call to the slow codec.
    dir.write(
        "stubborn.rhai",
        r#"store.set("tries", (store.get("tries") ?? 0) + 1); throw "its own mistake";"#,
    );
    // Each try's first call times out after a second: tries come about a
    // second, then two, apart (the rig's waits for a report are 5 s).
    let mut room = rig::codec("room", &sim);
    room.config.request_timeout = Duration::from_secs(1);
    let host = rig::start(rig::options(&dir, vec![room.clone()])).await;
    let ops = xmacro::ops::server::Ops::new(None);
    ops.attach(host.codecs(), &[room], &dir.state());
    let retrier = |s: &xmacro::ops::snapshot::Status| {
        s.scripts
            .iter()
            .find(|x| x.name == "retrier")
            .map(|x| (x.state.clone(), x.instances[0].state.clone()))
    };
    let tries = |r: &Reports| r.seen.iter().filter(|s| *s == "try").count();
    // Two tries, the status page saying so between them.
    let mut shown = None;
    tokio::time::timeout(Duration::from_secs(20), async {
        while tries(&r) < 2 {
            r.next().await;
            let status = ops.status();
            if retrier(&status) == Some(("retrying".into(), "retrying".into())) {
                shown = Some(xmacro::ops::page::page(&status, &Default::default()));
            }
        }
    })
    .await
    .expect("a second try");
    let status = ops.status();
    assert_eq!(
        retrier(&status),
        Some(("retrying".into(), "retrying".into())),
        "{status:#?}"
    );
    let page = shown.unwrap_or_else(|| xmacro::ops::page::page(&status, &Default::default()));
    assert!(
        page.contains(r#"<span class="s retrying">retrying</span>"#),
        "{page}"
    );
    let why = &status
        .scripts
        .iter()
        .find(|x| x.name == "retrier")
        .unwrap()
        .instances[0];
    assert!(
        why.last_error
            .as_ref()
            .unwrap()
            .message
            .contains("no answer within"),
        "{why:?}"
    );
    // The codec answers at once again: the next try runs, and feedback
    // comes through.
    answer_at_once(&sim).await;
    tokio::time::timeout(Duration::from_secs(20), async {
        while !r.seen.iter().any(|s| s == "up") {
            r.next().await;
        }
    })
    .await
    .expect("the script up");
    emit(r.raw(), "Ping", json!({"N": 1})).await;
    r.expect("pong 1").await;
    first_line("retrier", &["started after"], Duration::from_secs(5)).await;
    let warned = lines_of("retrier")
        .iter()
        .filter(|l| l.contains("top level stopped by its codec"))
        .count();
    assert_eq!(warned, 1, "logged once, though tried {} times", tries(&r));
    // A top level that fails by its own code is not tried again.
    within("the host to be idle", host.idle()).await;
    let tried = rig::stored(&dir.state(), "room", "stubborn", "tries");
    assert_eq!(tried, json!(1), "tried again");
    let status = ops.status();
    let s = status
        .scripts
        .iter()
        .find(|x| x.name == "stubborn")
        .unwrap();
    assert_eq!(
        (s.state.as_str(), s.instances[0].state.as_str()),
        ("failing", "failed")
    );
    within("shutdown", host.shutdown()).await;
}
