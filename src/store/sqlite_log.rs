//! The SQLite store's connections and the files beside its database: the
//! write-ahead log (`-wal`), where a commit is durable, and the shared
//! index (`-shm`). While the host has the database open both must exist;
//! if someone deletes them (a clean-up script, an operator tidying the
//! state directory), SQLite goes on writing into the deleted log, each
//! commit acknowledged and then lost at the next crash or `kill -9`.
//!
//! [`Connections::keep_log`] notices that (a `stat` of two paths, after
//! every commit and every few seconds), says so once as a warning, copies
//! everything the deleted log holds into the database file (a checkpoint,
//! fsynced), and reopens both connections so a new log is made. Every
//! connection closes before any reopens: a connection of this process
//! opened while another still maps the deleted index would share that
//! index with a new log, and read the wrong pages.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;
use tracing::{error, info, warn};

/// How long a connection waits on a lock held by another.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the database `file` for reading and writing with the store's
/// settings: a write-ahead log, fsynced at every commit.
pub fn open_writer(file: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(file)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Opens the database `file` for the reads of `load`.
pub fn open_reader(file: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(file)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// The writing connection, the reading one, and the files beside them.
pub struct Connections {
    file: PathBuf,
    /// Set while the connections could not be reopened: every write fails
    /// with this until they can.
    broken: Mutex<Option<String>>,
}

impl Connections {
    pub fn new(file: &Path) -> Connections {
        Connections {
            file: file.to_path_buf(),
            broken: Mutex::new(None),
        }
    }

    fn side(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}-{suffix}", self.file.display()))
    }

    /// Whether the log or the index is gone from under the open database.
    fn log_gone(&self) -> bool {
        !self.side("wal").exists() || !self.side("shm").exists()
    }

    /// Why writes cannot be made now, if they cannot.
    pub fn broken(&self) -> Option<String> {
        self.broken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Checks the log (the caller holds the writing connection); if it is
    /// gone, saves what it held into the database file and reopens both
    /// connections. `Err` when what was committed could not be saved, or
    /// the connections are not usable: writes must not be acknowledged then
    /// (the next call tries again).
    pub fn keep_log(
        &self,
        writer: &mut Connection,
        reader: &Mutex<Connection>,
    ) -> Result<(), String> {
        let broken = self.broken();
        if broken.is_none() && !self.log_gone() {
            return Ok(());
        }
        if broken.is_none() {
            warn!(
                "store database {}: its write-ahead log or shared index (-wal, -shm) was deleted while open; saving what the log held into the database and reopening it",
                self.file.display()
            );
        }
        let mut reader = reader.lock().unwrap_or_else(|p| p.into_inner());
        // The deleted log is still open here: its pages go into the
        // database file, fsynced (synchronous = FULL). If that fails, the
        // connections stay as they are (closing them would lose the log).
        let outcome = match writer.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(0) => self.reopen(writer, &mut reader),
            Ok(_) => Err("a reader held the log".to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut state = self.broken.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => {
                state.take();
                info!(
                    "store database {}: what the deleted log held is in the database; reopened with a new log",
                    self.file.display()
                );
                Ok(())
            }
            Err(e) => {
                let why = format!(
                    "the store database {} lost its write-ahead log and cannot be made safe again ({e}); writes are refused until it can",
                    self.file.display()
                );
                if state.is_none() {
                    error!("{why}");
                }
                *state = Some(why.clone());
                Err(why)
            }
        }
    }

    /// Closes both connections, then opens them again (making a new log).
    fn reopen(&self, writer: &mut Connection, reader: &mut Connection) -> Result<(), String> {
        let fail = |e: rusqlite::Error| e.to_string();
        // Every connection closes before one reopens (see the module docs):
        // in-memory placeholders stand in meanwhile, and stay if the
        // reopening fails (writes are refused then, see `broken`).
        drop(std::mem::replace(
            writer,
            Connection::open_in_memory().map_err(fail)?,
        ));
        drop(std::mem::replace(
            reader,
            Connection::open_in_memory().map_err(fail)?,
        ));
        let w = open_writer(&self.file).map_err(fail)?;
        // A read makes the new log and index.
        w.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(fail)?;
        w.query_row("SELECT count(*) FROM entries", [], |_| Ok(()))
            .map_err(fail)?;
        *reader = open_reader(&self.file).map_err(fail)?;
        *writer = w;
        Ok(())
    }
}
