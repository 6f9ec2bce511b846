//! Regular expressions: `regex("^(\\d+)x$")` compiles once (bounded in size,
//! so a hostile pattern cannot eat the host), then `.test(s)`, `.find(s)`,
//! `.find_all(s)`, `.captures(s)`, `.replace(s, with)`, `.replace_first`,
//! `.split(s)`. The syntax is Rust's `regex` (no look-around, linear time).

use std::collections::HashMap;
use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, NativeCallContext};

use super::error;
use super::sized;
use crate::script::budget;

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Most compiled program size one pattern may take.
const SIZE_LIMIT: usize = 1 << 20;

/// A compiled pattern (cheap to clone into closures).
#[derive(Debug, Clone)]
pub struct Regex(Arc<::regex::Regex>);

fn compile(pattern: &str) -> RhaiResult<Regex> {
    ::regex::RegexBuilder::new(pattern)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(SIZE_LIMIT)
        .build()
        .map(|r| Regex(Arc::new(r)))
        .map_err(|e| error("regex", format!("regex({pattern:?}): {e}")))
}

/// A replacement read once, by the regex crate's own reader of `$1`,
/// `${name}` and `$$`: the bytes it writes itself, and how often it names
/// each group. A `$0` repeated a thousand times makes one match a thousand
/// copies long, so the result's length is summed up before it is built.
struct Template {
    literal: usize,
    groups: Vec<(usize, usize)>,
}

impl Template {
    fn new(r: &::regex::Regex, with: &str) -> Template {
        let names: HashMap<&str, usize> = r
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (n, i)))
            .collect();
        let mut named: HashMap<usize, usize> = HashMap::new();
        let mut literal = String::new();
        regex_automata::util::interpolate::string(
            with,
            |i, _| *named.entry(i).or_default() += 1,
            |n| names.get(n).copied(),
            &mut literal,
        );
        Template {
            literal: literal.len(),
            groups: named.into_iter().collect(),
        }
    }

    /// Bytes one match's replacement takes.
    fn size(&self, caps: &::regex::Captures) -> usize {
        self.groups.iter().fold(self.literal, |n, &(i, times)| {
            let len = caps.get(i).map_or(0, |m| m.len());
            n.saturating_add(len.saturating_mul(times))
        })
    }
}

/// `replace` (every match) or `replace_first` (`first`): the result's
/// length is added up match by match, and refused past the limits, before
/// it is built.
fn replace(
    ctx: NativeCallContext,
    r: &Regex,
    s: &str,
    with: &str,
    first: bool,
) -> RhaiResult<String> {
    let what = if first { "replace_first" } else { "replace" };
    let max = match ctx.engine().max_string_size() {
        0 => usize::MAX,
        n => n,
    };
    let t = Template::new(&r.0, with);
    let mut bytes = s.len();
    let take = if first { 1 } else { usize::MAX };
    for (n, caps) in r.0.captures_iter(s).take(take).enumerate() {
        let whole = caps.get(0).map_or(0, |m| m.len());
        bytes = (bytes - whole).saturating_add(t.size(&caps));
        if bytes > max {
            break;
        }
        // One native call runs no script operations: the deadline is
        // looked at here.
        if n % 4096 == 4095 && budget::past_deadline() {
            return Err(budget::exceeded());
        }
    }
    sized::string(&ctx, what, bytes)?;
    let out = if first {
        r.0.replace(s, with)
    } else {
        r.0.replace_all(s, with)
    };
    Ok(out.into_owned())
}

pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Regex>("Regex")
        .register_fn("regex", compile)
        .register_fn("test", |r: &mut Regex, s: &str| r.0.is_match(s))
        .register_fn("find", |r: &mut Regex, s: &str| -> Dynamic {
            r.0.find(s).map_or(Dynamic::UNIT, |m| m.as_str().into())
        })
        .register_fn(
            "find_all",
            |c: NativeCallContext, r: &mut Regex, s: &str| -> RhaiResult<Array> {
                sized::pieces(&c, "find_all", || r.0.find_iter(s).map(|m| m.as_str()))
            },
        )
        .register_fn(
            "captures",
            |c: NativeCallContext, r: &mut Regex, s: &str| -> RhaiResult<Dynamic> {
                let Some(caps) = r.0.captures(s) else {
                    return Ok(Dynamic::UNIT);
                };
                // Nested groups capture the same text again and again.
                let bytes = caps.iter().flatten().map(|m| m.len()).sum();
                sized::array(&c, "captures", caps.len(), bytes)?;
                Ok(caps
                    .iter()
                    .map(|g| g.map_or(Dynamic::UNIT, |m| m.as_str().into()))
                    .collect::<Array>()
                    .into())
            },
        )
        .register_fn(
            "replace",
            |c: NativeCallContext, r: &mut Regex, s: &str, with: &str| {
                replace(c, r, s, with, false)
            },
        )
        .register_fn(
            "replace_first",
            |c: NativeCallContext, r: &mut Regex, s: &str, with: &str| replace(c, r, s, with, true),
        )
        .register_fn(
            "split",
            |c: NativeCallContext, r: &mut Regex, s: &str| -> RhaiResult<Array> {
                sized::pieces(&c, "split", || r.0.split(s))
            },
        )
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
    fn a_replacement_is_sized_as_the_regex_crate_expands_it() {
        let r = ::regex::Regex::new(r"(?P<word>[a-z]+)(\d)?").unwrap();
        for with in [
            "", "x", "$0", "$1", "$2", "$word", "${word}x", "$wordx", "$$1", "$", "a$", "${",
            "${1", "$1$1$0", "$10", "${}", "$9", "é$1é",
        ] {
            let t = super::Template::new(&r, with);
            for text in ["abc7", "abc", "--"] {
                if let Some(caps) = r.captures(text) {
                    let mut expanded = String::new();
                    caps.expand(with, &mut expanded);
                    assert_eq!(t.size(&caps), expanded.len(), "{with:?} on {text:?}");
                }
            }
        }
    }

    #[test]
    fn replacements_past_the_string_limit_are_catchable_limit_errors() {
        for script in [
            r#"let s = ""; s.pad(100000, 'a'); regex("a").replace(s, s)"#,
            r#"let s = ""; s.pad(100000, 'a'); let w = ""; w.pad(1000, "$0"); regex("a+").replace_first(s, w)"#,
            r#"let s = ""; s.pad(100001, 'a'); regex("").split(s)"#,
            r#"let s = ""; s.pad(100001, 'a'); regex("a").find_all(s)"#,
            r#"let s = ""; s.pad(1000000, 'a'); regex("((((((((((a*))))))))))").captures(s)"#,
        ] {
            let m: rhai::Map = engine()
                .eval(&format!(
                    "let m = #{{}}; try {{ {script}; }} catch (e) {{ m = e; }} m"
                ))
                .unwrap();
            assert_eq!(m["code"].to_string(), "limit", "{script}: {m:?}");
        }
        let s: String = engine()
            .eval(r#"let s = ""; s.pad(1000, 'a'); regex("a").replace(s, "bb").sub_string(0, 4)"#)
            .unwrap();
        assert_eq!(s, "bbbb");
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
