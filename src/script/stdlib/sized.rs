//! Results sized before they are built. Rhai checks a value against the
//! size limits (string length, array and map size) once a function has
//! returned it, and the memory budget is checked between operations; so one
//! native call that builds a huge result (`s.replace("a", w)` with two
//! 100 KB strings asks for 10 GB) fails its allocation, and that aborts the
//! whole host. Here such a function works out the size of its result first
//! and refuses one past a limit, or past what is left of the instance's
//! memory budget, with a catchable `#{ code: "limit", message }`.
//!
//! Rhai's own functions of that kind are replaced (a function registered
//! on the engine wins over a package's of the same signature): `replace`,
//! `pad`, `split`, `split_rev` and `to_chars` on strings, and `pad` on
//! arrays. The library's own (`regex`, `json_*`, `pad_start`, `format`)
//! use the checks below. Left to Rhai, because their result is at most the
//! sum of inputs that are each within the limits: `+`, `+=`, `append`,
//! `extend`, `mixin` and `${...}` (Rhai checks a string's length before it
//! concatenates, an array's right after, and stops the callback); blobs
//! (checked before they are made, 100,000 bytes at most); and `sort`,
//! `map`, `filter`, `reduce` and the like, which work in place or call a
//! closure per item, each call counted, so the memory budget is looked at
//! between them.

use rhai::{Array, Dynamic, Engine, EvalAltResult, INT, ImmutableString, Map, NativeCallContext};

use crate::script::fault::limit;
use crate::script::memory;

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// What an array item costs beyond its content: the value, and for a
/// string its shared header.
const ITEM: usize = 48;

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1 << 20) as f64)
}

/// Refuses a string of `bytes` that `what` would build.
pub fn string(ctx: &NativeCallContext, what: &str, bytes: usize) -> RhaiResult<()> {
    let max = ctx.engine().max_string_size();
    if max > 0 && bytes > max {
        return Err(limit(format!(
            "{what}: the result would be {bytes} bytes long, longer than a string may be ({max})"
        )));
    }
    budget(what, bytes)
}

/// Refuses an array of `items` holding `bytes` of text that `what` would
/// build (`items` past the limit means "more than the limit"). Rhai counts
/// the text of all an array's strings against the string limit.
pub fn array(ctx: &NativeCallContext, what: &str, items: usize, bytes: usize) -> RhaiResult<()> {
    let max = ctx.engine().max_array_size();
    if max > 0 && items > max {
        return Err(limit(format!(
            "{what}: the result would have more than {max} items, more than an array may hold"
        )));
    }
    let text = ctx.engine().max_string_size();
    if text > 0 && bytes > text {
        return Err(limit(format!(
            "{what}: the result would hold {bytes} bytes of text, more than a value may ({text})"
        )));
    }
    budget(what, items.saturating_mul(ITEM).saturating_add(bytes))
}

/// Refuses `bytes` more than the running instance's memory budget has left.
pub fn budget(what: &str, bytes: usize) -> RhaiResult<()> {
    match memory::headroom() {
        Some((left, total)) if bytes as u64 > left => Err(limit(format!(
            "{what}: the result would take {}, more than the {} left of the script's memory budget of {}",
            mb(bytes as u64),
            mb(left),
            mb(total)
        ))),
        _ => Ok(()),
    }
}

/// Items in the arrays, entries in the maps and bytes of the strings in
/// `v`, at every level, as Rhai's limits count them.
pub fn sizes(v: &Dynamic) -> (usize, usize, usize) {
    if let Some(a) = v.read_lock::<Array>() {
        return a.iter().fold((0, 0, 0), |t, x| {
            let (a, m, s) = sizes(x);
            (t.0 + 1 + a, t.1 + m, t.2 + s)
        });
    }
    if let Some(m) = v.read_lock::<Map>() {
        return m.values().fold((0, 0, 0), |t, x| {
            let (a, m, s) = sizes(x);
            (t.0 + a, t.1 + 1 + m, t.2 + s)
        });
    }
    if let Some(s) = v.read_lock::<ImmutableString>() {
        return (0, 0, s.len());
    }
    (0, 0, 0)
}

/// Where `chars` characters of `fill` repeated (cut to fit) end: whole
/// copies, and the bytes of the part of one more.
fn cut(fill: &str, chars: usize) -> (usize, usize) {
    let per = fill.chars().count();
    if per == 0 {
        return (0, 0);
    }
    let part = fill
        .char_indices()
        .nth(chars % per)
        .map_or(fill.len(), |(i, _)| i);
    (chars / per, part)
}

/// Bytes of `chars` characters of `fill` repeated (cut to fit), as a pad
/// adds them.
pub fn fill_bytes(fill: &str, chars: usize) -> usize {
    let (whole, part) = cut(fill, chars);
    whole.saturating_mul(fill.len()).saturating_add(part)
}

/// `chars` characters of `fill` repeated (cut to fit); size it first with
/// [`fill_bytes`].
pub fn filler(fill: &str, chars: usize) -> String {
    let (whole, part) = cut(fill, chars);
    let mut out = fill.repeat(whole);
    out.push_str(&fill[..part]);
    out
}

/// Text written up to the string limit and the memory budget, no
/// further: writing past either fails (and [`Capped::refusal`] says why).
pub struct Capped {
    out: Vec<u8>,
    max: usize,
    refused: Option<Box<EvalAltResult>>,
    what: &'static str,
}

impl Capped {
    /// Room for what `what` writes: at most the engine's string size.
    pub fn new(ctx: &NativeCallContext, what: &'static str) -> Capped {
        let max = match ctx.engine().max_string_size() {
            0 => usize::MAX,
            n => n,
        };
        Capped {
            out: Vec::new(),
            max,
            refused: None,
            what,
        }
    }

    /// Why writing stopped, if it did.
    pub fn refusal(&mut self) -> Option<Box<EvalAltResult>> {
        self.refused.take()
    }

    /// What was written (only ever whole UTF-8 pieces are).
    pub fn text(self) -> String {
        String::from_utf8(self.out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}

impl std::io::Write for Capped {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let len = self.out.len().saturating_add(b.len());
        let check = if len > self.max {
            Err(limit(format!(
                "{}: the result would be longer than a string may be ({} bytes)",
                self.what, self.max
            )))
        } else {
            // Growing may take twice what is written so far.
            budget(self.what, if len > self.out.capacity() { len } else { 0 })
        };
        if let Err(e) = check {
            self.refused = Some(e);
            return Err(std::io::Error::other("refused"));
        }
        self.out.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        std::io::Write::write_all(self, s.as_bytes()).map_err(|_| std::fmt::Error)
    }
}

/// `s.replace(find, with)`, in place as Rhai's: the result's length is
/// known from the number of matches before anything is built.
fn replace(
    ctx: NativeCallContext,
    s: &mut ImmutableString,
    find: &str,
    with: &str,
) -> RhaiResult<()> {
    if s.is_empty() {
        return Ok(());
    }
    let count = s.matches(find).count();
    let bytes = (s.len() - count * find.len()).saturating_add(count.saturating_mul(with.len()));
    string(&ctx, "replace", bytes)?;
    *s = s.replace(find, with).into();
    Ok(())
}

/// `s.pad(len, fill)`, in place as Rhai's, `len` counted in characters. An
/// empty `fill` leaves `s` as it is (Rhai's own would loop for ever).
fn pad(ctx: NativeCallContext, s: &mut ImmutableString, len: INT, fill: &str) -> RhaiResult<()> {
    let (Ok(want), false) = (usize::try_from(len), fill.is_empty()) else {
        return Ok(());
    };
    let have = s.chars().count();
    if want <= have {
        return Ok(());
    }
    let add = fill_bytes(fill, want - have);
    string(&ctx, "pad", s.len().saturating_add(add))?;
    let mut out = String::with_capacity(s.len() + add);
    out.push_str(s);
    out.push_str(&filler(fill, want - have));
    *s = out.into();
    Ok(())
}

/// `array.pad(len, item)`: `item` is copied (deeply) once per new place.
fn pad_array(ctx: NativeCallContext, a: &mut Array, len: INT, item: Dynamic) -> RhaiResult<()> {
    let Ok(want) = usize::try_from(len) else {
        return Ok(());
    };
    if want <= a.len() {
        return Ok(());
    }
    let n = want - a.len();
    let (ia, im, is) = sizes(&item);
    let (aa, am, as_) = a
        .iter()
        .map(sizes)
        .fold((a.len(), 0, 0), |t, (x, y, z)| (t.0 + x, t.1 + y, t.2 + z));
    let items = aa.saturating_add(n.saturating_mul(1 + ia));
    let maps = am.saturating_add(n.saturating_mul(im));
    let text = as_.saturating_add(n.saturating_mul(is));
    let engine = ctx.engine();
    let over = |max: usize, have: usize| max > 0 && have > max;
    if over(engine.max_array_size(), items)
        || over(engine.max_map_size(), maps)
        || over(engine.max_string_size(), text)
    {
        return Err(limit(format!(
            "pad: {n} copies of the item would make an array of {items} items, {maps} map entries and {text} bytes of text, past the limits ({} items, {} entries, {} bytes)",
            engine.max_array_size(),
            engine.max_map_size(),
            engine.max_string_size()
        )));
    }
    budget("pad", n.saturating_mul(ITEM.saturating_mul(1 + ia + im)))?;
    a.resize(want, item);
    Ok(())
}

/// The pieces `make` splits into, counted (and their length added up)
/// before any is copied out.
pub fn pieces<'a, I: Iterator<Item = &'a str>>(
    ctx: &NativeCallContext,
    what: &str,
    make: impl Fn() -> I,
) -> RhaiResult<Array> {
    let max = match ctx.engine().max_array_size() {
        0 => usize::MAX,
        n => n,
    };
    let (mut n, mut bytes) = (0usize, 0usize);
    for p in make() {
        n += 1;
        bytes += p.len();
        if n > max {
            break;
        }
    }
    array(ctx, what, n, bytes)?;
    Ok(make().map(Into::into).collect())
}

/// Rhai's `split`: the whole string, unsplit, when it is empty, holds no
/// delimiter (`found`) or is to be cut into one segment; else the pieces
/// `make` gives, counted first.
fn split<'a, I: Iterator<Item = &'a str>>(
    ctx: &NativeCallContext,
    s: &'a ImmutableString,
    found: bool,
    segments: Option<INT>,
    make: impl Fn() -> I,
) -> RhaiResult<Array> {
    if s.is_empty() || !found || segments.is_some_and(|n| n <= 1) {
        return Ok(vec![s.clone().into()]);
    }
    pieces(ctx, ctx.fn_name(), make)
}

/// Whether Rhai's `split` finds a string delimiter (an empty one splits
/// between characters).
fn has(s: &str, d: &str) -> bool {
    d.is_empty() || s.contains(d)
}

/// Rhai's count of segments (any count past `usize` is all of them).
fn segments(n: INT) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Replaces Rhai's string and array functions whose result can outgrow
/// their inputs by the checked ones above.
pub fn register(engine: &mut Engine) {
    type C<'a> = NativeCallContext<'a>;
    type S<'a> = &'a mut ImmutableString;
    engine
        .register_fn("replace", replace)
        .register_fn("replace", |c: C, s: S, find: &str, with: char| {
            replace(c, s, find, with.encode_utf8(&mut [0; 4]))
        })
        .register_fn("replace", |c: C, s: S, find: char, with: &str| {
            replace(c, s, find.encode_utf8(&mut [0; 4]), with)
        })
        .register_fn("pad", pad)
        .register_fn("pad", |c: C, s: S, len: INT, fill: char| {
            pad(c, s, len, fill.encode_utf8(&mut [0; 4]))
        })
        .register_fn("pad", pad_array)
        .register_fn("to_chars", |c: C, s: &str| -> RhaiResult<Array> {
            let n = s.chars().count();
            array(&c, "to_chars", n, 0)?;
            Ok(s.chars().map(Into::into).collect())
        })
        .register_fn("split", |c: C, s: S| {
            split(&c, s, true, None, || s.split_whitespace())
        })
        .register_fn("split", |c: C, s: S, d: &str| {
            split(&c, s, has(s, d), None, || s.split(d))
        })
        .register_fn("split", |c: C, s: S, d: &str, n: INT| {
            split(&c, s, has(s, d), Some(n), || s.splitn(segments(n), d))
        })
        .register_fn("split", |c: C, s: S, d: char| {
            split(&c, s, s.contains(d), None, || s.split(d))
        })
        .register_fn("split", |c: C, s: S, d: char, n: INT| {
            split(&c, s, s.contains(d), Some(n), || s.splitn(segments(n), d))
        })
        .register_fn("split_rev", |c: C, s: S, d: &str| {
            split(&c, s, has(s, d), None, || s.rsplit(d))
        })
        .register_fn("split_rev", |c: C, s: S, d: &str, n: INT| {
            split(&c, s, has(s, d), Some(n), || s.rsplitn(segments(n), d))
        })
        .register_fn("split_rev", |c: C, s: S, d: char| {
            split(&c, s, s.contains(d), None, || s.rsplit(d))
        })
        .register_fn("split_rev", |c: C, s: S, d: char, n: INT| {
            split(&c, s, s.contains(d), Some(n), || s.rsplitn(segments(n), d))
        });
}

#[cfg(test)]
mod tests {
    use super::super::testing::{engine, message_of};
    use rhai::{Dynamic, Engine};

    /// Rhai's own engine with the same limits, to compare results with.
    fn rhai_s() -> Engine {
        let mut e = Engine::new();
        e.set_max_string_size(crate::script::limits::MAX_STRING)
            .set_max_array_size(crate::script::limits::MAX_ARRAY);
        e
    }

    /// Runs `script` in both engines and compares what they give.
    fn same(script: &str) {
        let ours: Dynamic = engine().eval(script).unwrap();
        let theirs: Dynamic = rhai_s().eval(script).unwrap();
        assert_eq!(ours.to_string(), theirs.to_string(), "{script}");
    }

    /// The `code` and `message` of what `script` throws, caught in the script.
    fn caught(script: &str) -> (String, String) {
        let m: rhai::Map = engine()
            .eval(&format!(
                "let m = #{{}}; try {{ {script}; }} catch (e) {{ m = e; }} m"
            ))
            .unwrap();
        let get = |k: &str| m.get(k).map(|v| v.to_string()).unwrap_or_default();
        (get("code"), get("message"))
    }

    #[test]
    fn checked_functions_give_what_rhai_s_own_give() {
        for script in [
            r#"let s = "a-b--c"; s.replace("-", "+"); s"#,
            r#"let s = "a-b--c"; s.replace("", "."); s"#,
            r#"let s = "a-b--c"; s.replace('-', "<>"); s"#,
            r#"let s = "a-b--c"; s.replace("--", '='); s"#,
            r#"let s = ""; s.replace("", "x"); s"#,
            r#"let s = "hé"; s.pad(5, '!'); s"#,
            r#"let s = "hé"; s.pad(6, "(é)"); s"#,
            r#"let s = "hello"; s.pad(3, "xy"); s"#,
            r#"let a = [1]; a.pad(4, [2, "x"]); a"#,
            r#"let a = [1, 2, 3]; a.pad(-1, 0); a"#,
            r#""a b  c".split()"#,
            r#""".split()"#,
            r#""a,b,,c".split(",")"#,
            r#""abc".split("")"#,
            r#""abc".split("x")"#,
            r#""a,b,,c".split(",", 2)"#,
            r#""a,b,,c".split(',')"#,
            r#""a,b,,c".split(',', 3)"#,
            r#""a,b,,c".split_rev(",")"#,
            r#""a,b,,c".split_rev(",", 2)"#,
            r#""a,b,,c".split_rev(',')"#,
            r#""a,b,,c".split_rev(',', 0)"#,
            r#""héllo".to_chars()"#,
        ] {
            same(script);
        }
    }

    #[test]
    fn a_replace_that_would_take_gigabytes_is_a_catchable_limit_error() {
        let (code, message) =
            caught(r#"let s = ""; s.pad(100000, 'a'); let w = s; s.replace("a", w)"#);
        assert_eq!(code, "limit");
        assert!(
            message.contains("replace: the result would be 10000000000 bytes"),
            "{message}"
        );
        let (code, _) = caught(r#"let s = ""; s.pad(1000, 'a'); s.replace('a', s + s)"#);
        assert_eq!(code, "limit");
    }

    #[test]
    fn padding_and_splitting_past_the_limits_are_catchable_limit_errors() {
        for script in [
            r#""x".pad(2000000, '!')"#,
            r#""x".pad(9223372036854775807, "ab")"#,
            r#"let s = ""; s.pad(100001, 'a'); s.to_chars()"#,
            r#"let s = ""; s.pad(100001, 'a'); s.split("")"#,
            r#"let s = ""; s.pad(100001, ','); s.split(',')"#,
            r#"let s = ""; s.pad(100001, ','); s.split_rev(",", 200000)"#,
            r#"let a = []; a.pad(1000, 0); let b = []; b.pad(1000, a)"#,
        ] {
            let (code, message) = caught(script);
            assert_eq!(code, "limit", "{script}: {message}");
        }
    }

    #[test]
    fn a_result_past_what_is_left_of_the_memory_budget_is_a_catchable_limit_error() {
        let e = engine();
        let account = crate::script::memory::Account::new();
        let m: rhai::Map = account.enter(256 << 10, || {
            e.eval(r#"let m = #{}; try { "x".pad(600000, "y"); } catch (e) { m = e; } m"#)
                .unwrap()
        });
        assert_eq!(m["code"].to_string(), "limit", "{m:?}");
        assert!(
            m["message"].to_string().contains("memory budget of 0.2 MB"),
            "{m:?}"
        );
    }

    #[test]
    fn padding_with_nothing_returns_instead_of_looping() {
        let s: String = engine().eval(r#"let s = "a"; s.pad(10, ""); s"#).unwrap();
        assert_eq!(s, "a");
    }

    #[test]
    fn sizes_count_every_level_as_rhai_does() {
        let v: Dynamic = engine()
            .eval(r#"[1, "ab", [2, #{ k: "xyz", j: [3] }]]"#)
            .unwrap();
        assert_eq!(super::sizes(&v), (6, 2, 5));
        let e = engine()
            .run(r#"let a = [1]; a.pad(200000, 1)"#)
            .unwrap_err();
        assert!(message_of(&e).contains("200000 items"), "{e}");
    }
}
