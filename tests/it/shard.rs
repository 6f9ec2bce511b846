//! A fleet split across processes over one PostgreSQL store: each codec
//! served by exactly one host, state following a codec when the shard
//! count changes, codec locks between hosts, and no acknowledged write
//! lost to `kill -9`. Skipped with a note when `XMACRO_TEST_POSTGRES` is
//! unset outside CI (`.ci/run` sets it).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::rig::{self, Reports, TempDir};
use crate::common::within;

/// Liveness bound for a fleet-wide outcome on a busy 2-core machine.
const FLEET_WAIT: Duration = Duration::from_secs(180);

/// Runs `f` on a thread of its own: the synchronous PostgreSQL client
/// refuses to block a thread that drives async tasks.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

/// A URL on the test database whose tables live in a new, empty schema.
fn fresh_database(tag: &str) -> Option<String> {
    let url = xmacro::store::test_url()?;
    let schema = format!("it_{tag}_{}", std::process::id());
    off_runtime(|| {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .unwrap();
    });
    Some(format!("{url}?options=-csearch_path%3D{schema}"))
}

/// Every stored entry under `key`, by codec (`search_path` as in `url`).
fn entries(url: &str, script: &str, key: &str) -> BTreeMap<String, serde_json::Value> {
    off_runtime(|| entries_now(url, script, key))
}

fn entries_now(url: &str, script: &str, key: &str) -> BTreeMap<String, serde_json::Value> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
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
}

/// Open sessions named `app`.
fn sessions(app: &str) -> i64 {
    let url = xmacro::store::test_url().unwrap();
    off_runtime(|| {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap()
        .get(0)
    })
}

/// Waits until `ok` holds for what the database holds.
async fn wait_db(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < FLEET_WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn write_config(dir: &TempDir, db: &str, codecs: &[String], url: &str, extra: &str) -> PathBuf {
    let mut text = format!(
        "scripts = \"scripts\"\nstate = \"{db}\"\n{extra}\n[defaults]\npassword_env = \"CODEC_PASSWORD\"\n"
    );
    for c in codecs {
        text.push_str(&format!("\n[[codec]]\nname = \"{c}\"\nurl = \"{url}\"\n"));
    }
    let file = dir.0.join("xmacro.toml");
    std::fs::write(&file, text).unwrap();
    file
}

fn host(config: &PathBuf, shard: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xmacro"));
    cmd.arg("run").arg("--config").arg(config);
    if let Some(s) = shard {
        cmd.args(["--shard", s]);
    }
    cmd.env("CODEC_PASSWORD", "")
        .env("RUST_LOG", "info")
        .env_remove("XMACRO_SHARD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// A host whose log is collected line by line.
struct Host {
    child: Child,
    log: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Host {
    fn spawn(mut cmd: Command) -> Host {
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (tx, log) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(l)) = lines.next_line().await {
                let _ = tx.send(l);
            }
        });
        Host { child, log }
    }

    /// Reads the log until a line containing every one of `needles`.
    async fn expect(&mut self, needles: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let left = FLEET_WAIT.saturating_sub(start.elapsed());
            match tokio::time::timeout(left, self.log.recv()).await {
                Ok(Some(l)) if needles.iter().all(|n| l.contains(n)) => return l,
                Ok(Some(_)) => {}
                other => panic!("no log line with {needles:?}: {other:?}"),
            }
        }
    }

    async fn kill(mut self) {
        self.child.start_kill().unwrap();
        within("a host to die", self.child.wait()).await.unwrap();
    }
}

/// The number of codecs a `shard I/N: serving X of Y codecs` line names.
fn serving(line: &str) -> usize {
    let after = line.split("serving ").nth(1).unwrap();
    after.split(' ').next().unwrap().parse().unwrap()
}

const VISIT: &str = r#"
let n = store.get("starts");
if n == () { n = 0; }
let first = store.get("first");
if first == () { store.set("first", `token-${codec.name}`); first = "none"; }
store.set(`saw${n + 1}`, first);
store.set("starts", n + 1);
"#;

#[tokio::test]
async fn three_hosts_serve_each_of_300_codecs_once_and_state_follows_codecs_to_two() {
    let Some(db) = fresh_database("fleet") else {
        return;
    };
    let sim = rig::sim().await;
    let dir = TempDir::new("shard-fleet");
    dir.write("visit.rhai", VISIT);
    let names: Vec<String> = (0..300).map(|i| format!("room-{i:03}")).collect();
    let app = format!("xm_fleet_{}", std::process::id());
    let config = write_config(
        &dir,
        &format!("{db}&application_name={app}"),
        &names,
        &sim.url(),
        "",
    );

    let mut hosts: Vec<Host> = (0..3)
        .map(|i| Host::spawn(host(&config, Some(&format!("{i}/3")))))
        .collect();
    let mut total = 0;
    for (i, h) in hosts.iter_mut().enumerate() {
        let line = h.expect(&[&format!("shard {i}/3: serving")]).await;
        assert!(
            line.contains("of 300 codecs") && !line.contains("waiting"),
            "{line}"
        );
        total += serving(&line);
    }
    assert_eq!(total, 300, "the three shards split the codecs between them");
    wait_db("every codec's script to start once", || {
        entries(&db, "visit", "starts").len() == 300
    })
    .await;
    let starts = entries(&db, "visit", "starts");
    for n in &names {
        assert_eq!(
            starts[n],
            serde_json::json!(1),
            "{n} served by more than one host"
        );
    }

    // Host 1 goes; the others come back as two shards.
    for h in hosts.drain(..) {
        h.kill().await;
    }
    // Their sessions (and codec locks) end with them; a new host starting
    // before the database noticed would rightly wait for the lock.
    wait_db("the stopped hosts' sessions to end", || sessions(&app) == 0).await;
    let mut hosts: Vec<Host> = (0..2)
        .map(|i| Host::spawn(host(&config, Some(&format!("{i}/2")))))
        .collect();
    let mut total = 0;
    for (i, h) in hosts.iter_mut().enumerate() {
        let line = h.expect(&[&format!("shard {i}/2: serving")]).await;
        assert!(!line.contains("waiting"), "{line}");
        total += serving(&line);
    }
    assert_eq!(total, 300, "the two shards split the codecs between them");
    wait_db("every codec's script to start a second time", || {
        entries(&db, "visit", "starts")
            .values()
            .all(|v| *v == serde_json::json!(2))
    })
    .await;
    let starts = entries(&db, "visit", "starts");
    let saw = entries(&db, "visit", "saw2");
    for n in &names {
        assert_eq!(starts[n], serde_json::json!(2), "{n}");
        assert_eq!(
            saw[n],
            serde_json::json!(format!("token-{n}")),
            "{n}: its stored value did not follow it"
        );
    }
    for h in hosts {
        h.kill().await;
    }
}

#[tokio::test]
async fn a_codec_locked_by_another_host_is_reported_and_taken_over_when_it_goes() {
    let Some(db) = fresh_database("locks") else {
        return;
    };
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("shard-locks");
    dir.write("up.rhai", r#"report("up");"#);
    let names = vec!["boardroom".to_string()];
    let config = write_config(
        &dir,
        &db,
        &names,
        &sim.url(),
        "[store]\nlock_retry = \"100ms\"\n",
    );
    // `state` names the database, so [store] must not name it again.
    let text = std::fs::read_to_string(&config).unwrap();
    let e = xmacro::config::Config::parse(
        &config,
        &text.replace("[store]", "[store]\nurl = \"postgres://x@y/z\""),
        &|_| Some(String::new()),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("key url") && e.contains("named twice"), "{e}");

    let first = Host::spawn(host(&config, None));
    r.expect("up").await;
    let mut second = Host::spawn(host(&config, None));
    second
        .expect(&["WARN", "boardroom", "another host holds its lock"])
        .await;
    assert_eq!(r.seen.iter().filter(|s| *s == "up").count(), 1);
    first.kill().await;
    second.expect(&["boardroom", "served here"]).await;
    r.expect("up").await;
    second.kill().await;
}

#[tokio::test]
async fn a_host_whose_database_session_ends_stops_with_exit_3() {
    let Some(db) = fresh_database("lost") else {
        return;
    };
    let app = format!("xm_lost_{}", std::process::id());
    let db_app = format!("{db}&application_name={app}");
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("shard-lost");
    dir.write("up.rhai", r#"report("up");"#);
    let config = write_config(&dir, &db_app, &["sim".to_string()], &sim.url(), "");
    let mut h = Host::spawn(host(&config, None));
    r.expect("up").await;
    let url = xmacro::store::test_url().unwrap();
    let ended: i64 = off_runtime(|| {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap()
        .get(0)
    });
    assert_eq!(ended, 1);
    h.expect(&["lost the store database"]).await;
    let status = tokio::time::timeout(FLEET_WAIT, h.child.wait())
        .await
        .expect("the host to stop")
        .unwrap();
    assert_eq!(status.code(), Some(3));
}

#[tokio::test]
async fn a_database_password_in_the_config_is_refused_and_never_echoed() {
    let text = "state = \"postgres://xm:hunter2@db/fleet\"\n";
    let e = xmacro::config::Config::parse(std::path::Path::new("x.toml"), text, &|_| None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("key state") && e.contains("password_env"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

#[tokio::test]
async fn kill_9_during_writes_loses_no_acknowledged_write_on_postgres() {
    let Some(db) = fresh_database("kill") else {
        return;
    };
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("shard-kill");
    dir.write("writer.rhai", crate::store::KILL_WRITER);
    // The restarted host takes the codec as soon as the killed one's
    // session has ended.
    let config = write_config(
        &dir,
        &db,
        &["sim".to_string()],
        &sim.url(),
        "[store]\nlock_retry = \"100ms\"\n",
    );
    let h = Host::spawn(host(&config, None));
    r.expect("fresh").await;
    rig::emit(r.raw(), "Write", serde_json::json!({})).await;
    r.expect("acked:100").await;
    h.kill().await;
    let h = Host::spawn(host(&config, None));
    r.expect("intact").await;
    h.kill().await;
}
