//! Number and string formatting macros take from JavaScript: `toFixed`,
//! `padStart` and `padEnd`. `x.to_fixed(2)` writes a number with that many
//! decimals, rounding as `toFixed` does; `s.pad_start(2, "0")` pads a
//! string (or a number, written first) on the left up to a length, counted
//! in characters.

use rhai::{Engine, EvalAltResult, FLOAT, INT, ImmutableString, NativeCallContext};

use super::{error, sized};

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

pub fn register(engine: &mut Engine) {
    type C<'a> = NativeCallContext<'a>;
    engine
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
