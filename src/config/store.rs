//! Where the store lives when it is not the embedded default: `state =
//! "postgres://user@host/db"` (or a `[store]` table with `url`), for a
//! fleet sharded across hosts that must all reach every codec's state.
//! Like codec passwords, the database password never sits in the config:
//! it comes from `password_env` or `password_file` in `[store]`, and a URL
//! carrying one is refused. TLS is asked for in the URL as libpq reads it
//! (`?sslmode=verify-full&sslrootcert=ca.pem`, the CA file relative to
//! the config).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{KeyError, bounds, parse_duration};
use crate::store::PgTarget;

/// How often a host retries codecs whose lock another host holds.
pub const DEFAULT_LOCK_RETRY: Duration = Duration::from_secs(10);

/// The `[store]` table as written.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    url: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
    lock_retry: Option<String>,
}

/// A PostgreSQL store and how this host uses it.
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub target: PgTarget,
    /// How often codecs locked by another host are tried again.
    pub lock_retry: Duration,
}

/// Whether a `state` value names a database rather than a directory.
pub fn is_database_url(state: &str) -> bool {
    state.starts_with("postgres://") || state.starts_with("postgresql://")
}

/// The PostgreSQL store the config asks for, if any; an error names the
/// key it is about.
pub fn resolve(
    state: Option<&str>,
    store: Option<&RawStore>,
    rel: &dyn Fn(&str) -> PathBuf,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<PgSettings>, KeyError> {
    let empty = RawStore::default();
    let s = store.unwrap_or(&empty);
    let url = match (state.filter(|s| is_database_url(s)), &s.url) {
        (Some(_), Some(_)) => {
            return Err(KeyError::new(
                "url",
                "the database is named twice (state and [store] url); keep one",
            ));
        }
        (Some(u), None) => (u, "state"),
        (None, Some(u)) => (u.as_str(), "url"),
        (None, None) => {
            if store.is_some() {
                return Err(KeyError::new(
                    "url",
                    "missing: [store] needs url = \"postgres://user@host/db\"",
                ));
            }
            return Ok(None);
        }
    };
    let (url, key) = url;
    if !is_database_url(url) {
        return Err(KeyError::new(
            key,
            format!("{url:?} is not a postgres:// URL"),
        ));
    }
    let parsed = url::Url::parse(url).map_err(|e| KeyError::new(key, format!("not a URL: {e}")))?;
    if parsed.password().is_some() {
        return Err(KeyError::new(
            key,
            "passwords do not go in the config file; use password_env = \"VAR\" or password_file = \"FILE\" in [store]",
        ));
    }
    // TLS settings are read (and a CA file beside the config found and
    // checked) now, so a mistake names its key at load time.
    let url =
        crate::store::resolve_pg_root(url, rel).map_err(|e| KeyError::new(key, e.to_string()))?;
    let mut target = PgTarget::new(&url);
    target.password =
        bounds::password_from(s.password_env.as_ref(), s.password_file.as_ref(), rel, env)?;
    let lock_retry = match &s.lock_retry {
        Some(t) => parse_duration(t).map_err(|e| KeyError::new("lock_retry", e.to_string()))?,
        None => DEFAULT_LOCK_RETRY,
    };
    Ok(Some(PgSettings { target, lock_retry }))
}
