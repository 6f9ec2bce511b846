//! The boundary between the store's logic (limits, the in-memory view,
//! errors a script can catch) and where entries durably live. A backend
//! keeps rows of (codec, script, key) -> encoded value, keyed by the exact
//! names, and makes each `put`/`delete` durable before returning. The
//! contract every backend must meet is tested in `contract.rs`.

use super::StoreError;

/// Whose store: the exact codec and script names, never rewritten, so two
/// different pairs never share entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId {
    pub codec: String,
    pub script: String,
}

impl InstanceId {
    pub fn new(codec: &str, script: &str) -> Self {
        InstanceId {
            codec: codec.to_string(),
            script: script.to_string(),
        }
    }
}

impl std::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "store of {:?} on {:?}", self.script, self.codec)
    }
}

/// One stored entry as found, its value not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub value: Vec<u8>,
}

/// Durable rows, one writer at a time per instance (the store serializes).
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Whether a read now would be answered at once (a server backend says
    /// `false` while it reconnects); the store reads keys whose write may
    /// or may not have been made only when it is.
    fn ready(&self) -> bool {
        true
    }
    /// Every entry of `id`, in any order. An entry that cannot be read at
    /// all is left out (and logged) rather than failing the rest.
    fn load(&self, id: &InstanceId) -> Result<Vec<Row>, StoreError>;
    /// The entries of each of `ids`, in their order, as [`Backend::load`]
    /// gives them: a host starting 30,000 instances reads them in a few
    /// statements instead of 30,000 round trips. This default reads one by
    /// one (for backends where a read costs nothing).
    fn load_many(&self, ids: &[InstanceId]) -> Result<Vec<Vec<Row>>, StoreError> {
        ids.iter().map(|id| self.load(id)).collect()
    }
    /// Creates or replaces one entry; durable when it returns `Ok`. An
    /// error with [`StoreError::maybe_written`] means it may have been made
    /// (its answer was lost).
    fn put(&self, id: &InstanceId, key: &str, value: &str) -> Result<(), StoreError>;
    /// Deletes one entry (no error if absent); durable when it returns `Ok`.
    fn delete(&self, id: &InstanceId, key: &str) -> Result<(), StoreError>;
}
