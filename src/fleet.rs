//! Which codecs this host acts for, when a fleet is split across hosts:
//! those its shard wins by rendezvous hashing (`--shard I/N`), and of
//! those, with a PostgreSQL store, only the ones whose advisory lock it
//! holds. A codec whose lock another host holds (a host of an older
//! layout still running, or a mistaken duplicate `--shard`) is reported
//! and left alone, then tried again every `lock_retry` until it is free.
//!
//! A host connects only to the codecs it acts for: `codecs["name"]` in a
//! script reaches codecs of the same host, not those of other shards
//! (connecting every host to every codec would multiply the sessions each
//! codec carries by N).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::config::CodecEntry;
use crate::shard::Shard;
use crate::store::{PgBackend, StoreError};

/// This host's share of the codecs.
#[derive(Debug)]
pub struct Serving {
    locks: Option<Arc<PgBackend>>,
    served: BTreeSet<String>,
    waiting: BTreeSet<String>,
    /// How often `waiting` codecs are tried again.
    pub retry: Duration,
}

impl Serving {
    /// Takes this host's share of `codecs` (of a fleet of `fleet`): the
    /// shard's, minus codecs whose lock (when `locks` is given) is held
    /// elsewhere.
    pub fn take(
        codecs: &[CodecEntry],
        fleet: usize,
        shard: Option<Shard>,
        locks: Option<Arc<PgBackend>>,
        retry: Duration,
    ) -> Result<Serving, StoreError> {
        let mut s = Serving {
            locks,
            served: BTreeSet::new(),
            waiting: BTreeSet::new(),
            retry,
        };
        let mine = codecs
            .iter()
            .filter(|c| shard.is_none_or(|s| s.serves(&c.name)));
        for c in mine {
            if s.try_lock(&c.name)? {
                s.served.insert(c.name.clone());
            } else {
                warn!(
                    codec = %c.name,
                    "not served here: another host holds its lock; trying again every {:?}",
                    s.retry
                );
                s.waiting.insert(c.name.clone());
            }
        }
        if let Some(shard) = shard {
            info!(
                "shard {shard}: serving {} of {} codecs{}",
                s.served.len(),
                fleet,
                if s.waiting.is_empty() {
                    String::new()
                } else {
                    format!(", {} waiting for another host to let go", s.waiting.len())
                }
            );
        }
        Ok(s)
    }

    fn try_lock(&self, codec: &str) -> Result<bool, StoreError> {
        match &self.locks {
            Some(db) => db.try_lock_codec(codec),
            None => Ok(true),
        }
    }

    /// Whether this host acts for `codec` now.
    pub fn serves(&self, codec: &str) -> bool {
        self.served.contains(codec)
    }

    /// Whether some codecs wait for another host's lock.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Moves a served codec whose lock another host took to the waiting.
    pub fn lost_to_another(&mut self, codec: &str) {
        if self.served.remove(codec) {
            self.waiting.insert(codec.to_string());
        }
    }

    /// Tries the waiting codecs again; returns those now served.
    pub fn retry_waiting(&mut self) -> Vec<String> {
        let mut got = Vec::new();
        for name in self.waiting.clone() {
            match self.try_lock(&name) {
                Ok(true) => {
                    info!(codec = %name, "its lock is free now: served here");
                    self.waiting.remove(&name);
                    self.served.insert(name.clone());
                    got.push(name);
                }
                Ok(false) => {}
                Err(e) => {
                    warn!(codec = %name, "cannot try its lock: {e}");
                    break;
                }
            }
        }
        got
    }
}
