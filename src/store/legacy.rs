//! Stores written by earlier versions: one JSON file per instance at
//! `<state>/<codec>/<script>.json`. On opening a state directory, each such
//! file is imported into the database once and then renamed to
//! `<script>.json.imported` (kept, never deleted), so an upgrade loses
//! nothing. Those versions turned names into file names lossily, so a file
//! is imported under the names it was saved as.

use std::path::Path;

use tracing::{info, warn};

use super::backend::{Backend, InstanceId};
use super::{StoreError, value};

/// Imports every earlier-version store file under `dir` into `backend`.
pub fn import(dir: &Path, backend: &dyn Backend) -> Result<(), StoreError> {
    let Ok(codecs) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for codec in codecs.flatten() {
        if !codec.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(codec.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            let name = file.file_name().to_string_lossy().into_owned();
            let Some(script) = name.strip_suffix(".json") else {
                continue;
            };
            let id = InstanceId::new(&codec.file_name().to_string_lossy(), script);
            import_file(&path, &id, backend)?;
        }
    }
    Ok(())
}

fn import_file(path: &Path, id: &InstanceId, backend: &dyn Backend) -> Result<(), StoreError> {
    let fail = |why: String| StoreError {
        what: format!("importing {}", path.display()),
        why,
    };
    let text = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let entries = match serde_json::from_slice::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => {
            warn!(
                "{id}: {} is not a store file an earlier xmacro wrote; left as it is",
                path.display()
            );
            return Ok(());
        }
    };
    let mut count = 0;
    for (key, v) in &entries {
        match value::encode(v) {
            Ok(text) => {
                backend.put(id, key, &text)?;
                count += 1;
            }
            Err(e) => warn!("{id}: key {key:?} from {} left out: {e}", path.display()),
        }
    }
    let done = path.with_extension("json.imported");
    std::fs::rename(path, &done).map_err(|e| fail(format!("renaming it: {e}")))?;
    info!(
        "{id}: imported {count} key(s) from {} (kept as {})",
        path.display(),
        done.display()
    );
    Ok(())
}
