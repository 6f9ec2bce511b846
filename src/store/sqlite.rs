//! The store on SQLite: one database file in the state directory, one row
//! per entry. Chosen over files because a `set` then writes one row (a few
//! pages appended to the write-ahead log, fsynced) instead of rewriting a
//! whole file, names are columns rather than file names (so no escaping can
//! collide), a damaged row does not take its neighbours with it, and the
//! shape is the one a server database backend will have. Writes that
//! arrive together share a commit ([`Writer`]); reads use their own
//! connection. Both are reopened if the log beside the database is
//! deleted under them ([`super::sqlite_log`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, params};
use tracing::warn;

use super::StoreError;
use super::backend::{Backend, InstanceId, Row};
use super::sqlite_log::{open_reader, open_writer};
use super::writer::{Change, Writer};

/// The database's name inside the state directory.
pub const DB_FILE: &str = "store.sqlite3";

/// The schema this build writes; a newer one is refused, not guessed at.
const SCHEMA_VERSION: i64 = 1;

/// A store database.
#[derive(Debug)]
pub struct SqliteBackend {
    file: PathBuf,
    /// For `load`.
    conn: Arc<Mutex<Connection>>,
    /// For `put` and `delete`; none when opened read-only.
    writer: Option<Arc<Writer>>,
    /// Statements `load` and `load_many` ran so far.
    reads: std::sync::atomic::AtomicU64,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database `file` for reading and
    /// writing. The caller holds the state directory's lock.
    pub fn open(file: &Path) -> Result<SqliteBackend, StoreError> {
        let fail = |e: rusqlite::Error| error(file, describe(&e));
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| error(file, format!("cannot create {}: {e}", dir.display())))?;
        }
        // Durable at commit: the log is fsynced on every transaction.
        let conn = open_writer(file).map_err(fail)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(error(
                file,
                format!("cannot use a write-ahead log (got {mode})"),
            ));
        }
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(fail)?;
        if version > SCHEMA_VERSION {
            return Err(error(
                file,
                format!(
                    "written by a newer xmacro (schema {version}, this one knows {SCHEMA_VERSION})"
                ),
            ));
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS entries (
                 codec  TEXT NOT NULL,
                 script TEXT NOT NULL,
                 key    TEXT NOT NULL,
                 value  TEXT NOT NULL,
                 PRIMARY KEY (codec, script, key)
             );
             PRAGMA user_version = 1;",
        )
        .map_err(fail)?;
        let reader = Arc::new(Mutex::new(open_reader(file).map_err(fail)?));
        let writer = Writer::new(conn, reader.clone(), file);
        Ok(SqliteBackend {
            file: file.to_path_buf(),
            conn: reader,
            writer: Some(writer),
            reads: Default::default(),
        })
    }

    /// Opens an existing database only to read it (no lock needed: for
    /// looking at a running host's data).
    pub fn open_read_only(file: &Path) -> Result<SqliteBackend, StoreError> {
        let conn = Connection::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| error(file, e.to_string()))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| error(file, e.to_string()))?;
        Ok(SqliteBackend {
            file: file.to_path_buf(),
            conn: Arc::new(Mutex::new(conn)),
            writer: None,
            reads: Default::default(),
        })
    }

    /// Transactions committed so far (several changes that arrive
    /// together share one).
    pub fn commits(&self) -> u64 {
        self.writer.as_ref().map_or(0, |w| w.commits())
    }

    /// Read statements run so far.
    #[cfg(test)]
    pub(crate) fn reads(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn write(&self, change: Change) -> Result<(), StoreError> {
        let writer = self
            .writer
            .as_ref()
            .ok_or_else(|| error(&self.file, "opened read-only".into()))?;
        writer.apply(change).map_err(|why| error(&self.file, why))
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn fail(&self, e: rusqlite::Error) -> StoreError {
        error(&self.file, describe(&e))
    }
}

/// A rusqlite error as a script and the log should read it: a damaged
/// database is called damaged, with what to do.
fn describe(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => format!(
            "the database file is damaged ({e}): restore it from a backup, or move it (with its -wal file) aside to start with an empty store"
        ),
        _ => e.to_string(),
    }
}

fn error(file: &Path, why: String) -> StoreError {
    StoreError::new(format!("store database {}", file.display()), why)
}

impl Backend for SqliteBackend {
    fn load(&self, id: &InstanceId) -> Result<Vec<Row>, StoreError> {
        Ok(self
            .load_many(std::slice::from_ref(id))?
            .pop()
            .unwrap_or_default())
    }

    /// One statement for any number of instances: the pairs go as one
    /// JSON array (SQLite bounds the number of parameters, not their size).
    fn load_many(&self, ids: &[InstanceId]) -> Result<Vec<Vec<Row>>, StoreError> {
        let pairs: Vec<[&str; 2]> = ids.iter().map(|id| [&*id.codec, &*id.script]).collect();
        let pairs = serde_json::to_string(&pairs).map_err(|e| error(&self.file, e.to_string()))?;
        let conn = self.conn();
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut stmt = conn
            .prepare_cached(
                "SELECT CAST(j.key AS INTEGER), e.key, e.value
                   FROM json_each(?1) AS j
                   JOIN entries AS e
                     ON e.codec = json_extract(j.value, '$[0]')
                    AND e.script = json_extract(j.value, '$[1]')",
            )
            .map_err(|e| self.fail(e))?;
        let mut rows = stmt.query(params![pairs]).map_err(|e| self.fail(e))?;
        let mut out = vec![Vec::new(); ids.len()];
        while let Some(row) = rows.next().map_err(|e| self.fail(e))? {
            let Some(i) = row
                .get::<_, i64>(0)
                .ok()
                .and_then(|i| usize::try_from(i).ok())
                .filter(|i| *i < ids.len())
            else {
                continue;
            };
            let key = match row.get_ref(1) {
                Ok(ValueRef::Text(k)) => std::str::from_utf8(k).ok().map(str::to_string),
                _ => None,
            };
            let value = match row.get_ref(2) {
                Ok(ValueRef::Text(v) | ValueRef::Blob(v)) => Some(v.to_vec()),
                _ => None,
            };
            match (key, value) {
                (Some(key), Some(value)) => out[i].push(Row { key, value }),
                (key, _) => warn!(
                    "{}: an entry in {} cannot be read (key {key:?}); left out",
                    ids[i],
                    self.file.display()
                ),
            }
        }
        Ok(out)
    }

    fn put(&self, id: &InstanceId, key: &str, value: &str) -> Result<(), StoreError> {
        self.write(Change::Put {
            id: id.clone(),
            key: key.to_string(),
            value: value.to_string(),
        })
    }

    fn delete(&self, id: &InstanceId, key: &str) -> Result<(), StoreError> {
        self.write(Change::Delete {
            id: id.clone(),
            key: key.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_backend_meets_the_contract() {
        let dir = super::super::tests::temp("sqlite-contract");
        let file = dir.join(DB_FILE);
        super::super::contract::check(&|| Box::new(SqliteBackend::open(&file).unwrap()));
    }

    #[test]
    fn the_sqlite_backend_reads_many_instances_in_one_statement() {
        let dir = super::super::tests::temp("sqlite-bulk");
        let file = dir.join(DB_FILE);
        super::super::contract::check_bulk(
            &|| SqliteBackend::open(&file).unwrap(),
            SqliteBackend::reads,
        );
    }

    #[test]
    fn the_sqlite_backend_keeps_the_panel_records() {
        let dir = super::super::tests::temp("sqlite-panels");
        let file = dir.join(DB_FILE);
        super::super::contract::check_panels(&|| Box::new(SqliteBackend::open(&file).unwrap()));
    }

    #[test]
    fn writers_at_once_share_commits_and_each_write_is_there() {
        let dir = super::super::tests::temp("sqlite-group");
        let b = std::sync::Arc::new(SqliteBackend::open(&dir.join(DB_FILE)).unwrap());
        let threads: Vec<_> = (0..32)
            .map(|t| {
                let b = b.clone();
                std::thread::spawn(move || {
                    let id = InstanceId::new(&format!("c{t}"), "s");
                    for i in 0..20 {
                        b.put(&id, &format!("k{i}"), &i.to_string()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let commits = b.commits();
        assert!(commits < 32 * 20, "{commits} commits for 640 writes");
        drop(b);
        let b = SqliteBackend::open_read_only(&dir.join(DB_FILE)).unwrap();
        for t in 0..32 {
            assert_eq!(
                b.load(&InstanceId::new(&format!("c{t}"), "s"))
                    .unwrap()
                    .len(),
                20
            );
        }
        assert!(b.put(&InstanceId::new("c", "s"), "k", "1").is_err());
    }

    /// What `kill -9` would leave of the database at `file` now: the files
    /// at its paths (a log deleted while open is gone with the process),
    /// copied to `to` and opened there.
    fn left_after_a_kill(file: &Path, to: &Path) -> SqliteBackend {
        let _ = std::fs::remove_dir_all(to);
        std::fs::create_dir_all(to).unwrap();
        for suffix in ["", "-wal"] {
            let from = PathBuf::from(format!("{}{suffix}", file.display()));
            if from.exists() {
                std::fs::copy(&from, to.join(format!("{DB_FILE}{suffix}"))).unwrap();
            }
        }
        SqliteBackend::open_read_only(&to.join(DB_FILE)).unwrap()
    }

    fn keys(b: &SqliteBackend, id: &InstanceId) -> Vec<String> {
        let mut k: Vec<String> = b.load(id).unwrap().into_iter().map(|r| r.key).collect();
        k.sort();
        k
    }

    #[test]
    fn a_deleted_write_ahead_log_is_noticed_and_what_was_acknowledged_is_in_the_database_file() {
        let dir = super::super::tests::temp("sqlite-wal-gone");
        let file = dir.join(DB_FILE);
        let b = SqliteBackend::open(&file).unwrap();
        let id = InstanceId::new("c", "s");
        b.put(&id, "before", "1").unwrap();
        let side = |s: &str| PathBuf::from(format!("{}-{s}", file.display()));
        assert!(side("wal").exists() && side("shm").exists());
        std::fs::remove_file(side("wal")).unwrap();
        std::fs::remove_file(side("shm")).unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = seen.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            b.put(&id, "after", "2").unwrap();
        });
        let logged = String::from_utf8(seen.lock().unwrap().clone()).unwrap();
        assert!(
            logged.contains("WARN")
                && logged.contains("write-ahead log")
                && logged.contains(DB_FILE),
            "{logged}"
        );
        let copy = left_after_a_kill(&file, &dir.join("kill-1"));
        assert_eq!(
            keys(&copy, &id),
            ["after", "before"],
            "acknowledged and lost"
        );
        // The backend goes on with a log of its own again.
        b.put(&id, "later", "3").unwrap();
        assert!(side("wal").exists() && side("shm").exists());
        assert_eq!(keys(&b, &id), ["after", "before", "later"]);

        // Deleted while nothing is written: noticed all the same, within
        // seconds, and what the log held is in the database file.
        std::fs::remove_file(side("wal")).unwrap();
        std::fs::remove_file(side("shm")).unwrap();
        let start = std::time::Instant::now();
        while !side("wal").exists() {
            assert!(start.elapsed() < Duration::from_secs(30), "never noticed");
            std::thread::sleep(Duration::from_millis(50));
        }
        let copy = left_after_a_kill(&file, &dir.join("kill-2"));
        assert_eq!(keys(&copy, &id), ["after", "before", "later"]);
    }

    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_database_from_a_newer_xmacro_is_refused() {
        let dir = super::super::tests::temp("sqlite-newer");
        let file = dir.join(DB_FILE);
        drop(SqliteBackend::open(&file).unwrap());
        Connection::open(&file)
            .unwrap()
            .pragma_update(None, "user_version", 9)
            .unwrap();
        let e = SqliteBackend::open(&file).unwrap_err().to_string();
        assert!(e.contains("newer") && e.contains(DB_FILE), "{e}");
    }
}
