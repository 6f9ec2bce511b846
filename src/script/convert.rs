//! Script values and JSON, both ways: what the codec (or the store) sends
//! becomes script values, and what a script passes to the codec (or stores)
//! becomes JSON, refused when it has no JSON form (a function) or is nested
//! too deep to read back.

use rhai::{Dynamic, EvalAltResult, FnPtr, Position};
use serde_json::Value;

fn refuse(msg: String) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(msg.into(), Position::NONE).into()
}

/// JSON to a script value (integers stay `INT`, decimals `FLOAT`, `null` is `()`).
pub fn to_dynamic(v: &Value) -> Result<Dynamic, Box<EvalAltResult>> {
    rhai::serde::to_dynamic(v)
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
