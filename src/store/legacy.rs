//! Stores written by earlier versions: one JSON file per instance at
//! `<state>/<codec>/<script>.json`. On opening a state directory, each such
//! file is imported into the database once and then renamed to
//! `<script>.json.imported` (kept, never deleted), so an upgrade loses
//! nothing. Those versions turned names into file names lossily, so a file
//! is imported under the names it was saved as.
//!
//! Only regular files of a plausible size are read: a directory, a FIFO, a
//! device (or a link to one), a file over [`MAX_FILE_BYTES`] or one that
//! cannot be read is left where it is with a warning, so nothing there can
//! hang the start, fill memory, or stop the host from starting.

use std::io::Read;
use std::path::Path;

use tracing::{info, warn};

use super::backend::{Backend, InstanceId};
use super::{StoreError, value};

/// Largest earlier-version store file imported: far above what their
/// quota let them hold.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

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
    let fail = |why: String| StoreError::new(format!("importing {}", path.display()), why);
    let Some(text) = read_plain(path, id) else {
        return Ok(());
    };
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

/// The bytes of a regular file of a plausible size, or `None` (said once as
/// a warning) for anything else.
fn read_plain(path: &Path, id: &InstanceId) -> Option<Vec<u8>> {
    let skip = |why: String| {
        warn!(
            "{id}: {} looks like an earlier version's store but {why}; left as it is, not imported",
            path.display()
        );
        None
    };
    let file = match crate::files::open_regular(path) {
        Ok(f) => f,
        Err(crate::files::Unusual::Kind(kind)) => return skip(format!("is {kind}")),
        Err(crate::files::Unusual::Io(e)) => return skip(format!("cannot be read ({e})")),
    };
    if file.metadata().is_ok_and(|m| m.len() > MAX_FILE_BYTES) {
        return skip(format!("is larger than {MAX_FILE_BYTES} bytes"));
    }
    let mut bytes = Vec::new();
    match file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes) {
        Err(e) => skip(format!("cannot be read ({e})")),
        Ok(n) if n as u64 > MAX_FILE_BYTES => {
            skip(format!("is larger than {MAX_FILE_BYTES} bytes"))
        }
        Ok(_) => Some(bytes),
    }
}
