//! Which UI extension panels the host saved on each codec, and the hash of
//! what it saved (PanelId to hash): the record that lets it remove only
//! what it saved and save only what is missing or changed. Kept in the
//! store's own database beside the scripts' entries (SQLite in the state
//! directory, or the shared PostgreSQL), so it survives a restart and
//! follows a codec to whichever host serves it next.
//!
//! The records are rows of the backend under a reserved script name that
//! no script can have (a script's name is a file stem, and a stem never
//! holds `/`), so every backend keeps them, durably, with no table of
//! their own.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::StoreError;
use super::backend::{Backend, InstanceId};

/// The reserved script name the records of a codec are kept under.
pub const PANELS_SCRIPT: &str = "/panels";

/// A host's handle on the panel records of every codec.
#[derive(Debug, Clone)]
pub struct PanelRecords {
    backend: Arc<dyn Backend>,
}

impl PanelRecords {
    pub fn new(backend: Arc<dyn Backend>) -> PanelRecords {
        PanelRecords { backend }
    }

    fn id(codec: &str) -> InstanceId {
        InstanceId::new(codec, PANELS_SCRIPT)
    }

    /// The panels the host saved on `codec`: PanelId to hash. A record
    /// that cannot be read is left out (its panel is saved again).
    pub fn owned(&self, codec: &str) -> Result<BTreeMap<String, String>, StoreError> {
        Ok(self
            .backend
            .load(&Self::id(codec))?
            .into_iter()
            .filter_map(|r| {
                let hash: String = serde_json::from_slice(&r.value).ok()?;
                Some((r.key, hash))
            })
            .collect())
    }

    /// Which of `codecs` the host saved any panel on, read in bulk
    /// ([`super::BULK`] codecs per read), so a host starting thousands of
    /// codecs with no panels makes a few reads, not one per codec.
    pub fn owning<'a>(
        &self,
        codecs: impl IntoIterator<Item = &'a str>,
    ) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let ids: Vec<InstanceId> = codecs.into_iter().map(Self::id).collect();
        let mut out = std::collections::BTreeSet::new();
        for batch in ids.chunks(super::BULK) {
            for (id, rows) in batch.iter().zip(self.backend.load_many(batch)?) {
                if !rows.is_empty() {
                    out.insert(id.codec.clone());
                }
            }
        }
        Ok(out)
    }

    /// Records that `id` was saved on `codec` with this hash; durable when
    /// it returns.
    pub fn saved(&self, codec: &str, id: &str, hash: &str) -> Result<(), StoreError> {
        let value = serde_json::Value::String(hash.to_string()).to_string();
        self.backend.put(&Self::id(codec), id, &value)
    }

    /// Forgets `id` on `codec` (removed there, or gone from it).
    pub fn removed(&self, codec: &str, id: &str) -> Result<(), StoreError> {
        self.backend.delete(&Self::id(codec), id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DB_FILE, SqliteBackend};

    #[test]
    fn the_codecs_a_host_saved_panels_on_are_found_among_thousands_in_bulk() {
        let d = crate::store::tests::temp("panels-owning");
        let records = PanelRecords::new(Arc::new(SqliteBackend::open(&d.join(DB_FILE)).unwrap()));
        records.saved("room-0042", "clock", "abc").unwrap();
        records.saved("room-2500", "clock", "abc").unwrap();
        records.saved("room-0007", "gone", "abc").unwrap();
        records.removed("room-0007", "gone").unwrap();
        let names: Vec<String> = (0..3000).map(|i| format!("room-{i:04}")).collect();
        let owning = records.owning(names.iter().map(String::as_str)).unwrap();
        assert_eq!(
            owning.into_iter().collect::<Vec<_>>(),
            ["room-0042", "room-2500"],
            "a codec whose last panel was removed owns nothing"
        );
        let _ = std::fs::remove_dir_all(d);
    }
}
