//! `xmacro run` as a process: `store` survives a restart and `kill -9`, and
//! SIGTERM stops gracefully (on_unload runs, close frames go out, exit 0).

use crate::common::rig::{self, Reports, TempDir, emit, spawn_run};
use crate::common::within;
use serde_json::json;

pub(crate) fn signal(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap();
}

#[tokio::test]
async fn store_survives_restart_and_kill_9() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("process-store");
    dir.write(
        "keeper.rhai",
        r#"
xapi.Event.Sim.Keep.on(|e| { store.set("n", e.N); report(`stored:${e.N}`); });
report(`restored:${store.get("n") ?? "none"}`);
"#,
    );
    let mut child = spawn_run(&dir, &sim.url());
    r.expect("restored:none").await;
    emit(r.raw(), "Keep", json!({"N": 7})).await;
    r.expect("stored:7").await;
    // Acknowledged, so on disk: kill -9 right away.
    signal(&child, "-KILL");
    within("the process to die", child.wait()).await.unwrap();
    let mut child = spawn_run(&dir, &sim.url());
    r.expect("restored:7").await;
    emit(r.raw(), "Keep", json!({"N": 8})).await;
    r.expect("stored:8").await;
    signal(&child, "-TERM");
    within("a clean exit", child.wait()).await.unwrap();
    let mut child = spawn_run(&dir, &sim.url());
    r.expect("restored:8").await;
    child.kill().await.unwrap();
}

#[tokio::test]
async fn sigterm_runs_on_unload_and_closes_cleanly() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("process-term");
    dir.write(
        "polite.rhai",
        r#"fn on_unload() { report("goodbye"); } report("hello");"#,
    );
    let child = spawn_run(&dir, &sim.url());
    r.expect("hello").await;
    signal(&child, "-TERM");
    r.expect("goodbye").await;
    let status = within("exit after SIGTERM", child.wait_with_output())
        .await
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(0));
    let closes = r.raw().ok("xSim/Inspect", json!({})).await["Closes"].clone();
    assert!(
        closes.as_array().unwrap().contains(&json!(1000)),
        "{closes}"
    );
}

#[tokio::test]
async fn ctrl_c_stops_as_gracefully_as_sigterm() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("process-int");
    dir.write(
        "polite.rhai",
        r#"fn on_unload() { report("interrupted"); } report("hi");"#,
    );
    let child = spawn_run(&dir, &sim.url());
    r.expect("hi").await;
    signal(&child, "-INT");
    r.expect("interrupted").await;
    let status = within("exit after Ctrl-C", child.wait_with_output())
        .await
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(0));
}
