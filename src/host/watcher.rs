//! The host's file watcher: which file events mean "look again" (the
//! scripts directory, the config file) and which are the host's own reads.

use std::path::Path;

use notify::Watcher;
use tokio::sync::mpsc;

use super::{HostError, HostOptions};

pub(super) fn watch(
    opts: &HostOptions,
    tx: mpsc::UnboundedSender<()>,
) -> Result<notify::RecommendedWatcher, HostError> {
    let config = opts.config.as_ref().map(|c| c.file.clone());
    let scripts = opts.scripts_dir.clone();
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if !is_change(&ev) {
                return;
            }
            let relevant = ev.need_rescan()
                || ev.paths.iter().any(|p| {
                    p.starts_with(&scripts)
                        || config
                            .as_ref()
                            .is_some_and(|c| p.ends_with(c.file_name().unwrap_or_default()))
                });
            if relevant {
                let _ = tx.send(());
            }
        }
    })
    .map_err(watch_failed(&opts.scripts_dir))?;
    w.watch(&opts.scripts_dir, notify::RecursiveMode::Recursive)
        .map_err(watch_failed(&opts.scripts_dir))?;
    if let Some(dir) = opts.config.as_ref().and_then(|c| c.file.parent()) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        w.watch(dir, notify::RecursiveMode::NonRecursive)
            .map_err(watch_failed(dir))?;
    }
    Ok(w)
}

/// A watcher error about `dir`, as a [`HostError`].
fn watch_failed(dir: &Path) -> impl FnOnce(notify::Error) -> HostError {
    let dir = dir.to_path_buf();
    move |source| HostError::Watch { dir, source }
}

/// Whether a file event is a change of content or of the directory. Opens,
/// reads and closes after reading are not: the host's own reads fire them,
/// and acting on them would re-read everything for ever.
pub fn is_change(ev: &notify::Event) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    match ev.kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Any | EventKind::Other => ev.need_rescan(),
    }
}
