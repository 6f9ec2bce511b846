//! `json_parse(text)` and `json_stringify(value)`: JSON of any value (a
//! top-level array, a bare number or string too), with errors a script can
//! `catch` whose message points into the text, not into the script.

use rhai::{Dynamic, Engine, EvalAltResult, INT, NativeCallContext};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{error, sized};

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Deepest nesting `json_stringify` walks (parsing stops at serde_json's own
/// limit of 128): deeper values are refused instead of overflowing a stack.
pub const MAX_DEPTH: usize = 128;

pub fn register(engine: &mut Engine) {
    engine
        .register_fn("json_parse", |c: NativeCallContext, text: &str| {
            parse(&c, text)
        })
        .register_fn("json_stringify", |c: NativeCallContext, v: Dynamic| {
            stringify(&c, &v, None)
        })
        .register_fn(
            "json_stringify",
            |c: NativeCallContext, v: Dynamic, indent: INT| stringify(&c, &v, Some(indent)),
        );
}

/// Parses any JSON value: objects become maps, arrays arrays, integers
/// `INT`, other numbers `FLOAT`, `null` becomes `()`. The document is
/// counted first, as Rhai counts a value (items of arrays, entries of maps,
/// bytes of strings, at every level), and one past the engine's limits is a
/// catchable `limit` error before anything is built (Rhai's own check, after
/// the fact, could not be caught).
pub fn parse(ctx: &NativeCallContext, text: &str) -> RhaiResult<Dynamic> {
    let engine = ctx.engine();
    let mut tally = Tally {
        max: (
            engine.max_array_size(),
            engine.max_map_size(),
            engine.max_string_size(),
        ),
        ..Tally::default()
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let counted = Counter(&mut tally)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Some(over) = tally.over {
        return Err(crate::script::fault::limit(format!("json_parse: {over}")));
    }
    counted.map_err(|e| syntax(&e))?;
    sized::budget(
        "json_parse",
        (tally.items + tally.entries)
            .saturating_mul(64)
            .saturating_add(tally.bytes),
    )?;
    let value: Value = serde_json::from_str(text).map_err(|e| syntax(&e))?;
    crate::script::convert::to_dynamic(&value)
}

fn syntax(e: &serde_json::Error) -> Box<EvalAltResult> {
    error(
        "json",
        format!(
            "json_parse: {} (line {}, column {} of the text)",
            describe(e),
            e.line(),
            e.column()
        ),
    )
}

/// What a document holds, counted without building it, and the first
/// limit it passes.
#[derive(Default)]
struct Tally {
    items: usize,
    entries: usize,
    bytes: usize,
    /// The engine's limits (0: none): array items, map entries, text bytes.
    max: (usize, usize, usize),
    over: Option<String>,
}

impl Tally {
    /// Notes the first limit passed; the count then stops.
    fn check<E: serde::de::Error>(&mut self) -> Result<(), E> {
        let over = |max: usize, n: usize| max > 0 && n > max;
        let (items, entries, bytes) = self.max;
        self.over = if over(items, self.items) {
            Some(format!(
                "the document has more than {items} array items, more than a value may hold"
            ))
        } else if over(entries, self.entries) {
            Some(format!(
                "the document has more than {entries} object members, more than a value may hold"
            ))
        } else if over(bytes, self.bytes) {
            Some(format!(
                "the document's strings are longer than {bytes} bytes in all, more than a value may hold"
            ))
        } else {
            None
        };
        match self.over {
            Some(_) => Err(E::custom("over a limit")),
            None => Ok(()),
        }
    }
}

/// Counts one JSON value into a [`Tally`].
struct Counter<'a>(&'a mut Tally);

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
        self.0.bytes += s.len();
        self.0.check()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Counter(self.0))?.is_some() {
            self.0.items += 1;
            self.0.check()?;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(Counter(self.0))?;
            self.0.entries += 1;
            self.0.check()?;
        }
        Ok(())
    }
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
/// Writing stops at the first byte past the string limit or the memory
/// budget (an indent of 10 at 128 levels makes text far longer than the
/// value) with a catchable `limit` error.
pub fn stringify(ctx: &NativeCallContext, v: &Dynamic, indent: Option<INT>) -> RhaiResult<String> {
    let value = to_json(v, 0)?;
    let mut out = sized::Capped::new(ctx, "json_stringify");
    match write(&value, indent, &mut out) {
        Ok(()) => Ok(out.text()),
        Err(e) => Err(out.refusal().unwrap_or(e)),
    }
}

/// Writes `value` as JSON text, compact or indented.
fn write(value: &Value, indent: Option<INT>, out: impl std::io::Write) -> RhaiResult<()> {
    let written = match indent {
        None | Some(0) => serde_json::to_writer(out, value),
        Some(n) if (1..=10).contains(&n) => {
            let pad = " ".repeat(n as usize);
            let fmt = serde_json::ser::PrettyFormatter::with_indent(pad.as_bytes());
            let mut ser = serde_json::Serializer::with_formatter(out, fmt);
            serde::Serialize::serialize(value, &mut ser)
        }
        Some(n) => {
            return Err(error(
                "json",
                format!("json_stringify: an indent of 0 to 10 spaces, not {n}"),
            ));
        }
    };
    written.map_err(|e| error("json", format!("json_stringify: {e}")))
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
    fn a_document_past_the_limits_is_a_catchable_limit_error() {
        let many = format!("[{}0]", "0,".repeat(100_000));
        let members = format!(
            "{{{}\"z\": 0}}",
            (0..100_000)
                .map(|i| format!("\"k{i}\": 0, "))
                .collect::<String>()
        );
        let nested = format!("[{}]", "[0, 0, 0],".repeat(30_000) + "0");
        for text in [many, members, nested] {
            let mut scope = rhai::Scope::new();
            scope.push("text", text);
            let m: Map = engine()
                .eval_with_scope(
                    &mut scope,
                    "let m = #{}; try { json_parse(text); } catch (e) { m = e; } m",
                )
                .unwrap();
            assert_eq!(m["code"].to_string(), "limit", "{m:?}");
            assert!(m["message"].to_string().contains("more than"), "{m:?}");
        }
        let a: Array = engine()
            .eval(&format!("json_parse(\"[{}0]\")", "0,".repeat(99_999)))
            .unwrap();
        assert_eq!(a.len(), 100_000, "the limit itself is allowed");
    }

    #[test]
    fn text_past_the_string_limit_is_a_catchable_limit_error() {
        let m: Map = engine()
            .eval(
                r#"let a = []; for i in 0..2000 { a.push("x"); }
                   let deep = a; for i in 0..120 { deep = [deep]; }
                   let m = #{}; try { json_stringify(deep, 10); } catch (e) { m = e; } m"#,
            )
            .unwrap();
        assert_eq!(m["code"].to_string(), "limit", "{m:?}");
        assert!(m["message"].to_string().contains("json_stringify"), "{m:?}");
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
