//! JavaScript's `Number(x)` and `isNaN(x)`: `number(x)` makes a number of
//! any value the way `Number` does (text trimmed, `""` is 0, `"12px"` is
//! NaN, `"0x1F"` is 31, `true` is 1), and `is_nan(x)` asks whether it would
//! be NaN. JavaScript has one kind of number; Rhai has two, so a whole
//! result is an integer (what JavaScript would send the codec for `22.0`
//! is `22`, and an Integer parameter takes only that) and any other a
//! float. Rhai's own `parse_int`/`parse_float` stay for text that must be
//! a number (they raise an error instead of giving NaN).

use rhai::{Dynamic, Engine, FLOAT, INT, ImmutableString};

/// A float, or an integer when it is whole and fits.
fn whole_or_float(x: FLOAT) -> Dynamic {
    // `INT::MAX as FLOAT` rounds up to 2^63, just past the range.
    if x.is_finite() && x.fract() == 0.0 && x >= INT::MIN as FLOAT && x < INT::MAX as FLOAT {
        Dynamic::from_int(x as INT)
    } else {
        Dynamic::from_float(x)
    }
}

/// Text as `Number` reads it: surrounding white space ignored, empty is 0,
/// an optional sign with decimal digits, a point and an exponent, or
/// `0x`/`0o`/`0b` digits, or `Infinity`; anything else is NaN.
fn from_text(text: &str) -> Dynamic {
    let t = text.trim();
    if t.is_empty() {
        return Dynamic::from_int(0);
    }
    match t {
        "Infinity" | "+Infinity" => return Dynamic::from_float(FLOAT::INFINITY),
        "-Infinity" => return Dynamic::from_float(FLOAT::NEG_INFINITY),
        _ => {}
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = t.strip_prefix(prefix) {
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return Dynamic::from_float(FLOAT::NAN);
            }
            let value = digits.chars().fold(0.0, |n: FLOAT, c| {
                n * FLOAT::from(radix) + FLOAT::from(c.to_digit(radix).unwrap_or(0))
            });
            return match INT::from_str_radix(digits, radix) {
                Ok(n) => Dynamic::from_int(n),
                Err(_) => Dynamic::from_float(value),
            };
        }
    }
    // Rust reads `inf`, `nan` and `infinity` too; JavaScript does not.
    if !t
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return Dynamic::from_float(FLOAT::NAN);
    }
    if let Ok(n) = t.parse::<INT>() {
        return Dynamic::from_int(n);
    }
    t.parse::<FLOAT>()
        .map_or(Dynamic::from_float(FLOAT::NAN), whole_or_float)
}

/// `Number(x)`: integers stay, a whole float becomes an integer, text is
/// read as [`from_text`] says, `true`/`false` are 1/0, a character is read
/// as text, an array or a map is NaN, and `()` (what a missing key reads,
/// JavaScript's `undefined`) is NaN.
pub fn number(x: &Dynamic) -> Dynamic {
    if let Some(n) = x.read_lock::<INT>() {
        return Dynamic::from_int(*n);
    }
    if let Some(f) = x.read_lock::<FLOAT>() {
        return whole_or_float(*f);
    }
    if let Some(s) = x.read_lock::<ImmutableString>() {
        return from_text(&s);
    }
    if let Some(c) = x.read_lock::<char>() {
        return from_text(&c.to_string());
    }
    if let Some(b) = x.read_lock::<bool>() {
        return Dynamic::from_int(INT::from(*b));
    }
    Dynamic::from_float(FLOAT::NAN)
}

/// `isNaN(x)`: whether [`number`] of it is NaN.
pub fn is_nan(x: &Dynamic) -> bool {
    number(x).as_float().is_ok_and(FLOAT::is_nan)
}

pub fn register(engine: &mut Engine) {
    engine
        .register_fn("number", |x: Dynamic| number(&x))
        // Rhai's own `is_nan` (and `.is_nan`) of a float stays; this one
        // takes anything else, as JavaScript's global `isNaN` does.
        .register_fn("is_nan", |x: Dynamic| is_nan(&x));
}

#[cfg(test)]
mod tests {
    use super::super::testing::engine;

    fn show(script: &str) -> String {
        let v: rhai::Dynamic = engine().eval(script).unwrap();
        format!("{} {}", v.type_name(), v)
    }

    #[test]
    fn number_reads_text_as_javascript_does() {
        assert_eq!(show(r#"number("60")"#), "i64 60");
        assert_eq!(show(r#"number("  -7 \n")"#), "i64 -7");
        assert_eq!(show(r#"number("+5")"#), "i64 5");
        assert_eq!(show(r#"number("21.5")"#), "f64 21.5");
        assert_eq!(show(r#"number(".5")"#), "f64 0.5");
        assert_eq!(show(r#"number("22.0")"#), "i64 22");
        assert_eq!(show(r#"number("1e3")"#), "i64 1000");
        assert_eq!(show(r#"number("0x1F")"#), "i64 31");
        assert_eq!(show(r#"number("0b101")"#), "i64 5");
        assert_eq!(show(r#"number("")"#), "i64 0");
        assert_eq!(show(r#"number("Infinity")"#), "f64 inf");
        for nan in [
            r#""12px""#,
            r#""abc""#,
            r#""1,5""#,
            r#""inf""#,
            r#""nan""#,
            r#""0x""#,
            r#""-0x10""#,
            r#""1e""#,
            r#""1_000""#,
            "()",
            "[1]",
            "#{a: 1}",
        ] {
            assert_eq!(show(&format!("number({nan})")), "f64 NaN", "{nan}");
        }
    }

    #[test]
    fn number_keeps_numbers_and_makes_whole_ones_integers() {
        assert_eq!(show("number(42)"), "i64 42");
        assert_eq!(show("number(42.0)"), "i64 42");
        assert_eq!(show("number(0.25)"), "f64 0.25");
        assert_eq!(show("number(1e300)"), "f64 1e300");
        assert_eq!(show("number(true)"), "i64 1");
        assert_eq!(show("number(false)"), "i64 0");
        assert_eq!(show("number('7')"), "i64 7");
        // Useful where a value from text goes on to an Integer parameter.
        let level: rhai::INT = engine().eval(r#"number("70") + 5"#).unwrap();
        assert_eq!(level, 75);
    }

    #[test]
    fn is_nan_asks_what_number_would_give() {
        let yes = |s: &str| engine().eval::<bool>(s).unwrap();
        assert!(yes(r#"is_nan("abc")"#));
        assert!(yes("is_nan(())"));
        assert!(yes("is_nan(0.0 / 0.0)"));
        assert!(yes("(0.0 / 0.0).is_nan"), "Rhai's own property stays");
        assert!(!yes(r#"is_nan("12")"#));
        assert!(!yes("is_nan(12)"));
        assert!(!yes("is_nan(1.5)"));
        assert!(!yes(r#"is_nan("")"#));
        assert!(!yes("is_nan(true)"));
    }
}
