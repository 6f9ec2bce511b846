//! Issue 28 end to end: `allow` refuses what a script does not list before
//! it reaches the simulator (its own codec and `codecs["other"]`), with a
//! catchable `denied` error and one WARN at `file:line:col`; scripts
//! without `allow` are unchanged; `check --config` flags literal paths
//! outside the list; the audit trail (through the binary: `xmacro audit`
//! and `/api/audit`) holds commands, sets and denials with their results,
//! survives a restart, and a passphrase a script sends appears nowhere.

use std::time::Duration;

use serde_json::{Value, json};
use xmacro::script::allow::AllowList;

use crate::common::rig::{self, Reports, TempDir, wait_log};
use crate::common::{Raw, Sim, within};
use crate::hardening::Proc;

const LONG: Duration = Duration::from_secs(120);

fn allow(list: &[&str]) -> Option<AllowList> {
    Some(AllowList::parse(list).unwrap())
}

async fn inspect(sim: &Sim) -> Value {
    Raw::connect(&sim.url())
        .await
        .ok("xSim/Inspect", json!({}))
        .await
}

fn commands(v: &Value) -> Vec<String> {
    v["Commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Command"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_call_outside_allow_never_reaches_the_codec_and_is_a_denied_error_at_its_place() {
    let sim = rig::sim().await;
    let other = rig::sim().await;
    let mut reports = Reports::new(&sim).await;
    let dir = TempDir::new("allow");
    // Line 1 is the prelude (report()); the script's lines start at 2.
    dir.write(
        "guarded.rhai",
        r#"xapi.Command.Audio.Volume.Set(#{ Level: 30 });
report("allowed");
try { xapi.Command.Dial(#{ Number: "5551234" }); } catch (e) { report(`dial:${e.code}:${e.message}`); }
try { xapi.Status.SystemUnit.Uptime.get(); } catch (e) { report(`get:${e.code}`); }
try { xapi.Status.Audio.on(|v| report("never")); } catch (e) { report(`parent:${e.code}`); }
try { xapi.query("Status ** DisplayName"); } catch (e) { report(`query:${e.code}`); }
try { codecs["other"].Command.Dial(#{ Number: "5551234" }); } catch (e) { report(`other:${e.code}`); }
codecs["other"].Command.Audio.Volume.Increase();
let v = xapi.Status.Audio.Volume.get();
xapi.Event.UserInterface.Extensions.Widget.Action.on(|e| report("widget"));
try { xapi.Command.Dial(#{ Number: "5551234" }); } catch (e) { report(`again:${e.code}`); }
report(`done:${v}`);
"#,
    );
    dir.write(
        "free.rhai",
        r#"xapi.Command.Standby.Deactivate();
report("free");
"#,
    );
    let mut opts = rig::options(
        &dir,
        vec![rig::codec("room", &sim), rig::codec("other", &other)],
    );
    let mut guarded = rig::script_config(json!({}), Some(vec!["room"]));
    guarded.allow = allow(&[
        "Command Message Send",
        "Command Audio Volume *",
        "Status Audio Volume",
        "Event UserInterface Extensions **",
    ]);
    opts.scripts = rig::scripts_map(vec![
        ("guarded", guarded),
        ("free", rig::script_config(json!({}), Some(vec!["room"]))),
    ]);
    let host = rig::start(opts).await;
    reports.expect("free").await;
    reports.expect("done:30").await;
    let seen = reports.idle(&host).await;
    let all: Vec<String> = reports.seen.iter().chain(&seen).cloned().collect();
    for want in [
        "allowed",
        "get:denied",
        "parent:denied",
        "query:denied",
        "other:denied",
        "again:denied",
    ] {
        assert!(all.iter().any(|s| s == want), "no {want:?} in {all:?}");
    }
    let dial = all.iter().find(|s| s.starts_with("dial:")).unwrap();
    assert_eq!(
        dial,
        r#"dial:denied:Command Dial is outside the allow list of script "guarded": ["Command Message Send", "Command Audio Volume *", "Status Audio Volume", "Event UserInterface Extensions **"]"#
    );

    // Nothing refused reached either simulator; what was allowed did.
    let room = inspect(&sim).await;
    let sent = commands(&room);
    assert!(sent.contains(&"Audio Volume Set".to_string()), "{sent:?}");
    assert!(
        sent.contains(&"Standby Deactivate".to_string()),
        "a script without allow is unchanged: {sent:?}"
    );
    assert!(!sent.contains(&"Dial".to_string()), "{sent:?}");
    let asked: Vec<&String> = room["Requests"].as_object().unwrap().keys().collect();
    assert!(
        asked.iter().any(|k| *k == "xGet Status Audio Volume"),
        "{asked:?}"
    );
    for refused in ["Uptime", "xQuery", "xFeedback/Subscribe Status Audio"] {
        assert!(
            !asked
                .iter()
                .any(|k| k.contains(refused) && !k.contains("Volume")),
            "{refused} reached the codec: {asked:?}"
        );
    }
    let far = commands(&inspect(&other).await);
    assert_eq!(
        far,
        ["Audio Volume Increase"],
        "codecs[\"other\"] is bound by the same list"
    );

    // One WARN per codec and path, at the call's place.
    let line = wait_log(&["guarded.rhai:4:", "denied", "Command Dial", "\"room\""]).await;
    assert!(
        line.contains("WARN") && line.contains("outside the allow list"),
        "{line}"
    );
    wait_log(&["guarded.rhai:8:", "denied", "Command Dial", "\"other\""]).await;
    let logs = rig::logs();
    let warned = logs
        .lock()
        .unwrap()
        .lines()
        .filter(|l| l.contains("guarded.rhai") && l.contains("Command Dial on codec \"room\""))
        .count();
    assert_eq!(warned, 1, "said once per script, codec and path");
    let denied = xmacro::audit::counters().denied_by_script();
    assert!(
        denied.iter().any(|(s, n)| s == "guarded" && *n >= 6),
        "counted for xmacro_denied_total: {denied:?}"
    );
    within("shutdown", host.shutdown()).await;
}

/// The binary, with the test config's (empty) codec password variable set.
fn xmacro(args: &[&str], env: &[(&str, &str)], cwd: &std::path::Path) -> Proc {
    let mut all = vec![("XM_TEST_PW", "")];
    all.extend_from_slice(env);
    Proc::spawn(args, &all, cwd)
}

#[tokio::test]
async fn check_with_a_config_flags_a_literal_path_outside_allow_at_its_place() {
    let dir = TempDir::new("allow-check");
    std::fs::write(
        dir.scripts().join("volume.rhai"),
        "xapi.Command.Audio.Volume.Set(#{ Level: 10 });\nlet uptime = xapi.get(\"Status SystemUnit Uptime\");\nxapi.Status.Audio.Volume.on(|v| print(v));\n",
    )
    .unwrap();
    std::fs::write(
        dir.scripts().join("open.rhai"),
        "xapi.Command.Dial(#{ Number: \"1\" });\n",
    )
    .unwrap();
    let cfg = dir.0.join("xmacro.toml");
    std::fs::write(
        &cfg,
        "scripts = \"scripts\"\n[script.volume]\nallow = [\"Command Audio Volume *\", \"Status Audio Volume\"]\n",
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let (code, out) = xmacro(&["check", "--config", c], &[], &dir.0)
        .finish(LONG)
        .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("volume.rhai:2:23: Status SystemUnit Uptime is outside the allow list of script \"volume\""),
        "{out}"
    );
    assert_eq!(out.matches("outside the allow list").count(), 1, "{out}");
    assert!(
        !out.contains("open.rhai"),
        "no allow, no finding without --strict: {out}"
    );
    let (code, out) = xmacro(&["check", "--config", c, "--strict"], &[], &dir.0)
        .finish(LONG)
        .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("open.rhai: script \"open\" has no allow list"),
        "{out}"
    );
    // Inside the list: clean.
    std::fs::write(
        dir.scripts().join("volume.rhai"),
        "xapi.Command.Audio.Volume.Set(#{ Level: 10 });\n",
    )
    .unwrap();
    std::fs::remove_file(dir.scripts().join("open.rhai")).unwrap();
    let (code, out) = xmacro(&["check", "--config", c], &[], &dir.0)
        .finish(LONG)
        .await;
    assert_eq!(code, Some(0), "{out}");
}

const SECRET: &str = "Zq9-hunter2-passphrase";

/// `xmacro run --config` until "done" is logged; the status server's base.
async fn run_host(dir: &TempDir, cfg: &str) -> (Proc, String) {
    let p = xmacro(&["run", "--config", cfg], &[("RUST_LOG", "trace")], &dir.0);
    p.wait_for("status page on http://", 1, LONG).await;
    let base = p
        .lines()
        .iter()
        .find(|l| l.starts_with("status page on http://"))
        .unwrap()
        .trim_start_matches("status page on ")
        .trim_end_matches('/')
        .to_string();
    (p, base)
}

async fn get(url: &str) -> String {
    let a = xmacro::ops::http::get(url, None, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{url}: {}", a.body);
    a.body
}

/// The records `/api/audit` gives, once `n` are there.
async fn api_records(base: &str, query: &str, n: usize) -> Vec<Value> {
    within("the audit records", async {
        loop {
            let body = get(&format!("{base}/api/audit?{query}")).await;
            let v: Vec<Value> = serde_json::from_str(&body).unwrap();
            if v.len() >= n {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

#[tokio::test]
async fn the_audit_trail_holds_commands_sets_and_denials_survives_a_restart_and_no_secret() {
    let sim = rig::sim().await;
    let dir = TempDir::new("audit-trail");
    std::fs::write(
        dir.scripts().join("secrets.rhai"),
        format!(
            r#"let secret = "{SECRET}";
try {{ xapi.Command.Dial(#{{ Number: "1", Passphrase: secret }}); }} catch (e) {{ print(`refused ${{e.code}}`); }}
xapi.Command.Audio.Volume.Set(#{{ Level: 40 }});
try {{ xapi.Command.Audio.Volume.Set(#{{ Level: 400 }}); }} catch (e) {{ print(`refused ${{e.code}}`); }}
xapi.Config.Audio.DefaultVolume.set(45);
try {{ xapi.Command.Standby.Activate(); }} catch (e) {{ print(`refused ${{e.code}}`); }}
print("done");
"#
        ),
    )
    .unwrap();
    let cfg = dir.0.join("xmacro.toml");
    std::fs::write(
        &cfg,
        format!(
            "scripts = \"scripts\"\nstate = \"state\"\n[[codec]]\nname = \"room\"\nurl = \"{}\"\npassword_env = \"XM_TEST_PW\"\n[http]\nlisten = \"127.0.0.1:0\"\n[script.secrets]\nallow = [\"Command Dial\", \"Command Audio Volume *\", \"Config Audio\"]\n",
            sim.url()
        ),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let (host, base) = run_host(&dir, c).await;
    host.wait_for("done", 1, LONG).await;
    let records = api_records(&base, "", 5).await;
    let kinds: Vec<(String, String, String)> = records
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
                r["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = |k: &str, p: &str, res: &str| (k.to_string(), p.to_string(), res.to_string());
    assert_eq!(
        kinds,
        [
            want("command", "Command Dial", "error"),
            want("command", "Command Audio Volume Set", "ok"),
            want("command", "Command Audio Volume Set", "error"),
            want("set", "Configuration Audio DefaultVolume", "ok"),
            want("command", "Command Standby Activate", "denied"),
        ],
        "newest last: {records:#?}"
    );
    let first = &records[0];
    assert_eq!(first["codec"], "room");
    assert_eq!(first["script"], "secrets");
    assert_eq!(first["params"]["Passphrase"], "***");
    assert_eq!(first["params"]["Number"], "1");
    let version = first["version"].as_str().unwrap().to_string();
    assert_eq!(version.len(), 16, "{first}");
    let status = get(&format!("{base}/api/status")).await;
    assert!(
        status.contains(&version),
        "the version xmacro status shows: {status}"
    );
    assert_eq!(records[1]["params"], json!({ "Level": 40 }));
    assert!(
        records[2]["code"].is_i64() && records[2]["reason"].is_string(),
        "{}",
        records[2]
    );
    assert_eq!(records[3]["params"], json!({ "DefaultVolume": 45 }));
    // Filters.
    assert_eq!(
        api_records(&base, "codec=room&script=secrets&since=1h", 5)
            .await
            .len(),
        5
    );
    let none = get(&format!("{base}/api/audit?codec=elsewhere")).await;
    assert_eq!(none.trim(), "[]");
    let none = get(&format!("{base}/api/audit?script=other")).await;
    assert_eq!(none.trim(), "[]");
    let page = get(&format!("{base}/")).await;
    assert!(
        page.contains("/api/audit?script=secrets&amp;since=1d"),
        "the page links the changes"
    );
    let metrics = get(&format!("{base}/metrics")).await;
    assert!(
        metrics.contains("xmacro_denied_total{script=\"secrets\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("xmacro_audit_dropped_total 0"),
        "{metrics}"
    );
    // `xmacro audit` beside the running host.
    let (code, beside) = xmacro(&["audit", "--config", c, "--json"], &[], &dir.0)
        .finish(LONG)
        .await;
    assert_eq!(code, Some(0), "{beside}");
    let lines: Vec<Value> = beside
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, records, "the same records as /api/audit");
    let mut outputs = vec![
        status,
        page,
        metrics,
        beside,
        serde_json::to_string(&records).unwrap(),
    ];
    host.signal("-TERM");
    let (_, log) = host.finish(LONG).await;
    assert!(
        log.contains("-> ") && log.contains("Passphrase"),
        "the wire was traced: RUST_LOG=trace"
    );
    outputs.push(log);

    // A restart: the records are still there, with the new run's after them.
    let (host, base) = run_host(&dir, c).await;
    host.wait_for("done", 1, LONG).await;
    let again = api_records(&base, "script=secrets", 10).await;
    assert_eq!(
        &again[..5],
        &records[..],
        "what the first run recorded survived"
    );
    for (args, filter_ok) in [
        (
            vec!["audit", "--config", c, "--codec", "room", "--since", "1h"],
            10,
        ),
        (
            vec!["audit", "--config", c, "--script", "nobody", "--json"],
            0,
        ),
    ] {
        let (code, out) = xmacro(&args, &[], &dir.0).finish(LONG).await;
        assert_eq!(code, Some(0), "{out}");
        if filter_ok == 0 {
            assert!(out.trim().is_empty(), "{out}");
        } else {
            assert!(
                out.starts_with("TIME") && out.lines().count() == 11,
                "{out}"
            );
            assert!(
                out.contains("Command Standby Activate") && out.contains("denied"),
                "{out}"
            );
        }
        outputs.push(out);
    }
    host.signal("-TERM");
    let (_, log) = host.finish(LONG).await;
    outputs.push(log);
    for o in &outputs {
        assert!(!o.contains(SECRET), "the passphrase leaked: {o}");
        assert!(!o.contains("hunter2"), "the passphrase leaked: {o}");
    }
}
