//! What scripts log (`print`, `warn`, `error`): escaped so a script cannot
//! forge a log line, and rate limited per instance so a print loop cannot
//! fill the disk; what the limit holds back is counted in the next line.

use std::sync::LazyLock;

use tracing::{Level, error, info, warn};

use crate::log::ratelimit::{DEFAULT_BURST, Keyed, Verdict};
use crate::log::safe::escape;

/// One limit per running instance, keyed by its context's address.
static LIMITS: LazyLock<Keyed<usize>> = LazyLock::new(|| Keyed::new(DEFAULT_BURST));

/// Logs one line of script output at `level`, within the limit of its
/// `source` (a number that tells instances apart, 0 outside one).
pub fn line(source: usize, level: Level, text: &str) {
    let Verdict::Log { suppressed } = LIMITS.check(&source) else {
        crate::telemetry::metrics().log_lines_suppressed.add(1);
        return;
    };
    if suppressed > 0 {
        warn!(
            "{suppressed} line(s) of this script's output were suppressed (more than {DEFAULT_BURST} a second)"
        );
    }
    let text = escape(text);
    if let Some(ctx) = super::instance::current() {
        ctx.note(level.as_str(), &text);
    }
    match level {
        Level::ERROR => error!("{text}"),
        Level::WARN => warn!("{text}"),
        _ => info!("{text}"),
    }
}
