//! What every script is doing, as plain data: its version, when it loaded,
//! each instance's state by codec, its errors (with `file:line:col`), its
//! recent log lines, and the recent reloads of all scripts. The host and
//! the runtime write here as things happen; the status page reads a copy.
//!
//! Writers take one short lock and never wait on readers. Every change
//! bumps a sequence number readers can watch, so a live page updates when
//! something happens instead of polling.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use tokio::sync::watch;

use super::metrics::ReloadOutcome;

/// Log lines kept per script.
pub const LOG_LINES: usize = 50;
/// Reloads kept (all scripts).
pub const RELOADS: usize = 50;

/// How a log line was logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// One line a script (or the runtime about it) logged.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at: SystemTime,
    pub level: Level,
    /// The instance's codec, when the line came from an instance.
    pub codec: Option<String>,
    pub text: String,
}

/// An error and when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRecord {
    pub at: SystemTime,
    /// `file:line:col: message`.
    pub message: String,
    /// The codec of the instance it happened on (none for compile errors).
    pub codec: Option<String>,
}

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// Bound, waiting for its codec to connect before it starts.
    Waiting,
    /// Its top level ran; callbacks run as events come.
    Running,
    /// Its top level failed; it runs no callbacks.
    Failed,
    /// Its top level was stopped by its codec (late, gone, not ready), not
    /// by its code: it is started again after a pause.
    Retrying,
}

impl InstanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Waiting => "waiting",
            InstanceState::Running => "running",
            InstanceState::Failed => "failed",
            InstanceState::Retrying => "retrying",
        }
    }
}

/// One (script, codec) instance of the running version.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    pub state: InstanceState,
    pub since: SystemTime,
    /// Errors of this version on this codec.
    pub errors: u64,
    pub last_error: Option<ErrorRecord>,
}

/// One script.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScriptRecord {
    /// The file, relative to the scripts directory.
    pub file: String,
    /// The running version's content hash (hex), if a version runs.
    pub version: Option<String>,
    pub loaded_at: Option<SystemTime>,
    /// Instances of the running version, by codec name.
    pub instances: BTreeMap<String, InstanceRecord>,
    /// Errors since the host started, all versions.
    pub errors: u64,
    /// The last error of any version.
    pub last_error: Option<ErrorRecord>,
    /// Set while the file on disk does not compile.
    pub compile_error: Option<ErrorRecord>,
    pub logs: VecDeque<LogLine>,
    /// Its staged rollout, when `[rollout]` is set.
    pub rollout: Option<RolloutRecord>,
}

/// A script's staged rollout as shown (`xmacro rollout status`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RolloutRecord {
    /// `steady`, `soaking`, `rolled_back` or `aborted`.
    pub state: String,
    /// While soaking: when the soak ends.
    pub until: Option<SystemTime>,
    /// Set when the soak is over and promotion waits for this window.
    pub waiting_for_window: Option<String>,
    /// The promoted version (hex).
    pub promoted: Option<String>,
    /// The candidate (soaking, rolled back or aborted), hex.
    pub candidate: Option<String>,
    /// Why it was rolled back, and where.
    pub reason: Option<String>,
    /// How many of this host's codecs run each version (hex).
    pub running: BTreeMap<String, usize>,
}

/// One load attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadRecord {
    pub at: SystemTime,
    pub script: String,
    pub outcome: ReloadOutcome,
    /// The compile error, for [`ReloadOutcome::CompileError`].
    pub detail: Option<String>,
}

/// Everything on the board at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoardData {
    pub scripts: BTreeMap<String, ScriptRecord>,
    /// Oldest first.
    pub reloads: VecDeque<ReloadRecord>,
}

/// The shared board; see the module docs.
pub struct Board {
    data: Mutex<BoardData>,
    seq: watch::Sender<u64>,
}

impl Default for Board {
    fn default() -> Self {
        Board::new()
    }
}

impl Board {
    pub fn new() -> Board {
        Board {
            data: Mutex::new(BoardData::default()),
            seq: watch::channel(0).0,
        }
    }

    fn change<T>(&self, f: impl FnOnce(&mut BoardData) -> T) -> T {
        let out = f(&mut self.data.lock().unwrap_or_else(|p| p.into_inner()));
        self.seq.send_modify(|s| *s += 1);
        out
    }

    /// A copy of everything.
    pub fn snapshot(&self) -> BoardData {
        self.data.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A receiver that sees a new value after every change.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.seq.subscribe()
    }

    fn reload_record(data: &mut BoardData, rec: ReloadRecord) {
        if data.reloads.len() == RELOADS {
            data.reloads.pop_front();
        }
        data.reloads.push_back(rec);
    }

    /// A version compiled and is starting on these codecs (counted in the
    /// metrics, as are compile errors and removals).
    pub fn loaded(&self, script: &str, file: &str, version: u64, codecs: &[String]) {
        let now = SystemTime::now();
        self.change(|d| {
            let s = d.scripts.entry(script.to_string()).or_default();
            let outcome = if s.version.is_some() {
                ReloadOutcome::Reloaded
            } else {
                ReloadOutcome::Loaded
            };
            super::metrics().reload(outcome);
            s.file = file.to_string();
            s.version = Some(format!("{version:016x}"));
            s.loaded_at = Some(now);
            s.compile_error = None;
            s.instances = codecs
                .iter()
                .map(|c| {
                    let rec = InstanceRecord {
                        state: InstanceState::Waiting,
                        since: now,
                        errors: 0,
                        last_error: None,
                    };
                    (c.clone(), rec)
                })
                .collect();
            Board::reload_record(
                d,
                ReloadRecord {
                    at: now,
                    script: script.to_string(),
                    outcome,
                    detail: None,
                },
            );
        });
    }

    /// The file did not compile; a running version, if any, stays.
    pub fn compile_failed(&self, script: &str, file: &str, message: &str) {
        let now = SystemTime::now();
        let err = ErrorRecord {
            at: now,
            message: message.to_string(),
            codec: None,
        };
        super::metrics().reload(ReloadOutcome::CompileError);
        self.change(|d| {
            let s = d.scripts.entry(script.to_string()).or_default();
            s.file = file.to_string();
            s.errors += 1;
            s.last_error = Some(err.clone());
            s.compile_error = Some(err);
            Board::reload_record(
                d,
                ReloadRecord {
                    at: now,
                    script: script.to_string(),
                    outcome: ReloadOutcome::CompileError,
                    detail: Some(message.to_string()),
                },
            );
        });
    }

    /// The file went away; its instances stopped.
    pub fn removed(&self, script: &str) {
        let now = SystemTime::now();
        super::metrics().reload(ReloadOutcome::Removed);
        self.change(|d| {
            d.scripts.remove(script);
            Board::reload_record(
                d,
                ReloadRecord {
                    at: now,
                    script: script.to_string(),
                    outcome: ReloadOutcome::Removed,
                    detail: None,
                },
            );
        });
    }

    /// An instance's top level ran (`Ok`) or failed.
    pub fn started(&self, script: &str, codec: &str, ok: bool) {
        let now = SystemTime::now();
        self.change(|d| {
            if let Some(i) = d
                .scripts
                .get_mut(script)
                .and_then(|s| s.instances.get_mut(codec))
            {
                i.state = if ok {
                    InstanceState::Running
                } else {
                    InstanceState::Failed
                };
                i.since = now;
            }
        });
    }

    /// An instance's top level was stopped by its codec, not its code: it
    /// is started again. The reason shows as its last error; it is not
    /// counted as one of the script's errors.
    pub fn retrying(&self, script: &str, codec: &str, message: &str) {
        let err = ErrorRecord {
            at: SystemTime::now(),
            message: message.to_string(),
            codec: Some(codec.to_string()),
        };
        self.change(|d| {
            if let Some(i) = d
                .scripts
                .get_mut(script)
                .and_then(|s| s.instances.get_mut(codec))
            {
                i.state = InstanceState::Retrying;
                i.since = err.at;
                i.last_error = Some(err);
            }
        });
    }

    /// An instance's code failed (top level, callback or `on_unload`).
    pub fn failed(&self, script: &str, codec: &str, message: &str) {
        let err = ErrorRecord {
            at: SystemTime::now(),
            message: message.to_string(),
            codec: Some(codec.to_string()),
        };
        self.change(|d| {
            let s = d.scripts.entry(script.to_string()).or_default();
            s.errors += 1;
            s.last_error = Some(err.clone());
            if let Some(i) = s.instances.get_mut(codec) {
                i.errors += 1;
                i.last_error = Some(err);
            }
        });
    }

    /// A script's rollout as it is now (`None`: no `[rollout]`).
    pub fn rollout(&self, script: &str, record: Option<RolloutRecord>) {
        self.change(|d| {
            if let Some(s) = d.scripts.get_mut(script) {
                s.rollout = record;
            }
        });
    }

    /// A new version was not kept: its top level failed (on `codec`) and
    /// the previous version runs again there. Shown as a compile error is:
    /// the file on disk is not what runs, and why.
    pub fn refused(&self, script: &str, codec: &str, message: &str) {
        let err = ErrorRecord {
            at: SystemTime::now(),
            message: message.to_string(),
            codec: Some(codec.to_string()),
        };
        self.change(|d| {
            if let Some(s) = d.scripts.get_mut(script) {
                s.compile_error = Some(err);
            }
        });
    }

    /// A line a script's instance logged.
    pub fn log(&self, script: &str, line: LogLine) {
        self.change(|d| {
            let s = d.scripts.entry(script.to_string()).or_default();
            if s.logs.len() == LOG_LINES {
                s.logs.pop_front();
            }
            s.logs.push_back(line);
        });
    }
}

/// How one job of an instance ended, reported by the runtime: counts it in
/// the metrics and notes it on the board.
pub struct JobReport<'a> {
    pub script: &'a str,
    pub codec: &'a str,
    /// The script's top level (its start), not a callback.
    pub top_level: bool,
    pub took: std::time::Duration,
}

impl JobReport<'_> {
    /// It returned.
    pub fn ok(&self) {
        let m = super::metrics();
        m.callbacks_ok.inc();
        m.callback_duration.observe(self.took);
        if self.top_level {
            board().started(self.script, self.codec, true);
        }
    }

    /// Its top level was stopped by its codec, not its code, and is
    /// started again (counted as a failed job, shown as retrying).
    pub fn retrying(&self, message: &str) {
        let m = super::metrics();
        m.callbacks_failed.inc();
        m.callback_duration.observe(self.took);
        board().retrying(self.script, self.codec, message);
    }

    /// It threw (`stopped`: it was stopped for running past its budget).
    pub fn failed(&self, stopped: bool, message: &str) {
        let m = super::metrics();
        if stopped {
            m.callbacks_stopped.inc();
        } else {
            m.callbacks_failed.inc();
        }
        m.callback_duration.observe(self.took);
        let b = board();
        b.failed(self.script, self.codec, message);
        if self.top_level {
            b.started(self.script, self.codec, false);
        }
    }
}

/// The process's board.
pub fn board() -> &'static Board {
    static BOARD: OnceLock<Board> = OnceLock::new();
    BOARD.get_or_init(Board::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_script_fixed_by_a_new_version_starts_clean() {
        let b = Board::new();
        let codecs = vec!["a".to_string(), "b".to_string()];
        b.loaded("s", "s.rhai", 1, &codecs);
        b.started("s", "a", true);
        b.failed("s", "a", "s.rhai:3:5: boom");
        let d = b.snapshot();
        let s = &d.scripts["s"];
        assert_eq!(s.instances["a"].errors, 1);
        assert_eq!(s.instances["b"].state, InstanceState::Waiting);
        assert_eq!(s.errors, 1);

        b.compile_failed("s", "s.rhai", "s.rhai:1:1: syntax");
        assert!(b.snapshot().scripts["s"].compile_error.is_some());
        b.loaded("s", "s.rhai", 2, &codecs);
        let d = b.snapshot();
        let s = &d.scripts["s"];
        assert!(s.compile_error.is_none());
        assert_eq!(
            s.instances["a"].errors, 0,
            "errors of the old version stay behind"
        );
        assert_eq!(s.errors, 2, "but the total counts them");
        assert_eq!(s.version.as_deref(), Some("0000000000000002"));
        let outcomes: Vec<_> = d.reloads.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            [
                ReloadOutcome::Loaded,
                ReloadOutcome::CompileError,
                ReloadOutcome::Reloaded
            ]
        );
    }

    #[test]
    fn a_retrying_instance_shows_why_without_counting_an_error() {
        let b = Board::new();
        b.loaded("s", "s.rhai", 1, &["a".to_string()]);
        b.retrying("s", "a", "s.rhai:1:9: no answer within 10s");
        let d = b.snapshot();
        let i = &d.scripts["s"].instances["a"];
        assert_eq!(i.state, InstanceState::Retrying);
        assert_eq!(i.errors, 0);
        assert!(i.last_error.as_ref().unwrap().message.contains("no answer"));
        b.started("s", "a", true);
        assert_eq!(
            b.snapshot().scripts["s"].instances["a"].state,
            InstanceState::Running
        );
    }

    #[test]
    fn logs_and_reloads_keep_only_the_latest() {
        let b = Board::new();
        for i in 0..LOG_LINES + 5 {
            b.log(
                "s",
                LogLine {
                    at: SystemTime::now(),
                    level: Level::Info,
                    codec: None,
                    text: format!("line {i}"),
                },
            );
        }
        let d = b.snapshot();
        assert_eq!(d.scripts["s"].logs.len(), LOG_LINES);
        assert_eq!(d.scripts["s"].logs[0].text, "line 5");
        for _ in 0..RELOADS + 1 {
            b.removed("x");
        }
        assert_eq!(b.snapshot().reloads.len(), RELOADS);
    }

    #[test]
    fn every_change_is_seen_by_watchers() {
        let b = Board::new();
        let mut w = b.watch();
        w.borrow_and_update();
        b.removed("x");
        assert!(w.has_changed().unwrap());
    }
}
