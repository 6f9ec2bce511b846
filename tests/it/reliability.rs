//! Hostile input from the codec, beyond what tests/client.rs covers: a
//! message over the size limit, integers beyond 64 bits and legacy strings
//! where numbers were expected. Each is logged or passed on, and the
//! connection and the scripts go on.

use std::time::Duration;

use crate::common::rig::{self, Reports, TempDir};
use crate::common::{Raw, Sim, within};
use serde_json::json;
use xmacro::sim::SimOptions;
use xmacro::xows::path::Path;
use xmacro::xows::{Codec, CodecConfig};

#[tokio::test]
async fn a_message_over_the_size_limit_is_dropped_and_logged() {
    rig::logs();
    let s = Sim::start(SimOptions::default()).await;
    let mut cfg = CodecConfig::from_url(&s.url()).unwrap();
    cfg.name = "oversize-room".into();
    cfg.max_message_size = 64 * 1024;
    let c = within("connect", Codec::connect(cfg)).await.unwrap();
    let raw_call = xmacro::xows::protocol::Call {
        method: "xSim/SendRaw".into(),
        params: json!({"Kind": "oversize", "Size": 100_000}),
    };
    c.call(raw_call, Duration::from_secs(3)).await.unwrap();
    let line = rig::wait_log(&[
        "oversize-room",
        "dropped a message of",
        "over the limit of 65536",
    ])
    .await;
    assert!(line.contains("WARN"), "{line}");
    assert_eq!(
        c.get(&Path::parse("Status Audio Volume").unwrap())
            .await
            .unwrap(),
        50
    );
    assert_eq!(c.connects(), 1, "no reconnect");
    assert!(c.last_drop().is_none());
}

#[tokio::test]
async fn huge_integers_and_legacy_strings_reach_scripts_without_harm() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("reliability-values");
    dir.write(
        "types.rhai",
        r#"xapi.Status.Audio.Volume.on(|v| report(`volume ${type_of(v)} ${v}`)); report("ready");"#,
    );
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    r.expect("ready").await;
    // The host's session holds one subscription, Id 0: feed it by hand.
    let mut raw = Raw::connect(&sim.url()).await;
    for value in [json!(123456789012345678901234567890_f64), json!("55")] {
        let frame = json!({"jsonrpc": "2.0", "method": "xFeedback/Event",
            "params": {"Id": 0, "Status": {"Audio": {"Volume": value}}}});
        raw.ok(
            "xSim/SendRaw",
            json!({"Kind": "text", "Text": frame.to_string(), "All": true}),
        )
        .await;
    }
    let big = "{\"jsonrpc\":\"2.0\",\"method\":\"xFeedback/Event\",\"params\":{\"Id\":0,\"Status\":{\"Audio\":{\"Volume\":123456789012345678901234567890123}}}}";
    raw.ok(
        "xSim/SendRaw",
        json!({"Kind": "text", "Text": big, "All": true}),
    )
    .await;
    r.expect("volume string 55").await;
    within("the float reports", async {
        while r
            .seen
            .iter()
            .filter(|s| s.starts_with("volume f64"))
            .count()
            < 2
        {
            r.next().await;
        }
    })
    .await;
    raw.ok("xCommand/Audio/Volume/Set", json!({"Level": 44}))
        .await;
    r.expect("volume i64 44").await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn permission_denied_reaches_the_script_as_a_catchable_error() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("reliability-denied");
    dir.write(
        "denied.rhai",
        r#"
xapi.Event.Sim.Try.on(|e| {
    try { xapi.Command.Standby.Activate(); report("allowed"); }
    catch (err) { report(`denied ${err.code} ${err.message}`); }
});
report("ready");
"#,
    );
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    r.expect("ready").await;
    r.raw()
        .ok(
            "xSim/Refuse",
            json!({"Method": "xCommand/Standby", "Code": -31999, "Message": "Permission denied", "Count": 1}),
        )
        .await;
    rig::emit(r.raw(), "Try", json!({})).await;
    r.expect("denied -31999 Permission denied").await;
    rig::emit(r.raw(), "Try", json!({})).await;
    r.expect("allowed").await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn every_close_code_leads_to_a_reconnect() {
    let s = Sim::start(SimOptions::default()).await;
    let mut cfg = CodecConfig::from_url(&s.url()).unwrap();
    cfg.backoff.initial = Duration::from_millis(20);
    let c = within("connect", Codec::connect(cfg)).await.unwrap();
    let mut sub = c
        .subscribe(&Path::parse("Status Audio Volume").unwrap(), false)
        .await
        .unwrap();
    let mut raw = Raw::connect(&s.url()).await;
    // 1006 is "no close frame at all": a cut connection.
    for (n, code) in [Some(1000u16), Some(1001), Some(1011), None]
        .into_iter()
        .enumerate()
    {
        let params = match code {
            Some(c) => json!({"CloseCode": c, "Reason": "test"}),
            None => json!({}),
        };
        raw = Raw::connect(&s.url()).await;
        // The drop closes this session too, before any answer: send only.
        let req =
            json!({"jsonrpc": "2.0", "id": 1, "method": "xSim/DropSessions", "params": params});
        raw.send_text(&req.to_string()).await;
        within("the reconnect", async {
            while c.connects() < n as u64 + 2 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let why = c.last_drop().unwrap_or_default();
        match code {
            Some(code) => assert!(why.contains(&format!("close code {code}")), "{why}"),
            None => assert!(
                why.contains("without a close frame") || why.contains("read failed"),
                "{why}"
            ),
        }
        // The subscription still delivers after each reconnect.
        raw = crate::common::connect_when_up(&s.url()).await;
        let level = 60 + n as u64;
        within("the subscription to be registered again", async {
            loop {
                raw.ok("xCommand/Audio/Volume/Set", json!({"Level": level}))
                    .await;
                if let Ok(Some(doc)) =
                    tokio::time::timeout(Duration::from_millis(200), sub.next()).await
                    && doc["Status"]["Audio"]["Volume"] == json!(level)
                {
                    break;
                }
                raw.ok("xCommand/Audio/Volume/Set", json!({"Level": 1}))
                    .await;
            }
        })
        .await;
    }
    drop(raw);
}

#[tokio::test]
async fn a_script_that_throws_in_every_callback_harms_nobody() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("reliability-throw");
    dir.write(
        "thrower.rhai",
        r#"
xapi.Event.Sim.Ping.on(|e| { throw `thrown ${e.N}`; });
let n = 0;
xapi.Event.Sim.Ping.on(|e| { n += 1; if n == 3 { report("thrower's counter reached 3"); } throw "again"; });
set_interval(|| { throw "from a timer"; }, 20);
report("thrower ready");
"#,
    );
    dir.write(
        "bystander.rhai",
        r#"xapi.Event.Sim.Ping.on(|e| report(`bystander ${e.N}`)); report("bystander ready");"#,
    );
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    r.expect("thrower ready").await;
    r.expect("bystander ready").await;
    for n in 1..=3 {
        rig::emit(r.raw(), "Ping", json!({"N": n})).await;
        r.expect(&format!("bystander {n}")).await;
    }
    r.expect("thrower's counter reached 3").await;
    let line = rig::wait_log(&["script=thrower", "callback failed", "thrown 3"]).await;
    assert!(line.contains("thrower.rhai:"), "{line}");
    rig::wait_log(&["script=thrower", "from a timer"]).await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_reload_storm_of_100_saves_in_a_second_settles_on_the_last() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("reliability-storm");
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    for i in 1..=100 {
        dir.write("stormy.rhai", &format!("report(\"stormy {i}\");"));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    r.expect("stormy 100").await;
    r.idle(&host).await;
    assert_eq!(
        r.seen.iter().filter(|s| *s == "stormy 100").count(),
        1,
        "{:?}",
        r.seen
    );
    let last = r
        .seen
        .iter()
        .rposition(|s| s.starts_with("stormy"))
        .unwrap();
    assert_eq!(r.seen[last], "stormy 100");
    let runs = r.seen.iter().filter(|s| s.starts_with("stormy")).count();
    assert!(
        runs < 100,
        "a storm is not replayed save by save ({runs} runs)"
    );
    within("shutdown", host.shutdown()).await;
}

async fn through(proxy: &crate::common::proxy::Proxy) -> Codec {
    let mut cfg = CodecConfig::from_url(&proxy.url()).unwrap();
    cfg.request_timeout = Duration::from_secs(4);
    cfg.backoff.initial = Duration::from_millis(20);
    within("connect through the proxy", Codec::connect(cfg))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_slow_link_adds_latency_and_nothing_else() {
    use crate::common::proxy::{Mode, Proxy};
    let s = Sim::start(SimOptions::default()).await;
    let proxy = Proxy::start(s.addr).await;
    let c = through(&proxy).await;
    let mut sub = c
        .subscribe(&Path::parse("Status Audio Volume").unwrap(), false)
        .await
        .unwrap();
    proxy.set(Mode::Latency(Duration::from_millis(200)));
    let t = std::time::Instant::now();
    assert_eq!(
        c.get(&Path::parse("Status Audio Volume").unwrap())
            .await
            .unwrap(),
        50
    );
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "both ways delayed: {:?}",
        t.elapsed()
    );
    Raw::connect(&s.url())
        .await
        .ok("xCommand/Audio/Volume/Set", json!({"Level": 71}))
        .await;
    let doc = within("feedback over the slow link", sub.next())
        .await
        .unwrap();
    assert_eq!(doc["Status"]["Audio"]["Volume"], 71);
    assert_eq!(c.connects(), 1);
}

#[tokio::test]
async fn a_byte_at_a_time_link_still_works() {
    use crate::common::proxy::{Mode, Proxy};
    let s = Sim::start(SimOptions::default()).await;
    let proxy = Proxy::start(s.addr).await;
    proxy.set(Mode::ByteAtATime);
    let c = through(&proxy).await;
    let mut sub = c
        .subscribe(&Path::parse("Status Audio Volume").unwrap(), false)
        .await
        .unwrap();
    let q = c
        .query(&Path::parse("Status ** DisplayName").unwrap())
        .await
        .unwrap();
    assert!(
        q["Status"]["SystemUnit"]["Software"]["DisplayName"].is_string(),
        "{q}"
    );
    Raw::connect(&s.url())
        .await
        .ok("xCommand/Audio/Volume/Set", json!({"Level": 72}))
        .await;
    let doc = within("feedback a byte at a time", sub.next())
        .await
        .unwrap();
    assert_eq!(doc["Status"]["Audio"]["Volume"], 72);
    assert_eq!(c.connects(), 1);
}

#[tokio::test]
async fn a_link_cut_mid_frame_reconnects_and_resubscribes() {
    use crate::common::proxy::{Mode, Proxy};
    rig::logs();
    let s = Sim::start(SimOptions::default()).await;
    let proxy = Proxy::start(s.addr).await;
    let c = through(&proxy).await;
    let mut sub = c
        .subscribe(&Path::parse("Status Audio Volume").unwrap(), false)
        .await
        .unwrap();
    proxy.set(Mode::CutAfter(20));
    let mut raw = Raw::connect(&s.url()).await;
    raw.ok("xCommand/Audio/Volume/Set", json!({"Level": 73}))
        .await;
    within("the reconnect", async {
        while c.connects() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // The change cut in half arrives once, from the resync.
    let doc = match tokio::time::timeout(Duration::from_secs(5), sub.next()).await {
        Ok(d) => d.unwrap(),
        Err(_) => panic!(
            "no change after the cut; logs:\n{}",
            rig::logs().lock().unwrap()
        ),
    };
    assert_eq!(doc["Status"]["Audio"]["Volume"], 73);
    raw.ok("xCommand/Audio/Volume/Set", json!({"Level": 74}))
        .await;
    let doc = within("a later change", sub.next()).await.unwrap();
    assert_eq!(doc["Status"]["Audio"]["Volume"], 74);
    // A round trip on the same connection dispatches every frame before it.
    assert_eq!(
        c.get(&Path::parse("Status Audio Volume").unwrap())
            .await
            .unwrap(),
        74
    );
    assert_eq!(sub.try_next(), None, "nothing twice");
}

#[tokio::test]
async fn a_blocked_callback_under_a_flood_drops_and_counts_while_others_answer() {
    let a = rig::sim().await;
    let b = rig::sim().await;
    let mut ra = Reports::new(&a).await;
    let mut rb = Reports::new(&b).await;
    let dir = TempDir::new("reliability-flood");
    dir.write(
        "stuck.rhai",
        r#"let first = true; xapi.Event.Sim.Burst.on(|e| { if first { first = false; report("stuck busy"); } let t = timestamp(); while t.elapsed < 2.0 {} }); report("stuck ready");"#,
    );
    dir.write("lively.rhai", r#"xapi.Event.Sim.Ping.on(|e| report(`lively ${codec.name} ${e.N}`)); report("lively ready");"#);
    let mut opts = rig::options(&dir, vec![rig::codec("a", &a), rig::codec("b", &b)]);
    opts.limits.mailbox = 100;
    opts.limits.max_operations = u64::MAX;
    opts.scripts = rig::scripts_map(vec![(
        "stuck",
        rig::script_config(json!({}), Some(vec!["a"])),
    )]);
    let host = rig::start(opts).await;
    ra.expect("stuck ready").await;
    ra.expect("lively ready").await;
    rb.expect("lively ready").await;
    // 10,000 events a second for two seconds at a callback that blocks for
    // two seconds each time.
    let mut flood = Raw::connect(&a.url()).await;
    flood
        .send_text(r#"{"jsonrpc":"2.0","id":1,"method":"xSim/Burst","params":{"Count":20000,"RatePerSec":10000}}"#)
        .await;
    ra.expect("stuck busy").await;
    for n in 1..=3 {
        for (r, name) in [(&mut ra, "a"), (&mut rb, "b")] {
            let t = std::time::Instant::now();
            rig::emit(r.raw(), "Ping", json!({"N": n})).await;
            r.expect(&format!("lively {name} {n}")).await;
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "{name} answered in {:?}",
                t.elapsed()
            );
        }
    }
    let line = rig::wait_log(&["script=stuck", "not keeping up", "dropped"]).await;
    assert!(line.contains("codec=a"), "{line}");
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_changed_password_means_one_clear_error_and_a_long_wait() {
    rig::logs();
    let s = Sim::start(SimOptions {
        password: "old".into(),
        ..Default::default()
    })
    .await;
    let mut cfg = CodecConfig::from_url(&s.url()).unwrap();
    cfg.name = "pw-change-room".into();
    cfg.password = xmacro::xows::Password("old".into());
    cfg.backoff.initial = Duration::from_millis(20);
    let c = within("connect", Codec::connect(cfg)).await.unwrap();
    let mut admin =
        crate::common::try_connect(&s.url(), crate::common::Auth::Basic("admin", "old"))
            .await
            .unwrap();
    admin.ok("xSim/Configure", json!({"Password": "new"})).await;
    let req = json!({"jsonrpc": "2.0", "id": 99, "method": "xSim/DropSessions", "params": {}});
    admin.send_text(&req.to_string()).await;
    within("the refusal", async {
        loop {
            if let xmacro::xows::ConnState::Reconnecting {
                reason, retry_in, ..
            } = c.state()
                && reason.contains("authentication failed")
            {
                assert!(retry_in >= Duration::from_secs(30), "{retry_in:?}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // The state says the next attempt is at least 30 s away; the codec saw
    // only the attempt that led to it.
    let mut admin =
        crate::common::try_connect(&s.url(), crate::common::Auth::Basic("admin", "new"))
            .await
            .unwrap();
    assert_eq!(
        admin.ok("xSim/Inspect", json!({})).await["AuthFailures"],
        1,
        "no retry loop"
    );
    let logs = rig::logs().lock().unwrap().clone();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("pw-change-room") && l.contains("authentication failed"))
        .collect();
    assert_eq!(lines.len(), 1, "one clear error: {lines:?}");
    assert!(
        lines[0].contains("ERROR") && lines[0].contains("next attempt in"),
        "{}",
        lines[0]
    );
    assert!(
        !logs.contains("\"old\"") && !logs.contains(":old"),
        "no password in logs"
    );
}

#[tokio::test]
async fn bad_frames_are_each_logged_once_with_context() {
    rig::logs();
    let s = Sim::start(SimOptions::default()).await;
    let mut cfg = CodecConfig::from_url(&s.url()).unwrap();
    cfg.name = "badframes-room".into();
    let c = within("connect", Codec::connect(cfg)).await.unwrap();
    let frames = [
        (json!({"Kind": "nonjson"}), "this is not JSON {"),
        (json!({"Kind": "binary"}), "ignored a binary frame"),
        (json!({"Kind": "deep", "Depth": 100000}), "recursion limit"),
        (
            json!({"Kind": "text", "Text": r#"{"jsonrpc":"2.0","id":424242,"result":1}"#}),
            "(id 424242)",
        ),
        (
            json!({"Kind": "text", "Text": r#"{"jsonrpc":"2.0","id":null,"result":"nullid"}"#}),
            "(id null)",
        ),
        (
            json!({"Kind": "text", "Text": r#"{"jsonrpc":"2.0","id":5,"result":1,"error":{"code":1,"message":"x"}}"#}),
            "both result and error",
        ),
        (
            json!({"Kind": "text", "Text": r#"{"jsonrpc":"2.0","method":"xFeedback/Event","params":{"Id":777,"Status":{}}}"#}),
            "unknown subscription Id 777",
        ),
    ];
    for (frame, _) in &frames {
        let call = xmacro::xows::protocol::Call {
            method: "xSim/SendRaw".into(),
            params: frame.clone(),
        };
        c.call(call, Duration::from_secs(3)).await.unwrap();
    }
    for (_, needle) in &frames {
        rig::wait_log(&["badframes-room", needle]).await;
        let count = rig::logs()
            .lock()
            .unwrap()
            .lines()
            .filter(|l| l.contains("badframes-room") && l.contains(needle))
            .count();
        assert_eq!(count, 1, "{needle:?} logged {count} times");
    }
    assert_eq!(c.connects(), 1);
    assert_eq!(
        c.get(&Path::parse("Status Audio Volume").unwrap())
            .await
            .unwrap(),
        50
    );
}
