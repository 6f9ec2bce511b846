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
pub(crate) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

/// A URL on the test database whose tables live in a new, empty schema.
pub(crate) fn fresh_database(tag: &str) -> Option<String> {
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

pub(crate) fn write_config(
    dir: &TempDir,
    db: &str,
    codecs: &[String],
    url: &str,
    extra: &str,
) -> PathBuf {
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

pub(crate) fn host(config: &PathBuf, shard: Option<&str>) -> Command {
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
pub(crate) struct Host {
    child: Child,
    log: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Host {
    pub(crate) fn spawn(mut cmd: Command) -> Host {
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
    pub(crate) async fn expect(&mut self, needles: &[&str]) -> String {
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

    pub(crate) async fn kill(mut self) {
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

/// Runs SQL statements, each on its own, on the test server's database.
fn admin(statements: &[&str]) {
    let url = xmacro::store::test_url().unwrap();
    off_runtime(|| {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        for s in statements {
            c.batch_execute(s).unwrap();
        }
    });
}

/// Waits for a report that may take longer than the rig's usual wait.
async fn expect_report(r: &mut Reports, text: &str) {
    let found = tokio::time::timeout(FLEET_WAIT, async {
        while !r.seen.iter().any(|s| s == text) {
            r.next().await;
        }
    })
    .await;
    assert!(found.is_ok(), "no report {text:?}; seen {:?}", r.seen);
}

const KEEP_NOTES: &str = r#"
fn on_unload() { report(`down:${codec.name}`); }
xapi.Event.Sim.Note.on(|e| {
    try {
        store.set("note", e.Text);
        report(`saved:${codec.name}:${e.Text}`);
    } catch (err) {
        report(`refused:${codec.name}:${e.Text}`);
    }
});
let note = store.get("note");
report(`up:${codec.name}:${if note == () { "none" } else { note }}`);
"#;

#[tokio::test]
async fn a_host_rides_out_a_lost_database_and_lets_go_of_a_codec_taken_meanwhile() {
    let Some(base) = xmacro::store::test_url() else {
        return;
    };
    // A database of its own, so new connections to it can be refused.
    let name = format!("it_outage_{}", std::process::id());
    admin(&[
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        &format!("CREATE DATABASE {name}"),
    ]);
    let mut db = url::Url::parse(&base).unwrap();
    db.set_path(&name);
    let app = format!("xm_outage_{}", std::process::id());
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("shard-outage");
    dir.write("notes.rhai", KEEP_NOTES);
    let codecs = ["room-a".to_string(), "room-b".to_string()];
    let config = write_config(
        &dir,
        &format!("{db}?application_name={app}"),
        &codecs,
        &sim.url(),
        "[store]\nlock_retry = \"100ms\"\n",
    );
    let mut h = Host::spawn(host(&config, None));
    r.expect("up:room-a:none").await;
    r.expect("up:room-b:none").await;
    rig::emit(r.raw(), "Note", serde_json::json!({"Text": "one"})).await;
    r.expect("saved:room-a:one").await;
    r.expect("saved:room-b:one").await;

    // The outage: no new connections, the host's session ended, and
    // meanwhile "another host" (this test) takes room-b's lock.
    let db_url = db.to_string();
    let (hold, holding) = std::sync::mpsc::channel::<()>();
    let (took, taken) = std::sync::mpsc::channel::<()>();
    let (connected, ready) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&db_url, postgres::NoTls).unwrap();
        connected.send(()).unwrap();
        let _ = holding.recv();
        // Waits until the ended session has let go of it.
        c.execute(
            "SELECT pg_advisory_lock($1)",
            &[&xmacro::store::lock_key("room-b")],
        )
        .unwrap();
        took.send(()).unwrap();
        let _ = holding.recv();
    });
    off_runtime(move || ready.recv().unwrap());
    admin(&[
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}'"
        ),
    ]);
    h.expect(&["WARN", "the connection is lost", "reconnecting"])
        .await;
    hold.send(()).unwrap();
    within("the test to take room-b's lock", async {
        while taken.try_recv().is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // A write while the database is unreachable waits, then fails to the
    // script with an error it catches.
    rig::emit(r.raw(), "Note", serde_json::json!({"Text": "two"})).await;
    expect_report(&mut r, "refused:room-a:two").await;

    admin(&[&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")]);
    h.expect(&[
        "reconnected",
        "1 codec lock(s) taken again",
        "1 held by another host",
    ])
    .await;
    h.expect(&["WARN", "room-b", "stopped serving it here"])
        .await;
    expect_report(&mut r, "down:room-b").await;
    let host_alive = h.child.try_wait().unwrap().is_none();
    assert!(host_alive, "the host rode out the outage");

    // After recovery a write is durable; room-b is served by the other
    // "host" alone.
    rig::emit(r.raw(), "Note", serde_json::json!({"Text": "three"})).await;
    r.expect("saved:room-a:three").await;
    // room-b's instance here was stopped ("down:room-b" above), so it
    // cannot act; everything the simulator relayed so far is in.
    let quiet = r.flush().await;
    assert!(
        !r.seen
            .iter()
            .any(|s| s.starts_with("saved:room-b:t") || s.starts_with("refused:room-b:three")),
        "room-b acted on here while another host held it: {:?} {quiet:?}",
        r.seen
    );
    let notes = entries(db.as_ref(), "notes", "note");
    assert_eq!(notes["room-a"], serde_json::json!("three"));
    assert_eq!(notes["room-b"], serde_json::json!("one"));

    // The other host lets go: room-b comes back here with its state.
    hold.send(()).unwrap();
    holder.join().unwrap();
    expect_report(&mut r, "up:room-b:one").await;
    h.kill().await;
    admin(&[&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")]);
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

/// The codec names `/api/status` lists at `base`.
async fn listed(base: &str) -> Vec<String> {
    let a = within(
        "/api/status",
        xmacro::ops::http::get(&format!("{base}/api/status"), None, Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let s: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    s["codecs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `/api/status` until it lists exactly `want` (liveness bound).
async fn wait_listed(base: &str, want: &[&str]) {
    let start = Instant::now();
    loop {
        let now = listed(base).await;
        if now == want {
            return;
        }
        assert!(
            start.elapsed() < FLEET_WAIT,
            "/api/status lists {now:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_status_page_lists_a_codec_taken_over_and_drops_one_let_go() {
    let Some(base) = xmacro::store::test_url() else {
        return;
    };
    // A database of its own, so new connections to it can be refused.
    let name = format!("it_listed_{}", std::process::id());
    admin(&[
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        &format!("CREATE DATABASE {name}"),
    ]);
    let mut db = url::Url::parse(&base).unwrap();
    db.set_path(&name);
    let db_url = db.to_string();
    let app = format!("xm_listed_{}", std::process::id());
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("shard-listed");
    dir.write("notes.rhai", KEEP_NOTES);
    let codecs = ["room-a".to_string(), "room-b".to_string()];
    let config = write_config(
        &dir,
        &format!("{db_url}?application_name={app}"),
        &codecs,
        &sim.url(),
        "[store]\nlock_retry = \"100ms\"\n",
    );

    // "Another host" (this test) holds room-b when the host starts.
    let (step, steps) = std::sync::mpsc::channel::<()>();
    let (done, mut dones) = tokio::sync::mpsc::unbounded_channel::<()>();
    let holder_url = db_url.clone();
    let holder = std::thread::spawn(move || {
        let lock = |c: &mut postgres::Client| {
            c.execute(
                "SELECT pg_advisory_lock($1)",
                &[&xmacro::store::lock_key("room-b")],
            )
            .unwrap();
        };
        let mut first = postgres::Client::connect(&holder_url, postgres::NoTls).unwrap();
        lock(&mut first);
        done.send(()).unwrap();
        let _ = steps.recv();
        drop(first);
        // Connected before the outage; takes the lock once the host's
        // session has ended.
        let mut second = postgres::Client::connect(&holder_url, postgres::NoTls).unwrap();
        done.send(()).unwrap();
        let _ = steps.recv();
        lock(&mut second);
        done.send(()).unwrap();
        let _ = steps.recv();
    });
    within("the test to hold room-b's lock", dones.recv()).await;

    let mut cmd = host(&config, None);
    cmd.args(["--http", "127.0.0.1:0"]).stdout(Stdio::piped());
    let mut h = Host::spawn(cmd);
    let mut out = BufReader::new(h.child.stdout.take().unwrap()).lines();
    let line = within("the status page URL", out.next_line())
        .await
        .unwrap()
        .unwrap();
    let page = line
        .strip_prefix("status page on ")
        .unwrap_or_else(|| panic!("first line: {line}"))
        .trim_end_matches('/')
        .to_string();
    r.expect("up:room-a:none").await;
    wait_listed(&page, &["room-a"]).await;

    // Let go by the other host: taken over here, and listed.
    step.send(()).unwrap();
    within("the test to let go of room-b", dones.recv()).await;
    expect_report(&mut r, "up:room-b:none").await;
    wait_listed(&page, &["room-a", "room-b"]).await;

    // Taken by the other host while the database was unreachable: let go
    // here, and no longer listed.
    admin(&[
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}'"
        ),
    ]);
    step.send(()).unwrap();
    within("the test to take room-b's lock", dones.recv()).await;
    admin(&[&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")]);
    h.expect(&["WARN", "room-b", "stopped serving it here"])
        .await;
    wait_listed(&page, &["room-a"]).await;

    step.send(()).unwrap();
    holder.join().unwrap();
    h.kill().await;
    admin(&[&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")]);
}
