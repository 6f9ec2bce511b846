//! The host: binds scripts to codecs (one instance per pair), watches the
//! scripts directory and the config file, and reloads exactly what changed.
//!
//! A reload compiles first and swaps only on success: on a compile error
//! the running version stays and the error is logged as `file:line:col`.
//! Content is compared by hash (script, the libraries it imports, its
//! `args` and `codecs`), so saves that change nothing do nothing, bursts of
//! saves and atomic renames settle on the final content, and a library
//! change reloads the scripts that import it.
//!
//! An instance starts once its codec is connected. One whose top level its
//! codec stopped (answers too late, the connection lost, not ready after a
//! boot) rather than its own code is started again after a growing pause
//! (see [`crate::script::retry`]), logged once and shown as retrying.
//!
//! [`HostHandle::idle`] tells when nothing is under way (no reload waiting,
//! every instance's mailbox empty, feedback in flight handled), so a test
//! waits for that instead of a quiet period.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::Watcher;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{Instrument, error, info, warn};

use crate::clock::Clock;
use crate::config::store::DEFAULT_LOCK_RETRY;
use crate::config::{CodecEntry, Config, ConfigError, ScriptConfig, Selector};
use crate::fleet::Serving;
use crate::script::engine;
use crate::script::instance::{Instance, InstanceCtx, Limits, Program};
use crate::script::loader;
use crate::script::retry::{self, TopLevelEnd};
use crate::store::{PgBackend, Store, Stores};
use crate::xows::Codec;

pub mod idle;
pub mod panels;

/// What the host runs.
#[derive(Debug, Clone)]
pub struct HostOptions {
    pub scripts_dir: PathBuf,
    pub state_dir: PathBuf,
    pub codecs: Vec<CodecEntry>,
    pub scripts: BTreeMap<String, ScriptConfig>,
    /// The config file these options were read from, as it was read:
    /// watched, and a change of a script's `args` or `codecs` reloads it.
    pub config: Option<ConfigSeen>,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    /// Quiet time after the last file event before reloading.
    pub debounce: Duration,
    /// Watch for changes (off for one-off runs in tests).
    pub watch: bool,
    /// Run only the script of this name (`xmacro run FILE.rhai`).
    pub only: Option<String>,
    /// Cancelled when the process is asked to stop while the host starts:
    /// the scripts not loaded yet are skipped, so the stop (with
    /// `on_unload` for what started) comes at once.
    pub cancel_start: tokio_util::sync::CancellationToken,
    /// Bytes each instance's store may hold.
    pub store_quota: u64,
    /// Serve only this shard's codecs (`--shard I/N`).
    pub shard: Option<crate::fleet::shard::Shard>,
    /// How many codecs the whole fleet has, when `codecs` holds only this
    /// shard's share (for the log).
    pub fleet_size: Option<usize>,
    /// Keep the store in PostgreSQL (and lock each codec served there)
    /// instead of the state directory.
    pub postgres: Option<crate::config::store::PgSettings>,
    /// The UI extension panels folder (`panels = "DIR"`), if any.
    pub panels: Option<PathBuf>,
    /// The `[panel.NAME]` tables.
    pub panel: BTreeMap<String, crate::config::panels::PanelConfig>,
    /// Each codec's `settings`, by codec name (`codec.settings` in scripts).
    pub settings: BTreeMap<String, toml::Table>,
}

impl HostOptions {
    pub fn new(scripts_dir: PathBuf, state_dir: PathBuf, codecs: Vec<CodecEntry>) -> Self {
        HostOptions {
            scripts_dir,
            state_dir,
            codecs,
            scripts: BTreeMap::new(),
            config: None,
            clock: Arc::new(crate::clock::SystemClock),
            limits: Limits::default(),
            debounce: Duration::from_millis(25),
            watch: true,
            only: None,
            cancel_start: Default::default(),
            store_quota: crate::store::DEFAULT_QUOTA,
            shard: None,
            fleet_size: None,
            postgres: None,
            panels: None,
            panel: BTreeMap::new(),
            settings: BTreeMap::new(),
        }
    }
}

/// A config file as a host last read it: where it is, a hash of its text
/// (a save that changes nothing, or a mistake already reported, is not
/// acted on again) and the codec names of its last good version (a change
/// of them needs a restart, and is said so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSeen {
    pub file: PathBuf,
    pub text_hash: u64,
    pub codecs: BTreeSet<String>,
}

impl ConfigSeen {
    /// What a host keeps of a config it was started from (read once, by
    /// whoever started it).
    pub fn of(config: &Config) -> ConfigSeen {
        ConfigSeen {
            file: config.file.clone(),
            text_hash: config.text_hash,
            codecs: config.codecs.iter().map(|c| c.name.clone()).collect(),
        }
    }
}

/// Refuses a config whose `[script.NAME]` tables name no script of the
/// scripts directory (see [`Config::check_script_names`]); when the
/// directory cannot be read, the host says so when it looks for scripts.
/// The same check on start and on every reload.
pub fn check_script_names(config: &Config, scripts_dir: &Path) -> Result<(), ConfigError> {
    match list_scripts(scripts_dir) {
        Ok(found) => config.check_script_names(&found.into_keys().collect::<Vec<_>>()),
        Err(_) => Ok(()),
    }
}

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The scripts directory cannot be read.
    #[error("scripts directory {}: {source}", dir.display())]
    ScriptsDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// The scripts directory is a file (or something else).
    #[error("scripts directory {}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The file watcher could not watch a directory.
    #[error("watching {}: {source}", dir.display())]
    Watch { dir: PathBuf, source: notify::Error },
    /// The state directory is locked by another host, or unusable.
    #[error(transparent)]
    State(#[from] crate::store::StoreError),
}

/// The codecs a host serves now, by name: a codec taken over from
/// another host comes in, one let go to another leaves.
pub type Codecs = Arc<BTreeMap<String, Codec>>;

/// A running host; dropping it does not stop it, `shutdown` does.
pub struct HostHandle {
    codecs: watch::Receiver<Codecs>,
    stop: Option<oneshot::Sender<oneshot::Sender<()>>>,
    reload: mpsc::UnboundedSender<()>,
    probe: mpsc::UnboundedSender<oneshot::Sender<Activity>>,
    task: tokio::task::JoinHandle<()>,
}

impl HostHandle {
    /// The codecs this host serves, by name, as they change (what the
    /// status page shows): every configured codec, but those another host
    /// holds.
    pub fn codecs(&self) -> watch::Receiver<Codecs> {
        self.codecs.clone()
    }

    /// Rescans now, as if a file had changed.
    pub fn rescan(&self) {
        let _ = self.reload.send(());
    }

    /// Waits until the host is idle: no reload waiting, no instance still
    /// starting on a codec that is up or on its first attempt, no job queued or running in any
    /// instance, and the same reading again after a round trip to every
    /// connected codec (so feedback the codec sent before it has been
    /// handled too). Timers not due yet do not count: this is what "nothing
    /// more will happen unless something new comes" means. Returns at once
    /// once the host has stopped.
    pub async fn idle(&self) {
        let read = async || {
            let (tx, rx) = oneshot::channel();
            self.probe.send(tx).ok()?;
            let now = rx.await.ok()?;
            Some((!now.busy, now.mark))
        };
        let flush = async || {
            let codecs = self.codecs.borrow().clone();
            for codec in codecs.values() {
                if codec.watch_state().borrow().is_connected() {
                    round_trip(codec).await;
                }
            }
            true
        };
        let _ = crate::host::idle::wait(read, flush, Duration::MAX).await;
    }

    /// Stops every instance (`on_unload` runs), closes every codec with
    /// close code 1000, and waits for that.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let (tx, rx) = oneshot::channel();
            if stop.send(tx).is_ok() {
                let _ = rx.await;
            }
        }
        let _ = (&mut self.task).await;
    }
}

/// What [`HostHandle::idle`] reads from the host: whether anything is
/// under way, and a mark that changes whenever anything was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Activity {
    busy: bool,
    /// Reloads handled, instances, and jobs ever queued to them.
    mark: (u64, usize, u64),
}

/// A request answered by the codec: when it returns, everything the codec
/// sent before it has been received.
pub async fn round_trip(codec: &Codec) {
    if let Ok(p) = crate::xows::path::Path::parse("Status SystemUnit ProductId") {
        let _ = codec.get(&p).await;
    }
}

/// One instance slot: the instance once its codec is ready.
struct Slot {
    /// The name of the codec it runs on.
    codec_name: String,
    instance: Arc<Mutex<Option<Arc<Instance>>>>,
    starter: tokio::task::JoinHandle<()>,
    /// The codec it waits for.
    codec: Codec,
}

impl Slot {
    /// Whether its codec is up or on its first attempt: the instance is
    /// about to start (not waiting for a codec that is down).
    fn codec_coming(&self) -> bool {
        use crate::xows::ConnState;
        matches!(
            *self.codec.watch_state().borrow(),
            ConnState::Connecting | ConnState::Connected
        )
    }
}

struct Loaded {
    /// What runs, for instances started later (a codec taken over).
    program: Option<Arc<Program>>,
    fingerprint: u64,
    deps: BTreeSet<PathBuf>,
    slots: Vec<Slot>,
}

struct Host {
    opts: HostOptions,
    engine: Arc<rhai::Engine>,
    codecs: Codecs,
    /// Where every change of `codecs` is published (the handle reads it).
    codecs_seen: watch::Sender<Codecs>,
    urls: BTreeMap<String, String>,
    scripts: BTreeMap<String, Loaded>,
    stores: Stores,
    serving: Serving,
    /// Reloads and take-overs handled (part of the idle mark).
    generation: u64,
    /// The UI extension panels kept in line on every codec served.
    panels: panels::PanelSync,
}

/// Starts the host: connects every codec, loads every script.
pub async fn start(mut opts: HostOptions) -> Result<HostHandle, HostError> {
    // The watcher reports absolute paths; compare like with like.
    if let Ok(abs) = std::fs::canonicalize(&opts.scripts_dir) {
        opts.scripts_dir = abs;
    }
    if let Some(c) = &mut opts.config
        && let Ok(abs) = std::fs::canonicalize(&c.file)
    {
        c.file = abs;
    }
    if let Some(p) = &mut opts.panels
        && let Ok(abs) = std::fs::canonicalize(&*p)
    {
        *p = abs;
    }
    let dir = &opts.scripts_dir;
    let meta = std::fs::metadata(dir).map_err(|source| HostError::ScriptsDir {
        dir: dir.clone(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(HostError::NotADirectory(dir.clone()));
    }
    let (stores, locks, retry, taken) = match &opts.postgres {
        Some(pg) => {
            let db = Arc::new(PgBackend::open(&pg.target)?);
            let stores = Stores::with_backend(db.clone(), opts.store_quota);
            let taken = db.taken_elsewhere();
            (stores, Some(db), pg.lock_retry, taken)
        }
        None => (
            Stores::open_dir(&opts.state_dir, opts.store_quota)?,
            None,
            DEFAULT_LOCK_RETRY,
            None,
        ),
    };
    let fleet = opts.fleet_size.unwrap_or(opts.codecs.len());
    let names = opts.codecs.iter().map(|c| c.name.as_str());
    let serving = Serving::take(names, fleet, opts.shard, locks, retry)?;
    let (reload_tx, reload_rx) = mpsc::unbounded_channel();
    let (probe_tx, probe_rx) = mpsc::unbounded_channel();
    let watcher = if opts.watch {
        Some(watch(&opts, reload_tx.clone())?)
    } else {
        None
    };
    let codecs: BTreeMap<String, Codec> = opts
        .codecs
        .iter()
        .filter(|c| serving.serves(&c.name))
        .map(|c| (c.name.clone(), Codec::spawn(c.config.clone())))
        .collect();
    let urls = opts
        .codecs
        .iter()
        .map(|c| (c.name.clone(), c.config.dial_url().to_string()))
        .collect();
    let engine = engine::build(opts.scripts_dir.clone(), opts.limits.max_operations);
    let mut panel_sync =
        panels::PanelSync::new(opts.panels.clone(), opts.panel.clone(), stores.panels());
    for entry in opts.codecs.iter() {
        if let Some(codec) = codecs.get(&entry.name) {
            panel_sync.serve(entry, codec.clone());
        }
    }
    let codecs: Codecs = Arc::new(codecs);
    let (codecs_seen, seen) = watch::channel(codecs.clone());
    let mut host = Host {
        opts,
        engine,
        codecs,
        codecs_seen,
        urls,
        scripts: BTreeMap::new(),
        stores,
        serving,
        generation: 0,
        panels: panel_sync,
    };
    let (stop_tx, stop_rx) = oneshot::channel();
    host.scan().await;
    let task = tokio::spawn(async move {
        let _watcher = watcher;
        host.run(reload_rx, probe_rx, stop_rx, taken).await;
    });
    Ok(HostHandle {
        codecs: seen,
        stop: Some(stop_tx),
        reload: reload_tx,
        probe: probe_tx,
        task,
    })
}

/// Runs a host until `shutdown` resolves.
pub async fn run(
    opts: HostOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), HostError> {
    let handle = start(opts).await?;
    shutdown.await;
    info!("shutting down");
    handle.shutdown().await;
    Ok(())
}

fn watch(
    opts: &HostOptions,
    tx: mpsc::UnboundedSender<()>,
) -> Result<notify::RecommendedWatcher, HostError> {
    let config = opts.config.as_ref().map(|c| c.file.clone());
    let scripts = opts.scripts_dir.clone();
    let panels = opts.panels.clone().filter(|p| p.is_dir());
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if !is_change(&ev) {
                return;
            }
            let relevant = ev.need_rescan()
                || ev.paths.iter().any(|p| {
                    p.starts_with(&scripts)
                        || panels.as_ref().is_some_and(|d| p.starts_with(d))
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
    if let Some(dir) = opts.panels.as_ref().filter(|p| p.is_dir())
        && !dir.starts_with(&opts.scripts_dir)
    {
        w.watch(dir, notify::RecursiveMode::NonRecursive)
            .map_err(watch_failed(dir))?;
    }
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

/// Whether a directory entry is a script (not an editor's temporary file).
/// Tests (`*.test.rhai`, for `xmacro test`) are never run as scripts.
pub fn is_script_file(name: &str) -> bool {
    name.ends_with(".rhai")
        && !name.ends_with(".test.rhai")
        && !name.starts_with('.')
        && !name.starts_with('#')
        && name.len() > ".rhai".len()
}

/// Splits a script file given on the command line into its directory
/// (the scripts root, for imports) and its name.
pub fn split_script_file(file: &Path) -> Result<(PathBuf, String), String> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !is_script_file(&name) {
        return Err(format!(
            "{}: a script file ends in .rhai (and is not a *.test.rhai)",
            file.display()
        ));
    }
    if !file.is_file() {
        return Err(format!("{}: no such script file", file.display()));
    }
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.trim_end_matches(".rhai").to_string()))
}

/// The scripts in a directory, by name (file stem).
pub fn list_scripts(dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_script_file(&name) && entry.file_type().is_ok_and(|t| t.is_file()) {
            out.insert(name.trim_end_matches(".rhai").to_string(), name);
        }
    }
    Ok(out)
}

impl Host {
    async fn run(
        mut self,
        mut reload: mpsc::UnboundedReceiver<()>,
        mut probe: mpsc::UnboundedReceiver<oneshot::Sender<Activity>>,
        mut stop: oneshot::Receiver<oneshot::Sender<()>>,
        taken: Option<mpsc::UnboundedReceiver<String>>,
    ) {
        // Codecs another host took while the store database was unreachable.
        let mut taken = taken.unwrap_or_else(|| mpsc::unbounded_channel().1);
        let mut retry = tokio::time::interval(self.serving.retry);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        retry.reset();
        loop {
            tokio::select! {
                _ = retry.tick(), if self.serving.has_waiting() => {
                    for codec in self.serving.retry_waiting() {
                        self.take_over(&codec);
                    }
                }
                Some(codec) = taken.recv() => self.let_go(&codec).await,
                done = &mut stop => {
                    self.shutdown().await;
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
                Some(reply) = probe.recv() => {
                    let _ = reply.send(self.activity(!reload.is_empty()));
                }
                Some(()) = reload.recv() => {
                    // Debounce: wait for a quiet moment, then look once.
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep(self.opts.debounce) => break,
                            more = reload.recv() => if more.is_none() { break },
                        }
                    }
                    let resettled = self.reload_config();
                    self.restart_on(&resettled).await;
                    self.scan().await;
                    self.panels.rescan(self.opts.panel.clone());
                    self.generation += 1;
                }
            }
        }
    }

    /// Reads a changed config file: takes its scripts' tables, panel
    /// scopes and settings; returns the codecs whose settings changed.
    fn reload_config(&mut self) -> BTreeSet<String> {
        let mut resettled = BTreeSet::new();
        let Some(seen) = self.opts.config.clone() else {
            return resettled;
        };
        let file = &seen.file;
        // Only a new content is acted on, so one save is one message. Read
        // bounded and type-checked: a FIFO put in the config's place must
        // not hold the host's task (the parse below says what is wrong).
        let text = Config::read_text(file);
        let text_hash = text
            .as_ref()
            .map_or(0, |t| crate::config::text_hash(t.as_bytes()));
        if text_hash == seen.text_hash {
            return resettled;
        }
        let loaded = text
            .and_then(|t| Config::parse_shard(file, &t, self.opts.shard))
            .and_then(|cfg| check_script_names(&cfg, &self.opts.scripts_dir).map(|()| cfg));
        let codecs = match loaded {
            Ok(cfg) => {
                let now = ConfigSeen::of(&cfg).codecs;
                if now != seen.codecs {
                    warn!(
                        "the [[codec]] list changed in {}; restart xmacro to connect to new codecs",
                        file.display()
                    );
                }
                self.opts.scripts = cfg.script;
                self.opts.panel = cfg.panel;
                for (codec, settings) in cfg.settings {
                    let before = self.opts.settings.get(&codec).cloned().unwrap_or_default();
                    if before != settings {
                        resettled.insert(codec.clone());
                        self.opts.settings.insert(codec, settings);
                    }
                }
                now
            }
            Err(e) => {
                error!("config not reloaded, keeping the running one: {e}");
                seen.codecs.clone()
            }
        };
        self.opts.config = Some(ConfigSeen {
            text_hash,
            codecs,
            ..seen
        });
        resettled
    }

    /// Restarts every script's instance on these codecs (their settings
    /// changed); instances on other codecs go on untouched.
    async fn restart_on(&mut self, codecs: &BTreeSet<String>) {
        if codecs.is_empty() {
            return;
        }
        let names: Vec<String> = self.scripts.keys().cloned().collect();
        for name in names {
            let Some(l) = self.scripts.get_mut(&name) else {
                continue;
            };
            let Some(program) = l.program.clone() else {
                continue;
            };
            let (theirs, keep) = std::mem::take(&mut l.slots)
                .into_iter()
                .partition(|s: &Slot| codecs.contains(&s.codec_name));
            l.slots = keep;
            let restarted: Vec<String> = theirs.iter().map(|s| s.codec_name.clone()).collect();
            stop_slots(theirs).await;
            for codec in &restarted {
                let slots = self.start_instances(&name, &program, Some(codec));
                if let Some(l) = self.scripts.get_mut(&name) {
                    l.slots.extend(slots);
                }
            }
            if !restarted.is_empty() {
                info!(script = %name, "restarted on {}: its settings changed", restarted.join(", "));
            }
        }
    }

    fn fingerprint(&self, name: &str, file: &Path, deps: &BTreeSet<PathBuf>) -> Option<u64> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(file).ok()?.hash(&mut h);
        for d in deps {
            d.hash(&mut h);
            std::fs::read(d).unwrap_or_default().hash(&mut h);
        }
        if let Some(cfg) = self.opts.scripts.get(name) {
            cfg.codecs.hash(&mut h);
            cfg.args.to_string().hash(&mut h);
        }
        Some(h.finish())
    }

    /// Compares the directory with what runs and brings them in line.
    async fn scan(&mut self) {
        let found = match list_scripts(&self.opts.scripts_dir) {
            Ok(mut f) => {
                if let Some(only) = &self.opts.only {
                    f.retain(|name, _| name == only);
                }
                f
            }
            Err(e) => {
                error!(
                    "cannot read the scripts directory {}: {e}",
                    self.opts.scripts_dir.display()
                );
                return;
            }
        };
        let gone: Vec<String> = self
            .scripts
            .keys()
            .filter(|k| !found.contains_key(*k))
            .cloned()
            .collect();
        for name in gone {
            if let Some(old) = self.scripts.remove(&name) {
                stop_slots(old.slots).await;
                crate::telemetry::board().removed(&name);
                info!(script = %name, "stopped: its file was removed");
            }
        }
        for (name, file) in found {
            if self.opts.cancel_start.is_cancelled() {
                info!("asked to stop: the remaining scripts are not loaded");
                return;
            }
            let path = self.opts.scripts_dir.join(&file);
            let old_deps = self
                .scripts
                .get(&name)
                .map(|l| l.deps.clone())
                .unwrap_or_default();
            let Some(fp) = self.fingerprint(&name, &path, &old_deps) else {
                continue; // vanished between listing and reading
            };
            if self.scripts.get(&name).is_some_and(|l| l.fingerprint == fp) {
                continue;
            }
            self.load(&name, &file).await;
        }
    }

    async fn load(&mut self, name: &str, file: &str) {
        let compiled = {
            let engine = self.engine.clone();
            let root = self.opts.scripts_dir.clone();
            let file = file.to_string();
            tokio::task::spawn_blocking(move || loader::compile(&engine, &root, &file))
                .await
                .unwrap_or_else(|e| {
                    Err(loader::CompileError {
                        message: format!("compiler panicked: {e}"),
                        at: None,
                        import: None,
                    })
                })
        };
        let path = self.opts.scripts_dir.join(file);
        let reloading = self.scripts.contains_key(name);
        let compiled = match compiled {
            Ok(c) => c,
            Err(e) => {
                crate::telemetry::board().compile_failed(name, file, &e.message);
                if reloading {
                    error!(script = %name, "compile error, the running version stays: {}", e.message);
                    // Remember this content so the same broken save is reported once.
                    if let Some(fp) =
                        self.fingerprint(name, &path, &self.scripts[name].deps.clone())
                        && let Some(l) = self.scripts.get_mut(name)
                    {
                        l.fingerprint = fp;
                    }
                } else {
                    error!(script = %name, "compile error, not started: {}", e.message);
                    let fp = self.fingerprint(name, &path, &BTreeSet::new()).unwrap_or(0);
                    self.scripts.insert(
                        name.to_string(),
                        Loaded {
                            program: None,
                            fingerprint: fp,
                            deps: BTreeSet::new(),
                            slots: Vec::new(),
                        },
                    );
                }
                return;
            }
        };
        let fingerprint = self.fingerprint(name, &path, &compiled.deps).unwrap_or(0);
        let program = Arc::new(Program::new(
            self.engine.clone(),
            compiled.ast,
            file.to_string(),
        ));
        // Old subscriptions and timers go before the new version starts.
        if let Some(old) = self.scripts.remove(name) {
            stop_slots(old.slots).await;
        }
        crate::telemetry::board().loaded(name, file, fingerprint, &self.targets(name));
        let slots = self.start_instances(name, &program, None);
        // Each instance logs "started" once its codec is connected: one line
        // per script and codec. A reload, or a script bound to no codec, is
        // worth a line of its own.
        if reloading {
            info!(script = %name, "reloaded; {} instance(s) restart", slots.len());
        } else if slots.is_empty() && self.targets(name).is_empty() {
            warn!(script = %name, "loaded, but bound to no codec: not running");
        } else if slots.is_empty() {
            warn!(script = %name, "loaded, but started on none of its codecs (see the errors above)");
        } else {
            tracing::debug!(
                script = %name,
                "compiled; {} instance(s) start as their codecs connect",
                slots.len()
            );
        }
        self.scripts.insert(
            name.to_string(),
            Loaded {
                program: Some(program),
                fingerprint,
                deps: compiled.deps,
                slots,
            },
        );
    }

    fn targets(&self, name: &str) -> Vec<String> {
        let selectors = self.opts.scripts.get(name).and_then(|s| s.codecs.clone());
        self.opts
            .codecs
            .iter()
            .filter(|c| self.serving.serves(&c.name))
            .filter(|c| match &selectors {
                None => true,
                Some(sel) => sel.iter().any(|s| Selector::parse(s).picks(c)),
            })
            .map(|c| c.name.clone())
            .collect()
    }

    /// What is under way now (see [`HostHandle::idle`]).
    fn activity(&self, reload_waiting: bool) -> Activity {
        let mut busy = reload_waiting;
        let (mut instances, mut posted) = (0, 0);
        for slot in self.scripts.values().flat_map(|l| &l.slots) {
            match &*slot.instance.lock().unwrap_or_else(|p| p.into_inner()) {
                Some(i) => {
                    let (idle, n) = i.idle();
                    busy |= !idle;
                    instances += 1;
                    posted += n;
                }
                // Not started yet: busy while its codec is coming up.
                None => busy |= !slot.starter.is_finished() && slot.codec_coming(),
            }
        }
        busy |= self.panels.busy();
        Activity {
            busy,
            mark: (self.generation, instances, posted),
        }
    }

    /// Connects to a codec this host now serves and starts the instances
    /// bound to it.
    fn take_over(&mut self, codec: &str) {
        self.generation += 1;
        let Some(entry) = self.opts.codecs.iter().find(|c| c.name == codec) else {
            return;
        };
        let mut codecs = (*self.codecs).clone();
        let handle = Codec::spawn(entry.config.clone());
        self.panels.serve(entry, handle.clone());
        codecs.insert(codec.to_string(), handle);
        self.set_codecs(codecs);
        let names: Vec<String> = self.scripts.keys().cloned().collect();
        for name in names {
            let Some(program) = self.scripts[&name].program.clone() else {
                continue;
            };
            let slots = self.start_instances(&name, &program, Some(codec));
            if let Some(l) = self.scripts.get_mut(&name) {
                l.slots.extend(slots);
            }
        }
    }

    /// The codecs served from now on, published to the handle.
    fn set_codecs(&mut self, codecs: BTreeMap<String, Codec>) {
        self.codecs = Arc::new(codecs);
        self.codecs_seen.send_replace(self.codecs.clone());
    }

    /// Stops serving a codec another host took: its instances stop, its
    /// connection closes, and its lock is tried again every `lock_retry`
    /// (the codec is this host's by its shard, so it comes back when the
    /// other host lets go).
    async fn let_go(&mut self, codec: &str) {
        self.serving.lost_to_another(codec);
        self.stores.forget_codec(codec);
        self.panels.let_go(codec);
        let mut stopping = Vec::new();
        for l in self.scripts.values_mut() {
            let (theirs, keep) = std::mem::take(&mut l.slots)
                .into_iter()
                .partition(|s| s.codec_name == codec);
            l.slots = keep;
            stopping.extend(theirs);
        }
        let count = stopping.len();
        stop_slots(stopping).await;
        let mut codecs = (*self.codecs).clone();
        if let Some(c) = codecs.remove(codec) {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.close()).await;
        }
        self.set_codecs(codecs);
        warn!(
            codec = %codec,
            "stopped serving it here ({count} instance(s) stopped): another host holds its lock; trying again every {:?}",
            self.serving.retry
        );
    }

    /// Starts `name` on each codec it is bound to (or only on `only`).
    fn start_instances(
        &mut self,
        name: &str,
        program: &Arc<Program>,
        only: Option<&str>,
    ) -> Vec<Slot> {
        let args: rhai::Map = self
            .opts
            .scripts
            .get(name)
            .and_then(|s| rhai::serde::to_dynamic(&s.args).ok())
            .and_then(|d| d.try_cast::<rhai::Map>())
            .unwrap_or_default();
        let mut slots = Vec::new();
        let targets = self.targets(name);
        for codec_name in targets.into_iter().filter(|c| only.is_none_or(|o| o == c)) {
            let store = match self.store(name, &codec_name) {
                Ok(s) => s,
                Err(e) => {
                    // Said as what it is (a damaged database, say), on the
                    // status page too: not started, and why.
                    let why = format!("not started: its store cannot be read: {e}");
                    error!(script = %name, codec = %codec_name, "{why}");
                    crate::telemetry::board().failed(name, &codec_name, &why);
                    crate::telemetry::board().started(name, &codec_name, false);
                    continue;
                }
            };
            let codec = self.codecs[&codec_name].clone();
            let ctx = InstanceCtx::new(
                name.to_string(),
                codec_name.clone(),
                codec.clone(),
                self.urls[&codec_name].clone(),
                self.codecs.clone(),
                args.clone(),
                store,
                tokio::runtime::Handle::current(),
                self.opts.clock.clone(),
                self.opts.limits.clone(),
            );
            let settings = self
                .opts
                .settings
                .get(&codec_name)
                .and_then(|s| rhai::serde::to_dynamic(s).ok())
                .and_then(|d| d.try_cast::<rhai::Map>())
                .unwrap_or_default();
            let ctx = InstanceCtx::with_settings(ctx, settings);
            let cell: Arc<Mutex<Option<Arc<Instance>>>> = Arc::default();
            let span = ctx.span();
            let starter =
                tokio::spawn(starter(ctx, program.clone(), cell.clone()).instrument(span));
            slots.push(Slot {
                codec,
                codec_name,
                instance: cell,
                starter,
            });
        }
        slots
    }

    fn store(&mut self, script: &str, codec: &str) -> Result<Arc<Store>, crate::store::StoreError> {
        self.stores.instance(codec, script)
    }

    async fn shutdown(&mut self) {
        self.panels.stop();
        let all: Vec<Slot> = std::mem::take(&mut self.scripts)
            .into_values()
            .flat_map(|l| l.slots)
            .collect();
        stop_slots(all).await;
        let closes = self.codecs.values().map(|c| {
            let c = c.clone();
            async move { c.close().await }
        });
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::future::join_all(closes),
        )
        .await;
        info!("stopped");
    }
}

/// Starts an instance once its codec is connected, and starts it again,
/// after a growing pause, while its top level is stopped by its codec
/// rather than its code (see [`crate::script::retry`]): logged once, shown
/// as retrying on the status page meanwhile.
async fn starter(
    mut ctx: Arc<InstanceCtx>,
    program: Arc<Program>,
    cell: Arc<Mutex<Option<Arc<Instance>>>>,
) {
    let mut tries = 0u32;
    loop {
        let mut state = ctx.codec.watch_state();
        loop {
            let now = state.borrow_and_update().clone();
            if now.is_connected() {
                break;
            }
            if let crate::xows::ConnState::Failed(why) = now {
                error!("not started: the codec cannot be used: {why}");
                return;
            }
            if state.changed().await.is_err() {
                return;
            }
        }
        let inst = Instance::start(ctx.clone(), program.clone());
        *cell.lock().unwrap_or_else(|p| p.into_inner()) = Some(inst.clone());
        let why = match inst.top_level_ended().await {
            TopLevelEnd::Retry(why) => why,
            TopLevelEnd::Ran if tries > 0 => {
                info!("started after {} tries", tries + 1);
                return;
            }
            TopLevelEnd::Ran | TopLevelEnd::Failed => return,
        };
        tries += 1;
        let pause = retry::pause(tries, rand::random::<f64>());
        if tries == 1 {
            warn!(
                "top level stopped by its codec, not its code: {why}; starting it again in {:.1}s, then after pauses growing to a minute until it runs",
                pause.as_secs_f64()
            );
        } else {
            tracing::debug!(
                "top level stopped by its codec again (try {tries}): {why}; next try in {:.1}s",
                pause.as_secs_f64()
            );
        }
        // Its feedback and timers go, and `on_unload` runs, before the next
        // try; on a task of its own, so a stop of the slot meanwhile does
        // not cut it short.
        drop(inst);
        let old = cell.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(old) = old {
            let _ = tokio::spawn(async move { old.stop().await }).await;
        }
        tokio::time::sleep(pause).await;
        ctx = again(&ctx);
    }
}

/// A fresh context for the same script on the same codec, with the same
/// store and limits (a top level started again).
fn again(ctx: &InstanceCtx) -> Arc<InstanceCtx> {
    let fresh = InstanceCtx::new(
        ctx.script.clone(),
        ctx.codec_name.clone(),
        ctx.codec.clone(),
        ctx.codec_url.clone(),
        ctx.codecs.clone(),
        ctx.args.clone(),
        ctx.store.clone(),
        ctx.rt.clone(),
        ctx.clock.clone(),
        ctx.limits.clone(),
    );
    InstanceCtx::with_settings(fresh, ctx.settings.clone())
}

/// Stops instances side by side (each runs its `on_unload`).
async fn stop_slots(slots: Vec<Slot>) {
    let stops = slots.into_iter().map(|s| async move {
        s.starter.abort();
        let inst = s.instance.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(inst) = inst {
            inst.stop().await;
        }
    });
    futures_util::future::join_all(stops).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_temp_files_are_not_scripts() {
        assert!(is_script_file("volume-limit.rhai"));
        for name in [
            ".volume.rhai.swp",
            "volume.rhai~",
            "#volume.rhai#",
            ".#volume.rhai",
            ".rhai",
            "notes.txt",
            "volume.rhai.tmp",
            "volume.test.rhai",
        ] {
            assert!(!is_script_file(name), "{name}");
        }
    }
}
