//! Number and string formatting macros take from JavaScript: `toFixed`,
//! `padStart` and `padEnd`, `String(x)` of a number, and `Array.join`.
//! `x.to_fixed(2)` writes a number with that many decimals, rounding as
//! `toFixed` does; `s.pad_start(2, "0")` pads a string (or a number,
//! written first) on the left up to a length, counted in characters;
//! `num_str(x)` writes a number as JavaScript does (`22`, not Rhai's
//! `22.0`); `list.join(", ")` joins an array's items as text, each written
//! as JavaScript's `join` writes it.
//!
//! Rhai's own `to_string` of a float (and so `print` and `${x}`) stays
//! `22.0`: it tells a float from an integer, which matters where the value
//! goes on to the codec (an Integer parameter refuses `22.0`).

use rhai::{Array, Engine, EvalAltResult, FLOAT, INT, ImmutableString, NativeCallContext};

use super::{error, sized};
use crate::script::depth::{MAX_DEPTH, message};
use crate::script::limits::MAX_STRING;

/// The most decimals `to_fixed` writes (JavaScript allows 100; more than a
/// float holds is noise).
const MAX_DIGITS: INT = 20;

fn to_fixed(x: FLOAT, digits: INT) -> Result<String, Box<EvalAltResult>> {
    if !(0..=MAX_DIGITS).contains(&digits) {
        return Err(error(
            "to_fixed",
            format!("to_fixed({x}, {digits}): digits must be 0 to {MAX_DIGITS}"),
        ));
    }
    if !x.is_finite() {
        return Ok(x.to_string());
    }
    Ok(fixed(x, digits as usize))
}

/// `x` with `digits` decimals, a tie rounded away from zero as JavaScript
/// does (`0.625.toFixed(2)` is "0.63"; Rust's `{:.2}` would give "0.62"):
/// the exact decimal expansion of the float decides (an `f64` has at most
/// 1074 fraction digits).
fn fixed(x: FLOAT, digits: usize) -> String {
    let exact = format!("{:.1100}", x.abs());
    let (int, frac) = exact.split_once('.').unwrap_or((&exact, ""));
    let mut kept: Vec<u8> = int.bytes().chain(frac.bytes().take(digits)).collect();
    if frac.as_bytes().get(digits).is_some_and(|d| *d >= b'5') {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, b'1');
                break;
            }
            i -= 1;
            if kept[i] == b'9' {
                kept[i] = b'0';
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    let split = kept.len() - digits;
    let (int, frac) = kept.split_at(split);
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(int).unwrap_or("0"));
    if digits > 0 {
        out.push('.');
        out.push_str(std::str::from_utf8(frac).unwrap_or(""));
    }
    out
}

/// Pads `s` on one side with `fill` repeated (cut to fit) until it is
/// `len` characters long; a longer string or an empty fill is left as is.
/// The result's length in bytes is worked out (and refused past the
/// limits) before it is built.
fn pad(
    ctx: &NativeCallContext,
    s: &str,
    len: INT,
    fill: &str,
    start: bool,
) -> Result<String, Box<EvalAltResult>> {
    let have = s.chars().count();
    let want = usize::try_from(len).unwrap_or(0);
    if want <= have || fill.is_empty() {
        return Ok(s.to_string());
    }
    let what = if start { "pad_start" } else { "pad_end" };
    sized::string(
        ctx,
        what,
        s.len().saturating_add(sized::fill_bytes(fill, want - have)),
    )?;
    let padding = sized::filler(fill, want - have);
    Ok(if start {
        format!("{padding}{s}")
    } else {
        format!("{s}{padding}")
    })
}

/// A number as JavaScript's `String(x)` writes it: the shortest text that
/// reads back as the same number, a whole number without `.0`, `1e+21`
/// and `1e-7` in exponent form (at and past JavaScript's limits), `NaN`,
/// `Infinity`, and `0` for minus zero.
pub fn num_str(x: FLOAT) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if (1e-6..1e21).contains(&a) {
        // Rust's `Display` is the shortest round trip, without exponent.
        return format!("{x}");
    }
    let e = format!("{x:e}");
    match e.split_once('e') {
        Some((m, exp)) if !exp.starts_with('-') => format!("{m}e+{exp}"),
        _ => e,
    }
}

/// `items.join(sep)` as JavaScript writes it: strings as they are, `()` as
/// nothing, numbers by [`num_str`], nested arrays joined with commas, and
/// anything else (a map, a handle) by its `to_string`. The result is held
/// to the string limit as it grows, and nesting to the depth limit.
fn join(ctx: &NativeCallContext, items: &Array, sep: &str) -> Result<String, Box<EvalAltResult>> {
    let mut out = String::new();
    join_into(ctx, &mut out, items, sep, 0)?;
    Ok(out)
}

fn join_into(
    ctx: &NativeCallContext,
    out: &mut String,
    items: &Array,
    sep: &str,
    depth: usize,
) -> Result<(), Box<EvalAltResult>> {
    if depth >= MAX_DEPTH {
        return Err(error("join", message("joined")));
    }
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        if let Some(s) = x.read_lock::<ImmutableString>() {
            out.push_str(&s);
        } else if let Some(f) = x.read_lock::<FLOAT>() {
            out.push_str(&num_str(*f));
        } else if let Some(a) = x.read_lock::<Array>() {
            join_into(ctx, out, &a, ",", depth + 1)?;
        } else if x.read_lock::<()>().is_none() {
            let text = ctx.call_native_fn::<ImmutableString>("to_string", (x.clone(),))?;
            out.push_str(&text);
        }
        if out.len() > MAX_STRING {
            return Err(error(
                "join",
                format!("joining {} items: longer than a string may be", items.len()),
            ));
        }
    }
    Ok(())
}

pub fn register(engine: &mut Engine) {
    type C<'a> = NativeCallContext<'a>;
    engine
        .register_fn(
            "join",
            |ctx: NativeCallContext, a: &mut Array, sep: &str| join(&ctx, a, sep),
        )
        .register_fn("join", |ctx: NativeCallContext, a: &mut Array| {
            join(&ctx, a, ",")
        })
        .register_fn("num_str", num_str)
        .register_fn("num_str", |x: INT| x.to_string())
        .register_fn("to_fixed", to_fixed)
        .register_fn("to_fixed", |x: INT, d: INT| to_fixed(x as FLOAT, d))
        .register_fn(
            "pad_start",
            |c: C, s: ImmutableString, n: INT, f: ImmutableString| pad(&c, &s, n, &f, true),
        )
        .register_fn("pad_start", |c: C, s: ImmutableString, n: INT| {
            pad(&c, &s, n, " ", true)
        })
        .register_fn("pad_start", |c: C, x: INT, n: INT, f: ImmutableString| {
            pad(&c, &x.to_string(), n, &f, true)
        })
        .register_fn(
            "pad_end",
            |c: C, s: ImmutableString, n: INT, f: ImmutableString| pad(&c, &s, n, &f, false),
        )
        .register_fn("pad_end", |c: C, s: ImmutableString, n: INT| {
            pad(&c, &s, n, " ", false)
        });
}

#[cfg(test)]
mod tests {
    use super::super::testing::{engine, message_of};

    fn eval(script: &str) -> String {
        engine().eval::<String>(script).unwrap()
    }

    #[test]
    fn to_fixed_writes_the_decimals_asked_for() {
        assert_eq!(eval("1.5.to_fixed(2)"), "1.50");
        assert_eq!(eval("to_fixed(2.345678, 3)"), "2.346");
        assert_eq!(eval("7.to_fixed(1)"), "7.0");
        assert_eq!(eval("0.999.to_fixed(0)"), "1");
        assert_eq!(eval("(-0.25).to_fixed(1)"), "-0.3");
        assert_eq!(eval("0.625.to_fixed(2)"), "0.63");
        assert_eq!(eval("1.005.to_fixed(2)"), "1.00");
        assert_eq!(eval("9.995.to_fixed(2)"), "9.99");
        assert_eq!(eval("99.5.to_fixed(0)"), "100");
        assert_eq!(eval("(-0.0001).to_fixed(2)"), "-0.00");
    }

    #[test]
    fn to_fixed_refuses_a_negative_count_of_digits() {
        let e = engine().run("1.0.to_fixed(-1);").unwrap_err();
        assert!(message_of(&e).contains("digits must be 0 to 20"), "{e}");
    }

    #[test]
    fn pad_start_and_pad_end_fill_up_to_a_length() {
        assert_eq!(eval(r#""5".pad_start(2, "0")"#), "05");
        assert_eq!(eval(r#"5.pad_start(3, "0")"#), "005");
        assert_eq!(eval(r#""abc".pad_start(2, "0")"#), "abc");
        assert_eq!(eval(r#""7".pad_start(5, "ab")"#), "abab7");
        assert_eq!(eval(r#""x".pad_start(3)"#), "  x");
        assert_eq!(eval(r#""x".pad_end(3, "-")"#), "x--");
        assert_eq!(eval(r#""é".pad_start(2, "0")"#), "0é");
        assert_eq!(eval(r#""x".pad_start(4, "")"#), "x");
    }

    #[test]
    fn num_str_writes_numbers_as_javascript_does() {
        assert_eq!(eval("num_str(22.0)"), "22");
        assert_eq!(eval("22.0.num_str()"), "22");
        assert_eq!(eval("num_str(21.5)"), "21.5");
        assert_eq!(eval("num_str(0.1 + 0.2)"), "0.30000000000000004");
        assert_eq!(eval("num_str(-3.0)"), "-3");
        assert_eq!(eval("num_str(-0.0)"), "0");
        assert_eq!(eval("num_str(7)"), "7");
        assert_eq!(eval("num_str(1e21)"), "1e+21");
        assert_eq!(eval("num_str(1.5e21)"), "1.5e+21");
        assert_eq!(eval("num_str(1e20)"), "100000000000000000000");
        assert_eq!(eval("num_str(0.000001)"), "0.000001");
        assert_eq!(eval("num_str(0.00000015)"), "1.5e-7");
        assert_eq!(eval("num_str(1.0 / 0.0)"), "Infinity");
        assert_eq!(eval("num_str(-1.0 / 0.0)"), "-Infinity");
        assert_eq!(eval("num_str(0.0 / 0.0)"), "NaN");
        // Rhai's own text of a float is unchanged.
        assert_eq!(eval("`${22.0}`"), "22.0");
    }

    #[test]
    fn join_writes_the_items_as_javascript_does() {
        assert_eq!(eval(r#"["a", "b", "c"].join(", ")"#), "a, b, c");
        assert_eq!(
            eval(r#"[1, 2.5, 22.0, true, ()].join("|")"#),
            "1|2.5|22|true|"
        );
        assert_eq!(eval("[1, [2, [3, 4]], 5].join(\" \")"), "1 2,3,4 5");
        assert_eq!(eval("[1, 2, 3].join()"), "1,2,3");
        assert_eq!(eval("[].join(\", \")"), "");
        assert_eq!(eval(r#"["only"].join(", ")"#), "only");
        assert_eq!(eval(r#"['x', 'y'].join("")"#), "xy");
        assert_eq!(eval(r#"[#{a: 1}].join(", ")"#), "#{\"a\": 1}");
        assert_eq!(
            eval(r#"let names = ["A"]; names.push("B"); names.join(", ")"#),
            "A, B"
        );
    }

    #[test]
    fn join_refuses_a_result_past_the_string_limit() {
        let e = engine()
            .run(r#"let sep = "x".pad_end(600000, "x"); ["a", "b", "c"].join(sep);"#)
            .unwrap_err();
        assert!(
            message_of(&e).contains("longer than a string may be"),
            "{e}"
        );
    }

    #[test]
    fn padding_past_the_string_limit_is_an_error() {
        let e = engine()
            .run(r#""x".pad_start(100000000, "0");"#)
            .unwrap_err();
        assert!(
            message_of(&e).contains("longer than a string may be"),
            "{e}"
        );
        // A million characters, but four million bytes.
        let e = engine().run(r#""x".pad_end(1000000, "😀");"#).unwrap_err();
        assert!(message_of(&e).contains("3999997 bytes"), "{e}");
    }
}
