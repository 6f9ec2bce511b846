//! The rollout table beside the entries: one row per script holding its
//! rollout record (the promoted version's source and the candidate's, and
//! where the change is; the text is [`crate::rollout`]'s, opaque here) and
//! a generation that every write bumps. A write says which generation it
//! read and is refused if another host wrote since, so two hosts deciding
//! the same promotion make it once. In SQLite for one host (the state
//! directory), in PostgreSQL for a sharded fleet, where every host sees
//! the same rows.

use rusqlite::{OptionalExtension, params};

use super::StoreError;
use super::pg::PgBackend;
use super::sqlite::SqliteBackend;

const SQLITE_TABLE: &str = "CREATE TABLE IF NOT EXISTS xmacro_rollouts (
     script     TEXT PRIMARY KEY,
     generation INTEGER NOT NULL,
     state      TEXT NOT NULL
 )";

/// One script's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRow {
    pub script: String,
    /// Bumped by every write; 0 is never stored (it means "no row yet").
    pub generation: i64,
    pub state: String,
}

/// Where rollout records live.
pub trait RolloutTable: Send + Sync + std::fmt::Debug {
    /// Every script's row.
    fn rollouts(&self) -> Result<Vec<RolloutRow>, StoreError>;
    /// Writes `state` as `script`'s row if its generation is still
    /// `expected` (0: there is no row yet): `Ok(true)` when written (the
    /// generation is then `expected + 1`), `Ok(false)` when another writer
    /// came first (read again and decide again).
    fn swap_rollout(&self, script: &str, expected: i64, state: &str) -> Result<bool, StoreError>;
}

impl RolloutTable for SqliteBackend {
    fn rollouts(&self) -> Result<Vec<RolloutRow>, StoreError> {
        let conn = self.conn();
        let exists: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'xmacro_rollouts'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.fail(e))?;
        if exists.is_none() {
            return Ok(Vec::new());
        }
        let mut stmt = conn
            .prepare("SELECT script, generation, state FROM xmacro_rollouts ORDER BY script")
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RolloutRow {
                    script: r.get(0)?,
                    generation: r.get(1)?,
                    state: r.get(2)?,
                })
            })
            .map_err(|e| self.fail(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.fail(e))
    }

    fn swap_rollout(&self, script: &str, expected: i64, state: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        conn.execute_batch(SQLITE_TABLE).map_err(|e| self.fail(e))?;
        let n = if expected == 0 {
            conn.execute(
                "INSERT INTO xmacro_rollouts (script, generation, state) VALUES (?1, 1, ?2)
                 ON CONFLICT (script) DO NOTHING",
                params![script, state],
            )
        } else {
            conn.execute(
                "UPDATE xmacro_rollouts SET state = ?1, generation = generation + 1
                 WHERE script = ?2 AND generation = ?3",
                params![state, script, expected],
            )
        }
        .map_err(|e| self.fail(e))?;
        Ok(n == 1)
    }
}

impl RolloutTable for PgBackend {
    fn rollouts(&self) -> Result<Vec<RolloutRow>, StoreError> {
        self.call(|client| {
            let rows = client.query(
                "SELECT script, generation, state FROM xmacro_rollouts ORDER BY script",
                &[],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(RolloutRow {
                        script: r.try_get(0)?,
                        generation: r.try_get(1)?,
                        state: r.try_get(2)?,
                    })
                })
                .collect()
        })
    }

    fn swap_rollout(&self, script: &str, expected: i64, state: &str) -> Result<bool, StoreError> {
        let (script, state) = (script.to_string(), state.to_string());
        self.call(move |client| {
            let n = if expected == 0 {
                client.execute(
                    "INSERT INTO xmacro_rollouts (script, generation, state) VALUES ($1, 1, $2)
                     ON CONFLICT (script) DO NOTHING",
                    &[&script, &state],
                )?
            } else {
                client.execute(
                    "UPDATE xmacro_rollouts SET state = $1, generation = generation + 1
                     WHERE script = $2 AND generation = $3",
                    &[&state, &script, &expected],
                )?
            };
            Ok(n == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every rollout table must do: `open` gives a new handle on the
    /// same storage each time (empty at first).
    fn contract(open: &dyn Fn() -> Box<dyn RolloutTable>) {
        let t = open();
        assert_eq!(t.rollouts().unwrap(), vec![], "a new table is empty");
        assert!(t.swap_rollout("room", 0, "one").unwrap(), "a first row");
        assert!(
            !t.swap_rollout("room", 0, "again").unwrap(),
            "a second first row loses"
        );
        assert!(t.swap_rollout("room", 1, "two").unwrap());
        assert!(
            !t.swap_rollout("room", 1, "stale").unwrap(),
            "a write from an old reading loses"
        );
        let big = "x".repeat(1 << 20);
        assert!(t.swap_rollout("会议室 \"'", 0, &big).unwrap());
        drop(t);

        let t = open();
        let rows = t.rollouts().unwrap();
        assert_eq!(
            rows,
            vec![
                RolloutRow {
                    script: "room".into(),
                    generation: 2,
                    state: "two".into()
                },
                RolloutRow {
                    script: "会议室 \"'".into(),
                    generation: 1,
                    state: big
                },
            ],
            "what was written is read again by another handle"
        );

        // Two handles racing from one reading: exactly one wins.
        let (a, b) = (open(), open());
        let wins = std::thread::scope(|s| {
            let ha = s.spawn(|| a.swap_rollout("room", 2, "from a").unwrap());
            let hb = s.spawn(|| b.swap_rollout("room", 2, "from b").unwrap());
            [ha.join().unwrap(), hb.join().unwrap()]
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
        let row = a.rollouts().unwrap().remove(0);
        assert_eq!(row.generation, 3);
        let winner = if wins[0] { "from a" } else { "from b" };
        assert_eq!(row.state, winner);
    }

    #[test]
    fn the_sqlite_rollout_table_meets_the_contract() {
        let dir = super::super::tests::temp("rollout-contract");
        let file = dir.join(super::super::DB_FILE);
        contract(&|| Box::new(SqliteBackend::open(&file).unwrap()));
        let read_only = SqliteBackend::open_read_only(&file).unwrap();
        assert_eq!(read_only.rollouts().unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_store_without_rollouts_reads_as_none() {
        let dir = super::super::tests::temp("rollout-none");
        let file = dir.join(super::super::DB_FILE);
        drop(SqliteBackend::open(&file).unwrap());
        let read_only = SqliteBackend::open_read_only(&file).unwrap();
        assert_eq!(read_only.rollouts().unwrap(), vec![]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_postgres_rollout_table_meets_the_contract() {
        let Some(url) = super::super::test_url() else {
            return;
        };
        let target = super::super::pg::fresh_test_target(&url, "rollout");
        contract(&|| Box::new(PgBackend::open(&target).unwrap()));
    }
}
