//! Hardening of the script runtime against one hostile script: `sleep`
//! counts against the callback budget and waits for a slow codec against a
//! bound of their own, sleepers cannot use up the worker pool, a stop ends a sleep at once, timers are capped, and
//! imports stay inside the scripts directory on resolved real paths.

use std::time::{Duration, Instant};

use crate::common::rig::spawn_run;
use crate::common::rig::{self, Reports, TempDir, emit, logs, wait_log};
use crate::common::within;
use crate::runtime_process::signal;
use serde_json::json;

/// Asserts the healthy script (`healthy.rhai` below) answers `Check` at
/// least three times, each within a second (a liveness bound: it answers
/// in milliseconds), and that its timer keeps ticking: it is asked until
/// the ticks it reports have grown.
async fn healthy_answers(r: &mut Reports) {
    let mut ticks: Vec<u64> = Vec::new();
    let mut n = 0;
    while ticks.len() < 3 || ticks.last() <= ticks.first() {
        n += 1;
        assert!(n < 1000, "the healthy timer stalled: {ticks:?}");
        let t = Instant::now();
        emit(r.raw(), "Check", json!({"N": n})).await;
        let prefix = format!("healthy {n} ");
        let seen = within("the healthy script to answer", async {
            loop {
                if let Some(s) = r.seen.iter().find(|s| s.starts_with(&prefix)) {
                    return s.clone();
                }
                r.next().await;
            }
        })
        .await;
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "healthy answered in {:?}",
            t.elapsed()
        );
        ticks.push(seen[prefix.len()..].parse::<u64>().unwrap());
    }
}

const HEALTHY: &str = r#"
let ticks = 0;
set_interval(|| { ticks += 1; }, 50);
xapi.Event.Sim.Check.on(|e| report(`healthy ${e.N} ${ticks}`));
report("healthy ready");
"#;

#[tokio::test]
async fn two_hundred_sixty_sleeping_scripts_do_not_starve_a_neighbour() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("sleepers");
    dir.write("healthy.rhai", HEALTHY);
    for i in 0..260 {
        dir.write(
            &format!("sleeper{i}.rhai"),
            r#"xapi.Event.Sim.Nap.on(|e| { report("asleep"); sleep(30); }); report("sleeper ready");"#,
        );
    }
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    let count = |r: &Reports, what: &str| r.seen.iter().filter(|s| *s == what).count();
    within("every script to start", async {
        while count(&r, "sleeper ready") < 260 || count(&r, "healthy ready") < 1 {
            r.next().await;
        }
    })
    .await;
    emit(r.raw(), "Nap", json!({})).await;
    within("all 260 scripts to fall asleep at once", async {
        while count(&r, "asleep") < 260 {
            r.next().await;
        }
    })
    .await;
    healthy_answers(&mut r).await;
    host.shutdown().await;
}

#[tokio::test]
async fn sleep_counts_against_the_callback_budget_and_waits_for_a_slow_codec_against_their_own() {
    let sim = rig::sim().await;
    let slow = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let mut slow_raw = crate::common::Raw::connect(&slow.url()).await;
    slow_raw.ok("xSim/Delay", json!({"Ms": 3000})).await;
    let dir = TempDir::new("sleep-budget");
    dir.write(
        "napper.rhai",
        r#"
xapi.Event.Sim.Nap.on(|e| { sleep(60); report("napper woke"); });
xapi.Event.Sim.Poll.on(|e| {
    loop { try { codecs["slow"].Status.Audio.Volume.get(); } catch {} }
});
xapi.Event.Sim.Hello.on(|e| report("napper answers"));
report("napper ready");
"#,
    );
    let mut opts = rig::options(
        &dir,
        vec![rig::codec("room", &sim), rig::codec("slow", &slow)],
    );
    opts.limits.budget = Duration::from_millis(1500);
    opts.limits.wait = Duration::from_millis(3500);
    opts.scripts = rig::scripts_map(vec![(
        "napper",
        rig::script_config(json!({}), Some(vec!["room"])),
    )]);
    let host = rig::start(opts).await;
    r.expect("napper ready").await;
    emit(r.raw(), "Nap", json!({})).await;
    wait_log(&["napper", "callback stopped after", "budget of 1.5s"]).await;
    // Calls that each time out after 2 s are not the script's own time (a
    // budget of 1.5 s would have stopped the loop at the first); together
    // they are bounded.
    emit(r.raw(), "Poll", json!({})).await;
    let line = wait_log(&["napper", "callback stopped after", "waited for its codec"]).await;
    assert!(line.contains("for more than 3.5s in all"), "{line}");
    emit(r.raw(), "Hello", json!({})).await;
    r.expect("napper answers").await;
    assert!(!r.seen.iter().any(|s| s == "napper woke"), "{:?}", r.seen);
    host.shutdown().await;
}

#[tokio::test]
async fn sigterm_with_a_sleeping_script_exits_promptly() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("sleep-term");
    dir.write(
        "dozer.rhai",
        r#"
fn on_unload() { report("dozer unloaded"); }
xapi.Event.Sim.Nap.on(|e| { report("dozing"); sleep(4.5); report("dozer woke"); });
report("dozer ready");
"#,
    );
    let child = spawn_run(&dir, &sim.url());
    r.expect("dozer ready").await;
    emit(r.raw(), "Nap", json!({})).await;
    r.expect("dozing").await;
    let t = Instant::now();
    signal(&child, "-TERM");
    r.expect("dozer unloaded").await;
    let status = within("exit after SIGTERM", child.wait_with_output())
        .await
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(0));
    // The sleep was cut short: it would have ended 4.5 s after "dozing".
    assert!(!r.seen.iter().any(|s| s == "dozer woke"), "{:?}", r.seen);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_hundred_thousand_intervals_are_capped_and_harm_no_neighbour() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("timer-flood");
    dir.write("healthy.rhai", HEALTHY);
    dir.write(
        "flood.rhai",
        r#"
let n = 0;
try {
    for i in 0..100000 { set_interval(|| {}, 1); n += 1; }
    report("flood uncapped");
} catch (e) {
    report(`flood capped at ${n}: ${e.message}`);
}
"#,
    );
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    r.expect("healthy ready").await;
    let capped = within("the flood to be capped", async {
        loop {
            if let Some(s) = r.seen.iter().find(|s| s.starts_with("flood")) {
                return s.clone();
            }
            r.next().await;
        }
    })
    .await;
    assert!(
        capped.starts_with("flood capped at 256: too many timers"),
        "{capped}"
    );
    healthy_answers(&mut r).await;
    host.shutdown().await;
    let warnings = logs()
        .lock()
        .unwrap()
        .lines()
        .filter(|l| l.contains("script=flood") && l.contains("WARN"))
        .count();
    assert!(warnings < 5, "{warnings} warning lines from the flood");
}

#[tokio::test]
async fn imports_through_a_symlink_leading_outside_are_refused_in_run_and_check() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("symlink-escape");
    let outside = dir.0.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(
        outside.join("evil.rhai"),
        "fn hi() { \"outside code ran\" }",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.join("evil.rhai"),
        dir.scripts().join("lib/evil.rhai"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.scripts().join("lib/passwd.rhai")).unwrap();
    dir.write(
        "escaper.rhai",
        r#"import "lib/evil" as e; report(e::hi());"#,
    );
    dir.write(
        "reader.rhai",
        r#"import "lib/passwd" as p; report("passwd read");"#,
    );
    dir.write("fine.rhai", r#"report("fine ran");"#);

    let (count, problems) = xmacro::check::check_dir(&dir.scripts(), None).unwrap();
    assert_eq!(count, 3);
    for name in ["escaper.rhai", "reader.rhai"] {
        assert!(
            problems
                .iter()
                .any(|p| p.contains("outside the scripts directory")
                    && p.ends_with(&format!("(imported by {name})"))),
            "{name}: {problems:?}"
        );
    }

    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    r.expect("fine ran").await;
    wait_log(&["escaper", "compile error", "lib/evil.rhai refused"]).await;
    wait_log(&["reader", "compile error", "lib/passwd.rhai refused"]).await;
    r.idle(&host).await;
    assert!(
        !r.seen
            .iter()
            .any(|s| s == "outside code ran" || s == "passwd read"),
        "{:?}",
        r.seen
    );
    host.shutdown().await;
}

/// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`).
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test]
async fn a_script_growing_without_bound_is_stopped_while_the_host_and_others_go_on() {
    use tokio::io::AsyncBufReadExt;
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("memory-hog");
    dir.write("healthy.rhai", HEALTHY);
    // 400 distinct 1 MB strings at most, so a host without a budget fails
    // this test instead of eating the machine.
    dir.write(
        "hog.rhai",
        r#"
let kept = #{};
xapi.Event.Sim.Grow.on(|e| {
    let s = "";
    s.pad(1000000, 'x');
    for i in 0..400 { kept[`k${i}`] = s + i; }
    report(`hog kept ${kept.len()}`);
});
xapi.Event.Sim.Hello.on(|e| report("hog answers"));
report("hog ready");
"#,
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
        .arg("run")
        .arg(dir.scripts())
        .args(["--codec", &sim.url(), "--state"])
        .arg(dir.state())
        .env("XMACRO_PASSWORD", "")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::spawn(async move {
        while let Ok(Some(l)) = stderr.next_line().await {
            sink.lock().unwrap().push(l);
        }
    });
    r.expect("hog ready").await;
    r.expect("healthy ready").await;
    emit(r.raw(), "Grow", json!({})).await;
    let line = within("the hog to be stopped", async {
        loop {
            let found = lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains("memory budget"))
                .cloned();
            if let Some(l) = found {
                return l;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(line.contains("hog.rhai"), "{line}");
    assert!(line.contains("memory budget of 64 MB"), "{line}");
    // The host and the other script go on; the hog is stopped.
    healthy_answers(&mut r).await;
    // A marker after Hello: once the healthy script answered it, a hog
    // still listening has had Hello first.
    emit(r.raw(), "Hello", json!({})).await;
    emit(r.raw(), "Check", json!({"N": 0})).await;
    within("the healthy script to answer after Hello", async {
        while !r.seen.iter().any(|s| s.starts_with("healthy 0 ")) {
            r.next().await;
        }
    })
    .await;
    r.flush().await;
    assert!(
        !r.seen
            .iter()
            .any(|s| s == "hog answers" || s.starts_with("hog kept")),
        "{:?}",
        r.seen
    );
    let peak = proc_status_bytes(pid, "VmHWM");
    assert!(peak < (64 + 100) << 20, "peak RSS {} MB", peak >> 20);
    eprintln!(
        "memory hog: peak RSS {} MB, now {} MB",
        peak >> 20,
        proc_status_bytes(pid, "VmRSS") >> 20
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn a_chain_of_zero_delay_timeouts_ticks_no_faster_than_an_interval() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("timeout-chain");
    // Each timeout sets the next one at 0 ms: 135,000 callbacks a second
    // on one core before the fix.
    dir.write(
        "chain.rhai",
        r#"
let n = 0;
let again = || { n += 1; set_timeout(again, 0); };
set_timeout(again, 0);
xapi.Event.Sim.Count.on(|e| report(`count ${n}`));
report("chain ready");
"#,
    );
    let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 21)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let clock = std::sync::Arc::new(xmacro::clock::vclock::VirtualClock::new(
        start,
        chrono_tz::UTC,
    ));
    let mut opts = rig::options(&dir, vec![rig::codec("room", &sim)]);
    opts.clock = clock.clone();
    let host = rig::start(opts).await;
    r.expect("chain ready").await;
    // One virtual second, one timer at a time (bounded: without a floor
    // the chain never leaves the first millisecond).
    let mut fired = 0;
    within("the host to be idle", host.idle()).await;
    while fired < 1000 && clock.fire_next(1000) {
        fired += 1;
        within("the host to be idle", host.idle()).await;
    }
    assert_eq!(clock.elapsed_ms(), 1000, "stuck after {fired} timeouts");
    // Five nested timeouts run at once, then one every 10 ms.
    assert!((100..=110).contains(&fired), "{fired} timeouts in a second");
    emit(r.raw(), "Count", json!({})).await;
    r.expect(&format!("count {fired}")).await;
    host.shutdown().await;
}
