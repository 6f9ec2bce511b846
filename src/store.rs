//! Durable key-value state, one file per (script, codec): every `set` is on
//! disk before it returns (write to a temporary file, fsync, rename over the
//! old one, fsync the directory), so it survives reloads, restarts and
//! `kill -9`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value};

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("store {file}: {why}")]
pub struct StoreError {
    pub file: String,
    pub why: String,
}

/// One instance's store.
#[derive(Debug)]
pub struct Store {
    file: PathBuf,
    data: Mutex<Map<String, Value>>,
}

/// A name safe as a file name (codec and script names come from config
/// and file names, but are checked anyway).
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Store {
    /// Opens (or starts) the store of `script` on `codec` under `dir`.
    pub fn open(dir: &Path, codec: &str, script: &str) -> Result<Store, StoreError> {
        let file = dir.join(safe(codec)).join(format!("{}.json", safe(script)));
        let err = |why: String| StoreError {
            file: file.display().to_string(),
            why,
        };
        let data = match fs::read_to_string(&file) {
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(err("not a JSON object".into())),
                Err(e) => return Err(err(format!("not JSON: {e}"))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(Store {
            file,
            data: Mutex::new(data),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map<String, Value>> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.lock().get(key).cloned()
    }

    /// Every key.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Sets `key` and writes the store to disk before returning.
    pub fn set(&self, key: &str, value: Value) -> Result<(), StoreError> {
        let mut data = self.lock();
        let old = data.insert(key.to_string(), value);
        self.persist(&data).inspect_err(|_| {
            // Keep memory and disk in agreement when the write failed.
            match &old {
                Some(v) => data.insert(key.to_string(), v.clone()),
                None => data.remove(key),
            };
        })
    }

    /// Removes `key` (on disk before returning); returns the old value.
    pub fn remove(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let mut data = self.lock();
        let old = data.remove(key);
        if old.is_some() {
            self.persist(&data)?;
        }
        Ok(old)
    }

    fn persist(&self, data: &Map<String, Value>) -> Result<(), StoreError> {
        let err = |why: String| StoreError {
            file: self.file.display().to_string(),
            why,
        };
        let dir = self.file.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
        let tmp = self.file.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(data).map_err(|e| err(e.to_string()))?;
        let mut f = fs::File::create(&tmp).map_err(|e| err(e.to_string()))?;
        f.write_all(&text)
            .and_then(|_| f.sync_all())
            .map_err(|e| err(e.to_string()))?;
        fs::rename(&tmp, &self.file).map_err(|e| err(e.to_string()))?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xmacro-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn survives_reopening() {
        let d = dir("reopen");
        let s = Store::open(&d, "boardroom", "remember-volume").unwrap();
        assert_eq!(s.get("v"), None);
        s.set("v", json!(42)).unwrap();
        s.set("m", json!({"a":[1,2]})).unwrap();
        drop(s);
        let s = Store::open(&d, "boardroom", "remember-volume").unwrap();
        assert_eq!(s.get("v"), Some(json!(42)));
        assert_eq!(s.remove("m").unwrap(), Some(json!({"a":[1,2]})));
        let s = Store::open(&d, "boardroom", "remember-volume").unwrap();
        assert_eq!(s.keys(), vec!["v".to_string()]);
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn a_corrupt_file_is_named() {
        let d = dir("corrupt");
        fs::create_dir_all(d.join("c")).unwrap();
        fs::write(d.join("c").join("s.json"), "{nope").unwrap();
        let e = Store::open(&d, "c", "s").unwrap_err();
        assert!(e.to_string().contains("s.json"), "{e}");
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn names_cannot_escape_the_directory() {
        assert_eq!(safe("../../etc"), ".._.._etc");
        assert!(!safe("a/b").contains('/'));
    }
}
