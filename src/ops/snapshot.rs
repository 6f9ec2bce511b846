//! The status of a host at one moment, as plain serializable data: what
//! `/api/status` returns, what the page and `xmacro status` render. It is
//! gathered from the codec handles (connection state, reconnects, round
//! trip) and the telemetry board (scripts, instances, errors, logs,
//! reloads); nothing here holds a password, a token or a URL with
//! credentials (codec URLs never carry any, see `CodecConfig::from_url`).

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::telemetry::board::{BoardData, ErrorRecord, InstanceState, ScriptRecord};
use crate::xows::{Codec, ConnState};

/// Everything `/api/status` answers (documented in docs/ops.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    /// The xmacro version.
    pub version: String,
    /// `ok`, `degraded` (a codec down or a script failing) or `starting`.
    pub health: String,
    /// Config loaded and every codec tried at least once.
    pub ready: bool,
    /// Why not ready (empty when ready).
    pub ready_reason: String,
    pub started_at: String,
    pub uptime_seconds: u64,
    /// Bytes of the script stores on disk.
    pub store_bytes: u64,
    pub codecs: Vec<CodecStatus>,
    pub scripts: Vec<ScriptStatus>,
    /// Newest first.
    pub reloads: Vec<ReloadStatus>,
}

/// One codec.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CodecStatus {
    pub name: String,
    /// The URL dialled (never with credentials).
    pub url: String,
    pub tags: Vec<String>,
    /// `connecting`, `connected`, `reconnecting`, `failed` or `closed`.
    pub state: String,
    pub connected_since: Option<String>,
    /// Why it is down now, else why it last dropped.
    pub last_error: Option<String>,
    pub reconnects: u64,
    /// Seconds until the next attempt, while reconnecting.
    pub retry_in_seconds: Option<f64>,
    /// The last answered request's round trip, milliseconds.
    pub rtt_ms: Option<f64>,
    /// The UI extension panels xmacro keeps on it (none until synced).
    #[serde(default)]
    pub panels: PanelsStatus,
}

/// A codec's UI extension panels as last synced.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PanelsStatus {
    /// PanelIds it has as the project wants them.
    pub in_sync: Vec<String>,
    /// PanelId (`*`: the codec as a whole) to why it is not in sync;
    /// tried again on the next change or reconnect.
    pub failing: std::collections::BTreeMap<String, String>,
}

/// An error with when and where.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorStatus {
    pub at: String,
    /// `file:line:col: message`.
    pub message: String,
    pub codec: Option<String>,
}

/// One instance of a script's running version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstanceStatus {
    pub codec: String,
    /// `waiting` (for its codec), `running`, `failed` (its top level) or
    /// `retrying` (its top level was stopped by its codec, not its code,
    /// and is started again).
    pub state: String,
    pub since: String,
    /// Errors of this version on this codec.
    pub errors: u64,
    pub last_error: Option<ErrorStatus>,
}

/// One log line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogStatus {
    pub at: String,
    pub level: String,
    pub codec: Option<String>,
    pub text: String,
}

/// One script.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScriptStatus {
    pub name: String,
    pub file: String,
    /// `ok`, `failing` (an error in the running version), `compile_error`
    /// (the file on disk does not compile; a previous version may run),
    /// `retrying` (an instance's top level is started again after its codec
    /// stopped it) or `waiting` (no instance has started yet).
    pub state: String,
    /// Content hash of the running version.
    pub version: Option<String>,
    pub loaded_at: Option<String>,
    /// Errors since the host started, all versions.
    pub errors: u64,
    pub last_error: Option<ErrorStatus>,
    pub compile_error: Option<ErrorStatus>,
    pub instances: Vec<InstanceStatus>,
    /// Oldest first.
    pub logs: Vec<LogStatus>,
    /// Its staged rollout, when `[rollout]` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<super::rollout::RolloutStatus>,
}

/// One load attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReloadStatus {
    pub at: String,
    pub script: String,
    /// `loaded`, `reloaded`, `compile_error` or `removed`.
    pub outcome: String,
    pub detail: Option<String>,
}

/// What the page and the API may be narrowed to (query parameters
/// `codec`, `tag`, `script`; each a case-insensitive substring, the tag
/// exact).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Filter {
    #[serde(default)]
    pub codec: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub script: Option<String>,
}

fn set(o: &Option<String>) -> Option<String> {
    o.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
}

impl Filter {
    /// Keeps what matches; scripts keep only instances on matching codecs
    /// and go when none is left (unless no codec filter is set).
    pub fn apply(&self, mut s: Status) -> Status {
        let codec = set(&self.codec);
        let tag = set(&self.tag);
        let script = set(&self.script);
        let codec_ok = |c: &CodecStatus| {
            codec
                .as_ref()
                .is_none_or(|f| c.name.to_lowercase().contains(f))
                && tag
                    .as_ref()
                    .is_none_or(|t| c.tags.iter().any(|x| x.to_lowercase() == *t))
        };
        s.codecs.retain(|c| codec_ok(c));
        let visible: Vec<String> = s.codecs.iter().map(|c| c.name.clone()).collect();
        let by_codec = codec.is_some() || tag.is_some();
        s.scripts.retain_mut(|sc| {
            if script
                .as_ref()
                .is_some_and(|f| !sc.name.to_lowercase().contains(f))
            {
                return false;
            }
            if by_codec {
                sc.instances.retain(|i| visible.contains(&i.codec));
                sc.logs
                    .retain(|l| l.codec.as_ref().is_none_or(|c| visible.contains(c)));
                return !sc.instances.is_empty();
            }
            true
        });
        if let Some(f) = &script {
            s.reloads.retain(|r| r.script.to_lowercase().contains(f));
        }
        s
    }

    /// Whether any filter is set.
    pub fn is_empty(&self) -> bool {
        set(&self.codec).is_none() && set(&self.tag).is_none() && set(&self.script).is_none()
    }
}

/// RFC 3339 in UTC, to the millisecond.
pub fn time(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One codec's status from its handle.
pub fn codec_status(name: &str, codec: &Codec, url: &str, tags: &[String]) -> CodecStatus {
    let state = codec.state();
    let (label, now_error, retry) = match &state {
        ConnState::Connecting => ("connecting", None, None),
        ConnState::Connected => ("connected", None, None),
        ConnState::Reconnecting {
            reason, retry_in, ..
        } => (
            "reconnecting",
            Some(reason.clone()),
            Some(retry_in.as_secs_f64()),
        ),
        ConnState::Failed(reason) => ("failed", Some(reason.clone()), None),
        ConnState::Closed => ("closed", None, None),
    };
    CodecStatus {
        name: name.to_string(),
        url: url.to_string(),
        tags: tags.to_vec(),
        state: label.to_string(),
        connected_since: codec.connected_since().map(time),
        last_error: now_error.or_else(|| codec.last_drop()),
        reconnects: codec.connects().saturating_sub(1),
        retry_in_seconds: retry,
        rtt_ms: codec.round_trip().map(|d| d.as_secs_f64() * 1000.0),
        panels: crate::telemetry::panels::panels()
            .codec(name)
            .map(|p| PanelsStatus {
                in_sync: p.in_sync,
                failing: p.failing,
            })
            .unwrap_or_default(),
    }
}

fn error_status(e: &ErrorRecord) -> ErrorStatus {
    ErrorStatus {
        at: time(e.at),
        message: e.message.clone(),
        codec: e.codec.clone(),
    }
}

fn script_status(name: &str, r: &ScriptRecord) -> ScriptStatus {
    let states: Vec<InstanceState> = r.instances.values().map(|i| i.state).collect();
    let failing = r
        .instances
        .values()
        .any(|i| i.errors > 0 || i.state == InstanceState::Failed);
    let state = if r.compile_error.is_some() {
        "compile_error"
    } else if failing {
        "failing"
    } else if states.contains(&InstanceState::Retrying) {
        "retrying"
    } else if !states.is_empty() && states.iter().all(|s| *s == InstanceState::Waiting) {
        "waiting"
    } else {
        "ok"
    };
    ScriptStatus {
        name: name.to_string(),
        file: r.file.clone(),
        state: state.to_string(),
        version: r.version.clone(),
        loaded_at: r.loaded_at.map(time),
        errors: r.errors,
        last_error: r.last_error.as_ref().map(error_status),
        compile_error: r.compile_error.as_ref().map(error_status),
        rollout: r.rollout.as_ref().map(|r| super::rollout::RolloutStatus {
            state: r.state.clone(),
            until: r.until.map(time),
            waiting_for_window: r.waiting_for_window.clone(),
            promoted: r.promoted.clone(),
            candidate: r.candidate.clone(),
            reason: r.reason.clone(),
            running: r.running.clone(),
        }),
        instances: r
            .instances
            .iter()
            .map(|(codec, i)| InstanceStatus {
                codec: codec.clone(),
                state: i.state.as_str().to_string(),
                since: time(i.since),
                errors: i.errors,
                last_error: i.last_error.as_ref().map(error_status),
            })
            .collect(),
        logs: r
            .logs
            .iter()
            .map(|l| LogStatus {
                at: time(l.at),
                level: l.level.as_str().to_string(),
                codec: l.codec.clone(),
                text: l.text.clone(),
            })
            .collect(),
    }
}

/// The scripts and reloads on the board (records of scripts the host never
/// saw, such as lines logged outside a host, are left out).
pub fn scripts_and_reloads(board: &BoardData) -> (Vec<ScriptStatus>, Vec<ReloadStatus>) {
    let scripts = board
        .scripts
        .iter()
        .filter(|(_, r)| !r.file.is_empty())
        .map(|(n, r)| script_status(n, r))
        .collect();
    let reloads = board
        .reloads
        .iter()
        .rev()
        .map(|r| ReloadStatus {
            at: time(r.at),
            script: r.script.clone(),
            outcome: r.outcome.label().to_string(),
            detail: r.detail.clone(),
        })
        .collect();
    (scripts, reloads)
}

/// The overall health word from the parts.
pub fn health(ready: bool, codecs: &[CodecStatus], scripts: &[ScriptStatus]) -> &'static str {
    if !ready {
        "starting"
    } else if codecs.iter().any(|c| c.state != "connected")
        || scripts.iter().any(|s| s.state != "ok")
    {
        "degraded"
    } else {
        "ok"
    }
}

/// Total size of the files under a directory (the stores); 0 if absent.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Seconds since a moment (0 if the clock went back).
pub fn since(t: SystemTime) -> u64 {
    SystemTime::now()
        .duration_since(t)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(name: &str, tags: &[&str], state: &str) -> CodecStatus {
        CodecStatus {
            name: name.into(),
            url: format!("ws://{name}/ws"),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            state: state.into(),
            connected_since: None,
            last_error: None,
            reconnects: 0,
            retry_in_seconds: None,
            rtt_ms: None,
            panels: Default::default(),
        }
    }

    fn script(name: &str, codecs: &[&str]) -> ScriptStatus {
        ScriptStatus {
            name: name.into(),
            file: format!("{name}.rhai"),
            state: "ok".into(),
            version: None,
            loaded_at: None,
            errors: 0,
            last_error: None,
            compile_error: None,
            rollout: None,
            instances: codecs
                .iter()
                .map(|c| InstanceStatus {
                    codec: c.to_string(),
                    state: "running".into(),
                    since: String::new(),
                    errors: 0,
                    last_error: None,
                })
                .collect(),
            logs: Vec::new(),
        }
    }

    fn status() -> Status {
        Status {
            version: "0".into(),
            health: "ok".into(),
            ready: true,
            ready_reason: String::new(),
            started_at: String::new(),
            uptime_seconds: 0,
            store_bytes: 0,
            codecs: vec![
                codec("Boardroom", &["floor3"], "connected"),
                codec("huddle-1", &["floor2"], "connected"),
            ],
            scripts: vec![
                script("volume-limit", &["Boardroom", "huddle-1"]),
                script("speed-dial", &["huddle-1"]),
            ],
            reloads: Vec::new(),
        }
    }

    #[test]
    fn a_codec_filter_narrows_codecs_and_the_instances_on_them() {
        let f = Filter {
            codec: Some("board".into()),
            ..Default::default()
        };
        let s = f.apply(status());
        assert_eq!(s.codecs.len(), 1);
        assert_eq!(s.scripts.len(), 1, "speed-dial runs on no matching codec");
        assert_eq!(s.scripts[0].instances.len(), 1);
    }

    #[test]
    fn tag_and_script_filters_combine() {
        let f = Filter {
            tag: Some("FLOOR2".into()),
            script: Some("speed".into()),
            ..Default::default()
        };
        let s = f.apply(status());
        assert_eq!(s.codecs.len(), 1);
        assert_eq!(s.codecs[0].name, "huddle-1");
        assert_eq!(s.scripts.len(), 1);
        assert_eq!(s.scripts[0].name, "speed-dial");
        assert!(Filter::default().is_empty());
        assert!(!f.is_empty());
    }

    #[test]
    fn health_is_degraded_by_a_codec_down_or_a_failing_script() {
        let s = status();
        assert_eq!(health(true, &s.codecs, &s.scripts), "ok");
        assert_eq!(health(false, &s.codecs, &s.scripts), "starting");
        let mut down = s.codecs.clone();
        down[0].state = "reconnecting".into();
        assert_eq!(health(true, &down, &s.scripts), "degraded");
        let mut failing = s.scripts.clone();
        failing[0].state = "failing".into();
        assert_eq!(health(true, &s.codecs, &failing), "degraded");
    }
}
