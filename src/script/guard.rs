//! Least privilege and the audit trail where a script's calls leave it:
//! each call to a codec (its own or `codecs["name"]`) is checked against
//! the script's `allow` list before it is sent, and every command and
//! configuration set, and every refused call, is handed to the audit
//! trail. A refused call never reaches the codec: the script gets a
//! catchable `#{ code: "denied", message }` naming the path and the list,
//! the log gets one WARN per script, codec and path with `file:line:col`,
//! and `xmacro_denied_total{script}` counts it.
//!
//! One guard serves every instance of one loaded version of a script.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use rhai::{EvalAltResult, NativeCallContext, Position};
use serde_json::{Map, Value};
use tracing::warn;

use super::allow::AllowList;
use crate::audit::record::Entry;
use crate::audit::{Auditor, Kind, Outcome};
use crate::xows::path::Path;

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Where in the script a call was written: for the WARN line.
#[derive(Clone, Copy)]
pub struct Site<'a> {
    pub source: Option<&'a str>,
    pub pos: Position,
}

impl<'a> Site<'a> {
    /// The place of the native call in `c`.
    pub fn of(c: &'a NativeCallContext) -> Site<'a> {
        Site {
            source: c.call_source(),
            pos: c.call_position(),
        }
    }

    /// `file:line:col` (the script's own file when Rhai names none).
    pub fn describe(&self, default_file: &str) -> String {
        let file = self.source.unwrap_or(default_file);
        match (self.pos.line(), self.pos.position()) {
            (Some(l), Some(col)) => format!("{file}:{l}:{col}"),
            (Some(l), None) => format!("{file}:{l}"),
            _ => file.to_string(),
        }
    }
}

/// One script version's `allow` list and audit trail.
pub struct Guard {
    script: Arc<str>,
    /// The version's content hash, as `xmacro status` shows it.
    version: Arc<str>,
    allow: Option<AllowList>,
    audit: Option<Auditor>,
    /// (codec, path) pairs already warned about.
    warned: Mutex<HashSet<(String, String)>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Guard({}, {})", self.script, self.version)
    }
}

/// A command or set on its way, for its record: what the script sent, as
/// it sent it (the writer thread redacts it, see [`Entry`]).
pub struct Pending {
    kind: Kind,
    codec: String,
    path: String,
    params: Map<String, Value>,
    body: Option<String>,
}

impl Guard {
    pub fn new(
        script: &str,
        version: &str,
        allow: Option<AllowList>,
        audit: Option<Auditor>,
    ) -> Arc<Guard> {
        Arc::new(Guard {
            script: script.into(),
            version: version.into(),
            allow,
            audit,
            warned: Mutex::default(),
        })
    }

    /// A guard that allows everything and records nothing (as before
    /// `allow` and the audit trail existed).
    pub fn open(script: &str) -> Arc<Guard> {
        Guard::new(script, "", None, None)
    }

    /// The `allow` list, if the script has one.
    pub fn allow(&self) -> Option<&AllowList> {
        self.allow.as_ref()
    }

    /// Refuses `path` on `codec` if it lies outside `allow`: recorded,
    /// counted, warned about once; the error is the script's to catch.
    pub fn admit(&self, codec: &str, kind: Kind, path: &Path, site: Site) -> RhaiResult<()> {
        let Some(allow) = &self.allow else {
            return Ok(());
        };
        if allow.permits(path) {
            return Ok(());
        }
        let shown = path.to_string();
        crate::audit::counters().denied(&self.script);
        let first = self
            .warned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((codec.to_string(), shown.clone()));
        if first {
            warn!(
                "{}: denied: {} {shown} on codec {codec:?} is outside the allow list of script {:?}: {} (said once per codec and path)",
                site.describe(&format!("{}.rhai", self.script)),
                kind.as_str(),
                self.script,
                allow.describe()
            );
        }
        if let Some(a) = &self.audit {
            a.record(Entry {
                at_ms: crate::audit::now_ms(),
                codec: codec.to_string(),
                script: self.script.clone(),
                version: self.version.clone(),
                kind,
                path: shown.clone(),
                params: Map::new(),
                body: None,
                outcome: Outcome::Denied,
            });
        }
        Err(super::fault::error(
            "denied",
            format!(
                "{shown} is outside the allow list of script {:?}: {}",
                self.script,
                allow.describe()
            ),
        ))
    }

    /// What to record of a command or set about to be sent, if the trail
    /// is on: a copy of the parameters and body (redacted and digested on
    /// the audit writer's thread, not the script's).
    pub fn pending(
        &self,
        codec: &str,
        kind: Kind,
        path: &Path,
        params: &Map<String, Value>,
        body: Option<&str>,
    ) -> Option<Pending> {
        self.audit.as_ref()?;
        Some(Pending {
            kind,
            codec: codec.to_string(),
            path: path.to_string(),
            params: params.clone(),
            body: body.map(str::to_string),
        })
    }

    /// What to record of a configuration set: the value under the leaf's
    /// name (`{"DefaultVolume": 50}`), so a secret leaf is masked too.
    pub fn pending_set(&self, codec: &str, path: &Path, value: &Value) -> Option<Pending> {
        self.audit.as_ref()?;
        let leaf = path
            .0
            .iter()
            .rev()
            .find_map(|s| match s {
                crate::xows::path::Segment::Name(n) => Some(n.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "value".into());
        let mut params = Map::new();
        params.insert(leaf, value.clone());
        self.pending(codec, Kind::Set, path, &params, None)
    }

    /// Records how a pending call ended.
    pub fn finish<T>(&self, p: Option<Pending>, result: &RhaiResult<T>) {
        self.finish_with(p, result.as_ref().map(|_| ()).map_err(|e| error_parts(e)));
    }

    /// Records how a pending call ended: `Err((code, reason))` on failure.
    pub fn finish_with(&self, p: Option<Pending>, result: Result<(), (i64, String)>) {
        let (Some(p), Some(a)) = (p, &self.audit) else {
            return;
        };
        let outcome = match result {
            Ok(()) => Outcome::Ok,
            Err((code, reason)) => Outcome::Error { code, reason },
        };
        a.record(Entry {
            at_ms: crate::audit::now_ms(),
            codec: p.codec,
            script: self.script.clone(),
            version: self.version.clone(),
            kind: p.kind,
            path: p.path,
            params: p.params,
            body: p.body,
            outcome,
        });
    }
}

/// The code and reason of a failed call: a codec's number and message,
/// or 0 and the host's own reason (a timeout, the script stopping).
fn error_parts(e: &EvalAltResult) -> (i64, String) {
    if let EvalAltResult::ErrorRuntime(v, _) = e
        && let Some(m) = v.read_lock::<rhai::Map>()
    {
        let code = m.get("code").and_then(|c| c.as_int().ok()).unwrap_or(0);
        let message = m.get("message").map(|c| c.to_string()).unwrap_or_default();
        return (code, message);
    }
    (0, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_without_allow_admits_everything() {
        let g = Guard::open("s");
        let site = Site {
            source: None,
            pos: Position::NONE,
        };
        let p = Path::parse("Command SystemUnit FactoryReset").unwrap();
        assert!(g.admit("c", Kind::Command, &p, site).is_ok());
        assert!(
            g.pending("c", Kind::Command, &p, &Map::new(), None)
                .is_none()
        );
    }

    #[test]
    fn a_refusal_is_a_denied_error_naming_the_path_and_the_list() {
        let allow = AllowList::parse(&["Status Audio Volume"]).unwrap();
        let g = Guard::new("volume", "ab", Some(allow), None);
        let site = Site {
            source: Some("volume.rhai"),
            pos: Position::new(3, 7),
        };
        assert_eq!(site.describe("x.rhai"), "volume.rhai:3:7");
        let e = g
            .admit(
                "room1",
                Kind::Command,
                &Path::parse("Command Audio Volume Set").unwrap(),
                site,
            )
            .unwrap_err();
        assert_eq!(super::super::fault::code_of(&e).as_deref(), Some("denied"));
        let (_, message) = error_parts(&e);
        assert_eq!(
            message,
            "Command Audio Volume Set is outside the allow list of script \"volume\": [\"Status Audio Volume\"]"
        );
    }
}
