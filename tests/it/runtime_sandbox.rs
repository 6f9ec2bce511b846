//! The sandbox: runaway loops, deep recursion and string doubling are
//! stopped with a clear log line, escaping imports and eval are refused,
//! and another script on the same codec keeps answering promptly.

use std::time::{Duration, Instant};

use crate::common::rig::{self, Reports, TempDir, emit, wait_log};
use crate::common::within;
use serde_json::json;

#[tokio::test]
async fn runaways_are_stopped_and_neighbours_keep_answering() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("sandbox");
    dir.write(
        "runaway.rhai",
        r#"
xapi.Event.Sim.Spin.on(|e| { report("spinning"); loop {} });
xapi.Event.Sim.Recurse.on(|e| { fn_deep(0); });
fn fn_deep(n) { fn_deep(n + 1) }
xapi.Event.Sim.Double.on(|e| { let s = "xx"; loop { s += s; } });
xapi.Event.Sim.Hello.on(|e| report("runaway still answers"));
report("runaway ready");
"#,
    );
    dir.write(
        "healthy.rhai",
        r#"xapi.Event.Sim.Check.on(|e| report(`healthy ${e.N}`)); report("healthy ready");"#,
    );
    dir.write(
        "escape.rhai",
        r#"import "../outside" as o; report("escape ran");"#,
    );
    dir.write(
        "absolute.rhai",
        r#"import "/etc/hostname" as h; report("absolute ran");"#,
    );
    dir.write("evil.rhai", r#"eval("report(1)");"#);
    let mut opts = rig::options(&dir, vec![rig::codec("room", &sim)]);
    opts.limits.budget = Duration::from_secs(2);
    let host = rig::start(opts).await;
    r.expect("runaway ready").await;
    r.expect("healthy ready").await;

    // A callback that never ends is stopped; the other script answers at once.
    emit(r.raw(), "Spin", json!({})).await;
    r.expect("spinning").await;
    for n in 1..=3 {
        let t = Instant::now();
        emit(r.raw(), "Check", json!({"N": n})).await;
        r.expect(&format!("healthy {n}")).await;
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "healthy answered in {:?}",
            t.elapsed()
        );
    }
    let line = wait_log(&["runaway", "callback stopped after"]).await;
    assert!(line.contains("runaway.rhai:"), "{line}");
    emit(r.raw(), "Hello", json!({})).await;
    r.expect("runaway still answers").await;

    emit(r.raw(), "Recurse", json!({})).await;
    let line = wait_log(&["runaway", "callback failed", "tack overflow"]).await;
    assert!(line.contains("runaway.rhai:"), "{line}");
    emit(r.raw(), "Double", json!({})).await;
    wait_log(&["runaway", "callback failed", "too large"]).await;
    emit(r.raw(), "Hello", json!({})).await;
    within("the runaway script to answer again", async {
        while r
            .seen
            .iter()
            .filter(|s| *s == "runaway still answers")
            .count()
            < 2
        {
            r.next().await;
        }
    })
    .await;

    // Escapes and eval never run.
    wait_log(&["escape", "compile error", "refused", "'..'"]).await;
    wait_log(&[
        "absolute",
        "compile error",
        "absolute paths are not allowed",
    ])
    .await;
    wait_log(&["evil", "compile error", "eval"]).await;
    let all = r.idle(&host).await;
    assert!(
        !r.seen
            .iter()
            .chain(all.iter())
            .any(|s| s.contains("ran") || s == "1"),
        "{:?}",
        r.seen
    );
    within("shutdown", host.shutdown()).await;
}

/// `xmacro run` as [`crate::common::rig::spawn_run`] starts it, with its
/// address space capped at 1.5 GB: a host that asks for gigabytes in one
/// call then fails fast (the build before the fix aborted, exit 134)
/// instead of taking the test machine's memory first.
fn spawn_capped(dir: &TempDir, url: &str) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.args(["-c", "ulimit -v 1500000 && exec \"$@\"", "sh"])
        .arg(env!("CARGO_BIN_EXE_xmacro"));
    rig::run_args(&mut cmd, dir, url);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_replace_asking_for_gigabytes_is_a_catchable_error_and_the_host_lives() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("sandbox-replace");
    // Two 100 KB strings: every "a" replaced by 100 KB is 10 GB.
    dir.write(
        "bomb.rhai",
        r#"
xapi.Event.Sim.Bomb.on(|e| {
    let s = "";
    s.pad(100000, 'a');
    let w = s;
    let got = [];
    try { let t = s; t.replace("a", w); got.push("replaced"); } catch (e) { got.push(e.code); }
    try { regex("a").replace(s, w); got.push("replaced"); } catch (e) { got.push(e.code); }
    try { let t = s; t.pad(2000000, w); got.push("padded"); } catch (e) { got.push(e.code); }
    report(`bomb: ${got}`);
});
report("bomb ready");
"#,
    );
    dir.write(
        "healthy.rhai",
        r#"xapi.Event.Sim.Check.on(|e| report(`healthy ${e.N}`)); report("healthy ready");"#,
    );
    let mut child = spawn_capped(&dir, &sim.url());
    r.expect("bomb ready").await;
    r.expect("healthy ready").await;
    emit(r.raw(), "Bomb", json!({})).await;
    r.expect(r#"bomb: ["limit", "limit", "limit"]"#).await;
    emit(r.raw(), "Check", json!({"N": 1})).await;
    r.expect("healthy 1").await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the host exited: {:?}",
        child.try_wait()
    );
    child.kill().await.unwrap();
}
