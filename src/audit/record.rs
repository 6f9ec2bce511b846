//! One entry of the audit trail, and the redaction that keeps secrets out
//! of it: a parameter whose name holds `pass`, `secret`, `token` or `key`
//! (any case) is kept as `"***"`, and a multi-line body as its size and
//! SHA-256, never its text. A codec's error reason that repeats a masked
//! value has it masked too.

use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What is kept in place of a secret.
pub const MASK: &str = "***";

/// What the script did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `xapi.Command...`, `xapi.command(...)`.
    Command,
    /// A configuration set.
    Set,
    /// A read (`get`), recorded only when refused.
    Get,
    /// A `query`, recorded only when refused.
    Query,
    /// Feedback (`on`/`once`), recorded only when refused.
    Subscribe,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Command,
        Kind::Set,
        Kind::Get,
        Kind::Query,
        Kind::Subscribe,
    ];

    /// The word records, tables and filters use.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Command => "command",
            Kind::Set => "set",
            Kind::Get => "get",
            Kind::Query => "query",
            Kind::Subscribe => "subscribe",
        }
    }

    /// Reads [`Kind::as_str`] back.
    pub fn parse(word: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == word)
    }
}

/// How the call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The codec's (or the connection's) error code and reason.
    Error {
        code: i64,
        reason: String,
    },
    /// Refused by the script's `allow` list; it never reached the codec.
    Denied,
}

impl Outcome {
    /// `ok`, `error` or `denied`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error { .. } => "error",
            Outcome::Denied => "denied",
        }
    }
}

/// A multi-line body as recorded: its size and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDigest {
    pub bytes: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

impl BodyDigest {
    pub fn of(body: &str) -> BodyDigest {
        let hash = Sha256::digest(body.as_bytes());
        let mut hex = String::with_capacity(64);
        for b in hash.iter() {
            use std::fmt::Write;
            let _ = write!(hex, "{b:02x}");
        }
        BodyDigest {
            bytes: body.len() as u64,
            sha256: hex,
        }
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When the call was made, milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub codec: String,
    pub script: String,
    /// The script version's content hash (as `xmacro status` shows it).
    pub version: String,
    pub kind: Kind,
    /// The xAPI path as the xAPI writes it (`Command Audio Volume Set`).
    pub path: String,
    /// The parameters, already redacted (see [`redact_params`]).
    pub params: Value,
    pub body: Option<BodyDigest>,
    pub outcome: Outcome,
}

impl Record {
    /// The time as RFC 3339 in UTC, to the millisecond.
    pub fn time(&self) -> String {
        chrono::DateTime::from_timestamp_millis(self.at_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// The record as `xmacro audit --json` and `/api/audit` give it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("time".into(), self.time().into());
        m.insert("codec".into(), self.codec.clone().into());
        m.insert("script".into(), self.script.clone().into());
        m.insert("version".into(), self.version.clone().into());
        m.insert("kind".into(), self.kind.as_str().into());
        m.insert("path".into(), self.path.clone().into());
        m.insert("params".into(), self.params.clone());
        if let Some(b) = &self.body {
            m.insert(
                "body".into(),
                serde_json::json!({ "bytes": b.bytes, "sha256": b.sha256 }),
            );
        }
        m.insert("result".into(), self.outcome.as_str().into());
        if let Outcome::Error { code, reason } = &self.outcome {
            m.insert("code".into(), (*code).into());
            m.insert("reason".into(), reason.clone().into());
        }
        Value::Object(m)
    }
}

/// A record as a database row holds it (the columns both backends have).
#[derive(Debug, Clone, Default)]
pub struct Columns {
    pub at_ms: i64,
    pub codec: String,
    pub script: String,
    pub version: String,
    pub kind: String,
    pub path: String,
    /// JSON text.
    pub params: String,
    pub body_bytes: Option<i64>,
    pub body_sha256: Option<String>,
    pub result: String,
    pub code: Option<i64>,
    pub reason: Option<String>,
}

impl Columns {
    /// The record again; `None` for a row this build cannot read (a kind
    /// or result it does not know), which readers leave out.
    pub fn record(self) -> Option<Record> {
        let outcome = match self.result.as_str() {
            "ok" => Outcome::Ok,
            "denied" => Outcome::Denied,
            "error" => Outcome::Error {
                code: self.code.unwrap_or_default(),
                reason: self.reason.unwrap_or_default(),
            },
            _ => return None,
        };
        Some(Record {
            at_ms: self.at_ms,
            codec: self.codec,
            script: self.script,
            version: self.version,
            kind: Kind::parse(&self.kind)?,
            path: self.path,
            params: serde_json::from_str(&self.params).unwrap_or(Value::Null),
            body: match (self.body_bytes, self.body_sha256) {
                (Some(bytes), Some(sha256)) => Some(BodyDigest {
                    bytes: bytes as u64,
                    sha256,
                }),
                _ => None,
            },
            outcome,
        })
    }
}

/// A record's columns as the writers bind them, borrowed from the record
/// (only the parameters become text: JSON).
#[derive(Debug, Clone)]
pub struct Row<'a> {
    pub at_ms: i64,
    pub codec: &'a str,
    pub script: &'a str,
    pub version: &'a str,
    pub kind: &'static str,
    pub path: &'a str,
    pub params: String,
    pub body_bytes: Option<i64>,
    pub body_sha256: Option<&'a str>,
    pub result: &'static str,
    pub code: Option<i64>,
    pub reason: Option<&'a str>,
}

impl<'a> Row<'a> {
    /// The columns of `r`.
    pub fn of(r: &'a Record) -> Row<'a> {
        let (code, reason) = match &r.outcome {
            Outcome::Error { code, reason } => (Some(*code), Some(reason.as_str())),
            _ => (None, None),
        };
        Row {
            at_ms: r.at_ms,
            codec: &r.codec,
            script: &r.script,
            version: &r.version,
            kind: r.kind.as_str(),
            path: &r.path,
            params: r.params.to_string(),
            body_bytes: r.body.as_ref().map(|b| b.bytes as i64),
            body_sha256: r.body.as_ref().map(|b| b.sha256.as_str()),
            result: r.outcome.as_str(),
            code,
            reason,
        }
    }
}

/// A call as the script made it, on its way to the writer thread, which
/// turns it into a [`Record`] ([`Entry::redact`]): the script thread only
/// moves what it already has (no redaction, digest or serialisation
/// there). It holds the parameters and body as sent, secrets included, so
/// it has no `Debug` that shows them and never leaves the process.
pub struct Entry {
    /// When the call was made, milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub codec: String,
    pub script: Arc<str>,
    pub version: Arc<str>,
    pub kind: Kind,
    /// The xAPI path as the xAPI writes it.
    pub path: String,
    /// The parameters as sent (not yet redacted).
    pub params: Map<String, Value>,
    /// The multi-line body as sent (not yet digested).
    pub body: Option<String>,
    /// How it ended; an error's reason not yet masked.
    pub outcome: Outcome,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Entry({} {} {} on {}: {})",
            self.script,
            self.kind.as_str(),
            self.path,
            self.codec,
            self.outcome.as_str()
        )
    }
}

impl Entry {
    /// The record kept: parameters redacted ([`redact_params`]), the body
    /// as its size and SHA-256, a masked value masked in the reason too.
    pub fn redact(self) -> Record {
        let mut masked = Vec::new();
        let params = redact_params(&self.params, &mut masked);
        let outcome = match self.outcome {
            Outcome::Error { code, reason } => Outcome::Error {
                code,
                reason: mask_in(&reason, &masked),
            },
            other => other,
        };
        Record {
            at_ms: self.at_ms,
            codec: self.codec,
            script: self.script.to_string(),
            version: self.version.to_string(),
            kind: self.kind,
            path: self.path,
            params,
            body: self.body.as_deref().map(BodyDigest::of),
            outcome,
        }
    }
}

pub use crate::log::safe::is_secret_name;

/// Parameters as recorded: every value under a secret name (at any depth)
/// is [`MASK`]. The masked values are added to `masked`, so a reason that
/// repeats one can be masked too ([`mask_in`]).
pub fn redact_params(params: &Map<String, Value>, masked: &mut Vec<String>) -> Value {
    let mut out = Map::with_capacity(params.len());
    for (k, v) in params {
        let kept = if is_secret_name(k) {
            collect_strings(v, masked);
            Value::String(MASK.into())
        } else {
            redact_value(v, masked)
        };
        out.insert(k.clone(), kept);
    }
    Value::Object(out)
}

fn redact_value(v: &Value, masked: &mut Vec<String>) -> Value {
    match v {
        Value::Object(m) => redact_params(m, masked),
        Value::Array(a) => Value::Array(a.iter().map(|x| redact_value(x, masked)).collect()),
        other => other.clone(),
    }
}

fn collect_strings(v: &Value, into: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() => into.push(s.clone()),
        Value::Number(n) => into.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, into)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, into)),
        _ => {}
    }
}

/// `text` with every one of `masked` replaced by [`MASK`].
pub fn mask_in(text: &str, masked: &[String]) -> String {
    let mut out = text.to_string();
    for m in masked {
        if !m.is_empty() {
            out = out.replace(m.as_str(), MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn values_under_names_holding_pass_secret_token_or_key_are_masked_in_any_case() {
        let mut masked = Vec::new();
        let r = redact_params(
            &map(json!({
                "Passphrase": "hunter2",
                "ClientSecret": "s3",
                "AccessTOKEN": "t0",
                "apiKey": 12345,
                "Level": 50,
                "Nested": { "password": ["a", "b"], "Name": "Room 1" },
            })),
            &mut masked,
        );
        assert_eq!(
            r,
            json!({
                "Passphrase": "***",
                "ClientSecret": "***",
                "AccessTOKEN": "***",
                "apiKey": "***",
                "Level": 50,
                "Nested": { "password": "***", "Name": "Room 1" },
            })
        );
        assert!(!r.to_string().contains("hunter2"));
        masked.sort();
        assert_eq!(masked, ["12345", "a", "b", "hunter2", "s3", "t0"]);
    }

    #[test]
    fn a_reason_that_repeats_a_secret_has_it_masked() {
        let masked = vec!["hunter2".to_string()];
        assert_eq!(
            mask_in("Passphrase \"hunter2\" is too short", &masked),
            "Passphrase \"***\" is too short"
        );
    }

    #[test]
    fn a_body_is_kept_as_its_size_and_sha256() {
        let d = BodyDigest::of("abc");
        assert_eq!(d.bytes, 3);
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_record_reads_as_json_with_its_result_and_the_codecs_reason() {
        let r = Record {
            at_ms: 1_700_000_000_123,
            codec: "room1".into(),
            script: "volume".into(),
            version: "00000000000000ab".into(),
            kind: Kind::Command,
            path: "Command Audio Volume Set".into(),
            params: json!({ "Level": 120 }),
            body: Some(BodyDigest::of("x")),
            outcome: Outcome::Error {
                code: 3,
                reason: "Level: out of range".into(),
            },
        };
        let j = r.to_json();
        assert_eq!(j["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(j["result"], "error");
        assert_eq!(j["code"], 3);
        assert_eq!(j["reason"], "Level: out of range");
        assert_eq!(j["body"]["bytes"], 1);
        assert_eq!(j["kind"], "command");
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn a_call_handed_over_raw_is_recorded_redacted_with_its_body_digested() {
        let e = Entry {
            at_ms: 1,
            codec: "room1".into(),
            script: "wifi".into(),
            version: "ab".into(),
            kind: Kind::Command,
            path: "Command Network Wifi Configure".into(),
            params: map(json!({ "Ssid": "lab", "Passphrase": "hunter2" })),
            body: Some("line 1\nline 2\n".into()),
            outcome: Outcome::Error {
                code: 4,
                reason: "Passphrase hunter2 too short".into(),
            },
        };
        assert!(!format!("{e:?}").contains("hunter2"));
        let r = e.redact();
        assert_eq!(r.params, json!({ "Ssid": "lab", "Passphrase": "***" }));
        assert_eq!(r.body, Some(BodyDigest::of("line 1\nline 2\n")));
        assert_eq!(
            r.outcome,
            Outcome::Error {
                code: 4,
                reason: "Passphrase *** too short".into()
            }
        );
        assert_eq!((r.script.as_str(), r.version.as_str()), ("wifi", "ab"));
        let row = Row::of(&r);
        assert!(!row.params.contains("hunter2") && row.params.contains("lab"));
        assert_eq!(row.reason, Some("Passphrase *** too short"));
    }
}
