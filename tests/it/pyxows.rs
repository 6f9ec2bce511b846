//! Cisco's Python client pyxows (PyPI `xows`), its library and `clixows`,
//! against the simulator: get, query with `**`, set, commands, status and
//! event feedback, refusals with their Cause, xDoc. `.ci/run` installs it
//! into tests/pyxows/.venv. Without the venv the test is skipped with a
//! note on a developer's machine, and fails under CI (`CI` set).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::Sim;
use xmacro::sim::SimOptions;

#[tokio::test]
async fn pyxows_library_and_clixows_talk_to_the_simulator() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyxows");
    let python = dir.join(".venv/bin/python");
    if !dir.join(".venv/bin/clixows").is_file() {
        let how = "pyxows is not installed: run `python3 -m venv tests/pyxows/.venv && tests/pyxows/.venv/bin/pip install xows` (bash .ci/run does)";
        assert!(std::env::var_os("CI").is_none(), "{how}");
        eprintln!("skipped: {how}");
        return;
    }
    let sim = Sim::start(SimOptions::default()).await;
    let child = tokio::process::Command::new(python)
        .arg(dir.join("smoke.py"))
        .arg(sim.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the venv's python runs");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("pyxows run timed out")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pyxows failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for step in [
        "get",
        "query",
        "command",
        "feedback",
        "set",
        "dial",
        "event",
        "refused",
        "bad-usage",
        "doc",
        "clixows-get",
        "clixows-query",
        "clixows-set",
        "clixows-command",
    ] {
        assert!(
            stdout.contains(&format!("\"step\": \"{step}\"")),
            "step {step} missing:\n{stdout}"
        );
    }
    assert!(stdout.lines().any(|l| l == "OK"), "{stdout}");
}
