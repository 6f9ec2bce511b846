//! The host's side of staged rollouts (`[rollout]`, [`crate::rollout`]):
//! it feeds each script's record the events it sees (a save, a failure of
//! the candidate on a canary codec, the clock, an operator's request),
//! keeps the record in the store's rollout table (a conditional write, so
//! with shards every host acts on one record), and runs on each codec the
//! version the record says: the candidate on the canary while it soaks,
//! the promoted version everywhere else, compiled from the source kept in
//! the record (not the files, which may have changed since).
//!
//! Without `[rollout]` one rule stays: a new version whose top level fails
//! on a codec is not kept there; the version that ran before starts again
//! ([`Host::failed`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracing::{error, info, warn};

use super::slots::stop_slots;
use super::{Failure, Host, Running, Slot, rhai_map};
use crate::config::Selector;
use crate::config::rollout::RolloutConfig;
use crate::rollout::version::show;
use crate::rollout::{By, Decision, Event, Phase, Request, Rollout, Snapshot, is_canary};
use crate::script::instance::Program;
use crate::store::RolloutTable;
use crate::telemetry::board::RolloutRecord;

/// A host's staged rollouts: the policy, where records are kept, the
/// records as last read or written (with their generation), and each
/// script's versions ready to run.
pub(super) struct Staged {
    pub policy: RolloutConfig,
    table: Arc<dyn RolloutTable>,
    records: BTreeMap<String, (i64, Rollout)>,
    versions: BTreeMap<String, BTreeMap<u64, Arc<Running>>>,
}

impl Staged {
    pub fn new(policy: RolloutConfig, table: Arc<dyn RolloutTable>) -> Staged {
        Staged {
            policy,
            table,
            records: BTreeMap::new(),
            versions: BTreeMap::new(),
        }
    }

    /// How often records are read again (another host's changes) and
    /// soaks looked at: a quarter of the soak, between 100 ms and 1 s.
    pub fn poll(&self) -> Duration {
        (self.policy.soak / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }
}

/// Whether `selectors` (a version's `codecs`) pick the codec `entry`.
fn picks(selectors: &Option<Vec<String>>, entry: &crate::config::CodecEntry) -> bool {
    selectors
        .as_ref()
        .is_none_or(|s| s.iter().any(|s| Selector::parse(s).picks(entry)))
}

/// Every row of the table, read (a row that cannot be read is left out,
/// said once).
async fn read_rows(table: &Arc<dyn RolloutTable>) -> Result<Vec<(String, i64, Rollout)>, String> {
    let table = table.clone();
    let rows = tokio::task::spawn_blocking(move || table.rollouts())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(rows
        .into_iter()
        .filter_map(|r| match serde_json::from_str::<Rollout>(&r.state) {
            Ok(rec) => Some((r.script, r.generation, rec)),
            Err(e) => {
                warn!(script = %r.script, "its rollout record cannot be read ({e}); it is left alone");
                None
            }
        })
        .collect())
}

impl Host {
    /// Reads every record again; scripts whose record another host (or
    /// an earlier run) changed run what it says now.
    pub(super) async fn refresh_rollouts(&mut self) {
        let Some(staged) = &mut self.staged else {
            return;
        };
        let rows = match read_rows(&staged.table).await {
            Ok(r) => r,
            Err(e) => {
                warn!("rollout records cannot be read now ({e}); trying again");
                return;
            }
        };
        let mut changed = Vec::new();
        for (script, generation, record) in rows {
            if staged.records.get(&script).map(|(g, _)| *g) != Some(generation) {
                staged.records.insert(script.clone(), (generation, record));
                changed.push(script);
            }
        }
        for name in changed {
            if self.scripts.contains_key(&name) {
                self.reconcile(&name).await;
            }
        }
    }

    /// Promotes the changes whose soak is over (inside the window).
    pub(super) async fn tick_rollouts(&mut self) {
        let Some(staged) = &self.staged else {
            return;
        };
        let soaking: Vec<String> = staged
            .records
            .iter()
            .filter(|(_, (_, r))| r.is_soaking())
            .map(|(n, _)| n.clone())
            .collect();
        for name in soaking {
            if let Ok(d) = self.update(&name, Event::Tick).await
                && d.changed()
            {
                self.announce(&name, &d);
                self.reconcile(&name).await;
            } else if self.scripts.contains_key(&name) {
                self.show_rollout(&name);
            }
        }
    }

    /// A new version of `name` compiled: the rollout decides where it runs.
    pub(super) async fn staged_saved(
        &mut self,
        name: &str,
        snapshot: Snapshot,
        running: Arc<Running>,
    ) {
        if let Some(staged) = &mut self.staged {
            staged
                .versions
                .entry(name.to_string())
                .or_default()
                .insert(running.version, running);
        }
        match self.update(name, Event::Saved(snapshot)).await {
            Ok(d) => self.announce(name, &d),
            Err(e) => error!(script = %name, "rollout: {e}"),
        }
        self.reconcile(name).await;
    }

    /// A new version of `name` does not compile: a failed change, taken
    /// back before it ran anywhere.
    pub(super) async fn staged_compile_failed(&mut self, name: &str, file: &str, message: &str) {
        let has_promoted = self
            .staged
            .as_ref()
            .and_then(|s| s.records.get(name))
            .is_some_and(|(_, r)| r.promoted.is_some());
        let Ok(source) = std::fs::read_to_string(self.opts.scripts_dir.join(file)) else {
            return;
        };
        if !has_promoted {
            return;
        }
        let config = self.opts.scripts.get(name).cloned().unwrap_or_default();
        let snapshot = Snapshot {
            file: file.to_string(),
            source,
            libraries: BTreeMap::new(),
            args: Snapshot::args_text(&config.args),
            codecs: config.codecs,
            extra: BTreeMap::new(),
        };
        let version = snapshot.version();
        let _ = self.update(name, Event::Saved(snapshot)).await;
        let failed = Event::Failed {
            version,
            codec: None,
            reason: format!("compile error: {message}"),
        };
        match self.update(name, failed).await {
            Ok(d) => self.announce(name, &d),
            Err(e) => error!(script = %name, "rollout: {e}"),
        }
        self.reconcile(name).await;
    }

    /// A script's code failed on a codec: a candidate on the canary is
    /// rolled back; a new version whose top level failed gives its place
    /// back to the version that ran there before.
    pub(super) async fn failed(&mut self, f: Failure) {
        if self.staged.is_some() {
            let event = Event::Failed {
                version: f.version,
                codec: Some(f.codec.clone()),
                reason: format!("on {}: {}", f.codec, f.message),
            };
            if let Ok(d) = self.update(&f.script, event).await
                && d.changed()
            {
                self.announce(&f.script, &d);
                self.reconcile(&f.script).await;
                return;
            }
        }
        if !f.top_level {
            return;
        }
        let Some(loaded) = self.scripts.get_mut(&f.script) else {
            return;
        };
        let Some(i) = loaded.slots.iter().position(|s| {
            s.codec_name == f.codec && s.running.version == f.version && s.fallback.is_some()
        }) else {
            return;
        };
        let slot = loaded.slots.swap_remove(i);
        let Some(previous) = slot.fallback.clone() else {
            return;
        };
        stop_slots(vec![slot]).await;
        error!(
            script = %f.script,
            codec = %f.codec,
            "version {} not kept: its top level failed: {}; the previous version {} runs there again (fix the file and save)",
            show(f.version),
            f.message,
            show(previous.version)
        );
        crate::telemetry::board().refused(
            &f.script,
            &f.codec,
            &format!(
                "{} (on {}; the previous version runs there)",
                f.message, f.codec
            ),
        );
        if let Some(slot) = self.start_on(&f.script, &previous, &f.codec, None)
            && let Some(l) = self.scripts.get_mut(&f.script)
        {
            l.slots.push(slot);
        }
    }

    /// An operator's request: done (what it did) or refused (why).
    pub(super) async fn asked(
        &mut self,
        name: &str,
        request: Request,
    ) -> Result<String, crate::rollout::Refusal> {
        if self.staged.is_none() {
            return Err((409, "this host runs without [rollout]".into()));
        }
        if !self.scripts.contains_key(name) {
            let known: Vec<&String> = self.scripts.keys().collect();
            return Err((
                404,
                format!(
                    "no script {name:?}{} (scripts: {})",
                    crate::config::did_you_mean(name, known.iter().copied()),
                    known
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        self.refresh_rollouts().await;
        let event = match request {
            Request::Promote => Event::Promote,
            Request::Abort => Event::Abort,
        };
        let d = self.update(name, event).await.map_err(|e| (409, e))?;
        self.announce(name, &d);
        self.reconcile(name).await;
        Ok(match d {
            Decision::Promoted { version, .. } => {
                format!("{name}: {} promoted to every codec", show(version))
            }
            Decision::Aborted { version } => format!(
                "{name}: {} aborted; the canary runs the promoted version again",
                show(version)
            ),
            other => format!("{name}: {other:?}"),
        })
    }

    /// Applies `event` to `name`'s record and keeps it, written only over
    /// the generation read (another host's write first: read again and
    /// decide again).
    async fn update(&mut self, name: &str, event: Event) -> Result<Decision, String> {
        for _ in 0..8 {
            let now = crate::rollout::now(&*self.opts.clock);
            let Some(staged) = &mut self.staged else {
                return Err("this host runs without [rollout]".into());
            };
            let (generation, mut record) = staged.records.get(name).cloned().unwrap_or_default();
            let decision = record
                .apply(event.clone(), now, &staged.policy)
                .map_err(|e| e.to_string())?;
            if !decision.changed() {
                return Ok(decision);
            }
            let text = serde_json::to_string(&record).map_err(|e| e.to_string())?;
            let (table, script) = (staged.table.clone(), name.to_string());
            let wrote =
                tokio::task::spawn_blocking(move || table.swap_rollout(&script, generation, &text))
                    .await
                    .map_err(|e| e.to_string())?;
            match wrote {
                Ok(true) => {
                    staged
                        .records
                        .insert(name.to_string(), (generation + 1, record));
                    return Ok(decision);
                }
                Ok(false) => {
                    let rows = read_rows(&staged.table).await?;
                    if let Some((_, g, r)) = rows.into_iter().find(|(s, _, _)| s == name) {
                        staged.records.insert(name.to_string(), (g, r));
                    }
                }
                Err(e) => {
                    error!(script = %name, "the rollout record could not be kept in the store ({e}); acting on it on this host only");
                    staged
                        .records
                        .insert(name.to_string(), (generation, record));
                    return Ok(decision);
                }
            }
        }
        Err("the rollout record kept changing under this host; try again".into())
    }

    /// Says what a decision did (only the host that made it says so).
    fn announce(&self, name: &str, d: &Decision) {
        let promoted = self
            .staged
            .as_ref()
            .and_then(|s| s.records.get(name))
            .and_then(|(_, r)| r.promoted_version())
            .map(show)
            .unwrap_or_default();
        match d {
            Decision::Nothing => {}
            Decision::First(v) => {
                info!(script = %name, "version {} promoted (its first)", show(*v))
            }
            Decision::Soaking { version, until } => info!(
                script = %name,
                "change {} runs on the canary codecs first; every other codec keeps {promoted} until {} at least",
                show(*version),
                local_time(*until)
            ),
            Decision::Reverted { dropped } => info!(
                script = %name,
                "saved back to the promoted version {promoted}: change {} is dropped",
                show(*dropped)
            ),
            Decision::RolledBack {
                version, reason, ..
            } => {
                crate::telemetry::metrics().rollback(name);
                error!(
                    script = %name,
                    "change {} failed {reason}; rolled back: the canary runs {promoted} again, and {} is never promoted (save a fixed version to try again)",
                    show(*version),
                    show(*version)
                );
            }
            Decision::Promoted { version, by } => info!(
                script = %name,
                "change {} promoted to every codec ({})",
                show(*version),
                match by {
                    By::Soak => "it soaked on the canary without a failure",
                    By::Operator => "by an operator",
                }
            ),
            Decision::Aborted { version } => warn!(
                script = %name,
                "change {} aborted by an operator: the canary runs {promoted} again",
                show(*version)
            ),
        }
    }

    /// Runs on each codec served here the version `name`'s record says.
    pub(super) async fn reconcile(&mut self, name: &str) {
        let Some(staged) = &self.staged else {
            return;
        };
        let Some((_, record)) = staged.records.get(name).cloned() else {
            return;
        };
        let mut want: BTreeMap<String, Snapshot> = BTreeMap::new();
        for entry in &self.opts.codecs {
            if !self.serving.serves(&entry.name) {
                continue;
            }
            let canary = is_canary(&staged.policy, entry);
            if let Some(snap) = record.runs(canary)
                && picks(&snap.codecs, entry)
            {
                want.insert(entry.name.clone(), snap.clone());
            }
        }
        let mut ready: BTreeMap<u64, Arc<Running>> = BTreeMap::new();
        for snap in want.values() {
            let v = snap.version();
            if ready.contains_key(&v) {
                continue;
            }
            if let Some(r) = self.running_for(name, snap).await {
                ready.insert(v, r);
            }
        }
        if let Some(staged) = &mut self.staged {
            let keep: Vec<u64> = [record.promoted_version(), record.candidate_version()]
                .into_iter()
                .flatten()
                .collect();
            let disk = self
                .scripts
                .get(name)
                .and_then(|l| l.program.as_ref().map(|p| p.version));
            if let Some(v) = staged.versions.get_mut(name) {
                v.retain(|k, _| keep.contains(k) || Some(*k) == disk);
            }
        }
        let Some(loaded) = self.scripts.get_mut(name) else {
            return;
        };
        let (keep, going): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut loaded.slots)
            .into_iter()
            .partition(|s| {
                want.get(&s.codec_name).map(Snapshot::version) == Some(s.running.version)
            });
        let previous: BTreeMap<String, Arc<Running>> = going
            .iter()
            .map(|s| (s.codec_name.clone(), s.running.clone()))
            .collect();
        stop_slots(going).await;
        let mut slots = keep;
        for (codec, snap) in &want {
            if slots.iter().any(|s| &s.codec_name == codec) {
                continue;
            }
            let Some(running) = ready.get(&snap.version()).cloned() else {
                continue;
            };
            let before = previous
                .get(codec)
                .filter(|p| p.version != running.version)
                .cloned();
            if let Some(slot) = self.start_on(name, &running, codec, before) {
                slots.push(slot);
            }
        }
        if let Some(l) = self.scripts.get_mut(name) {
            l.slots = slots;
        }
        self.show_rollout(name);
    }

    /// A version ready to run: compiled from the source kept in the record
    /// (once; kept while the record names it).
    async fn running_for(&mut self, name: &str, snap: &Snapshot) -> Option<Arc<Running>> {
        let version = snap.version();
        let guard = self.guard(name, version);
        let staged = self.staged.as_mut()?;
        if let Some(r) = staged.versions.get(name).and_then(|v| v.get(&version)) {
            return Some(r.clone());
        }
        let engine = self.engine.clone();
        let (file, source, libraries) = (
            snap.file.clone(),
            snap.source.clone(),
            snap.libraries.clone(),
        );
        let compiled = tokio::task::spawn_blocking(move || {
            crate::script::loader::compile_kept(&engine, &file, &source, &libraries)
        })
        .await
        .ok()?;
        let compiled = match compiled {
            Ok(c) => c,
            Err(e) => {
                error!(script = %name, "version {} kept in the store does not compile with this xmacro: {}", show(version), e.message);
                return None;
            }
        };
        let running = Arc::new(Running {
            version,
            program: Arc::new(Program::new(
                self.engine.clone(),
                compiled.ast,
                snap.file.clone(),
            )),
            args: rhai_map(&snap.args_table()),
            codecs: snap.codecs.clone(),
            guard,
        });
        staged
            .versions
            .entry(name.to_string())
            .or_default()
            .insert(version, running.clone());
        Some(running)
    }

    /// Puts `name`'s rollout on the status board.
    fn show_rollout(&self, name: &str) {
        let Some(staged) = &self.staged else {
            return;
        };
        let Some((_, r)) = staged.records.get(name) else {
            return;
        };
        let now = crate::rollout::now(&*self.opts.clock);
        let mut running: BTreeMap<String, usize> = BTreeMap::new();
        if let Some(l) = self.scripts.get(name) {
            for s in &l.slots {
                *running.entry(show(s.running.version)).or_default() += 1;
            }
        }
        let (state, until, reason) = match &r.phase {
            Phase::Steady => ("steady", None, None),
            Phase::Soaking { until, .. } => ("soaking", Some(system_time(*until)), None),
            Phase::RolledBack { reason, .. } => ("rolled_back", None, Some(reason.clone())),
            Phase::Aborted { .. } => ("aborted", None, None),
        };
        let record = RolloutRecord {
            state: state.to_string(),
            until,
            waiting_for_window: r.waits_for_window(now, &staged.policy).then(|| {
                staged
                    .policy
                    .window
                    .map(|w| w.to_string())
                    .unwrap_or_default()
            }),
            promoted: r.promoted_version().map(show),
            candidate: r.candidate_version().map(show),
            reason,
            running,
        };
        crate::telemetry::board().rollout(name, Some(record));
    }
}

fn system_time(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

fn local_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}
