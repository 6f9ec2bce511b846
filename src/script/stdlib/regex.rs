//! Regular expressions: `regex("^(\\d+)x$")` compiles once (bounded in size,
//! so a hostile pattern cannot eat the host), then `.test(s)`, `.find(s)`,
//! `.find_all(s)`, `.captures(s)`, `.replace(s, with)`, `.replace_first`,
//! `.split(s)`. The syntax is Rust's `regex` (no look-around, linear time).

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult};

use super::error;

/// Most compiled program size one pattern may take.
const SIZE_LIMIT: usize = 1 << 20;
/// Most matches `find_all` and `split` return.
const MAX_MATCHES: usize = 100_000;

/// A compiled pattern (cheap to clone into closures).
#[derive(Debug, Clone)]
pub struct Regex(Arc<::regex::Regex>);

fn compile(pattern: &str) -> Result<Regex, Box<EvalAltResult>> {
    ::regex::RegexBuilder::new(pattern)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(SIZE_LIMIT)
        .build()
        .map(|r| Regex(Arc::new(r)))
        .map_err(|e| error("regex", format!("regex({pattern:?}): {e}")))
}

fn bounded(items: Vec<Dynamic>) -> Result<Array, Box<EvalAltResult>> {
    if items.len() > MAX_MATCHES {
        return Err(error("regex", format!("more than {MAX_MATCHES} matches")));
    }
    Ok(items)
}

pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Regex>("Regex")
        .register_fn("regex", compile)
        .register_fn("test", |r: &mut Regex, s: &str| r.0.is_match(s))
        .register_fn("find", |r: &mut Regex, s: &str| -> Dynamic {
            r.0.find(s).map_or(Dynamic::UNIT, |m| m.as_str().into())
        })
        .register_fn("find_all", |r: &mut Regex, s: &str| {
            bounded(
                r.0.find_iter(s)
                    .take(MAX_MATCHES + 1)
                    .map(|m| m.as_str().into())
                    .collect(),
            )
        })
        .register_fn("captures", |r: &mut Regex, s: &str| -> Dynamic {
            match r.0.captures(s) {
                None => Dynamic::UNIT,
                Some(c) => c
                    .iter()
                    .map(|g| g.map_or(Dynamic::UNIT, |m| m.as_str().into()))
                    .collect::<Array>()
                    .into(),
            }
        })
        .register_fn("replace", |r: &mut Regex, s: &str, with: &str| {
            r.0.replace_all(s, with).into_owned()
        })
        .register_fn("replace_first", |r: &mut Regex, s: &str, with: &str| {
            r.0.replace(s, with).into_owned()
        })
        .register_fn("split", |r: &mut Regex, s: &str| {
            bounded(
                r.0.split(s)
                    .take(MAX_MATCHES + 1)
                    .map(|p| p.into())
                    .collect(),
            )
        })
        .register_fn("to_string", |r: &mut Regex| r.0.as_str().to_string())
        .register_fn("to_debug", |r: &mut Regex| {
            format!("regex({:?})", r.0.as_str())
        });
}

#[cfg(test)]
mod tests {
    use super::super::testing::{engine, message_of};
    use rhai::Array;

    #[test]
    fn test_find_and_captures() {
        let e = engine();
        assert!(e.eval::<bool>(r#"regex("^\\d{3}$").test("123")"#).unwrap());
        let s: String = e
            .eval(r#"regex("[a-z]+@[a-z.]+").find("call bob@example.com now")"#)
            .unwrap();
        assert_eq!(s, "bob@example.com");
        let c: Array = e
            .eval(r#"regex("(\\w+)@(\\w+)").captures("x alice@corp y")"#)
            .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].to_string(), "corp");
        assert!(
            e.eval::<rhai::Dynamic>(r#"regex("z").find("abc")"#)
                .unwrap()
                .is_unit()
        );
    }

    #[test]
    fn replace_all_first_and_with_groups() {
        let e = engine();
        let s: String = e.eval(r#"regex("\\s+").replace("a  b   c", " ")"#).unwrap();
        assert_eq!(s, "a b c");
        let s: String = e
            .eval(r#"regex("(\\d+)").replace_first("10 20", "<$1>")"#)
            .unwrap();
        assert_eq!(s, "<10> 20");
        let parts: Array = e.eval(r#"regex("[,;]").split("a,b;c")"#).unwrap();
        assert_eq!(parts.len(), 3);
    }

    #[test]
    fn a_bad_pattern_is_a_catchable_error() {
        let m: String = engine()
            .eval(r#"let m = ""; try { regex("(unclosed"); } catch (e) { m = e.message; } m"#)
            .unwrap();
        assert!(m.contains("(unclosed"), "{m}");
        let e = engine().run(r#"regex("a{100000}{100000}");"#).unwrap_err();
        assert!(message_of(&e).contains("regex"), "{e}");
    }
}
