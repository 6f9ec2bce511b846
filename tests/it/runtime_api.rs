//! The script API through a real host and simulator: both styles, at top
//! level, in closures and in fns; once/off; captured state; timers; daily
//! on a controllable clock; codecs[...]; caught errors; args; connection
//! events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::common::rig::{self, Reports, TempDir, emit};
use crate::common::{Raw, within};
use chrono::{NaiveDate, NaiveDateTime};
use serde_json::json;
use xmacro::clock::vclock::VirtualClock;
use xmacro::clock::{Clock, ManualClock};

#[tokio::test]
async fn both_styles_at_top_level_in_closures_and_fns() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("api-styles");
    dir.write(
        "styles.rhai",
        r#"
fn volume_via_fn() { xapi.Status.Audio.Volume.get() }
fn name_via_fn() { xapi.get("Config SystemUnit Name") }
report(`top:${xapi.Status.Audio.Volume.get()}`);
report(`fn:${volume_via_fn()}`);
report(`str:${xapi.get("Status Audio Volume")}`);
report(`fan:${xapi.Status.SystemUnit.Hardware.Monitoring.Fan[2].Status.get()}`);
report(`conn:${xapi.get("Status Video Input Connector 1 Connected")}`);
report(`conn2:${xapi.get("Status/Video/Input/Connector[1]/Connected")}`);
xapi.Config.SystemUnit.Name.set("proxy");
report(`cfg:${xapi.Configuration.SystemUnit.Name.get()}`);
xapi.set("Configuration SystemUnit Name", "string");
report(`cfg2:${name_via_fn()}`);
let q = xapi.query("Status ** DisplayName");
report(`query:${q.Status.SystemUnit.Software.DisplayName}`);
let r = xapi.Command.Dial(#{ Number: "x@example.com" });
report(`dial:${type_of(r.CallId)}`);
xapi.command("Audio Volume Set", #{ Level: 33 });
report(`set:${xapi.Status.Audio.Volume.get()}`);
xapi.Command.UserInterface.Extensions.Panel.Save(#{ PanelId: "p1" }, "<one/>");
xapi.command("UserInterface Extensions Panel Save", #{ PanelId: "p2" }, "<two/>");
xapi.Command.Standby.Activate();
report(`standby:${xapi.Status.Standby.State.get()}`);
report(`codec:${codec.name}:${codec.url.starts_with("ws://")}`);
xapi.Event.Sim.Ping.on(|e| {
    report(`closure:${xapi.Status.Audio.Volume.get()}:${volume_via_fn()}:${e.N}`);
    xapi.Command.Audio.Volume.Set(#{ Level: e.N });
});
report("ready");
"#,
    );
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    for r in [
        "top:50",
        "fn:50",
        "str:50",
        "fan:locked on 3150 rpm",
        "conn:True",
        "conn2:True",
        "cfg:proxy",
        "cfg2:string",
        "query:RoomOS 26.4.1 (simulated by xmacro)",
        "dial:i64",
        "set:33",
        "standby:Standby",
        "codec:room:true",
        "ready",
    ] {
        reports.expect(r).await;
    }
    let panels = reports.raw().ok("xSim/Inspect", json!({})).await["Panels"].clone();
    assert_eq!(panels, json!({"p1": "<one/>", "p2": "<two/>"}));
    emit(reports.raw(), "Ping", json!({"N": 44})).await;
    reports.expect("closure:33:33:44").await;
    within("the closure's command", async {
        while reports.raw().get("Status Audio Volume").await != 44 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn on_fires_on_changes_once_fires_once_off_stops() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("api-on");
    dir.write(
        "feedback.rhai",
        r#"
let count = 0;
let h = xapi.Event.Sim.Ping.on(|e| { count += 1; report(`ping:${e.N}:${count}`); });
xapi.once("Event Sim Ping", |e| report(`once:${e.N}`));
xapi.Event.Sim.Stop.on(|e| { h.off(); report("off"); });
xapi.on("Status Audio Volume", |v| report(`volume:${v}`));
xapi.Status.Call.Status.on(|s| report(`call:${s}`));
report("ready");
"#,
    );
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    reports.expect("ready").await;
    let extra = reports.idle(&host).await;
    assert!(
        !extra.iter().any(|s| s.starts_with("volume:")),
        "on() does not send the current value: {extra:?}"
    );
    emit(reports.raw(), "Ping", json!({"N": 1})).await;
    reports.expect("ping:1:1").await;
    reports.expect("once:1").await;
    emit(reports.raw(), "Ping", json!({"N": 2})).await;
    reports.expect("ping:2:2").await;
    reports
        .raw()
        .ok("xCommand/Audio/Volume/Set", json!({"Level": 61}))
        .await;
    reports.expect("volume:61").await;
    reports
        .raw()
        .ok("xCommand/Dial", json!({"Number": "a@b.c"}))
        .await;
    reports.expect("call:Connected").await;
    emit(reports.raw(), "Stop", json!({})).await;
    reports.expect("off").await;
    emit(reports.raw(), "Ping", json!({"N": 3})).await;
    let later = reports.idle(&host).await;
    assert!(
        !later
            .iter()
            .any(|s| s.starts_with("ping:3") || s.starts_with("once:")),
        "{later:?}"
    );
    assert_eq!(
        reports
            .seen
            .iter()
            .filter(|s| s.starts_with("once:"))
            .count(),
        1
    );
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn timers_fire_in_time_order_and_cancelled_ones_never_fire() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("api-timers");
    dir.write(
        "timers.rhai",
        r#"
set_timeout(|| report("timeout"), 50);
let never = set_timeout(|| report("never"), 100);
never.cancel();
let n = 0;
let iv = ();
iv = set_interval(|| { n += 1; report(`tick:${n}`); if n == 3 { iv.cancel(); } }, 30);
fn later() { set_timeout(|| report("from-fn"), 10); }
later();
"#,
    );
    let start = NaiveDate::from_ymd_opt(2026, 11, 21)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let clock = Arc::new(VirtualClock::new(start, chrono_tz::UTC));
    let mut opts = rig::options(&dir, vec![rig::codec("room", &sim)]);
    opts.clock = clock.clone();
    let host = rig::start(opts).await;
    // A second of virtual time: the interval would tick at 120 ms and the
    // cancelled timeout fire at 100 ms, were they not cancelled.
    rig::advance(&host, &clock, 1000).await;
    reports.idle(&host).await;
    assert_eq!(
        reports.seen,
        ["from-fn", "tick:1", "timeout", "tick:2", "tick:3"]
    );
    assert_eq!(clock.pending(), 0, "nothing is left to fire");
    within("shutdown", host.shutdown()).await;
}

/// A [`ManualClock`] that counts how often the time was read, so a test
/// can wait until a polling schedule has looked at a time it set.
#[derive(Debug)]
struct CountingClock {
    inner: ManualClock,
    reads: AtomicU64,
}

impl Clock for CountingClock {
    fn now(&self) -> NaiveDateTime {
        let now = self.inner.now();
        self.reads.fetch_add(1, Ordering::SeqCst);
        now
    }
    fn poll(&self) -> Duration {
        self.inner.poll()
    }
}

impl CountingClock {
    /// Sets the time, then waits until it has been read after the set (a
    /// read counted after this look began started after the set).
    async fn set_and_seen(&self, at: NaiveDateTime) {
        self.inner.set(at);
        let n = self.reads.load(Ordering::SeqCst);
        within("the schedule to read the clock", async {
            while self.reads.load(Ordering::SeqCst) < n + 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }
}

#[tokio::test]
async fn daily_follows_the_clock() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("api-daily");
    dir.write(
        "daily.rhai",
        r#"daily("07:30", || report("daily")); report("ready");"#,
    );
    let day = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    let clock = Arc::new(CountingClock {
        inner: ManualClock::new(day.and_hms_opt(7, 29, 0).unwrap()),
        reads: AtomicU64::new(0),
    });
    let mut opts = rig::options(&dir, vec![rig::codec("room", &sim)]);
    opts.clock = clock.clone();
    let host = rig::start(opts).await;
    reports.expect("ready").await;
    clock
        .set_and_seen(day.and_hms_opt(7, 29, 30).unwrap())
        .await;
    assert!(reports.idle(&host).await.is_empty(), "not before 07:30");
    clock.set_and_seen(day.and_hms_opt(7, 30, 0).unwrap()).await;
    reports.expect("daily").await;
    clock.set_and_seen(day.and_hms_opt(12, 0, 0).unwrap()).await;
    assert!(reports.idle(&host).await.is_empty(), "once a day");
    clock
        .set_and_seen(day.succ_opt().unwrap().and_hms_opt(7, 30, 5).unwrap())
        .await;
    within("the second day", async {
        while reports.seen.iter().filter(|s| *s == "daily").count() < 2 {
            reports.next().await;
        }
    })
    .await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn codecs_reach_another_codec() {
    let a = rig::sim().await;
    let b = rig::sim().await;
    let mut reports = Reports::new(&a).await;
    let dir = TempDir::new("api-codecs");
    dir.write(
        "mirror.rhai",
        r#"
codecs["b"].Command.Audio.Volume.Set(#{ Level: 11 });
report(`b-volume:${codecs["b"].Status.Audio.Volume.get()}`);
report(`b-string:${codecs["b"].get("Status Audio Volume")}`);
xapi.Status.Audio.Volume.on(|v| codecs["b"].Command.Audio.Volume.Set(#{ Level: v }));
codecs["b"].Event.Sim.Ping.on(|e| report(`from-b:${e.N}`));
try { codecs["nope"] } catch (e) { report(`unknown:${e.message.contains("configured")}`); }
report("ready");
"#,
    );
    let mut opts = rig::options(&dir, vec![rig::codec("a", &a), rig::codec("b", &b)]);
    opts.scripts = rig::scripts_map(vec![(
        "mirror",
        rig::script_config(json!({}), Some(vec!["a"])),
    )]);
    let host = rig::start(opts).await;
    for r in ["b-volume:11", "b-string:11", "unknown:true", "ready"] {
        reports.expect(r).await;
    }
    let mut rb = Raw::connect(&b.url()).await;
    emit(&mut rb, "Ping", json!({"N": 5})).await;
    reports.expect("from-b:5").await;
    reports
        .raw()
        .ok("xCommand/Audio/Volume/Set", json!({"Level": 66}))
        .await;
    within("the mirror", async {
        while rb.get("Status Audio Volume").await != 66 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn codec_errors_timeouts_and_disconnects_are_catchable() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("api-errors");
    dir.write(
        "errors.rhai",
        r#"
try { xapi.Command.Audio.Volume.Set(#{ Level: 500 }); }
catch (e) { report(`refused:${e.code}:${e.message}`); }
try { xapi.get("Status No Such Thing"); } catch (e) { report(`unknown:${e.code}`); }
try { xapi.Command.Call.Disconnect(#{ CallId: 77 }); } catch (e) { report(`command:${e.code}:${e.data.Reason}`); }
xapi.Event.Sim.Slow.on(|e| {
    try { xapi.Status.Audio.Volume.get(); } catch (err) { store.set("timeout", err.code); report(`timeout:${err.code}`); }
});
xapi.Event.Sim.Down.on(|e| {
    set_timeout(|| {
        try { xapi.Status.Audio.Volume.get(); } catch (err) { store.set("down", err.code); }
    }, 100);
});
report("ready");
"#,
    );
    let mut codec = rig::codec("room", &sim);
    codec.config.request_timeout = Duration::from_millis(300);
    let host = rig::start(rig::options(&dir, vec![codec])).await;
    reports
        .expect("refused:-32602:Bad usage: Bad argument to parameter \"Level\".")
        .await;
    reports.expect("unknown:-32601").await;
    reports.expect("command:1:No call with CallId 77").await;
    reports.expect("ready").await;
    reports.raw().ok("xSim/Delay", json!({"Ms": 1000})).await;
    emit(reports.raw(), "Slow", json!({})).await;
    reports.raw().ok("xSim/Delay", json!({"Ms": 0})).await;
    reports.expect("timeout:-32000").await;
    emit(reports.raw(), "Down", json!({})).await;
    reports
        .raw()
        .ok("xSim/Reboot", json!({"Down": 1.5, "NotReady": 0}))
        .await;
    within("the disconnect to be caught", async {
        while rig::stored(&dir.state(), "room", "errors", "down") != json!(-32001) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn args_come_from_the_config() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("api-args");
    dir.write(
        "greet.rhai",
        r#"report(`${args.greeting}:${args.n + 1}:${args.missing ?? "none"}`);"#,
    );
    dir.write("plain.rhai", r#"report(`plain:${args.len()}`);"#);
    let mut opts = rig::options(&dir, vec![rig::codec("room", &sim)]);
    opts.scripts = rig::scripts_map(vec![(
        "greet",
        rig::script_config(json!({"greeting": "hello", "n": 41}), None),
    )]);
    let host = rig::start(opts).await;
    reports.expect("hello:42:none").await;
    reports.expect("plain:0").await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn connection_loss_and_recovery_reach_the_script() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("api-conn");
    dir.write(
        "conn.rhai",
        r#"xapi.on_connection(|up| { if !up { store.set("down-seen", true); } else if store.get("down-seen") == true { store.set("up-seen", true); } }); report("ready");"#,
    );
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    reports.expect("ready").await;
    reports
        .raw()
        .ok("xSim/Reboot", json!({"Down": 0.3, "NotReady": 0}))
        .await;
    // The script learns of the loss and of the recovery; what it stored
    // says so (a report could come before a new watcher subscribes).
    within("the script to see the link come back", async {
        while rig::stored(&dir.state(), "room", "conn", "up-seen") != true {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(rig::stored(&dir.state(), "room", "conn", "down-seen"), true);
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn log_functions_are_tagged_with_codec_and_script() {
    let sim = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("api-logs");
    dir.write(
        "chatty.rhai",
        r#"
print("print-mark-41");
warn("warn-mark-42");
error(#{ what: "error-mark-43" });
xapi.Event.Sim.Ping.once(|e| { print(`proxy-once ${e.N}`); report(`proxy-once:${e.N}`); });
report("ready");
"#,
    );
    let host = rig::start(rig::options(&dir, vec![rig::codec("lobby", &sim)])).await;
    reports.expect("ready").await;
    for (level, mark) in [
        ("INFO", "print-mark-41"),
        ("WARN", "warn-mark-42"),
        ("ERROR", "error-mark-43"),
    ] {
        let line = rig::wait_log(&[mark]).await;
        assert!(line.contains(level), "{line}");
        assert!(
            line.contains("codec=lobby") && line.contains("script=chatty"),
            "{line}"
        );
    }
    emit(reports.raw(), "Ping", json!({"N": 1})).await;
    reports.expect("proxy-once:1").await;
    emit(reports.raw(), "Ping", json!({"N": 2})).await;
    let later = reports.idle(&host).await;
    assert!(later.is_empty(), "once fires once: {later:?}");
    within("shutdown", host.shutdown()).await;
}
