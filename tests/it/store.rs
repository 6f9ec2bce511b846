//! `store` under abuse: lookalike names, a second host on one state
//! directory, values that could not load again, damaged entries, the quota.

use std::path::Path;

use xmacro::config::Config;
use xmacro::store::{DB_FILE, InstanceId, SqliteBackend};

use crate::common::rig::{self, Reports, TempDir, spawn_run};
use crate::common::within;

const LOOKALIKE_SCRIPTS: [&str; 4] = ["会议室", "大厅室", "a b", "a_b"];
const LOOKALIKE_CODECS: [&str; 4] = ["room/1", "room_1", "..", "__"];

#[tokio::test]
async fn lookalike_script_and_codec_names_never_share_a_store() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("store-lookalikes");
    for s in LOOKALIKE_SCRIPTS {
        dir.write(
            &format!("{s}.rhai"),
            &format!(
                r#"let me = `{s}@${{codec.name}}`;
let before = store.get("who") ?? "none";
store.set("who", me);
report(`${{me}}:${{before}}`);"#
            ),
        );
    }
    let codecs = || LOOKALIKE_CODECS.map(|c| rig::codec(c, &sim)).to_vec();
    let host = rig::start(rig::options(&dir, codecs())).await;
    for s in LOOKALIKE_SCRIPTS {
        for c in LOOKALIKE_CODECS {
            r.expect(&format!("{s}@{c}:none")).await;
        }
    }
    within("shutdown", host.shutdown()).await;
    let host = rig::start(rig::options(&dir, codecs())).await;
    for s in LOOKALIKE_SCRIPTS {
        for c in LOOKALIKE_CODECS {
            r.expect(&format!("{s}@{c}:{s}@{c}")).await;
        }
    }
    within("shutdown", host.shutdown()).await;
    // A codec named ".." wrote nothing beside the state directory.
    let mut beside: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    beside.sort();
    assert_eq!(beside, ["scripts", "state"]);
}

#[test]
fn a_codec_name_like_a_path_is_refused_at_config_load() {
    for bad in ["..", "room/1", "a\\\\b", "bell\\u0007"] {
        let text = format!(
            "[defaults]\npassword_env = \"PW\"\n\n[[codec]]\nname = \"{bad}\"\nurl = \"ws://x/ws\"\n"
        );
        let e = Config::parse(Path::new("/etc/xmacro.toml"), &text, &|_| Some("pw".into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/xmacro.toml:5:") && e.contains("key name"),
            "{bad}: {e}"
        );
    }
}

#[tokio::test]
async fn a_second_host_on_the_same_state_directory_exits_naming_the_first() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("store-two-hosts");
    dir.write(
        "counter.rhai",
        r#"store.set("up", true); report("first-up");"#,
    );
    let mut first = spawn_run(&dir, &sim.url());
    r.expect("first-up").await;
    let pid = first.id().unwrap();
    let second = within(
        "the second host to give up",
        rig::xmacro_run(&dir, &sim.url()).output(),
    )
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("pid {pid}"))
            && err.contains("in use")
            && err.contains(&dir.state().display().to_string()),
        "{err}"
    );
    // The second one never ran the script, and the first one still runs.
    assert_eq!(r.seen.iter().filter(|s| *s == "first-up").count(), 1);
    assert!(first.try_wait().unwrap().is_none());
    first.kill().await.unwrap();
    first.wait().await.unwrap();
    // With the first gone, the directory is free again.
    let mut third = spawn_run(&dir, &sim.url());
    r.seen.clear();
    r.expect("first-up").await;
    third.kill().await.unwrap();
}

fn nested_array_script(depth: usize) -> String {
    format!("let v = 1; for i in 0..{depth} {{ v = [v]; }}")
}

#[tokio::test]
async fn a_value_that_would_not_load_again_is_a_catchable_error_and_restarts_still_work() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("store-deep");
    dir.write(
        "deep.rhai",
        &format!(
            r#"report(`restored:${{store.get("ok") ?? "none"}}:${{store.get("deep") ?? "none"}}`);
store.set("ok", 1);
{}
try {{ store.set("deep", v); report("acknowledged"); }}
catch (e) {{ report(if `${{e}}`.contains("200") || `${{e}}`.contains("deeper than") {{ "refused" }} else {{ `other:${{e}}` }}); }}"#,
            nested_array_script(200)
        ),
    );
    let opts = || rig::options(&dir, vec![rig::codec("room", &sim)]);
    let host = rig::start(opts()).await;
    r.expect("restored:none:none").await;
    r.expect("refused").await;
    within("shutdown", host.shutdown()).await;
    let host = rig::start(opts()).await;
    r.expect("restored:1:none").await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_damaged_entry_does_not_stop_the_script_or_hide_the_others() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("store-damaged");
    let raw = SqliteBackend::open(&dir.state().join(DB_FILE)).unwrap();
    let id = InstanceId::new("room", "reader");
    xmacro::store::Backend::put(&raw, &id, "good", "\"kept\"").unwrap();
    xmacro::store::Backend::put(&raw, &id, "bad", "{not json").unwrap();
    drop(raw);
    dir.write(
        "reader.rhai",
        r#"report(`good:${store.get("good")} bad:${store.get("bad") ?? "gone"} keys:${store.keys().len()}`);"#,
    );
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    r.expect("good:kept bad:gone keys:1").await;
    rig::wait_log(&["reader", "\"bad\"", "cannot be read"]).await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_set_over_the_quota_is_a_catchable_error_and_nothing_is_stored() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("store-quota");
    dir.write(
        "hoarder.rhai",
        r#"let big = "x"; while big.len() < 40000 { big += big; }
let n = 0;
try { while n < 100 { store.set(`k${n}`, big); n += 1; } report("no limit"); }
catch (e) { report(if `${e}`.contains("quota of 100000 bytes") { `stopped after ${n}` } else { `other:${e}` }); }"#,
    );
    let mut opts = rig::options(&dir, vec![rig::codec("room", &sim)]);
    opts.store_quota = 100_000;
    let host = rig::start(opts).await;
    r.expect("stopped after 1").await;
    within("shutdown", host.shutdown()).await;
    let kept = xmacro::store::read(&dir.state(), "room", "hoarder").unwrap();
    assert_eq!(kept.keys().collect::<Vec<_>>(), ["k0"]);
}

/// A script that writes as fast as it can when `Event Sim Write` comes, and
/// on start says whether every write it made before is there (`intact`):
/// the kill -9 tests of both store backends run it.
pub(crate) const KILL_WRITER: &str = r#"
xapi.Event.Sim.Write.on(|e| {
    for i in 0..1000000 {
        store.set(`k${i}`, i);
        store.set("n", i);
        if i % 50 == 0 { report(`acked:${i}`); }
    }
});
let n = store.get("n");
if n == () {
    report("fresh");
} else {
    let intact = true;
    for j in 0..n + 1 { if store.get(`k${j}`) != j { intact = false; } }
    report(if n >= 100 && intact { "intact" } else { `lost:${n}:${intact}` });
}
"#;

#[tokio::test]
async fn kill_9_in_the_middle_of_a_stream_of_writes_loses_no_acknowledged_write() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("store-kill-stream");
    dir.write("writer.rhai", KILL_WRITER);
    let mut child = spawn_run(&dir, &sim.url());
    r.expect("fresh").await;
    rig::emit(r.raw(), "Write", serde_json::json!({})).await;
    // Acknowledged up to 100 at least, and still writing: kill it now.
    r.expect("acked:100").await;
    child.start_kill().unwrap();
    within("the process to die", child.wait()).await.unwrap();
    let mut child = spawn_run(&dir, &sim.url());
    r.expect("intact").await;
    child.kill().await.unwrap();
}
