//! The store under a hostile environment (issue 33, third round): a
//! file-size limit, a damaged database, and a PostgreSQL store whose
//! table another session holds locked.

use std::time::Duration;

use serde_json::json;

use crate::common::rig::{self, Reports, TempDir};
use crate::common::within;
use crate::hardening::Proc;
use crate::hardening_ops::{limit, run_command};
use xmacro::store::{Backend, DB_FILE, InstanceId, SqliteBackend};

/// A long wait for slow, loaded machines (a liveness bound).
const LONG: Duration = Duration::from_secs(120);

#[tokio::test]
async fn a_file_size_limit_makes_store_set_fail_catchably_and_the_host_lives() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("store3-fsize");
    dir.write(
        "filler.rhai",
        r#"
xapi.Event.Sim.Fill.on(|e| {
    let big = "x"; while big.len() < 20000 { big += big; }
    let n = 0;
    try { while n < 1000 { store.set(`k${n}`, big); n += 1; } report("no limit"); }
    catch (err) { report(if n > 0 { "refused" } else { `refused at once: ${err}` }); }
});
xapi.Event.Sim.Ping.on(|e| report("pong"));
report("up");
"#,
    );
    let url = sim.url();
    let mut cmd = run_command(&dir, &[&url], &[], &[("RUST_LOG", "warn")]);
    // 512 KiB per file, as `ulimit -f 512` or systemd's LimitFSIZE= set.
    limit(&mut cmd, libc::RLIMIT_FSIZE, 512 << 10);
    let p = Proc::start(cmd);
    r.expect("up").await;
    rig::emit(r.raw(), "Fill", json!({})).await;
    r.expect("refused").await;
    rig::emit(r.raw(), "Ping", json!({})).await;
    r.expect("pong").await;
    p.signal("-TERM");
    let (code, out) = p.finish(LONG).await;
    assert_eq!(code, Some(0), "the host died: {out}");
}

#[tokio::test]
async fn a_damaged_store_database_is_reported_as_damaged_not_as_bound_to_no_codec() {
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("store3-damaged");
    let file = dir.state().join(DB_FILE);
    let raw = SqliteBackend::open(&file).unwrap();
    let id = InstanceId::new("room", "damaged-reader");
    for i in 0..200 {
        raw.put(&id, &format!("k{i}"), &format!("\"{}\"", "v".repeat(1000)))
            .unwrap();
    }
    drop(raw);
    // Page 2 (the entries table's root) overwritten: the file still opens.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.seek(SeekFrom::Start(4096)).unwrap();
        f.write_all(&[0xA5; 4096]).unwrap();
    }
    dir.write(
        "damaged-reader.rhai",
        r#"report(`read ${store.keys().len()}`);"#,
    );
    dir.write("healthy-neighbour.rhai", r#"report("neighbour up");"#);
    let host = rig::start(rig::options(&dir, vec![rig::codec("room", &sim)])).await;
    r.expect("neighbour up").await;
    let line = rig::wait_log(&["damaged-reader", "not started"]).await;
    assert!(
        line.contains("malformed") || line.contains("damaged"),
        "{line}"
    );
    r.idle(&host).await;
    let logs = rig::logs().lock().unwrap().clone();
    for l in logs.lines().filter(|l| l.contains("damaged-reader")) {
        assert!(!l.contains("bound to no codec"), "{l}");
    }
    let board = xmacro::telemetry::board().snapshot();
    let rec = &board.scripts["damaged-reader"].instances["room"];
    assert_eq!(rec.state.as_str(), "failed", "{rec:?}");
    let err = rec.last_error.as_ref().expect("the reason is shown");
    assert!(err.message.contains("malformed"), "{}", err.message);
    within("shutdown", host.shutdown()).await;
}

#[tokio::test]
async fn a_postgres_write_blocked_by_a_lock_is_a_catchable_error_and_sigterm_stays_prompt() {
    let Some(db) = crate::shard::fresh_database("blocked") else {
        return;
    };
    let sim = rig::sim().await;
    let mut r = Reports::new(&sim).await;
    let dir = TempDir::new("store3-pg-lock");
    dir.write(
        "writer.rhai",
        r#"
xapi.Event.Sim.Write.on(|e| {
    try { store.set("k", e.N); report(`stored ${e.N}`); }
    catch (err) { report(if `${err}`.contains("statement timeout") { "refused: timeout" } else { `other: ${err}` }); }
});
fn on_unload() { report("unloaded"); }
report("up");
"#,
    );
    std::fs::write(
        dir.0.join("xmacro.toml"),
        format!(
            "scripts = \"scripts\"\nstate = \"{db}\"\n\n[[codec]]\nname = \"room\"\nurl = \"{}\"\npassword_env = \"XM_PW\"\n",
            sim.url()
        ),
    )
    .unwrap();
    let p = Proc::spawn(
        &["run", "--config", "xmacro.toml"],
        &[("XM_PW", ""), ("RUST_LOG", "warn")],
        &dir.0,
    );
    r.expect("up").await;
    rig::emit(r.raw(), "Write", json!({"N": 1})).await;
    r.expect("stored 1").await;

    // Another session holds the table until told to let go.
    let (hold, held) = std::sync::mpsc::channel::<()>();
    let (locked_tx, locked) = std::sync::mpsc::channel::<()>();
    let holder_url = db.clone();
    let holder = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&holder_url, postgres::NoTls).unwrap();
        let mut tx = c.transaction().unwrap();
        tx.batch_execute("LOCK TABLE xmacro_entries IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        locked_tx.send(()).unwrap();
        let _ = held.recv();
    });
    locked.recv_timeout(LONG).unwrap();
    rig::emit(r.raw(), "Write", json!({"N": 2})).await;
    tokio::time::timeout(Duration::from_secs(10), r.expect("refused: timeout"))
        .await
        .expect("the blocked write ended in an error");

    // Blocked again, then asked to stop: on_unload runs, exit 0, promptly.
    rig::emit(r.raw(), "Write", json!({"N": 3})).await;
    p.signal("-TERM");
    let started = std::time::Instant::now();
    let (code, out) = p.finish(LONG).await;
    let took = started.elapsed();
    drop(hold);
    holder.join().unwrap();
    assert_eq!(code, Some(0), "{out}");
    r.expect("unloaded").await;
    assert!(
        took < Duration::from_secs(5),
        "SIGTERM took {took:?}, past the promised 5 s:\n{out}"
    );
}
