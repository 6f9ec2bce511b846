//! The codec's HTTP client (`HttpClient Get/Post/Put/Patch/Delete`) in a
//! sandbox: nothing leaves the machine. Every request is logged
//! (`xSim/HttpRequests`) and answered from responses scripted with
//! `xSim/HttpResponse` (method and exact or glob URL; the latest match
//! wins), else with 200 and an empty body. As on a device, the body comes
//! back only with `ResultBody: PlainText` or `Base64`, and a status of 400
//! or more is a command error whose `data` holds StatusCode, Headers, Body.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use tracing::{info, warn};

use super::{cause, command_error, p, remember, text};
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
    pub fn from_params(params: &Value) -> Result<Rule, RpcError> {
        let url = params
            .get("Url")
            .and_then(Value::as_str)
            .ok_or_else(|| RpcError::invalid_params("missing Url (exact, or a glob with *)"))?;
        let method = params
            .get("Method")
            .and_then(Value::as_str)
            .filter(|m| *m != "*")
            .map(str::to_ascii_uppercase);
        let status = params
            .get("StatusCode")
            .map(|v| {
                v.as_u64()
                    .filter(|s| (100..=599).contains(s))
                    .ok_or_else(|| RpcError::invalid_params("StatusCode must be 100..599"))
            })
            .transpose()?
            .unwrap_or(200) as u16;
        let headers = match params.get("Headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_string)))
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|h| {
                    let s = h.as_str()?;
                    let (k, v) = s.split_once(':')?;
                    Some((k.trim().to_string(), v.trim().to_string()))
                })
                .collect(),
            Some(_) => {
                return Err(RpcError::invalid_params(
                    "Headers must be an object or a list of \"Key: Value\" strings",
                ));
            }
        };
        let body = match params.get("Body") {
            None | Some(Value::Null) => String::new(),
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

    #[test]
    fn rules_read_headers_in_both_forms() {
        let r = Rule::from_params(&json!({"Url": "u", "Method": "get",
            "Headers": {"Content-Type": "text/plain"}, "Body": {"a": 1}}))
        .unwrap();
        assert_eq!(r.method.as_deref(), Some("GET"));
        assert_eq!(
            r.headers,
            vec![("Content-Type".into(), "text/plain".into())]
        );
        assert_eq!(r.body, "{\"a\":1}");
        let r = Rule::from_params(&json!({"Url": "u", "Headers": ["A: b"]})).unwrap();
        assert_eq!(r.headers, vec![("A".into(), "b".into())]);
        assert!(Rule::from_params(&json!({"Url": "u", "StatusCode": 9})).is_err());
        assert!(Rule::from_params(&json!({})).is_err());
    }
}
