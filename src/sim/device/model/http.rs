//! The codec's HTTP client (`HttpClient Get/Post/Put/Patch/Delete`) in a
//! sandbox: nothing leaves the machine. Every request is logged
//! (`xSim/HttpRequests`) and answered from responses scripted with
//! `xSim/HttpResponse` (method and exact or glob URL; the latest match
//! wins), else with 200 and an empty body. As on a device, the body comes
//! back as `ResultBody` says (`PlainText` or `Base64`; left out, it is the
//! schema's default: `PlainText` for Get, `None` for the others), and a
//! status of 400 or more is a command error whose `data` holds StatusCode,
//! Headers, Body.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use tracing::{info, warn};

use super::{cause, command_error, p, remember, text};
use crate::sim::args::{self, Args};
use crate::sim::device::State;
use crate::xows::protocol::{RpcError, code};

/// A scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Upper-case method, or `None` for any.
    pub method: Option<String>,
    /// The URL, exact or with `*` (any run of characters) and `?` (one).
    pub url: String,
    pub status: u16,
    /// `[{"Key": ..., "Value": ...}]` as the device reports them.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Rule {
    /// Reads `xSim/HttpResponse` params.
    pub fn from_args(a: &Args) -> Result<Rule, RpcError> {
        let url = a
            .str("Url")?
            .ok_or_else(|| a.bad("Url", "is missing (the URL, exact or a glob with * and ?)"))?;
        let method = a
            .str("Method")?
            .filter(|m| *m != "*")
            .map(str::to_ascii_uppercase);
        let status = match a.u64("StatusCode")? {
            None => 200,
            Some(s @ 100..=599) => s as u16,
            Some(s) => return Err(a.bad("StatusCode", format!("{s} is not 100..599"))),
        };
        let headers = match a.value("Headers") {
            None => Vec::new(),
            Some(h) => headers(h).map_err(|why| a.bad("Headers", why))?,
        };
        let body = match a.value("Body") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        Ok(Rule {
            method,
            url: url.to_string(),
            status,
            headers,
            body,
        })
    }

    fn matches(&self, method: &str, url: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method) && glob(&self.url, url)
    }
}

const HEADER_FORMS: &str = "must be an object ({\"Content-Type\": \"text/plain\"}), a list of \"Key: Value\" strings, or a list of {\"Key\": ..., \"Value\": ...} as the device reports them";

/// Why given headers are refused; each names the item at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("{at}: the value must be text, got {kind}")]
    NotText { at: String, kind: String },
    #[error("item {0}: {1:?} is not \"Key: Value\"")]
    NotKeyValue(usize, String),
    #[error("item {0}: unknown key {1:?} (a header has Key and Value)")]
    UnknownKey(usize, String),
    #[error("item {0}: Key must be a header name")]
    NoKey(usize),
    #[error("item {0}: {1} {HEADER_FORMS}")]
    BadItem(usize, String),
    #[error("{HEADER_FORMS}; got {0}")]
    BadForm(String),
}

/// Response headers in any of the three forms: an object, `"Key: Value"`
/// strings, or `{"Key", "Value"}` objects (an `id` beside them is the
/// device's numbering and is left out).
pub fn headers(given: &Value) -> Result<Vec<(String, String)>, HeaderError> {
    let text = |v: &Value, at: &str| {
        args::scalar_text(v).ok_or_else(|| HeaderError::NotText {
            at: at.into(),
            kind: args::kind(v),
        })
    };
    match given {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| Ok((k.clone(), text(v, k)?)))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => s
                    .split_once(':')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| HeaderError::NotKeyValue(i + 1, s.clone())),
                Value::Object(m) => {
                    if let Some(k) = m
                        .keys()
                        .find(|k| !["Key", "Value", "id"].contains(&k.as_str()))
                    {
                        return Err(HeaderError::UnknownKey(i + 1, k.clone()));
                    }
                    let key = m
                        .get("Key")
                        .and_then(Value::as_str)
                        .filter(|k| !k.is_empty());
                    let key = key.ok_or(HeaderError::NoKey(i + 1))?;
                    let value = m.get("Value").unwrap_or(&Value::Null);
                    Ok((key.to_string(), text(value, key)?))
                }
                other => Err(HeaderError::BadItem(i + 1, args::kind(other))),
            })
            .collect(),
        other => Err(HeaderError::BadForm(args::kind(other))),
    }
}

/// `*` matches any run of characters, `?` one; everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `HttpClient <verb>` with checked arguments.
pub fn execute(st: &mut State, verb: &str, args: &Map<String, Value>) -> Result<Value, RpcError> {
    if st.get(&p("Configuration HttpClient Mode")) != Some(json!("On")) {
        return Err(command_error(
            cause::FAILED,
            "HttpClient is disabled (Configuration HttpClient Mode is Off)",
        ));
    }
    let method = verb.to_ascii_uppercase();
    let url = text(args, "Url").to_string();
    if url.starts_with("http://")
        && st.get(&p("Configuration HttpClient AllowHTTP")) == Some(json!("False"))
    {
        return Err(command_error(
            cause::FAILED,
            "http:// is not allowed (Configuration HttpClient AllowHTTP is False)",
        ));
    }
    let headers = match args.get("Header") {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
        None => Vec::new(),
    };
    let time = super::now_text(st);
    remember(
        &mut st.room.http_log,
        json!({
            "Method": method,
            "Url": url,
            "Headers": headers,
            "Body": args.get("body").cloned().unwrap_or(json!("")),
            "Time": time,
        }),
    );
    let rule = st
        .room
        .http_rules
        .iter()
        .rev()
        .find(|r| r.matches(&method, &url))
        .cloned();
    let rule = rule.unwrap_or_else(|| {
        warn!("room: HTTP {method} {url}: no xSim/HttpResponse matches; answering 200 with an empty body");
        Rule {
            method: None,
            url: url.clone(),
            status: 200,
            headers: Vec::new(),
            body: String::new(),
        }
    });
    info!("room: HTTP {method} {url} -> {}", rule.status);
    let mut answer = json!({
        "StatusCode": rule.status,
        "Headers": rule.headers.iter().enumerate()
            .map(|(i, (k, v))| json!({ "id": i + 1, "Key": k, "Value": v }))
            .collect::<Vec<_>>(),
    });
    match text(args, "ResultBody") {
        "PlainText" => answer["Body"] = json!(rule.body),
        "Base64" => {
            answer["Body"] = json!(base64::engine::general_purpose::STANDARD.encode(&rule.body))
        }
        _ => {}
    }
    if rule.status >= 400 {
        answer["status"] = json!("Error");
        answer["Message"] = json!(format!("HTTP status {}", rule.status));
        return Err(
            RpcError::new(code::COMMAND_ERROR, "Command returned an error.").with_data(answer),
        );
    }
    answer["status"] = json!("OK");
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob("https://api.test/*", "https://api.test/prices?day=1"));
        assert!(glob("https://api.test/v?/x", "https://api.test/v2/x"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(!glob("https://a/*/b", "https://a/x/c"));
        assert!(glob("*", ""));
    }

    fn rule(params: Value) -> Result<Rule, RpcError> {
        let known = ["Method", "Url", "StatusCode", "Headers", "Body", "Clear"];
        Rule::from_args(&Args::new("HttpResponse", &params, &known)?)
    }

    #[test]
    fn rules_read_headers_in_every_form_the_device_and_tests_use() {
        let r = rule(json!({"Url": "u", "Method": "get",
            "Headers": {"Content-Type": "text/plain"}, "Body": {"a": 1}}))
        .unwrap();
        assert_eq!(r.method.as_deref(), Some("GET"));
        assert_eq!(
            r.headers,
            vec![("Content-Type".into(), "text/plain".into())]
        );
        assert_eq!(r.body, "{\"a\":1}");
        let r = rule(json!({"Url": "u", "Headers": ["A: b"]})).unwrap();
        assert_eq!(r.headers, vec![("A".into(), "b".into())]);
        let r = rule(json!({"Url": "u", "Headers": [
            {"id": 1, "Key": "Location", "Value": "/api/incident/7"},
            {"Key": "Retry-After", "Value": 30}
        ]}))
        .unwrap();
        assert_eq!(
            r.headers,
            vec![
                ("Location".into(), "/api/incident/7".into()),
                ("Retry-After".into(), "30".into())
            ]
        );
        assert!(rule(json!({"Url": "u", "StatusCode": 9})).is_err());
        assert!(rule(json!({})).is_err());
    }

    #[test]
    fn headers_in_no_known_form_are_refused_naming_the_forms() {
        for bad in [
            json!("A: b"),
            json!(["no colon"]),
            json!([{"Name": "A", "Value": "b"}]),
            json!([{"Key": "A", "Value": {"x": 1}}]),
            json!([7]),
            json!({"A": ["b"]}),
        ] {
            let e = rule(json!({"Url": "u", "Headers": bad})).unwrap_err();
            assert!(
                e.message.starts_with("xSim/HttpResponse: Headers "),
                "{bad}: {}",
                e.message
            );
        }
        let e = rule(json!({"Url": "u", "Headers": 5})).unwrap_err();
        assert!(e.message.contains("\"Key: Value\""), "{}", e.message);
        assert!(
            e.message.contains("as the device reports them"),
            "{}",
            e.message
        );
    }
}
