//! The small standard library on-device macros take from JavaScript and
//! Rhai lacks: JSON of any value with catchable errors, local date and time,
//! regular expressions, random numbers, `toFixed`/`padStart`/`join`
//! formatting, and `Number`/`isNaN`; and Rhai's own functions that could
//! build a result far larger than their inputs, replaced by ones that size
//! it first ([`sized`]). Each part is plain functions over script values, registered
//! on the engine and tested with `engine.eval`;
//! none of them touches the codec or the instance, so the only thing passed
//! in is where "now" comes from (the host's clock, so tests can drive it).

use std::sync::Arc;

use rhai::{Dynamic, Engine};

pub mod json;
pub mod number;
pub mod random;
pub mod regex;
pub mod sized;
pub mod text;
pub mod time;

/// Where `now()` reads the local date and time, given the call's tag (which
/// carries the running job, whose clock may be a test's).
pub type NowFn = Arc<dyn Fn(Option<&Dynamic>) -> chrono::NaiveDateTime + Send + Sync>;

/// Registers every part on `engine`.
pub fn register(engine: &mut Engine, now: NowFn) {
    json::register(engine);
    time::register(engine, now);
    regex::register(engine);
    random::register(engine);
    text::register(engine);
    sized::register(engine);
    number::register(engine);
}

/// A catchable error shaped like a codec error, `#{ code, message }`, so
/// `catch (e) { print(e.message) }` works the same for every failure.
pub(crate) use super::fault::error;

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use rhai::EvalAltResult;

    /// An engine with only this library, its clock stopped at `at`.
    pub fn engine_at(at: &str) -> Engine {
        let at = chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S").unwrap();
        let mut engine = Engine::new();
        engine
            .set_max_string_size(crate::script::limits::MAX_STRING)
            .set_max_array_size(crate::script::limits::MAX_ARRAY)
            .set_max_map_size(crate::script::limits::MAX_MAP);
        register(&mut engine, Arc::new(move |_| at));
        engine
    }

    pub fn engine() -> Engine {
        engine_at("2026-03-02 07:59:30")
    }

    /// The `message` of the error a script raised (caught or not).
    pub fn message_of(e: &EvalAltResult) -> String {
        match e {
            EvalAltResult::ErrorRuntime(v, _) => v
                .read_lock::<rhai::Map>()
                .and_then(|m| m.get("message").map(|m| m.to_string()))
                .unwrap_or_else(|| v.to_string()),
            other => other.to_string(),
        }
    }
}
