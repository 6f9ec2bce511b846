//! The audit trail: every command and configuration set a script makes,
//! and every call `allow` refused, on record with its time, codec, script,
//! script version, path, parameters (secrets masked, bodies as a digest)
//! and result. Administrators answer "who changed what, where and when"
//! from it with `xmacro audit` or `GET /api/audit`.
//!
//! The parts: [`record`] the record and its redaction, [`queue`] the
//! bounded buffer between scripts and the one writer thread (a script
//! never waits for the database; what overflows is counted), [`sqlite`] and
//! [`pg`] the table in the store's database (SQLite in the state
//! directory, or the shared PostgreSQL), both held to one contract.

pub mod pg;
pub mod queue;
pub mod record;
pub mod sqlite;

#[cfg(test)]
mod contract;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

pub use queue::{Auditor, Retention};
pub use record::{BodyDigest, Kind, Outcome, Record, redact_params};

use crate::telemetry::metrics::Counter;

/// How long records are kept when `audit_keep` is not set: 30 days.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(30 * 24 * 3600);
/// How many records are kept at most when `audit_max_records` is not set.
pub const DEFAULT_MAX_RECORDS: u64 = 1_000_000;

/// Why the audit table could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit trail in {what}: {why}")]
pub struct AuditError {
    /// Which database.
    pub what: String,
    pub why: String,
}

impl AuditError {
    pub fn new(what: impl Into<String>, why: impl Into<String>) -> AuditError {
        AuditError {
            what: what.into(),
            why: why.into(),
        }
    }
}

/// Which records a reader wants; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub codec: Option<String>,
    pub script: Option<String>,
    /// Records at or after this time (milliseconds since the Unix epoch).
    pub since_ms: Option<i64>,
    /// At most this many, the newest (0: no bound).
    pub limit: usize,
}

/// Where records are kept: the audit table of one database.
pub trait AuditStore: Send {
    /// Adds records, durably when it returns `Ok` (all or none).
    fn append(&mut self, records: &[Record]) -> Result<(), AuditError>;
    /// The records `filter` selects, oldest first (newest last).
    fn read(&mut self, filter: &Filter) -> Result<Vec<Record>, AuditError>;
    /// Deletes records older than `before_ms` and the oldest beyond
    /// `max_records`; how many went.
    fn prune(&mut self, before_ms: i64, max_records: u64) -> Result<u64, AuditError>;
}

/// Where a host keeps its audit trail: the state directory's SQLite
/// database or the shared PostgreSQL; readers (`xmacro audit`,
/// `/api/audit`) open their own connection beside the running host.
#[derive(Debug, Clone)]
pub enum Source {
    Dir(std::path::PathBuf),
    Postgres(crate::store::PgTarget),
}

impl Source {
    /// A connection for reading.
    pub fn reader(&self) -> Result<Box<dyn AuditStore>, AuditError> {
        Ok(match self {
            Source::Dir(d) => Box::new(sqlite::SqliteAudit::open_read_only(
                &d.join(crate::store::DB_FILE),
            )?),
            Source::Postgres(t) => Box::new(pg::PgAudit::open(t)?),
        })
    }

    /// A connection for the writer.
    pub fn writer(&self) -> Result<Box<dyn AuditStore>, AuditError> {
        Ok(match self {
            Source::Dir(d) => Box::new(sqlite::SqliteAudit::open(&d.join(crate::store::DB_FILE))?),
            Source::Postgres(t) => Box::new(pg::PgAudit::open(t)?),
        })
    }
}

/// Process-wide audit counters, read by `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Records that found the buffer full and were lost.
    pub dropped: Counter,
    /// Calls refused by `allow`, by script.
    denied: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    /// Counts one refused call of `script`.
    pub fn denied(&self, script: &str) {
        let mut m = self.denied.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(script.to_string()).or_default() += 1;
    }

    /// Refused calls by script.
    pub fn denied_by_script(&self) -> Vec<(String, u64)> {
        let m = self.denied.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

static COUNTERS: std::sync::LazyLock<Counters> = std::sync::LazyLock::new(Counters::default);

/// The process's audit counters.
pub fn counters() -> &'static Counters {
    &COUNTERS
}

/// Why an age such as `30d` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an age (write a whole number and a unit: 90s, 15m, 12h, 30d)")]
pub struct AgeError(pub String);

/// Reads an age: a whole number of seconds (`s`), minutes (`m`), hours
/// (`h`) or days (`d`), as `audit_keep = "30d"` and `--since 1h` take.
pub fn parse_age(text: &str) -> Result<Duration, AgeError> {
    let bad = || AgeError(text.to_string());
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if n == 0 || n > 100 * 365 * 86_400 / secs {
        return Err(bad());
    }
    Ok(Duration::from_secs(n * secs))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_read_in_seconds_minutes_hours_and_days() {
        assert_eq!(parse_age("30d").unwrap(), DEFAULT_KEEP);
        assert_eq!(parse_age("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_age(" 15m ").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_age("90s").unwrap(), Duration::from_secs(90));
        for bad in ["", "30", "d", "0d", "1.5h", "3w", "-1d", "99999999d"] {
            let e = parse_age(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{bad:?}: {e}");
        }
    }

    #[test]
    fn refused_calls_are_counted_per_script() {
        let c = Counters::default();
        c.denied("b");
        c.denied("a");
        c.denied("b");
        assert_eq!(
            c.denied_by_script(),
            [("a".to_string(), 1), ("b".to_string(), 2)]
        );
    }
}
