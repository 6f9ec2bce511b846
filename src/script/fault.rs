//! The errors a script can catch from the host: every one is a map
//! `#{ code, message }` (a codec's adds `data`), so the one documented
//! `catch (e) { print(e.message) }` works whatever failed. A codec error
//! keeps its number as `code`; the host's own errors name their family:
//!
//! | code | raised by |
//! | --- | --- |
//! | `"usage"` | an API used the wrong way: a bad path, delay or argument |
//! | `"limit"` | a result past a size limit, too many timers |
//! | `"value"` | a value with no JSON form, or nested too deep to send or keep |
//! | `"store"` | a `store.set`/`remove` that could not be kept |
//! | `"denied"` | a call outside the script's `allow` list (never sent) |
//! | `"stopping"` | a callback registered while the script stops |
//! | `"json"`, `"regex"`, `"time"`, ... | the standard library's functions |
//!
//! A leaf module: everything that raises a script error uses it.

use rhai::{Dynamic, EvalAltResult, Position};

/// A catchable error `#{ code, message }`. The place is filled in by Rhai
/// with the script's call site.
pub fn error(code: &str, message: impl Into<String>) -> Box<EvalAltResult> {
    let mut map = rhai::Map::new();
    map.insert("code".into(), Dynamic::from(code.to_string()));
    map.insert("message".into(), Dynamic::from(message.into()));
    EvalAltResult::ErrorRuntime(map.into(), Position::NONE).into()
}

/// An API used the wrong way.
pub fn usage(message: impl Into<String>) -> Box<EvalAltResult> {
    error("usage", message)
}

/// A result or a count past one of the script's limits.
pub fn limit(message: impl Into<String>) -> Box<EvalAltResult> {
    error("limit", message)
}

/// The `code` of a caught error when it is one of the host's own (a string).
pub fn code_of(e: &EvalAltResult) -> Option<String> {
    match e {
        EvalAltResult::ErrorRuntime(v, _) => v
            .read_lock::<rhai::Map>()
            .and_then(|m| m.get("code").cloned())
            .and_then(|c| c.into_string().ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_error_is_a_map_with_code_and_message() {
        let mut engine = rhai::Engine::new();
        engine.register_fn("fail", || -> Result<(), Box<EvalAltResult>> {
            Err(usage("bad call"))
        });
        let caught: String = engine
            .eval(r#"let m = ""; try { fail(); } catch (e) { m = `${e.code}: ${e.message}`; } m"#)
            .unwrap();
        assert_eq!(caught, "usage: bad call");
        let e = engine.run("fail();").unwrap_err();
        assert_eq!(code_of(&e).as_deref(), Some("usage"));
    }
}
