//! The runtime side of JavaScript macros carried over (issue #12): closures
//! made inside a library fire as callbacks, a closure reschedules itself,
//! uncaught errors name their place, fire-and-forget commands log their
//! refusal, `steps` pauses between commands without holding a worker, and
//! `fn`s called as methods on a state map share the script's state.

use std::sync::Arc;
use std::time::Duration;

use crate::common::rig::{self, Reports, TempDir, emit, wait_log};
use crate::common::{Sim, within};
use chrono::NaiveDate;
use serde_json::json;
use xmacro::clock::ManualClock;

/// Waits until the simulator's volume is `level`.
async fn volume_reaches(reports: &mut Reports, level: i64) {
    within("the volume to reach its level", async {
        while reports.raw().get("Status Audio Volume").await != level {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// A simulator, its reports and a host running `files` against it.
async fn run(
    tag: &str,
    files: &[(&str, &str)],
) -> (Sim, Reports, TempDir, xmacro::host::HostHandle) {
    let sim = rig::sim().await;
    let reports = Reports::new(&sim).await;
    let dir = TempDir::new(tag);
    for (rel, body) in files {
        dir.write(rel, body);
    }
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    (sim, reports, dir, host)
}

const LIB_REPORT: &str = "fn report(x) { xapi.Command.Message.Send(#{ Text: `${x}` }); }\n";

#[tokio::test]
async fn closures_made_in_a_library_fire_from_set_timeout_on_daily_and_steps() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("idiom-libclosure");
    let lib = format!(
        r#"{LIB_REPORT}
fn tag(x) {{ `lib:${{x}}` }}
fn later() {{ let n = 7; set_timeout(|| report(tag(`timeout:${{n}}`)), 10); }}
fn listen() {{ xapi.Event.Sim.Ping.on(|e| report(tag(`on:${{e.N}}`))); }}
fn morning() {{ daily("07:30", || report(tag("daily"))); }}
fn named() {{ set_timeout(fired, 10); }}
fn fired() {{ report(tag("named")); }}
fn sequence() {{ steps([|| report(tag("step1")), 10, || report(tag("step2"))]); }}
"#
    );
    dir.write("lib/l.rhai", &lib);
    dir.write(
        "uses.rhai",
        r#"import "lib/l" as l;
l::later();
l::listen();
l::morning();
l::named();
l::sequence();
report("ready");
"#,
    );
    let day = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    let clock = Arc::new(ManualClock::new(day.and_hms_opt(7, 29, 0).unwrap()));
    let mut opts = rig::options(&dir, vec![rig::codec("room", &sim)]);
    opts.clock = clock.clone();
    let host = rig::start(opts).await;
    reports.expect("ready").await;
    reports.expect("lib:timeout:7").await;
    reports.expect("lib:named").await;
    reports.expect("lib:step1").await;
    reports.expect("lib:step2").await;
    emit(reports.raw(), "Ping", json!({"N": 3})).await;
    reports.expect("lib:on:3").await;
    clock.set(day.and_hms_opt(7, 30, 0).unwrap());
    reports.expect("lib:daily").await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_closure_reschedules_and_calls_itself_in_the_javascript_form() {
    let (_sim, mut reports, _dir, host) = run(
        "idiom-resched",
        &[(
            "resched.rhai",
            r#"
let n = 0;
let tick = || {
    n += 1;
    report(`tick:${n}`);
    if n < 3 { set_timeout(tick, 10); }
};
set_timeout(tick, 10);
let poll = 0;
let again = || { poll += 1; if poll < 3 { again.call(); } else { report(`direct:${poll}`); } };
again.call();
let beats = 0;
fn beat() {
    beats += 1;
    report(`beat:${beats}`);
    if beats < 2 { set_timeout(beat, 10); }
}
beat();
let seen = [1, 2];
xapi.Event.Sim.Race.on(|e| report(`${seen.map(|x| x + seen.len())}`));
"#,
        )],
    )
    .await;
    for r in ["direct:3", "beat:1", "tick:1", "tick:2", "tick:3", "beat:2"] {
        reports.expect(r).await;
    }
    // A method that holds its array while a closure reads it still races:
    // the error names the place and the way out.
    emit(reports.raw(), "Race", json!({})).await;
    let line = wait_log(&["script=resched", "Data race"]).await;
    assert!(line.contains("resched.rhai:21:"), "{line}");
    assert!(line.contains("copy"), "{line}");
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn fns_read_and_write_the_scripts_variables_from_callbacks_and_timers() {
    let (_sim, mut reports, _dir, host) = run(
        "idiom-toplevel",
        &[(
            "state.rhai",
            r#"
const LABEL = "room";
let room = #{ count: 0, names: [] };
let sharing = false;
fn add(name) { room.names.push(name); room.count += 1; }
fn summary() { `${LABEL}:${room.count}:${room.names}:${sharing}` }
fn start_sharing() {
    sharing = true;
    set_timeout(stop_sharing, 20);
}
fn stop_sharing() { sharing = false; room.count += 100; report(`stopped ${summary()}`); }
fn grow() { this.count += 1000; set_timeout(|| { room.count += 1; report(`later ${summary()}`); }, 10); }
add("a");
xapi.Event.Sim.Add.on(|e| { add(e.Name); report(summary()); });
xapi.Event.Sim.Share.on(|e| { start_sharing(); report(summary()); });
xapi.Event.Sim.Grow.on(|e| room.grow());
report(summary());
"#,
        )],
    )
    .await;
    reports.expect(r#"room:1:["a"]:false"#).await;
    emit(reports.raw(), "Add", json!({"Name": "b"})).await;
    reports.expect(r#"room:2:["a", "b"]:false"#).await;
    emit(reports.raw(), "Share", json!({})).await;
    reports.expect(r#"room:2:["a", "b"]:true"#).await;
    reports.expect(r#"stopped room:102:["a", "b"]:false"#).await;
    emit(reports.raw(), "Grow", json!({})).await;
    reports.expect(r#"later room:1103:["a", "b"]:false"#).await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn uncaught_errors_name_file_line_and_column() {
    let (_sim, mut reports, _dir, host) = run(
        "idiom-uncaught",
        &[
            (
                "lib/fail.rhai",
                "fn refuse() {\n    xapi.get(\"Status No Such Place\");\n}\n",
            ),
            (
                "uncaught.rhai",
                r#"import "lib/fail" as f;
xapi.Event.Sim.Fail.on(|e| {
    report("failing");
      xapi.Command.Audio.Volume.Set(#{ Level: 500 });
});
xapi.Event.Sim.LibFail.on(|e| f::refuse());
report("ready");
xapi.get("Status Nowhere At All");
"#,
            ),
        ],
    )
    .await;
    reports.expect("ready").await;
    // The prelude is line 1, so the script's own lines are one further.
    wait_log(&["uncaught.rhai:9:", "uncaught error -32601"]).await;
    emit(reports.raw(), "Fail", json!({})).await;
    reports.expect("failing").await;
    wait_log(&["uncaught.rhai:5:", "uncaught error -32602"]).await;
    emit(reports.raw(), "LibFail", json!({})).await;
    wait_log(&["lib/fail.rhai:2:", "uncaught error -32601"]).await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_refused_fire_and_forget_command_is_logged_and_the_caller_goes_on() {
    let (_sim, mut reports, _dir, host) = run(
        "idiom-send",
        &[(
            "forget.rhai",
            r#"
xapi.Command.Audio.Volume.Set.send(#{ Level: 500 });
report("after-proxy");
xapi.send("Audio Volume Set", #{ Level: 501 });
report("after-string");
xapi.Command.Audio.Volume.Set.send(#{ Level: 20 });
xapi.send("Command Audio Volume Increase", #{ Steps: 2 });
"#,
        )],
    )
    .await;
    reports.expect("after-proxy").await;
    reports.expect("after-string").await;
    wait_log(&["forget.rhai:3:", "Audio Volume Set", "-32602"]).await;
    wait_log(&["forget.rhai:5:", "Audio Volume Set", "-32602"]).await;
    volume_reaches(&mut reports, 22).await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn steps_pause_between_commands_while_other_callbacks_run() {
    let (_sim, mut reports, _dir, host) = run(
        "idiom-steps",
        &[(
            "dtmf.rhai",
            r#"
let volume = 0;
xapi.Event.Sim.Go.on(|e| {
    volume = xapi.Status.Audio.Volume.get();
    steps([
        || { xapi.Command.Audio.Volume.Set(#{ Level: 10 }); report("dipped"); },
        1500,
        || report("dtmf"),
        400,
        || { xapi.Command.Audio.Volume.Set(#{ Level: volume }); report(`restored:${volume}`); },
    ]);
    report("go-returned");
});
xapi.Event.Sim.Ping.on(|e| report(`ping:${xapi.Status.Audio.Volume.get()}`));
let dropped = steps([100, || report("cancelled-step")]);
dropped.cancel();
report("ready");
"#,
        )],
    )
    .await;
    reports.expect("ready").await;
    emit(reports.raw(), "Go", json!({})).await;
    reports.expect("dipped").await;
    reports.expect("go-returned").await;
    // During the pause the script still answers other events.
    emit(reports.raw(), "Ping", json!({})).await;
    reports.expect("ping:10").await;
    reports.expect("dtmf").await;
    reports.expect("restored:50").await;
    let order: Vec<_> = reports
        .seen
        .iter()
        .filter(|s| ["dipped", "ping:10", "dtmf", "restored:50"].contains(&s.as_str()))
        .cloned()
        .collect();
    assert_eq!(order, ["dipped", "ping:10", "dtmf", "restored:50"]);
    // Cancelled steps never run (they were due long before the restore).
    assert!(!reports.seen.iter().any(|s| s == "cancelled-step"));
    volume_reaches(&mut reports, 50).await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn fns_called_as_methods_on_a_state_map_share_the_scripts_state() {
    let (_sim, mut reports, _dir, host) = run(
        "idiom-shared",
        &[(
            "shared.rhai",
            r#"
let room = #{ count: 0, names: [] };
room.add("a");
room.add("b");
xapi.Event.Sim.Add.on(|e| { room.add(e.Name); report(room.summary()); });
report(room.summary());
fn add(name) { this.names.push(name); this.count += 1; }
fn summary() { `${this.count}:${this.names}` }
"#,
        )],
    )
    .await;
    reports.expect("2:[\"a\", \"b\"]").await;
    emit(reports.raw(), "Add", json!({"Name": "c"})).await;
    reports.expect("3:[\"a\", \"b\", \"c\"]").await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_budget_or_size_error_in_a_callback_names_the_callbacks_place_in_the_script_or_library() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("idiom-budget");
    dir.write(
        "spin.rhai",
        r#"
set_timeout(|| {
    loop { }
}, 0);
set_timeout(|| {
    let s = "x";
    blob(10000000);
}, 0);
import "lib/slow" as slow;
slow::start();
report("ready");
"#,
    );
    dir.write(
        "lib/slow.rhai",
        r#"fn start() {
    set_timeout(|| {
        loop { }
    }, 0);
    xapi.Event.Sim.Big.on(|e| {
        let s = "x";
        blob(10000000);
    });
}
"#,
    );
    let mut opts = rig::options(&dir, vec![rig::codec("room", &sim)]);
    opts.limits.budget = Duration::from_millis(300);
    let host = rig::start(opts).await;
    reports.expect("ready").await;
    wait_log(&["spin.rhai:3:16:", "wall-clock budget"]).await;
    wait_log(&["spin.rhai:6:16:", "too large"]).await;
    // A callback made in a library names the library's file and place.
    wait_log(&["lib/slow.rhai:2:20:", "wall-clock budget"]).await;
    emit(reports.raw(), "Big", json!({})).await;
    wait_log(&["lib/slow.rhai:5:31:", "too large"]).await;
    within("shutdown", host.shutdown()).await;
}
