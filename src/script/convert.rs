//! Script values and JSON, both ways: what the codec (or the store) sends
//! becomes script values, and what a script passes to the codec (or stores)
//! becomes JSON, refused when it has no JSON form (a function) or is nested
//! too deep to read back.

use rhai::{Dynamic, EvalAltResult, FnPtr};
use serde_json::Value;

fn refuse(msg: String) -> Box<EvalAltResult> {
    super::fault::error("value", msg)
}

/// JSON to a script value (integers stay `INT`, decimals `FLOAT`, `null` is `()`).
/// Built directly, not through serde's serializer: this runs once per
/// feedback event on the script thread, and the walk is what rhai's own
/// `serde::to_dynamic` arrives at (an integer past `INT` becomes a float).
pub fn to_dynamic(v: &Value) -> Result<Dynamic, Box<EvalAltResult>> {
    Ok(json_to_dynamic(v))
}

/// [`to_dynamic`] where no `Result` is wanted (it cannot fail).
pub(crate) fn json_to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => rhai::ImmutableString::from(s.as_str()).into(),
        Value::Array(items) => Dynamic::from_array(items.iter().map(json_to_dynamic).collect()),
        Value::Object(m) => {
            // Inserted in order: collecting would gather, sort and bulk-build
            // what serde_json already holds sorted (most documents have a
            // key or two per level).
            let mut map = rhai::Map::new();
            for (k, v) in m {
                map.insert(k.as_str().into(), json_to_dynamic(v));
            }
            Dynamic::from_map(map)
        }
    }
}

/// A script value to JSON (for arguments, values and the store).
pub fn from_dynamic(d: &Dynamic) -> Result<Value, Box<EvalAltResult>> {
    if d.is::<FnPtr>() {
        return Err(refuse(
            "a function cannot be sent to the codec or stored".into(),
        ));
    }
    if super::depth::too_deep(d) {
        return Err(refuse(super::depth::message("sent to the codec or stored")));
    }
    rhai::serde::from_dynamic(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_becomes_the_same_script_value_as_through_rhais_serde() {
        let v = json!({
            "Volume": 50, "Big": 18446744073709551615u64, "Neg": -7, "Half": 0.5,
            "Whole": 2.0, "On": true, "Gone": null, "Name": "Room 1",
            "Calls": [{"id": 2, "Status": "Connected"}, [], {}],
        });
        let ours = to_dynamic(&v).unwrap();
        let rhais = rhai::serde::to_dynamic(&v).unwrap();
        assert_eq!(format!("{ours:?}"), format!("{rhais:?}"));
        assert_eq!(ours.type_name(), "map");
        let m = ours.cast::<rhai::Map>();
        assert!(m["Volume"].is_int());
        assert!(m["Big"].is_float(), "past INT a number is a float");
        assert!(m["Whole"].is_float(), "2.0 stays a float");
        assert!(m["Gone"].is_unit());
        assert_eq!(
            from_dynamic(&Dynamic::from_map(m)).unwrap()["Calls"],
            v["Calls"]
        );
    }
}
