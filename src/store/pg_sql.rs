//! The PostgreSQL store's statements and the jobs its connection thread
//! runs: connecting (and creating the table), taking codec locks, reading
//! an instance's entries, committing writes, and telling a lost
//! connection from a refused statement. Shared by the backend
//! ([`super::pg`]) and its connection thread ([`super::pg_link`]).

use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use tracing::warn;

use super::backend::{InstanceId, Row};

/// Taken (for the length of a transaction) while creating the table, so
/// hosts starting together do not race on `CREATE TABLE IF NOT EXISTS`.
const SETUP_LOCK: i64 = 0x786d_6163_726f_0001;

/// How long a job waits for a lost connection to come back before it
/// fails (a script's `store.set` blocks that long at most): well inside a
/// callback's default wall-clock budget (5 s), so the script gets an
/// error it can catch rather than being stopped.
pub const OUTAGE_WAIT: Duration = Duration::from_secs(3);

pub(super) type Reply<T> = Sender<Result<T, String>>;

/// What the connection's thread is asked to do.
pub(super) enum Job {
    Load(InstanceId, Reply<Vec<Row>>),
    Write(Write, Reply<()>),
    /// Takes the locks of these codecs: whether each was free.
    TryLock(Vec<String>, Reply<Vec<bool>>),
}

impl Job {
    /// Answers the job with an error.
    pub(super) fn fail(self, why: String) {
        match self {
            Job::Load(_, r) => drop(r.send(Err(why))),
            Job::Write(_, r) => drop(r.send(Err(why))),
            Job::TryLock(_, r) => drop(r.send(Err(why))),
        }
    }
}

pub(super) enum Write {
    Put(InstanceId, String, String),
    Delete(InstanceId, String),
}

impl Write {
    /// The codec whose entry this changes.
    pub(super) fn codec(&self) -> &str {
        match self {
            Write::Put(id, ..) | Write::Delete(id, _) => &id.codec,
        }
    }
}

/// A job and when it stops waiting for a lost connection.
pub struct Queued {
    pub job: Job,
    pub deadline: Instant,
}

impl Queued {
    pub fn new(job: Job) -> Queued {
        Queued {
            job,
            deadline: Instant::now() + OUTAGE_WAIT,
        }
    }
}

/// What running a job came to.
pub enum Ran {
    Done,
    /// The connection went while it ran: run these again after reconnecting.
    Lost(Vec<Queued>, String),
}

impl Ran {
    /// One job cut off by the loss `e`, to run again.
    pub fn again(job: Job, deadline: Instant, e: &postgres::Error) -> Ran {
        Ran::Lost(vec![Queued { job, deadline }], describe(e))
    }
}

/// Advisory-lock key of a codec: 64 bits of SHA-256 of a prefixed name, so
/// 100,000 codecs do not collide and other users of the database's
/// advisory locks are not hit.
pub fn lock_key(codec: &str) -> i64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("xmacro codec {codec}").as_bytes());
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// What a PostgreSQL error says, for a log or a script (never a password:
/// the client does not put it in its messages).
pub(super) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    }
}

/// Connects and creates the table if missing.
pub(super) fn connect(config: &postgres::Config) -> Result<postgres::Client, String> {
    let mut client = config
        .connect(postgres::NoTls)
        .map_err(|e| format!("cannot connect: {}", describe(&e)))?;
    let mut tx = client.transaction().map_err(|e| describe(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])
        .map_err(|e| describe(&e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS xmacro_entries (
             codec  TEXT NOT NULL,
             script TEXT NOT NULL,
             key    TEXT NOT NULL,
             value  TEXT NOT NULL,
             PRIMARY KEY (codec, script, key)
         )",
    )
    .map_err(|e| format!("cannot create the table xmacro_entries: {}", describe(&e)))?;
    tx.commit().map_err(|e| describe(&e))?;
    Ok(client)
}

/// Takes the advisory locks of `codecs` that are free, on this session, in
/// one statement (10,000 locks take a fraction of a second this way, and
/// tens of seconds one round trip at a time): whether each was taken.
pub(super) fn try_lock(
    client: &mut postgres::Client,
    codecs: &[String],
) -> Result<Vec<bool>, postgres::Error> {
    let keys: Vec<i64> = codecs.iter().map(|c| lock_key(c)).collect();
    client
        .query(
            "SELECT pg_try_advisory_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, i) ORDER BY i",
            &[&keys],
        )?
        .iter()
        .map(|r| r.try_get::<_, bool>(0))
        .collect()
}

/// Every entry of one instance.
pub(super) fn load(
    client: &mut postgres::Client,
    id: &InstanceId,
) -> Result<Vec<Row>, postgres::Error> {
    let rows = client.query(
        "SELECT key, value FROM xmacro_entries WHERE codec = $1 AND script = $2",
        &[&id.codec, &id.script],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        match (r.try_get::<_, String>(0), r.try_get::<_, String>(1)) {
            (Ok(key), Ok(value)) => out.push(Row {
                key,
                value: value.into_bytes(),
            }),
            (key, _) => warn!("{id}: an entry cannot be read (key {key:?}); left out"),
        }
    }
    Ok(out)
}

fn apply(tx: &mut postgres::Transaction<'_>, w: &Write) -> Result<(), postgres::Error> {
    match w {
        Write::Put(id, key, value) => tx.execute(
            "INSERT INTO xmacro_entries (codec, script, key, value) VALUES ($1, $2, $3, $4)
             ON CONFLICT (codec, script, key) DO UPDATE SET value = excluded.value",
            &[&id.codec, &id.script, key, value],
        ),
        Write::Delete(id, key) => tx.execute(
            "DELETE FROM xmacro_entries WHERE codec = $1 AND script = $2 AND key = $3",
            &[&id.codec, &id.script, key],
        ),
    }
    .map(|_| ())
}

fn commit(client: &mut postgres::Client, writes: &[&Write]) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    for w in writes {
        apply(&mut tx, w)?;
    }
    tx.commit()
}

fn write_of(q: &Queued) -> &Write {
    match &q.job {
        Job::Write(w, _) => w,
        _ => unreachable!("a write batch holds writes only"),
    }
}

fn answer(q: Queued, outcome: Result<(), String>) {
    if let Job::Write(_, reply) = q.job {
        let _ = reply.send(outcome);
    }
}

/// Commits a batch of writes in one transaction or, if that fails, each on
/// its own (so one bad write does not fail the others). A write is
/// acknowledged only once committed; if the connection goes, the writes
/// not yet acknowledged come back to be run again after reconnecting.
pub(super) fn commit_batch(client: &mut postgres::Client, batch: Vec<Queued>) -> Ran {
    if batch.len() > 1 {
        let all: Vec<&Write> = batch.iter().map(write_of).collect();
        match commit(client, &all) {
            Ok(()) => {
                for q in batch {
                    answer(q, Ok(()));
                }
                return Ran::Done;
            }
            Err(e) if is_lost(&e, client) => return Ran::Lost(batch, describe(&e)),
            Err(_) => {}
        }
    }
    let mut rest = batch.into_iter();
    while let Some(q) = rest.next() {
        match commit(client, &[write_of(&q)]) {
            Err(e) if is_lost(&e, client) => {
                let mut again = vec![q];
                again.extend(rest);
                return Ran::Lost(again, describe(&e));
            }
            outcome => answer(q, outcome.map_err(|e| describe(&e))),
        }
    }
    Ran::Done
}

/// Whether an error means the connection is gone (rather than a refused
/// statement on a live connection).
pub fn is_lost(e: &postgres::Error, client: &postgres::Client) -> bool {
    // Class 08: connection exception; 57: operator intervention (the
    // server shutting down, or the session terminated).
    let class = e.code().map(|c| c.code().get(..2).unwrap_or(""));
    e.is_closed() || client.is_closed() || matches!(class, Some("08") | Some("57"))
}
