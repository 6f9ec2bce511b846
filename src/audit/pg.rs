//! The audit table in the shared PostgreSQL (`xmacro_audit`), for a fleet
//! sharded across hosts: every host appends to it, so one query answers
//! for the whole fleet. Written on a session of its own (set up as the
//! store's: TLS, password, bounded statements), so records never queue
//! behind scripts' `store.set` nor the codec locks. A lost session is
//! opened again on the next write.

use postgres::Client;

use super::record::{Columns, Record, Row};
use super::{AuditError, AuditStore, Filter};
use crate::store::{PgTarget, connect_session};

const CREATE: &str = "CREATE TABLE IF NOT EXISTS xmacro_audit (
     id          BIGSERIAL PRIMARY KEY,
     at_ms       BIGINT NOT NULL,
     codec       TEXT NOT NULL,
     script      TEXT NOT NULL,
     version     TEXT NOT NULL,
     kind        TEXT NOT NULL,
     path        TEXT NOT NULL,
     params      TEXT NOT NULL,
     body_bytes  BIGINT,
     body_sha256 TEXT,
     result      TEXT NOT NULL,
     code        BIGINT,
     reason      TEXT
 );
 CREATE INDEX IF NOT EXISTS xmacro_audit_at ON xmacro_audit (at_ms)";

/// Taken while creating the table, so hosts starting together do not race
/// on `CREATE TABLE IF NOT EXISTS`.
const SETUP_LOCK: i64 = 0x786d_6163_726f_0002;

/// The audit table of one PostgreSQL database.
pub struct PgAudit {
    target: PgTarget,
    client: Option<Client>,
}

impl std::fmt::Debug for PgAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgAudit({})", self.target.url)
    }
}

impl PgAudit {
    /// Connects and makes the table if missing.
    pub fn open(target: &PgTarget) -> Result<PgAudit, AuditError> {
        let mut a = PgAudit {
            target: target.clone(),
            client: None,
        };
        a.client()?;
        Ok(a)
    }

    fn what(&self) -> String {
        self.target.url.clone()
    }

    /// The session, opened again if it was lost.
    fn client(&mut self) -> Result<&mut Client, AuditError> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.client = None;
            let mut c =
                connect_session(&self.target).map_err(|e| AuditError::new(self.what(), e.why))?;
            let mut tx = c.transaction().map_err(|e| self.fail(e))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])
                .map_err(|e| self.fail(e))?;
            tx.batch_execute(CREATE).map_err(|e| self.fail(e))?;
            tx.commit().map_err(|e| self.fail(e))?;
            self.client = Some(c);
        }
        Ok(self.client.as_mut().expect("just connected"))
    }

    fn fail(&self, e: postgres::Error) -> AuditError {
        AuditError::new(self.what(), crate::store::describe_pg(&e))
    }

    /// Runs `f` on the session; a failure drops the session, so the next
    /// call connects afresh.
    fn run<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, AuditError> {
        let out = f(self.client()?);
        out.map_err(|e| {
            if self.client.as_ref().is_some_and(|c| c.is_closed()) {
                self.client = None;
            }
            self.fail(e)
        })
    }
}

impl AuditStore for PgAudit {
    fn append(&mut self, records: &[Record]) -> Result<(), AuditError> {
        if records.is_empty() {
            return Ok(());
        }
        self.run(|c| {
            let mut tx = c.transaction()?;
            let stmt = tx.prepare(
                "INSERT INTO xmacro_audit (at_ms, codec, script, version, kind, path, params,
                     body_bytes, body_sha256, result, code, reason)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )?;
            for r in records {
                let c = Row::of(r);
                tx.execute(
                    &stmt,
                    &[
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
                    ],
                )?;
            }
            tx.commit()
        })
    }

    fn read(&mut self, filter: &Filter) -> Result<Vec<Record>, AuditError> {
        let limit = (filter.limit > 0).then_some(filter.limit as i64);
        let rows = self.run(|c| {
            c.query(
                "SELECT at_ms, codec, script, version, kind, path, params, body_bytes,
                        body_sha256, result, code, reason
                 FROM xmacro_audit
                 WHERE ($1::text IS NULL OR codec = $1) AND ($2::text IS NULL OR script = $2)
                   AND ($3::bigint IS NULL OR at_ms >= $3)
                 ORDER BY at_ms DESC, id DESC LIMIT $4",
                &[&filter.codec, &filter.script, &filter.since_ms, &limit],
            )
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let cols = (|| -> Result<Columns, postgres::Error> {
                Ok(Columns {
                    at_ms: r.try_get(0)?,
                    codec: r.try_get(1)?,
                    script: r.try_get(2)?,
                    version: r.try_get(3)?,
                    kind: r.try_get(4)?,
                    path: r.try_get(5)?,
                    params: r.try_get(6)?,
                    body_bytes: r.try_get(7)?,
                    body_sha256: r.try_get(8)?,
                    result: r.try_get(9)?,
                    code: r.try_get(10)?,
                    reason: r.try_get(11)?,
                })
            })();
            if let Some(rec) = cols.ok().and_then(Columns::record) {
                out.push(rec);
            }
        }
        out.reverse();
        Ok(out)
    }

    fn prune(&mut self, before_ms: i64, max_records: u64) -> Result<u64, AuditError> {
        let max = max_records as i64;
        self.run(|c| {
            let old = c.execute("DELETE FROM xmacro_audit WHERE at_ms < $1", &[&before_ms])?;
            let over = c.execute(
                "DELETE FROM xmacro_audit WHERE id <= (SELECT id FROM xmacro_audit ORDER BY id DESC LIMIT 1 OFFSET $1)",
                &[&max],
            )?;
            Ok(old + over)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgres_audit_table_meets_the_contract() {
        let Some(url) = crate::store::test_url() else {
            return;
        };
        let target = crate::store::fresh_test_target(&url, "audit");
        super::super::contract::check(&|| Box::new(PgAudit::open(&target).unwrap()));
    }
}
