//! Strict reading of a control method's params: a key the method does not
//! take, or a value of the wrong type, is refused with an error that names
//! the method, the key and what it accepts, instead of being ignored (a
//! test that misspells `StatusCode` must not pass with a 200 it never
//! asked for). `null` counts as absent, as JSON-RPC clients send it.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::xows::protocol::{RpcError, code};

/// The longest wait a control method takes (`Reboot`'s `Down`, `Freeze`'s
/// `Ms`, ...): a day. A test wants seconds; more is a typo, and a value past
/// what the clock can add would end the session.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// A control method's params, with the keys it takes.
pub struct Args<'a> {
    method: &'a str,
    map: Map<String, Value>,
}

impl<'a> Args<'a> {
    /// Reads `params` (an object, or null for none) of `xSim/{method}`,
    /// refusing any key not in `known`.
    pub fn new(method: &'a str, params: &Value, known: &[&str]) -> Result<Args<'a>, RpcError> {
        let map = match params {
            Value::Object(m) => m.clone(),
            Value::Null => Map::new(),
            other => {
                return Err(invalid(format!(
                    "xSim/{method}: params must be an object, got {}",
                    kind(other)
                )));
            }
        };
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                let names: Vec<String> = known.iter().map(|k| k.to_string()).collect();
                let hint = crate::schema::nearest(key, names.iter())
                    .map(|n| format!(" (did you mean {n:?}?)"))
                    .unwrap_or_default();
                let takes = if known.is_empty() {
                    "it takes no params".to_string()
                } else {
                    format!("it takes {}", known.join(", "))
                };
                return Err(invalid(format!(
                    "xSim/{method}: unknown key {key:?}{hint}; {takes}"
                )));
            }
        }
        Ok(Args { method, map })
    }

    /// The value at `key` (absent when null).
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// An error about `key`.
    pub fn bad(&self, key: &str, why: impl std::fmt::Display) -> RpcError {
        invalid(format!("xSim/{}: {key} {why}", self.method))
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> RpcError {
        self.bad(key, format!("must be {want}, got {}", kind(got)))
    }

    /// A string, if given.
    pub fn str(&self, key: &str) -> Result<Option<&str>, RpcError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A string that must be given.
    pub fn need_str(&self, key: &str) -> Result<&str, RpcError> {
        self.str(key)?
            .ok_or_else(|| self.bad(key, "is missing (a string)"))
    }

    /// Text: a string, or a number or boolean written as text (widget
    /// values, header values).
    pub fn text(&self, key: &str) -> Result<Option<String>, RpcError> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => scalar_text(v)
                .map(Some)
                .ok_or_else(|| self.wrong(key, "text (a string or a number)", v)),
        }
    }

    /// A whole number of 0 or more, if given.
    pub fn u64(&self, key: &str) -> Result<Option<u64>, RpcError> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a whole number of 0 or more", v)),
        }
    }

    /// A whole number that must be given.
    pub fn need_u64(&self, key: &str) -> Result<u64, RpcError> {
        self.u64(key)?
            .ok_or_else(|| self.bad(key, "is missing (a whole number)"))
    }

    /// A whole number (negative too), if given.
    pub fn i64(&self, key: &str) -> Result<Option<i64>, RpcError> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a whole number", v)),
        }
    }

    /// `true` or `false`, if given.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, RpcError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "true or false", other)),
        }
    }

    /// A wait of `unit` per count (seconds may have a fraction), at most
    /// [`MAX_WAIT`], if given.
    pub fn wait(&self, key: &str, unit: Duration) -> Result<Option<Duration>, RpcError> {
        let Some(v) = self.value(key) else {
            return Ok(None);
        };
        let n = v
            .as_f64()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| self.wrong(key, "a number of 0 or more", v))?;
        let max = MAX_WAIT.as_secs_f64() / unit.as_secs_f64();
        if n > max {
            return Err(self.bad(key, format!("{n} is out of range (at most {max})")));
        }
        Ok(Some(unit.mul_f64(n)))
    }
}

/// A refusal of bad params whose message says what is wrong (test runners
/// and `sim ctl` show the message).
pub fn invalid(text: impl Into<String>) -> RpcError {
    RpcError::new(code::INVALID_PARAMS, text)
}

/// A string, or a number or boolean as text.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What a JSON value is, for errors ("a string \"x\"", "an object").
pub fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() <= 40 => format!("the string {s:?}"),
        Value::String(_) => "a long string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_unknown_key_is_refused_with_the_nearest_known_one() {
        let e = Args::new("People", &json!({"Cont": 3}), &["Count"])
            .err()
            .unwrap();
        assert_eq!(
            e.message,
            "xSim/People: unknown key \"Cont\" (did you mean \"Count\"?); it takes Count"
        );
        let e = Args::new("Inspect", &json!({"X": 1}), &[]).err().unwrap();
        assert!(e.message.ends_with("it takes no params"), "{}", e.message);
        let e = Args::new("People", &json!([1]), &["Count"]).err().unwrap();
        assert!(e.message.contains("must be an object"), "{}", e.message);
    }

    #[test]
    fn wrong_types_are_refused_and_null_is_absent() {
        let a = Args::new(
            "T",
            &json!({"N": "three", "S": 5, "B": "yes", "Z": null}),
            &["N", "S", "B", "Z"],
        )
        .unwrap();
        assert_eq!(
            a.u64("N").unwrap_err().message,
            "xSim/T: N must be a whole number of 0 or more, got the string \"three\""
        );
        assert!(a.str("S").is_err());
        assert_eq!(a.text("S").unwrap().as_deref(), Some("5"));
        assert!(a.bool("B").is_err());
        assert_eq!(a.u64("Z").unwrap(), None);
        assert!(a.need_str("Z").unwrap_err().message.contains("missing"));
    }

    #[test]
    fn a_wait_past_a_day_or_not_a_number_is_refused() {
        let a = Args::new(
            "Reboot",
            &json!({"Down": 1e300, "Ok": 1.5, "Neg": -1}),
            &["Down", "Ok", "Neg"],
        )
        .unwrap();
        let s = Duration::from_secs(1);
        assert!(
            a.wait("Down", s)
                .unwrap_err()
                .message
                .contains("out of range")
        );
        assert_eq!(a.wait("Ok", s).unwrap(), Some(Duration::from_millis(1500)));
        assert!(a.wait("Neg", s).is_err());
        let ms = Duration::from_millis(1);
        let a = Args::new("Freeze", &json!({"Ms": u64::MAX}), &["Ms"]).unwrap();
        assert!(a.wait("Ms", ms).is_err());
    }
}
