//! Log output on stderr: plain local-time lines or JSON lines, colour only
//! when wanted. It lives apart from `main` so the layers can be composed
//! (a filter, the formatter, and any layer added later such as a rate
//! limiter) and tested without the binary.
//!
//! A text line reads `2026-11-21T22:17:50.027+01:00  INFO script{codec=sim
//! script=volume-limit}: volume 85 capped at 70`: local time with its
//! offset (as `daily()` schedules by local time), the level, the script
//! and codec it comes from (from the span), and the message; no module
//! path. A JSON line carries the same as `timestamp`, `level`, the event's
//! fields flattened (`message`, ...) and `span` (`script`, `codec`).

use std::io::IsTerminal;

use clap::ColorChoice;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::time::ChronoLocal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The timestamp format: local time, milliseconds, and the UTC offset so a
/// line means the same wherever it is read.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f%:z";

/// Whether to colour output on a stream: `always` and `never` as asked;
/// `auto` only on a terminal and only when `NO_COLOR` is unset or empty
/// (<https://no-color.org>).
pub fn use_color(choice: ColorChoice, is_terminal: bool, no_color: Option<&str>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && no_color.is_none_or(str::is_empty),
    }
}

/// What [`init`] needs to know.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions {
    pub color: ColorChoice,
    /// One JSON object per line (else one readable line per event).
    pub json: bool,
    /// The filter when `RUST_LOG` is not set (`info`, `warn`, ...).
    pub default_level: &'static str,
}

/// The formatting layer for stderr, boxed so further layers compose with it.
pub fn stderr_layer(opts: &LogOptions) -> Box<dyn Layer<Registry> + Send + Sync> {
    let no_color = std::env::var("NO_COLOR").ok();
    let ansi = use_color(
        opts.color,
        std::io::stderr().is_terminal(),
        no_color.as_deref(),
    );
    let timer = ChronoLocal::new(TIME_FORMAT.to_string());
    let base = tracing_subscriber::fmt::layer()
        .with_writer(crate::log::safe::OneLine(std::io::stderr))
        .with_timer(timer)
        .with_target(false);
    if opts.json {
        base.json()
            .with_ansi(false)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        base.with_ansi(ansi).boxed()
    }
}

/// The level filter: `RUST_LOG` when set, else the command's default.
pub fn filter(default_level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level))
}

/// Installs the global subscriber. Call once, early in `main`. Every line
/// goes through [`crate::log::safe`]: one event is one line, and callsites
/// that would print credentials are never enabled, at any level.
pub fn init(opts: LogOptions) {
    tracing_subscriber::registry()
        .with(stderr_layer(&opts).with_filter(filter(opts.default_level)))
        // Script log lines for the status page, whatever RUST_LOG says.
        .with(crate::telemetry::logtap::LogTap.with_filter(LevelFilter::INFO))
        .with(crate::log::safe::NoSecrets)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_choice_the_terminal_and_no_color() {
        assert!(use_color(ColorChoice::Always, false, Some("1")));
        assert!(!use_color(ColorChoice::Never, true, None));
        assert!(use_color(ColorChoice::Auto, true, None));
        assert!(use_color(ColorChoice::Auto, true, Some("")));
        assert!(!use_color(ColorChoice::Auto, true, Some("1")));
        assert!(!use_color(ColorChoice::Auto, false, None));
    }
}
