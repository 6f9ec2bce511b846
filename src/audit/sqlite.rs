//! The audit table in the state directory's SQLite database (the store's
//! own file, `store.sqlite3`), written on a connection of its own so the
//! store's writes never wait behind it for long. Committed records survive
//! a crash of the process (write-ahead log, synchronous = NORMAL: only a
//! power cut may take the last moments'). A reader opens the file
//! read-only beside a running host: the write-ahead log lets it in.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use rusqlite::{CachedStatement, Connection, OpenFlags, ToSql, params};

use super::record::{Columns, Record, Row};
use super::{AuditError, AuditStore, Filter};

/// The table: `id` is the rowid without `AUTOINCREMENT` (which costs an
/// update of `sqlite_sequence` per row; a new row still gets an id above
/// every row present, which is all the order of records needs). Tables
/// made by earlier builds keep `AUTOINCREMENT` and work alike.
const CREATE: &str = "CREATE TABLE IF NOT EXISTS audit (
     id          INTEGER PRIMARY KEY,
     at_ms       INTEGER NOT NULL,
     codec       TEXT NOT NULL,
     script      TEXT NOT NULL,
     version     TEXT NOT NULL,
     kind        TEXT NOT NULL,
     path        TEXT NOT NULL,
     params      TEXT NOT NULL,
     body_bytes  INTEGER,
     body_sha256 TEXT,
     result      TEXT NOT NULL,
     code        INTEGER,
     reason      TEXT
 );
 CREATE INDEX IF NOT EXISTS audit_at ON audit (at_ms);";

/// Records per multi-row `INSERT`: one statement run per this many
/// records instead of one per record (12 values each, well under SQLite's
/// bound on values per statement).
const ROWS: usize = 50;

fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit (at_ms, codec, script, version, kind, path, params,
             body_bytes, body_sha256, result, code, reason) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    }
    sql
}

static INSERT_ONE: LazyLock<String> = LazyLock::new(|| insert_sql(1));
static INSERT_MANY: LazyLock<String> = LazyLock::new(|| insert_sql(ROWS));

/// Inserts `records` with `stmt`, made by `insert_sql(records.len())`.
fn insert(stmt: &mut CachedStatement, records: &[Record]) -> rusqlite::Result<()> {
    let rows: Vec<Row> = records.iter().map(Row::of).collect();
    let mut args: Vec<&dyn ToSql> = Vec::with_capacity(rows.len() * 12);
    for c in &rows {
        args.extend_from_slice(&[
            &c.at_ms,
            &c.codec,
            &c.script,
            &c.version,
            &c.kind,
            &c.path,
            &c.params,
            &c.body_bytes,
            &c.body_sha256,
            &c.result,
            &c.code,
            &c.reason,
        ]);
    }
    stmt.execute(&args[..]).map(|_| ())
}

/// The audit table of one SQLite database.
#[derive(Debug)]
pub struct SqliteAudit {
    file: PathBuf,
    conn: Connection,
    /// Whether the table is there (a read-only reader of a database no
    /// record was ever written to finds none).
    present: bool,
}

impl SqliteAudit {
    /// Opens `file` (creating it and the table if needed) for writing.
    pub fn open(file: &Path) -> Result<SqliteAudit, AuditError> {
        let fail = |e: rusqlite::Error| error(file, e);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                AuditError::new(
                    file.display().to_string(),
                    format!("cannot create its folder: {e}"),
                )
            })?;
        }
        let conn = Connection::open(file).map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(fail)?;
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(fail)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(fail)?;
        conn.execute_batch(CREATE).map_err(fail)?;
        Ok(SqliteAudit {
            file: file.to_path_buf(),
            conn,
            present: true,
        })
    }

    /// Opens an existing database only to read it (beside a running host).
    pub fn open_read_only(file: &Path) -> Result<SqliteAudit, AuditError> {
        if !file.is_file() {
            return Err(AuditError::new(
                file.display().to_string(),
                "no such database (has a host run with this state directory?)",
            ));
        }
        let conn = Connection::open_with_flags(
            file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| error(file, e))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| error(file, e))?;
        let present = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| error(file, e))?
            > 0;
        Ok(SqliteAudit {
            file: file.to_path_buf(),
            conn,
            present,
        })
    }

    fn fail(&self, e: rusqlite::Error) -> AuditError {
        error(&self.file, e)
    }
}

fn error(file: &Path, e: rusqlite::Error) -> AuditError {
    AuditError::new(file.display().to_string(), e.to_string())
}

impl AuditStore for SqliteAudit {
    fn append(&mut self, records: &[Record]) -> Result<(), AuditError> {
        let file = self.file.clone();
        let fail = |e: rusqlite::Error| error(&file, e);
        let tx = self.conn.transaction().map_err(fail)?;
        {
            let mut many = tx.prepare_cached(&INSERT_MANY).map_err(fail)?;
            let mut one = tx.prepare_cached(&INSERT_ONE).map_err(fail)?;
            let mut chunks = records.chunks_exact(ROWS);
            for chunk in &mut chunks {
                insert(&mut many, chunk).map_err(fail)?;
            }
            for r in chunks.remainder() {
                insert(&mut one, std::slice::from_ref(r)).map_err(fail)?;
            }
        }
        tx.commit().map_err(fail)
    }

    fn read(&mut self, filter: &Filter) -> Result<Vec<Record>, AuditError> {
        if !self.present {
            return Ok(Vec::new());
        }
        let limit = if filter.limit == 0 {
            -1
        } else {
            filter.limit as i64
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at_ms, codec, script, version, kind, path, params, body_bytes,
                        body_sha256, result, code, reason
                 FROM audit
                 WHERE (?1 IS NULL OR codec = ?1) AND (?2 IS NULL OR script = ?2)
                   AND (?3 IS NULL OR at_ms >= ?3)
                 ORDER BY at_ms DESC, id DESC LIMIT ?4",
            )
            .map_err(|e| error(&self.file, e))?;
        let rows = stmt
            .query_map(
                params![filter.codec, filter.script, filter.since_ms, limit],
                |r| {
                    Ok(Columns {
                        at_ms: r.get(0)?,
                        codec: r.get(1)?,
                        script: r.get(2)?,
                        version: r.get(3)?,
                        kind: r.get(4)?,
                        path: r.get(5)?,
                        params: r.get(6)?,
                        body_bytes: r.get(7)?,
                        body_sha256: r.get(8)?,
                        result: r.get(9)?,
                        code: r.get(10)?,
                        reason: r.get(11)?,
                    })
                },
            )
            .map_err(|e| error(&self.file, e))?;
        let mut out = Vec::new();
        for row in rows {
            if let Some(r) = row.map_err(|e| error(&self.file, e))?.record() {
                out.push(r);
            }
        }
        out.reverse();
        Ok(out)
    }

    fn prune(&mut self, before_ms: i64, max_records: u64) -> Result<u64, AuditError> {
        let old = self
            .conn
            .execute("DELETE FROM audit WHERE at_ms < ?1", params![before_ms])
            .map_err(|e| self.fail(e))?;
        let over = self
            .conn
            .execute(
                "DELETE FROM audit WHERE id <= (SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?1)",
                params![max_records as i64],
            )
            .map_err(|e| self.fail(e))?;
        Ok((old + over) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_audit_table_meets_the_contract() {
        let dir = std::env::temp_dir().join(format!("xmacro-audit-sqlite-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join(crate::store::DB_FILE);
        super::super::contract::check(&|| Box::new(SqliteAudit::open(&file).unwrap()));
        // A reader beside the writer sees what was written.
        let mut writer = SqliteAudit::open(&file).unwrap();
        let mut reader = SqliteAudit::open_read_only(&file).unwrap();
        let before = reader.read(&Filter::default()).unwrap().len();
        writer
            .append(&[super::super::contract::sample(1, "late", "s", 1)])
            .unwrap();
        assert_eq!(reader.read(&Filter::default()).unwrap().len(), before + 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_batch_longer_than_one_insert_is_written_whole_and_in_order() {
        let dir = std::env::temp_dir().join(format!("xmacro-audit-batch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut w = SqliteAudit::open(&dir.join(crate::store::DB_FILE)).unwrap();
        let n = 2 * ROWS as i64 + 7;
        let all: Vec<Record> = (0..n)
            .map(|i| super::super::contract::sample(1_000 + i, "c", "s", i))
            .collect();
        w.append(&all).unwrap();
        assert_eq!(w.read(&Filter::default()).unwrap(), all);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_reader_of_a_database_without_records_finds_none_and_a_missing_file_is_named() {
        let dir = std::env::temp_dir().join(format!("xmacro-audit-empty-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join(crate::store::DB_FILE);
        let e = SqliteAudit::open_read_only(&file).unwrap_err().to_string();
        assert!(
            e.contains("store.sqlite3") && e.contains("no such database"),
            "{e}"
        );
        drop(crate::store::SqliteBackend::open(&file).unwrap());
        let mut r = SqliteAudit::open_read_only(&file).unwrap();
        assert_eq!(r.read(&Filter::default()).unwrap(), vec![]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
