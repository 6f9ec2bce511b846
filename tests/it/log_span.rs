//! Each line of `xmacro run`'s log names its script once: a line logged
//! from inside a job (`print`), from a task the job started (a refused
//! `.send` answered after the job moved on) or from the codec's connection
//! task carries `script{codec=... script=...}` one time, never nested in a
//! copy of itself.

use std::process::Stdio;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::rig::{self, TempDir};
use crate::common::{Raw, WAIT};

const SCRIPT: &str = r#"
print("hello from the top level");
xapi.Event.Sim.Go.on(|e| {
    print("go event seen");
    // Refused by the codec; the answer comes after the callback returned.
    xapi.Command.send("Standby Dectivate");
});
"#;

#[tokio::test]
async fn every_log_line_names_its_script_once() {
    let sim = rig::sim().await;
    let dir = TempDir::new("log-span");
    dir.write("room-setup.rhai", SCRIPT);
    let mut child = rig::xmacro_run(&dir, &sim.url())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen: Vec<String> = Vec::new();
    let mut wait_for = async |needle: &str, seen: &mut Vec<String>| {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !seen.iter().any(|l| l.contains(needle)) {
            let line = tokio::time::timeout_at(deadline, lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("no {needle:?} in:\n{}", seen.join("\n")))
                .unwrap()
                .expect("xmacro exited");
            seen.push(line);
        }
    };
    wait_for("started", &mut seen).await;
    let mut drive = Raw::connect(&sim.url()).await;
    // Answers come late, so the refusal is logged by the task awaiting it.
    drive.ok("xSim/Delay", json!({"Ms": 100})).await;
    rig::emit(&mut drive, "Go", json!({})).await;
    wait_for("Dectivate", &mut seen).await;
    drive.ok("xSim/Delay", json!({"Ms": 0})).await;
    drop(child);

    let span = "script{codec=";
    for needle in [
        "hello from the top level",
        "go event seen",
        "started",
        "Dectivate",
    ] {
        let line = seen
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{}", seen.join("\n")));
        assert!(line.contains("script=room-setup}"), "{line}");
    }
    for line in &seen {
        assert!(
            line.matches(span).count() <= 1,
            "the span is repeated: {line}"
        );
    }
}
