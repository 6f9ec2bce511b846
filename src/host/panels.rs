//! The host's panel sync: the project's panels (the panels folder, read
//! again on every change the watcher reports) and one task per codec
//! served that executes [`crate::panels::plan`] against it whenever it
//! connects (a reconnect too) and whenever the panels it should have
//! change. What was saved where is recorded in the store
//! ([`PanelRecords`]), so only what is missing or changed is saved and
//! only what the host saved is removed.
//!
//! A refused panel file is logged with its file and line and its last good
//! version stays; a codec that refuses a save is shown failing on the
//! status page and tried again on the next change or reconnect.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tracing::{Instrument, error, info, warn};

use crate::config::CodecEntry;
use crate::config::panels::{PanelConfig, in_scope};
use crate::panels::{Action, Panel, Project, plan, read_dir};
use crate::store::PanelRecords;
use crate::telemetry::panels::{CodecPanels, panels as board};
use crate::xows::path::Path;
use crate::xows::{Codec, ConnState};

/// What every codec should have: the project's panels and their scopes.
#[derive(Debug, Default)]
pub struct Wanted {
    pub project: Project,
    pub scope: BTreeMap<String, PanelConfig>,
    /// Bumped on every change, so a task knows whether it is up to date.
    pub generation: u64,
}

impl Wanted {
    /// The panels meant for `codec`, by PanelId.
    pub fn for_codec(&self, codec: &CodecEntry) -> BTreeMap<String, Panel> {
        self.project
            .panels()
            .filter(|p| in_scope(&self.scope, &p.file, codec))
            .map(|p| (p.id.clone(), p.clone()))
            .collect()
    }
}

/// Where a codec's task is: the connection and the generation it last
/// synced, and whether a sync runs now.
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    connects: u64,
    generation: u64,
    running: bool,
}

struct Task {
    codec: Codec,
    handle: tokio::task::JoinHandle<()>,
    progress: Arc<Mutex<Progress>>,
}

/// The panel sync of one host.
pub struct PanelSync {
    dir: Option<PathBuf>,
    wanted: watch::Sender<Arc<Wanted>>,
    records: PanelRecords,
    tasks: BTreeMap<String, Task>,
    /// Codecs served with nothing to sync: no panel is meant for them and
    /// the host saved none there. They get a task (and a sync) once the
    /// folder holds panels for them; until then they cost no task, no
    /// listing on every connect and no read of their records.
    dormant: BTreeMap<String, (CodecEntry, Codec)>,
}

impl PanelSync {
    /// Reads the panels folder (`None`: no panels).
    pub fn new(
        dir: Option<PathBuf>,
        scope: BTreeMap<String, PanelConfig>,
        records: PanelRecords,
    ) -> PanelSync {
        let mut sync = PanelSync {
            dir,
            wanted: watch::channel(Arc::new(Wanted::default())).0,
            records,
            tasks: BTreeMap::new(),
            dormant: BTreeMap::new(),
        };
        sync.rescan(scope);
        sync
    }

    /// The folder read, if any.
    pub fn dir(&self) -> Option<&PathBuf> {
        self.dir.as_ref()
    }

    /// Reads the folder again (and takes the scopes of a reloaded config):
    /// codecs are synced again when what they should have changed.
    pub fn rescan(&mut self, scope: BTreeMap<String, PanelConfig>) {
        let Some(dir) = &self.dir else { return };
        let old = self.wanted.borrow().clone();
        let project = read_dir(dir, &old.project);
        let refused: Vec<String> = project.errors.iter().map(ToString::to_string).collect();
        if project.errors != old.project.errors {
            for e in &project.errors {
                error!("panel file refused, its codecs keep the last good version: {e}");
            }
        }
        board().set_refused(refused);
        if project.same_panels(&old.project) && scope == old.scope {
            if project.errors != old.project.errors {
                let generation = old.generation;
                self.wanted.send_replace(Arc::new(Wanted {
                    project,
                    scope,
                    generation,
                }));
            }
            return;
        }
        let count = project.panels().count();
        if old.generation > 0 || count > 0 {
            info!("{count} panel(s) from {}", dir.display());
        }
        self.wanted.send_replace(Arc::new(Wanted {
            project,
            scope,
            generation: old.generation + 1,
        }));
        self.wake_dormant();
    }

    /// Starts the tasks of dormant codecs that now have panels meant for
    /// them.
    fn wake_dormant(&mut self) {
        let wanted = self.wanted();
        let due: Vec<String> = self
            .dormant
            .iter()
            .filter(|(_, (entry, _))| !wanted.for_codec(entry).is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        for name in due {
            if let Some((entry, codec)) = self.dormant.remove(&name) {
                self.spawn(&entry, codec);
            }
        }
    }

    /// What the codecs should have now.
    pub fn wanted(&self) -> Arc<Wanted> {
        self.wanted.borrow().clone()
    }

    /// Starts syncing a codec this host serves.
    pub fn serve(&mut self, entry: &CodecEntry, codec: Codec) {
        self.serve_all(vec![(entry.clone(), codec)]);
    }

    /// Starts syncing codecs this host serves: a task each for those with
    /// panels meant for them or saved there by the host (read in bulk), the
    /// others dormant (see [`PanelSync::rescan`]).
    pub fn serve_all(&mut self, served: Vec<(CodecEntry, Codec)>) {
        if self.dir.is_none() {
            return;
        }
        for (entry, _) in &served {
            self.let_go(&entry.name);
        }
        let wanted = self.wanted();
        let (idle, active): (Vec<_>, Vec<_>) = served
            .into_iter()
            .partition(|(entry, _)| wanted.for_codec(entry).is_empty());
        for (entry, codec) in active {
            self.spawn(&entry, codec);
        }
        if idle.is_empty() {
            return;
        }
        let owning = self
            .records
            .owning(idle.iter().map(|(e, _)| e.name.as_str()));
        if let Err(e) = &owning {
            warn!("panel records cannot be read in bulk ({e}); each codec reads its own");
        }
        for (entry, codec) in idle {
            match &owning {
                Ok(o) if !o.contains(&entry.name) => {
                    self.dormant.insert(entry.name.clone(), (entry, codec));
                }
                _ => self.spawn(&entry, codec),
            }
        }
    }

    /// Starts the task that syncs `codec`.
    fn spawn(&mut self, entry: &CodecEntry, codec: Codec) {
        let progress = Arc::new(Mutex::new(Progress::default()));
        let span = tracing::info_span!(parent: None, "panels", codec = %entry.name);
        let handle = tokio::spawn(
            run(
                entry.clone(),
                codec.clone(),
                self.wanted.subscribe(),
                self.records.clone(),
                progress.clone(),
            )
            .instrument(span),
        );
        self.tasks.insert(
            entry.name.clone(),
            Task {
                codec,
                handle,
                progress,
            },
        );
    }

    /// Stops syncing a codec (another host serves it now, or this one stops).
    pub fn let_go(&mut self, codec: &str) {
        self.dormant.remove(codec);
        if let Some(t) = self.tasks.remove(codec) {
            t.handle.abort();
            board().forget(codec);
        }
    }

    /// Stops every task.
    pub fn stop(&mut self) {
        self.dormant.clear();
        for (_, t) in std::mem::take(&mut self.tasks) {
            t.handle.abort();
        }
    }

    /// Whether a codec on its first attempt, or connected with a sync
    /// running or due, keeps the panels busy (for the host's idle).
    pub fn busy(&self) -> bool {
        let generation = self.wanted.borrow().generation;
        self.tasks.values().any(|t| {
            let p = *t.progress.lock().unwrap_or_else(|p| p.into_inner());
            let due =
                || p.running || p.connects != t.codec.connects() || p.generation != generation;
            !t.handle.is_finished()
                && match *t.codec.watch_state().borrow() {
                    ConnState::Connecting => true,
                    ConnState::Connected => due(),
                    _ => false,
                }
        })
    }
}

/// One codec's task: syncs on every connection and every change.
async fn run(
    entry: CodecEntry,
    codec: Codec,
    mut wanted: watch::Receiver<Arc<Wanted>>,
    records: PanelRecords,
    progress: Arc<Mutex<Progress>>,
) {
    let mut state = codec.watch_state();
    loop {
        loop {
            let now = state.borrow_and_update().clone();
            if now.is_connected() {
                break;
            }
            if matches!(now, ConnState::Closed | ConnState::Failed(_)) {
                return;
            }
            if state.changed().await.is_err() {
                return;
            }
        }
        let connects = codec.connects();
        let w = wanted.borrow_and_update().clone();
        progress.lock().unwrap_or_else(|p| p.into_inner()).running = true;
        let outcome = sync(&entry, &codec, &w, &records).await;
        board().synced(&entry.name, outcome);
        *progress.lock().unwrap_or_else(|p| p.into_inner()) = Progress {
            connects,
            generation: w.generation,
            running: false,
        };
        loop {
            tokio::select! {
                r = wanted.changed() => {
                    if r.is_err() { return; }
                    break;
                }
                r = state.changed() => {
                    if r.is_err() { return; }
                    if !state.borrow().is_connected() || codec.connects() != connects {
                        break;
                    }
                }
            }
        }
    }
}

/// One sync of one codec: lists its panels, plans, saves and removes,
/// and records what was done.
pub async fn sync(
    entry: &CodecEntry,
    codec: &Codec,
    wanted: &Wanted,
    records: &PanelRecords,
) -> CodecPanels {
    let name = entry.name.clone();
    let desired = wanted.for_codec(entry);
    let mut out = CodecPanels::default();
    let listed = match list(codec).await {
        Ok(l) => l,
        Err(e) => {
            warn!(
                "panels not synced: listing the codec's extensions failed: {e}; tried again on the next change or reconnect"
            );
            out.failing
                .insert("*".into(), format!("listing extensions: {e}"));
            return out;
        }
    };
    let owned = {
        let (records, name) = (records.clone(), name.clone());
        tokio::task::spawn_blocking(move || records.owned(&name)).await
    };
    let owned = match owned {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            warn!("panels not synced: the records of what was saved cannot be read: {e}");
            out.failing
                .insert("*".into(), format!("panel records: {e}"));
            return out;
        }
        Err(e) => {
            out.failing
                .insert("*".into(), format!("panel records: {e}"));
            return out;
        }
    };
    let hashes = desired
        .iter()
        .map(|(id, p)| (id.clone(), p.hash.clone()))
        .collect();
    for action in plan(&hashes, &listed, &owned) {
        match action {
            Action::Save(id) => {
                let p = &desired[&id];
                match command(codec, "Save", &id, Some(p.body.clone())).await {
                    Ok(()) => {
                        board().saves_ok.inc();
                        info!("panel {id:?} saved (from {}.xml)", p.file);
                        record(records, &name, &id, Some(&p.hash), &mut out).await;
                    }
                    Err(e) => {
                        board().saves_failed.inc();
                        warn!(
                            "panel {id:?} not saved: the codec said: {e}; tried again on the next change or reconnect"
                        );
                        out.failing.insert(id, e);
                    }
                }
            }
            Action::Remove(id) => match command(codec, "Remove", &id, None).await {
                Ok(()) => {
                    info!("panel {id:?} removed: no panel file has it for this codec now");
                    record(records, &name, &id, None, &mut out).await;
                }
                Err(e) => {
                    warn!("panel {id:?} not removed: the codec said: {e}");
                    out.failing.insert(id, format!("remove: {e}"));
                }
            },
            Action::Forget(id) => record(records, &name, &id, None, &mut out).await,
        }
    }
    out.in_sync = desired
        .keys()
        .filter(|id| !out.failing.contains_key(*id))
        .cloned()
        .collect();
    out
}

/// Records a save (`Some(hash)`) or a removal of `id` on `codec`.
async fn record(
    records: &PanelRecords,
    codec: &str,
    id: &str,
    hash: Option<&str>,
    out: &mut CodecPanels,
) {
    let (r, c, i, h) = (
        records.clone(),
        codec.to_string(),
        id.to_string(),
        hash.map(str::to_string),
    );
    let done = tokio::task::spawn_blocking(move || match h {
        Some(h) => r.saved(&c, &i, &h),
        None => r.removed(&c, &i),
    })
    .await;
    let why = match done {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    warn!("panel {id:?}: what was done is not recorded: {why}");
    out.failing
        .insert(id.to_string(), format!("not recorded: {why}"));
}

/// `UserInterface Extensions Panel Save` or `Remove`.
async fn command(codec: &Codec, what: &str, id: &str, body: Option<String>) -> Result<(), String> {
    let path = Path::parse(&format!("Command UserInterface Extensions Panel {what}"))
        .map_err(|e| e.to_string())?;
    let mut args = Map::new();
    args.insert("PanelId".into(), json!(id));
    codec
        .command(&path, args, body)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The PanelIds a codec lists (`UserInterface Extensions List`).
async fn list(codec: &Codec) -> Result<BTreeSet<String>, String> {
    let path = Path::parse("Command UserInterface Extensions List").map_err(|e| e.to_string())?;
    let answer = codec
        .command(&path, Map::new(), None)
        .await
        .map_err(|e| e.to_string())?;
    Ok(listed_ids(&answer))
}

/// The PanelIds in a `UserInterface Extensions List` answer (`Panel` an
/// array, or one object, or absent when there is none).
pub fn listed_ids(answer: &Value) -> BTreeSet<String> {
    let panels = &answer["Extensions"]["Panel"];
    let items: Vec<&Value> = match panels {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![panels],
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|p| p["PanelId"].as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_answer_is_read_with_one_panel_many_or_none() {
        let many = json!({"Extensions": {"Version": "1.11", "Panel": [{"id": 1, "PanelId": "a"}, {"id": 2, "PanelId": "b"}]}});
        assert_eq!(listed_ids(&many).len(), 2);
        let one = json!({"Extensions": {"Panel": {"PanelId": "a"}}});
        assert!(listed_ids(&one).contains("a"));
        assert!(listed_ids(&json!({"Extensions": {"Version": "1.11"}})).is_empty());
    }
}
