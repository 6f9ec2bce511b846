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
