//! Values in test files: durations as people write them (`"1h30m"`),
//! equality by value (`60 == 60.0`, maps and arrays element by element),
//! and `assert_eq`'s failure showing both values.

use rhai::{Dynamic, EvalAltResult, NativeCallContext};
use serde_json::Value;

use crate::script::api::from_dynamic;

/// Marks an assertion failure (not a script or usage error).
pub const FAILED: &str = "assertion failed";

/// A duration a test wrote that is none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a duration: write \"500ms\", \"30s\", \"10m\", \"2h\" or \"1d\"")]
pub struct DurationError {
    pub text: String,
}

/// Parses `"10m"`, `"1h30m"`, `"45s"`, `"250ms"`, `"2d"` into milliseconds.
pub fn parse_duration(text: &str) -> Result<u64, DurationError> {
    let bad = || DurationError {
        text: text.to_string(),
    };
    let mut total: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        total = total.saturating_add(n.saturating_mul(unit));
        rest = &rest[unit_len..];
    }
    Ok(total)
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

fn shown(d: &Dynamic) -> String {
    match from_dynamic(d) {
        Ok(v) => v.to_string(),
        Err(_) => format!("{d:?}"),
    }
}

pub fn assert_eq(
    ctx: &NativeCallContext,
    a: &Dynamic,
    b: &Dynamic,
    msg: &str,
) -> Result<(), Box<EvalAltResult>> {
    let same = match (from_dynamic(a), from_dynamic(b)) {
        (Ok(x), Ok(y)) => values_equal(&x, &y),
        _ => a.to_string() == b.to_string() && a.type_name() == b.type_name(),
    };
    if same {
        return Ok(());
    }
    let what = if msg.is_empty() {
        String::new()
    } else {
        format!(": {msg}")
    };
    let text = format!(
        "{FAILED}: assert_eq{what}\n  actual:   {}\n  expected: {}",
        shown(a),
        shown(b)
    );
    Err(EvalAltResult::ErrorRuntime(text.into(), ctx.call_position()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("10m"), Ok(600_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("2d"), Ok(172_800_000));
        assert!(parse_duration("ten minutes").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn numbers_compare_by_value_whatever_their_type() {
        assert!(values_equal(&json!(60), &json!(60.0)));
        assert!(!values_equal(&json!(60), &json!("60")));
        assert!(values_equal(&json!({"a": [1, 2]}), &json!({"a": [1.0, 2]})));
    }
}
