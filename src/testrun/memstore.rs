//! The stores of a test's scripts, in memory: what a script stores lives as
//! long as the test (a script loaded again finds it), and tests touch no
//! disk.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::store::StoreError;
use crate::store::{Backend, InstanceId, Row};

/// Rows by instance and key.
#[derive(Debug, Default)]
pub struct MemoryBackend(Mutex<BTreeMap<(InstanceId, String), Vec<u8>>>);

impl MemoryBackend {
    fn rows(&self) -> std::sync::MutexGuard<'_, BTreeMap<(InstanceId, String), Vec<u8>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Backend for MemoryBackend {
    fn load(&self, id: &InstanceId) -> Result<Vec<Row>, StoreError> {
        Ok(self
            .rows()
            .iter()
            .filter(|((who, _), _)| who == id)
            .map(|((_, key), value)| Row {
                key: key.clone(),
                value: value.clone(),
            })
            .collect())
    }

    fn put(&self, id: &InstanceId, key: &str, value: &str) -> Result<(), StoreError> {
        self.rows()
            .insert((id.clone(), key.to_string()), value.as_bytes().to_vec());
        Ok(())
    }

    fn delete(&self, id: &InstanceId, key: &str) -> Result<(), StoreError> {
        self.rows().remove(&(id.clone(), key.to_string()));
        Ok(())
    }
}
