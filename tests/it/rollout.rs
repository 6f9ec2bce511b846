//! Staged rollouts (issue 29) through real hosts on six simulated codecs,
//! two of them canary: a saved change runs on the canary first and
//! everywhere after the soak, a change that fails on the canary is rolled
//! back there and never reaches the rest, operators promote and abort
//! over HTTP (never without the token), a host restarted mid-soak comes
//! back as it was, two shards on PostgreSQL share one rollout, and
//! without `[rollout]` a version whose top level fails is not kept.
//!
//! Which version runs where is read from the scripts' own stores: each
//! version counts its starts under its own key.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xmacro::config::rollout::RolloutConfig;
use xmacro::host::{HostHandle, HostOptions};

use crate::common::rig::{self, TempDir, wait_log};
use crate::common::{Sim, within};

/// Liveness bound for an outcome that waits on a soak, on a busy machine.
const BOUND: Duration = Duration::from_secs(60);

const CANARY: [&str; 2] = ["lab-1", "lab-2"];
const REST: [&str; 4] = ["room-1", "room-2", "room-3", "room-4"];

/// A version that says it started: `version` is the last to start, and
/// `TAG starts` counts its starts.
fn version(tag: &str) -> String {
    format!(
        r#"store.set("version", "{tag}");
store.set("{tag} starts", (store.get("{tag} starts") ?? 0) + 1);
"#
    )
}

struct Fleet {
    _sims: Vec<Sim>,
    codecs: Vec<xmacro::config::CodecEntry>,
}

async fn fleet() -> Fleet {
    let mut sims = Vec::new();
    let mut codecs = Vec::new();
    for name in CANARY.iter().chain(REST.iter()) {
        let sim = rig::sim().await;
        let mut c = rig::codec(name, &sim);
        if name.starts_with("lab") {
            c.tags = vec!["canary".into()];
        }
        codecs.push(c);
        sims.push(sim);
    }
    Fleet {
        _sims: sims,
        codecs,
    }
}

fn staged(dir: &TempDir, fleet: &Fleet, soak: Duration) -> HostOptions {
    let mut o = rig::options(dir, fleet.codecs.clone());
    o.rollout = Some(RolloutConfig {
        canary: vec!["tag:canary".into()],
        soak,
        window: None,
    });
    o
}

/// What `key` holds on each codec for `script`.
fn on_each(dir: &TempDir, script: &str, key: &str) -> BTreeMap<String, Value> {
    CANARY
        .iter()
        .chain(REST.iter())
        .map(|c| (c.to_string(), rig::stored(&dir.state(), c, script, key)))
        .collect()
}

fn all(codecs: &[&str], v: Value) -> BTreeMap<String, Value> {
    codecs.iter().map(|c| (c.to_string(), v.clone())).collect()
}

fn six(canary: Value, rest: Value) -> BTreeMap<String, Value> {
    let mut m = all(&CANARY, canary);
    m.extend(all(&REST, rest));
    m
}

/// Waits until `f` holds (liveness bound [`BOUND`]).
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < BOUND, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// The rollout state on the status board.
fn board_state(script: &str) -> Option<String> {
    xmacro::telemetry::board()
        .snapshot()
        .scripts
        .get(script)
        .and_then(|s| s.rollout.as_ref())
        .map(|r| r.state.clone())
}

async fn started(opts: HostOptions) -> HostHandle {
    rig::start(opts).await
}

#[tokio::test]
async fn a_saved_change_runs_on_the_canary_at_once_and_everywhere_after_the_soak() {
    let f = fleet().await;
    let dir = TempDir::new("rollout-soak");
    dir.write("soaked.rhai", &version("v1"));
    let host = started(staged(&dir, &f, Duration::from_secs(2))).await;
    until("v1 everywhere", || {
        on_each(&dir, "soaked", "version") == six(json!("v1"), json!("v1"))
    })
    .await;

    dir.write("soaked.rhai", &version("v2"));
    until("v2 on the canary", || {
        on_each(&dir, "soaked", "version")
            .iter()
            .filter(|(c, v)| CANARY.contains(&c.as_str()) && **v == json!("v2"))
            .count()
            == 2
    })
    .await;
    // While the change soaks, the rest run the promoted version.
    let before = board_state("soaked");
    let now = on_each(&dir, "soaked", "version");
    let after = board_state("soaked");
    if before.as_deref() == Some("soaking") && after.as_deref() == Some("soaking") {
        assert_eq!(now, six(json!("v2"), json!("v1")));
    } else {
        panic!("the soak ended before the test could look: {before:?} {after:?}");
    }

    until("v2 everywhere after the soak", || {
        on_each(&dir, "soaked", "version") == six(json!("v2"), json!("v2"))
    })
    .await;
    assert_eq!(board_state("soaked").as_deref(), Some("steady"));
    assert_eq!(
        on_each(&dir, "soaked", "v2 starts"),
        six(json!(1), json!(1)),
        "each codec started v2 once"
    );
    wait_log(&["soaked", "promoted to every codec", "soaked on the canary"]).await;
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_change_that_throws_in_a_timer_on_the_canary_is_rolled_back_and_never_reaches_the_rest() {
    let f = fleet().await;
    let dir = TempDir::new("rollout-back");
    dir.write("fragile.rhai", &version("v1"));
    let soak = Duration::from_secs(2);
    let host = started(staged(&dir, &f, soak)).await;
    until("v1 everywhere", || {
        on_each(&dir, "fragile", "version") == six(json!("v1"), json!("v1"))
    })
    .await;

    let saved = Instant::now();
    dir.write(
        "fragile.rhai",
        &format!(
            "{}set_timeout(|| {{ throw \"boom in v2\"; }}, 30);\n",
            version("v2")
        ),
    );
    let line = wait_log(&["ERROR", "fragile", "boom in v2", "rolled back"]).await;
    assert!(line.contains("fragile.rhai:4:"), "file:line:col: {line}");
    until("the canary back on v1", || {
        on_each(&dir, "fragile", "version") == six(json!("v1"), json!("v1"))
            && on_each(&dir, "fragile", "v1 starts") == six(json!(2), json!(1))
    })
    .await;
    assert_eq!(board_state("fragile").as_deref(), Some("rolled_back"));
    assert_eq!(xmacro::telemetry::metrics().rollbacks()["fragile"], 1);
    // Past the soak it would have had, it is still nowhere but where it
    // failed.
    until("the soak to have passed", || saved.elapsed() > soak * 2).await;
    host.idle().await;
    assert_eq!(
        on_each(&dir, "fragile", "v2 starts"),
        six(json!(1), Value::Null),
        "v2 ran on the canary only"
    );
    assert_eq!(
        on_each(&dir, "fragile", "version"),
        six(json!("v1"), json!("v1"))
    );
    assert_eq!(board_state("fragile").as_deref(), Some("rolled_back"));
    within("shutdown", host.shutdown()).await;
}

const TOKEN: &str = "rollout-token-0123456789abcdef";

/// The host's status server on a free loopback port, with the token.
async fn status_server(host: &HostHandle, f: &Fleet, dir: &TempDir) -> String {
    let ops = xmacro::ops::Ops::new(Some(TOKEN.into()));
    ops.attach(host.codecs(), &f.codecs, &dir.state());
    ops.attach_rollout(host.rollout_control().expect("a host with [rollout]"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(xmacro::ops::server::serve(
        listener,
        ops,
        std::future::pending(),
    ));
    base
}

async fn cli(args: &[&str]) -> (bool, String) {
    let out = within(
        "xmacro rollout",
        tokio::process::Command::new(env!("CARGO_BIN_EXE_xmacro"))
            .arg("rollout")
            .args(args)
            .env("NO_COLOR", "1")
            .output(),
    )
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn promote_puts_a_soaking_change_everywhere_abort_takes_one_back_and_neither_works_without_the_token()
 {
    let f = fleet().await;
    let dir = TempDir::new("rollout-ops");
    dir.write("operated.rhai", &version("v1"));
    let host = started(staged(&dir, &f, Duration::from_secs(600))).await;
    let base = status_server(&host, &f, &dir).await;
    let token_file = dir.0.join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let token_file = token_file.to_str().unwrap().to_string();
    until("v1 everywhere", || {
        on_each(&dir, "operated", "version") == six(json!("v1"), json!("v1"))
    })
    .await;
    dir.write("operated.rhai", &version("v2"));
    until("v2 on the canary", || {
        on_each(&dir, "operated", "version") == six(json!("v2"), json!("v1"))
    })
    .await;

    // Without the token (or with it as a browser would resend it) the
    // POST is refused and nothing changes.
    let url = format!("{base}/api/rollout/operated/promote");
    let timeout = Duration::from_secs(5);
    let a = xmacro::ops::http::post(&url, None, timeout).await.unwrap();
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("token"), "a hint: {}", a.body);
    let a = xmacro::ops::http::post(&url, Some("not-the-token-0123456789"), timeout)
        .await
        .unwrap();
    assert_eq!(a.status, 403, "{}", a.body);
    host.idle().await;
    assert_eq!(board_state("operated").as_deref(), Some("soaking"));
    assert_eq!(
        on_each(&dir, "operated", "version"),
        six(json!("v2"), json!("v1"))
    );

    let (ok, text) = cli(&["status", "--http", &base, "--token-file", &token_file]).await;
    assert!(ok && text.contains("operated: soaking until"), "{text}");
    let (ok, text) = cli(&[
        "promote",
        "operated",
        "--http",
        &base,
        "--token-file",
        &token_file,
    ])
    .await;
    assert!(ok, "{text}");
    assert!(text.contains("promoted to every codec"), "{text}");
    until("v2 everywhere at once", || {
        on_each(&dir, "operated", "version") == six(json!("v2"), json!("v2"))
    })
    .await;
    assert_eq!(board_state("operated").as_deref(), Some("steady"));

    dir.write("operated.rhai", &version("v3"));
    until("v3 on the canary", || {
        on_each(&dir, "operated", "version") == six(json!("v3"), json!("v2"))
    })
    .await;
    let (ok, text) = cli(&[
        "abort",
        "operated",
        "--http",
        &base,
        "--token-file",
        &token_file,
    ])
    .await;
    assert!(ok, "{text}");
    until("the canary back on v2", || {
        on_each(&dir, "operated", "version") == six(json!("v2"), json!("v2"))
    })
    .await;
    assert_eq!(board_state("operated").as_deref(), Some("aborted"));
    assert_eq!(
        on_each(&dir, "operated", "v3 starts"),
        six(json!(1), Value::Null)
    );
    let (ok, text) = cli(&[
        "promote",
        "operated",
        "--http",
        &base,
        "--token-file",
        &token_file,
    ])
    .await;
    assert!(!ok && text.contains("aborted"), "{text}");
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_host_restarted_mid_soak_runs_the_change_on_the_canary_and_the_promoted_version_elsewhere()
 {
    let f = fleet().await;
    let dir = TempDir::new("rollout-restart");
    dir.write("durable.rhai", &version("v1"));
    let host = started(staged(&dir, &f, Duration::from_secs(600))).await;
    until("v1 everywhere", || {
        on_each(&dir, "durable", "version") == six(json!("v1"), json!("v1"))
    })
    .await;
    dir.write("durable.rhai", &version("v2"));
    until("v2 on the canary", || {
        on_each(&dir, "durable", "version") == six(json!("v2"), json!("v1"))
    })
    .await;
    within("shutdown", host.shutdown()).await;

    // The file says v2; v1 is only in the store now.
    let host = started(staged(&dir, &f, Duration::from_secs(600))).await;
    until("each codec started again", || {
        on_each(&dir, "durable", "v2 starts") == six(json!(2), Value::Null)
            && on_each(&dir, "durable", "v1 starts") == six(json!(1), json!(2))
    })
    .await;
    assert_eq!(
        on_each(&dir, "durable", "version"),
        six(json!("v2"), json!("v1"))
    );
    assert_eq!(board_state("durable").as_deref(), Some("soaking"));
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn without_rollout_a_version_whose_top_level_throws_leaves_the_previous_one_running_everywhere()
 {
    let f = fleet().await;
    let dir = TempDir::new("rollout-none");
    dir.write("kept.rhai", &version("v1"));
    let host = started(rig::options(&dir, f.codecs.clone())).await;
    until("v1 everywhere", || {
        on_each(&dir, "kept", "version") == six(json!("v1"), json!("v1"))
    })
    .await;
    dir.write(
        "kept.rhai",
        &format!("{}throw \"broken top level\";\n", version("v2")),
    );
    until("v1 again everywhere", || {
        on_each(&dir, "kept", "v1 starts") == six(json!(2), json!(2))
    })
    .await;
    assert_eq!(on_each(&dir, "kept", "v2 starts"), six(json!(1), json!(1)));
    assert_eq!(
        on_each(&dir, "kept", "version"),
        six(json!("v1"), json!("v1"))
    );
    let line = wait_log(&["ERROR", "kept", "not kept", "broken top level"]).await;
    assert!(line.contains("kept.rhai:4:1"), "file:line:col: {line}");
    host.idle().await;
    let board = xmacro::telemetry::board().snapshot();
    let s = &board.scripts["kept"];
    let shown = s
        .compile_error
        .as_ref()
        .expect("shown as a compile error is");
    assert!(shown.message.contains("kept.rhai:4:1"), "{}", shown.message);
    until("every instance running", || {
        xmacro::telemetry::board().snapshot().scripts["kept"]
            .instances
            .values()
            .all(|i| i.state == xmacro::telemetry::board::InstanceState::Running)
    })
    .await;
    assert!(s.rollout.is_none());
    within("shutdown", host.shutdown()).await;
}

/// What `key` holds for `script` on each codec, in the PostgreSQL store.
fn in_database(url: &str, script: &str, key: &str) -> BTreeMap<String, Value> {
    let (url, script, key) = (url.to_string(), script.to_string(), key.to_string());
    crate::shard::off_runtime(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query(
            "SELECT codec, value FROM xmacro_entries WHERE script = $1 AND key = $2",
            &[&script, &key],
        )
        .unwrap()
        .into_iter()
        .map(|r| {
            let v: String = r.get(1);
            (r.get(0), serde_json::from_str(&v).unwrap())
        })
        .collect()
    })
}

/// The rollout record's state word in the database.
fn record_state(url: &str, script: &str) -> Option<String> {
    let (url, script) = (url.to_string(), script.to_string());
    crate::shard::off_runtime(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let row = c
            .query_opt(
                "SELECT state FROM xmacro_rollouts WHERE script = $1",
                &[&script],
            )
            .unwrap()?;
        let state: String = row.get(0);
        let v: Value = serde_json::from_str(&state).unwrap();
        v["phase"]["state"].as_str().map(str::to_string)
    })
}

#[tokio::test]
async fn two_shards_on_postgres_share_a_rollout_and_the_other_host_promotes_after_the_soak() {
    let Some(url) = crate::shard::fresh_database("rollout") else {
        return;
    };
    let f = fleet().await;
    let dir = TempDir::new("rollout-shards");
    dir.write("shared.rhai", &version("v1"));
    let soak = Duration::from_secs(6);
    let a_index = (0..2)
        .find(|i| {
            xmacro::fleet::shard::Shard {
                index: *i,
                count: 2,
            }
            .serves("lab-1")
        })
        .unwrap();
    let shard = |index| xmacro::fleet::shard::Shard { index, count: 2 };
    let names: Vec<&str> = CANARY.iter().chain(REST.iter()).copied().collect();
    let (on_a, on_b): (Vec<&str>, Vec<&str>) = names.iter().partition(|n| shard(a_index).serves(n));
    assert!(
        !on_b.is_empty(),
        "the other shard serves some codec: {on_a:?}"
    );
    let opts = |index: u32| {
        let mut o = staged(&dir, &f, soak);
        o.rollout.as_mut().unwrap().canary = vec!["lab-1".into()];
        o.shard = Some(shard(index));
        o.fleet_size = Some(names.len());
        o.postgres = Some(xmacro::config::store::PgSettings {
            target: xmacro::store::PgTarget::new(&url),
            lock_retry: Duration::from_millis(200),
        });
        o
    };
    let everywhere = |v: &str| all(&names, json!(v));
    let a = started(opts(a_index)).await;
    let b = started(opts(1 - a_index)).await;
    until("v1 everywhere", || {
        in_database(&url, "shared", "version") == everywhere("v1")
    })
    .await;

    // Both hosts see the save; one rollout starts, on the canary of host a.
    dir.write("shared.rhai", &version("v2"));
    let mut soaking = everywhere("v1");
    soaking.insert("lab-1".into(), json!("v2"));
    until("v2 on the canary", || {
        in_database(&url, "shared", "version") == soaking
    })
    .await;
    assert_eq!(record_state(&url, "shared").as_deref(), Some("soaking"));
    within("host a to stop", a.shutdown()).await;
    assert_eq!(
        record_state(&url, "shared").as_deref(),
        Some("soaking"),
        "host a stopped before the soak ended (a slow machine?)"
    );

    // Only host b is left to promote it.
    until("v2 on host b's codecs", || {
        let now = in_database(&url, "shared", "version");
        on_b.iter().all(|c| now.get(*c) == Some(&json!("v2")))
    })
    .await;
    assert_eq!(record_state(&url, "shared").as_deref(), Some("steady"));
    let starts = in_database(&url, "shared", "v2 starts");
    for c in &on_a {
        let want = if *c == "lab-1" { Some(&json!(1)) } else { None };
        assert_eq!(starts.get(*c), want, "{c}: host a is stopped");
    }

    // Host a comes back to the promoted version everywhere it serves.
    let a = started(opts(a_index)).await;
    until("v2 everywhere", || {
        in_database(&url, "shared", "version") == everywhere("v2")
    })
    .await;
    within("shutdown", a.shutdown()).await;
    within("shutdown", b.shutdown()).await;
}
