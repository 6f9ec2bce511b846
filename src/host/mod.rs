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
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tracing::info;

use crate::clock::Clock;
use crate::config::store::DEFAULT_LOCK_RETRY;
use crate::config::{CodecEntry, Config, ConfigError, ScriptConfig};
use crate::fleet::Serving;
use crate::script::engine;
use crate::script::instance::{Instance, Program};
use crate::script::limits::Limits;
use crate::store::{PgBackend, Stores};
use crate::xows::Codec;

mod failures;
pub mod idle;
mod rollout;
mod run_loop;
mod scan;
mod slots;
mod watcher;

pub use watcher::is_change;
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
    /// `[rollout]`: changes reach the canary codecs first, the rest after
    /// a soak ([`crate::rollout`]); `None`: everywhere at once.
    pub rollout: Option<crate::config::rollout::RolloutConfig>,
    /// The UI extension panels folder (`panels = "DIR"`), if any.
    pub panels: Option<PathBuf>,
    /// The `[panel.NAME]` tables.
    pub panel: BTreeMap<String, crate::config::panels::PanelConfig>,
    /// Each codec's `settings`, by codec name (`codec.settings` in scripts).
    pub settings: BTreeMap<String, toml::Table>,
    /// The audit trail (in the store's database) and what it keeps; `None`
    /// records nothing.
    pub audit: Option<crate::audit::Retention>,
}

impl HostOptions {
    /// Where the audit trail is kept: beside the store.
    pub fn audit_source(&self) -> crate::audit::Source {
        match &self.postgres {
            Some(pg) => crate::audit::Source::Postgres(pg.target.clone()),
            None => crate::audit::Source::Dir(self.state_dir.clone()),
        }
    }

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
            rollout: None,
            panels: None,
            panel: BTreeMap::new(),
            settings: BTreeMap::new(),
            audit: Some(crate::audit::Retention::default()),
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
    /// Whether the config's codecs are connected (and so resolved, with
    /// their passwords, on each reload); not with `run --sim`, which
    /// connects the simulator alone.
    pub fleet: bool,
}

impl ConfigSeen {
    /// What a host keeps of a config it was started from (read once, by
    /// whoever started it).
    pub fn of(config: &Config) -> ConfigSeen {
        ConfigSeen {
            file: config.file.clone(),
            text_hash: config.text_hash,
            codecs: config.codecs.iter().map(|c| c.name.clone()).collect(),
            fleet: true,
        }
    }
}

/// Refuses a config whose `[script.NAME]` tables name no script of the
/// scripts directory (see [`Config::check_script_names`]); when the
/// directory cannot be read, the host says so when it looks for scripts.
/// The same check on start and on every reload.
pub fn check_script_names(config: &Config, scripts_dir: &Path) -> Result<(), ConfigError> {
    match crate::script::files::list_scripts(scripts_dir) {
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
    /// The audit table cannot be opened.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
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
    rollout: Option<crate::rollout::Control>,
}

impl HostHandle {
    /// Where operators' rollout requests go (`None` without `[rollout]`).
    pub fn rollout_control(&self) -> Option<crate::rollout::Control> {
        self.rollout.clone()
    }

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
    /// Stops the task that starts the instance (see [`slots::Starter`]).
    starter: slots::Starter,
    /// The codec it waits for.
    codec: Codec,
    /// The version it runs.
    running: Arc<Running>,
    /// The version that ran here before, started again if this one's top
    /// level fails.
    fallback: Option<Arc<Running>>,
}

/// One version of a script ready to run: its program, and its args and
/// scope as they were when it was saved.
struct Running {
    version: u64,
    program: Arc<Program>,
    args: rhai::Map,
    codecs: Option<Vec<String>>,
    /// Its `allow` list and audit trail, shared by its instances.
    guard: Arc<crate::script::guard::Guard>,
}

/// A failure of a script's code on a codec (a top level, a callback or a
/// timer that threw or was stopped), as the host hears of it.
#[derive(Debug)]
struct Failure {
    script: String,
    codec: String,
    version: u64,
    top_level: bool,
    message: String,
}

struct Loaded {
    /// The version on disk, for instances started later (a codec taken
    /// over).
    program: Option<Arc<Running>>,
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
    /// Where scripts' commands and sets are recorded.
    auditor: Option<crate::audit::Auditor>,
    serving: Serving,
    /// Reloads and take-overs handled (part of the idle mark).
    generation: u64,
    /// Where instances report failures of their code.
    failures: mpsc::UnboundedSender<Failure>,
    /// Staged rollouts, with `[rollout]`.
    staged: Option<rollout::Staged>,
    /// The UI extension panels kept in line on every codec served.
    panels: panels::PanelSync,
}

/// A config table (a script's `args`, a codec's `settings`) as scripts
/// see it.
fn rhai_map(args: &toml::Table) -> rhai::Map {
    rhai::serde::to_dynamic(args)
        .ok()
        .and_then(|d| d.try_cast::<rhai::Map>())
        .unwrap_or_default()
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
            let stores =
                Stores::with_backend(db.clone(), opts.store_quota).with_rollouts(db.clone());
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
    let rollout_table = stores.rollouts();
    let auditor = match opts.audit {
        Some(retention) => {
            // The PostgreSQL client is synchronous (it runs a runtime of
            // its own): opened off the host's runtime.
            let source = opts.audit_source();
            let table = tokio::task::spawn_blocking(move || source.writer())
                .await
                .map_err(|e| crate::audit::AuditError::new("the audit trail", e.to_string()))??;
            Some(crate::audit::Auditor::start(table, retention))
        }
        None => None,
    };
    let fleet = opts.fleet_size.unwrap_or(opts.codecs.len());
    let names = opts.codecs.iter().map(|c| c.name.as_str());
    let serving = Serving::take(names, fleet, opts.shard, locks, retry)?;
    let (reload_tx, reload_rx) = mpsc::unbounded_channel();
    let (probe_tx, probe_rx) = mpsc::unbounded_channel();
    let watcher = if opts.watch {
        Some(watcher::watch(&opts, reload_tx.clone())?)
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
    let (failures_tx, failures_rx) = mpsc::unbounded_channel();
    let (staged, asks_tx, asks_rx) = match (&opts.rollout, rollout_table) {
        (Some(policy), Some(table)) => {
            let (tx, rx) = mpsc::unbounded_channel();
            (
                Some(rollout::Staged::new(policy.clone(), table)),
                Some(tx),
                rx,
            )
        }
        _ => (None, None, mpsc::unbounded_channel().1),
    };
    let mut panel_sync =
        panels::PanelSync::new(opts.panels.clone(), opts.panel.clone(), stores.panels());
    panel_sync.serve_all(
        opts.codecs
            .iter()
            .filter_map(|e| Some((e.clone(), codecs.get(&e.name)?.clone())))
            .collect(),
    );
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
        auditor,
        serving,
        generation: 0,
        failures: failures_tx,
        staged,
        panels: panel_sync,
    };
    let (stop_tx, stop_rx) = oneshot::channel();
    host.refresh_rollouts().await;
    host.scan().await;
    let channels = run_loop::Channels {
        reload: reload_rx,
        probe: probe_rx,
        stop: stop_rx,
        taken,
        failures: failures_rx,
        asks: asks_rx,
    };
    let task = tokio::spawn(async move {
        let _watcher = watcher;
        host.run(channels).await;
    });
    Ok(HostHandle {
        codecs: seen,
        stop: Some(stop_tx),
        reload: reload_tx,
        probe: probe_tx,
        task,
        rollout: asks_tx,
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
