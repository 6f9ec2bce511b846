//! `json_parse(text)` and `json_stringify(value)`: JSON of any value (a
//! top-level array, a bare number or string too), with errors a script can
//! `catch` whose message points into the text, not into the script.

use rhai::{Dynamic, Engine, INT};
use serde_json::Value;

use super::error;

/// Deepest nesting `json_stringify` walks (parsing stops at serde_json's own
/// limit of 128): deeper values are refused instead of overflowing a stack.
pub const MAX_DEPTH: usize = 128;

pub fn register(engine: &mut Engine) {
    engine
        .register_fn("json_parse", parse)
        .register_fn("json_stringify", |v: Dynamic| stringify(&v, None))
        .register_fn("json_stringify", |v: Dynamic, indent: INT| {
            stringify(&v, Some(indent))
        });
}

/// Parses any JSON value: objects become maps, arrays arrays, integers
/// `INT`, other numbers `FLOAT`, `null` becomes `()`.
pub fn parse(text: &str) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        error(
            "json",
            format!(
                "json_parse: {} (line {}, column {} of the text)",
                describe(&e),
                e.line(),
                e.column()
            ),
        )
    })?;
    crate::script::convert::to_dynamic(&value)
}

fn describe(e: &serde_json::Error) -> String {
    // serde_json appends " at line L column C"; the position is given apart.
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Text for any script value. Functions are refused (as in JavaScript they
/// would vanish silently, which hides mistakes); dates become ISO text.
pub fn stringify(v: &Dynamic, indent: Option<INT>) -> Result<String, Box<rhai::EvalAltResult>> {
    let value = to_json(v, 0)?;
    let text = match indent {
        None | Some(0) => serde_json::to_string(&value),
        Some(n) if (1..=10).contains(&n) => {
            let pad = " ".repeat(n as usize);
            let mut out = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(pad.as_bytes());
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            serde::Serialize::serialize(&value, &mut ser)
                .map(|_| String::from_utf8(out).unwrap_or_default())
        }
        Some(n) => {
            return Err(error(
                "json",
                format!("json_stringify: an indent of 0 to 10 spaces, not {n}"),
            ));
        }
    };
    text.map_err(|e| error("json", format!("json_stringify: {e}")))
}

fn to_json(v: &Dynamic, depth: usize) -> Result<Value, Box<rhai::EvalAltResult>> {
    if depth > MAX_DEPTH {
        return Err(error(
            "json",
            format!("json_stringify: the value is nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    if v.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = v.as_bool() {
        return Ok(b.into());
    }
    if let Ok(i) = v.as_int() {
        return Ok(i.into());
    }
    if let Ok(f) = v.as_float() {
        // JSON has no NaN or infinity; JavaScript writes null for them.
        return Ok(serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number));
    }
    if let Ok(c) = v.as_char() {
        return Ok(c.to_string().into());
    }
    if v.is_string() {
        return Ok(v.clone().into_string().unwrap_or_default().into());
    }
    if let Some(a) = v.read_lock::<rhai::Array>() {
        return a.iter().map(|x| to_json(x, depth + 1)).collect();
    }
    if let Some(m) = v.read_lock::<rhai::Map>() {
        let mut o = serde_json::Map::new();
        for (k, x) in m.iter() {
            o.insert(k.to_string(), to_json(x, depth + 1)?);
        }
        return Ok(Value::Object(o));
    }
    if let Some(d) = v.read_lock::<super::time::DateTime>() {
        return Ok(d.iso().into());
    }
    if v.is::<rhai::FnPtr>() {
        return Err(error("json", "json_stringify: a function has no JSON form"));
    }
    Ok(v.to_string().into())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{engine, message_of};
    use rhai::{Array, INT, Map};

    #[test]
    fn a_top_level_array_parses() {
        let a: Array = engine()
            .eval(r#"json_parse("[1, 2.5, \"x\", null]")"#)
            .unwrap();
        assert_eq!(a.len(), 4);
        assert_eq!(a[0].as_int().unwrap(), 1);
        assert_eq!(a[1].as_float().unwrap(), 2.5);
        assert!(a[3].is_unit());
    }

    #[test]
    fn objects_become_maps_with_nested_values() {
        let n: INT = engine()
            .eval(r#"let v = json_parse(`{"a": {"b": [10, 20]}}`); v.a.b[1]"#)
            .unwrap();
        assert_eq!(n, 20);
    }

    #[test]
    fn malformed_text_is_a_catchable_error_pointing_into_the_text() {
        let m: Map = engine()
            .eval(r#"let m = #{}; try { json_parse("{\"a\": }"); } catch (e) { m = e; } m"#)
            .unwrap();
        let msg = m["message"].to_string();
        assert!(msg.contains("line 1, column 7 of the text"), "{msg}");
        assert_eq!(m["code"].to_string(), "json");
    }

    #[test]
    fn an_uncaught_parse_error_is_placed_at_the_call_in_the_script() {
        let e = engine()
            .run("let x = 1;\nlet y = json_parse(\"nope\");")
            .unwrap_err();
        assert_eq!(e.position().line(), Some(2), "{e}");
        assert!(message_of(&e).contains("json_parse"), "{e}");
    }

    #[test]
    fn stringify_round_trips_and_indents() {
        let s: String = engine()
            .eval(r#"json_stringify(#{ a: [1, 2.5, (), true, "q\""] })"#)
            .unwrap();
        assert_eq!(s, r#"{"a":[1,2.5,null,true,"q\""]}"#);
        let s: String = engine().eval(r#"json_stringify([1], 2)"#).unwrap();
        assert_eq!(s, "[\n  1\n]");
        let back: bool = engine()
            .eval(r#"let v = #{ x: [1, #{ y: "z" }] }; json_stringify(json_parse(json_stringify(v))) == json_stringify(v)"#)
            .unwrap();
        assert!(back);
    }

    #[test]
    fn functions_and_absurd_nesting_are_refused_not_crashed_on() {
        let e = engine().run("json_stringify(|| 1);").unwrap_err();
        assert!(message_of(&e).contains("function"), "{e}");
        let e = engine()
            .run("let a = []; for i in 0..200 { a = [a]; } json_stringify(a);")
            .unwrap_err();
        assert!(message_of(&e).contains("deeper than"), "{e}");
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        let e = engine()
            .run(&format!("json_parse(\"{deep}\");"))
            .unwrap_err();
        assert!(message_of(&e).contains("recursion"), "{e}");
    }
}
