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
//!
//! [`fds`]: the open-file limit raised for the fleet at start, and a fleet
//! too large for it reported with the numbers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::fleet::shard::Shard;
use crate::store::{PgBackend, StoreError};

pub mod fds;
pub mod shard;

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
    /// Takes this host's share of the codecs named (of a fleet of
    /// `fleet`): the shard's, minus codecs whose lock (when `locks` is
    /// given) is held elsewhere.
    pub fn take<'a>(
        codecs: impl IntoIterator<Item = &'a str>,
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
        let mine: Vec<String> = codecs
            .into_iter()
            .filter(|c| shard.is_none_or(|s| s.serves(c)))
            .map(String::from)
            .collect();
        let got = s.try_lock(&mine)?;
        for (name, free) in mine.into_iter().zip(got) {
            if free {
                s.served.insert(name);
            } else {
                warn!(
                    codec = %name,
                    "not served here: another host holds its lock; trying again every {:?}",
                    s.retry
                );
                s.waiting.insert(name);
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

    /// Takes the locks of `codecs` (all of them without a database).
    fn try_lock(&self, codecs: &[String]) -> Result<Vec<bool>, StoreError> {
        match &self.locks {
            Some(db) => db.try_lock_codecs(codecs),
            None => Ok(vec![true; codecs.len()]),
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
        // While the database reconnects, a try would only wait and fail.
        if self.locks.as_ref().is_some_and(|db| !db.is_up()) {
            return Vec::new();
        }
        let waiting: Vec<String> = self.waiting.iter().cloned().collect();
        let free = match self.try_lock(&waiting) {
            Ok(free) => free,
            Err(e) => {
                warn!("cannot try the locks of {} codec(s): {e}", waiting.len());
                return Vec::new();
            }
        };
        let mut got = Vec::new();
        for (name, free) in waiting.into_iter().zip(free) {
            if free {
                info!(codec = %name, "its lock is free now: served here");
                self.waiting.remove(&name);
                self.served.insert(name.clone());
                got.push(name);
            }
        }
        got
    }
}
