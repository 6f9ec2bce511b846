//! What a stored value may be, checked the same way on the way in and on
//! the way out: JSON nested at most [`MAX_DEPTH`] containers deep. `set`
//! encodes with [`encode`], which decodes its own output with [`decode`]
//! (the loader's function) before anything is written, so whatever `set`
//! acknowledges loads again.

use serde_json::Value;

/// How many arrays and maps a stored value may nest. Well under the JSON
/// reader's own limit (128), so an accepted value never trips it.
pub const MAX_DEPTH: usize = 64;

/// How many arrays and maps `v` nests (a scalar is 0). Iterative: a value
/// nested thousands deep is measured without recursion.
pub fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(m) => Box::new(m.values()),
            _ => continue,
        };
        deepest = deepest.max(d + 1);
        stack.extend(children.map(|c| (c, d + 1)));
    }
    deepest
}

/// Why a value is not stored, or a stored one cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("the value nests {0} levels deep; the store keeps at most {MAX_DEPTH}")]
    TooDeep(usize),
    #[error("cannot encode the value: {0}")]
    Encode(serde_json::Error),
    #[error("the value would not read back: {0}")]
    ReadBack(Box<ValueError>),
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
}

fn check_depth(v: &Value) -> Result<(), ValueError> {
    let d = depth(v);
    if d > MAX_DEPTH {
        return Err(ValueError::TooDeep(d));
    }
    Ok(())
}

/// The stored form of `v`, refused when it could not be read back.
pub fn encode(v: &Value) -> Result<String, ValueError> {
    check_depth(v)?;
    let text = serde_json::to_string(v).map_err(ValueError::Encode)?;
    decode(text.as_bytes()).map_err(|e| ValueError::ReadBack(Box::new(e)))?;
    Ok(text)
}

/// A stored value read back.
pub fn decode(bytes: &[u8]) -> Result<Value, ValueError> {
    let v: Value = serde_json::from_slice(bytes).map_err(ValueError::NotJson)?;
    check_depth(&v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(n: usize) -> Value {
        (0..n).fold(json!(1), |inner, _| json!([inner]))
    }

    #[test]
    fn depth_counts_containers_without_recursing() {
        assert_eq!(depth(&json!(3)), 0);
        assert_eq!(depth(&json!({"a": [1, {"b": []}]})), 4);
        assert_eq!(depth(&nested(1_000)), 1_000);
    }

    #[test]
    fn what_encodes_decodes_and_too_deep_is_refused() {
        for v in [
            json!(null),
            json!({"k": [1.5, "x", {"y": true}]}),
            nested(MAX_DEPTH),
        ] {
            assert_eq!(decode(encode(&v).unwrap().as_bytes()).unwrap(), v);
        }
        let e = encode(&nested(200)).unwrap_err().to_string();
        assert!(e.contains("200") && e.contains("64"), "{e}");
        assert!(
            decode(b"{nope")
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
        let deep = serde_json::to_string(&nested(MAX_DEPTH + 1)).unwrap();
        assert!(decode(deep.as_bytes()).is_err());
    }
}
