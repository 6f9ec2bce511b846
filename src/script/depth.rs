//! A depth bound on script values the host walks. Rhai formats, compares
//! and converts nested arrays and maps recursively, so a value nested
//! thousands of levels deep (built one level per callback) would overflow a
//! worker's stack when printed or sent. Printing and JSON conversion check
//! the depth first and refuse deeper values with an error.

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, NativeCallContext};

/// Levels of arrays and maps the host walks (below serde_json's 128, so
/// whatever is stored can be read back).
pub const MAX_DEPTH: usize = 100;

/// Whether `d` nests arrays and maps more than [`MAX_DEPTH`] levels deep.
/// The walk itself stops at that depth.
pub fn too_deep(d: &Dynamic) -> bool {
    exceeds(d, MAX_DEPTH)
}

fn exceeds(d: &Dynamic, left: usize) -> bool {
    if let Some(a) = d.read_lock::<Array>() {
        return left == 0 || a.iter().any(|x| exceeds(x, left - 1));
    }
    if let Some(m) = d.read_lock::<Map>() {
        return left == 0 || m.values().any(|x| exceeds(x, left - 1));
    }
    false
}

/// The message for a value too deep to print, send or store.
pub fn message(what: &str) -> String {
    format!("a value nested deeper than {MAX_DEPTH} levels cannot be {what}")
}

type Printed = Result<ImmutableString, Box<EvalAltResult>>;

/// Formats like Rhai's own (`[1, "a"]`, `#{"k": 1}`), items by `to_debug`.
fn format(ctx: &NativeCallContext, value: &Dynamic) -> Printed {
    let item = |x: &Dynamic| ctx.call_native_fn::<ImmutableString>("to_debug", (x.clone(),));
    let mut out = String::new();
    if let Some(a) = value.read_lock::<Array>() {
        out.push('[');
        for (i, x) in a.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&item(x)?);
        }
        out.push(']');
    } else if let Some(m) = value.read_lock::<Map>() {
        out.push_str("#{");
        for (i, (k, x)) in m.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&format!("{k:?}: {}", item(x)?));
        }
        out.push('}');
    }
    Ok(out.into())
}

/// `print`/`debug` of a too-deep value is an error.
fn print(ctx: NativeCallContext, value: Dynamic) -> Printed {
    if too_deep(&value) {
        return Err(super::fault::error("value", message("printed")));
    }
    format(&ctx, &value)
}

/// `to_string`/`to_debug` (also used by `${...}`): Rhai falls back to its
/// recursive formatter when these fail, so a too-deep value gives a marker
/// instead of an error.
fn to_text(ctx: NativeCallContext, value: Dynamic) -> Printed {
    if too_deep(&value) {
        return Ok(format!("<{}>", message("printed")).into());
    }
    format(&ctx, &value)
}

/// Replaces Rhai's printing of arrays and maps with the depth-checked one.
pub fn register(engine: &mut Engine) {
    for name in ["print", "debug"] {
        engine
            .register_fn(name, |ctx: NativeCallContext, a: Array| {
                print(ctx, a.into())
            })
            .register_fn(name, |ctx: NativeCallContext, m: Map| print(ctx, m.into()));
    }
    for name in ["to_string", "to_debug"] {
        engine
            .register_fn(name, |ctx: NativeCallContext, a: Array| {
                to_text(ctx, a.into())
            })
            .register_fn(name, |ctx: NativeCallContext, m: Map| {
                to_text(ctx, m.into())
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Dynamic {
        let mut d = Dynamic::from_array(vec![]);
        for i in 0..depth {
            d = if i % 2 == 0 {
                Dynamic::from_array(vec![d])
            } else {
                let mut m = Map::new();
                m.insert("k".into(), d);
                m.into()
            };
        }
        d
    }

    #[test]
    fn depth_is_measured_up_to_the_bound() {
        assert!(!too_deep(&Dynamic::from(1_i64)));
        assert!(!too_deep(&nested(MAX_DEPTH - 1)));
        assert!(too_deep(&nested(MAX_DEPTH)));
        assert!(too_deep(&nested(MAX_DEPTH * 10)));
    }
}
