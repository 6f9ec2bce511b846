//! How the host hears that a script's code failed on a codec: each
//! instance's log sink passes on the runtime's failure notes (a top level,
//! callback or timer that threw or was stopped for budget, memory or
//! depth) to the host's run loop, which rolls a staged change back
//! ([`super::rollout`]) or gives a new version's place back to the one
//! that ran before.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::Failure;
use crate::script::instance::LogSink;

/// What a failure note of an instance says: whether its top level failed
/// (else a callback or timer), and the `file:line:col: message`. The
/// runtime notes a failure of a top level or callback (a throw, a stop for
/// budget, memory or depth) as level `error`, `"top level failed: ..."`
/// or `"callback stopped: ..."`; a script's own `error(...)` lines come as
/// `ERROR` and are not failures, nor is `on_unload`'s.
fn failure_of<'a>(level: &str, text: &'a str) -> Option<(bool, &'a str)> {
    if level != "error" {
        return None;
    }
    for (prefix, top_level) in [
        ("top level failed: ", true),
        ("top level stopped: ", true),
        ("callback failed: ", false),
        ("callback stopped: ", false),
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return Some((top_level, rest));
        }
    }
    None
}

/// Where an instance of `version` of `script` on `codec` reports the
/// failures of its code: to the host's run loop.
pub(super) fn failure_sink(
    tx: mpsc::UnboundedSender<Failure>,
    script: &str,
    codec: &str,
    version: u64,
) -> LogSink {
    let (script, codec) = (script.to_string(), codec.to_string());
    Arc::new(move |level: &str, text: &str| {
        if let Some((top_level, message)) = failure_of(level, text) {
            let _ = tx.send(Failure {
                script: script.clone(),
                codec: codec.clone(),
                version,
                top_level,
                message: message.to_string(),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_of_a_scripts_code_are_told_from_its_own_error_lines() {
        assert_eq!(
            failure_of("error", "callback failed: room.rhai:3:5: boom"),
            Some((false, "room.rhai:3:5: boom"))
        );
        assert_eq!(
            failure_of(
                "error",
                "top level stopped: room.rhai:1:1: out of memory; the script stays stopped until it is reloaded"
            ),
            Some((
                true,
                "room.rhai:1:1: out of memory; the script stays stopped until it is reloaded"
            ))
        );
        assert_eq!(
            failure_of(
                "error",
                "top level failed: room.rhai:1:9: Variable not found: x"
            ),
            Some((true, "room.rhai:1:9: Variable not found: x"))
        );
        // A script's own error(...) line, however it reads.
        assert_eq!(failure_of("ERROR", "callback failed: a joke"), None);
        assert_eq!(failure_of("error", "on_unload failed: x"), None);
        assert_eq!(
            failure_of("warn", "top level stopped, not by its code: x"),
            None
        );
        assert_eq!(
            failure_of(
                "error",
                "room.rhai:2: command X (sent without waiting) failed: 1 y"
            ),
            None
        );
    }
}
