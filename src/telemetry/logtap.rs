//! A `tracing` layer that keeps the lines logged inside a script instance's
//! span (`script{codec, script}`: the script's own `log`/`print` calls and
//! what the runtime says about it) on the [`board`](mod@super::board), so the
//! status page shows each script's recent lines without reading log files.
//!
//! Install it beside the usual formatter:
//! `registry().with(fmt_layer).with(LogTap.with_filter(LevelFilter::INFO))`.

use std::fmt::Write as _;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::board::{Level, LogLine, board};

/// The layer; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogTap;

/// The fields of a script span, kept in the span's extensions.
struct ScriptSpan {
    script: String,
    codec: Option<String>,
}

#[derive(Default)]
struct Fields {
    script: Option<String>,
    codec: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field, format!("{value:?}"));
    }
}

impl Fields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "script" => self.script = Some(value),
            "codec" => self.codec = Some(value),
            _ => {}
        }
    }
}

/// The message and any other fields, as one line.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, &format!("{value:?}"));
    }
}

impl Text {
    fn push(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S> Layer<S> for LogTap
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "script" || !attrs.metadata().target().starts_with("xmacro") {
            return;
        }
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let (Some(script), Some(span)) = (f.script, ctx.span(id)) {
            span.extensions_mut().insert(ScriptSpan {
                script,
                codec: f.codec,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        for span in scope {
            let ext = span.extensions();
            let Some(s) = ext.get::<ScriptSpan>() else {
                continue;
            };
            let mut text = Text::default();
            event.record(&mut text);
            let level = match *event.metadata().level() {
                tracing::Level::ERROR => Level::Error,
                tracing::Level::WARN => Level::Warn,
                tracing::Level::INFO => Level::Info,
                _ => Level::Debug,
            };
            board().log(
                &s.script,
                LogLine {
                    at: SystemTime::now(),
                    level,
                    codec: s.codec.clone(),
                    text: text.0,
                },
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn lines_inside_a_script_span_reach_the_board_and_others_do_not() {
        let sub = tracing_subscriber::registry().with(LogTap);
        tracing::subscriber::with_default(sub, || {
            let span = tracing::info_span!("script", codec = %"room-1", script = %"logtap-test");
            span.in_scope(|| tracing::warn!(n = 3, "volume capped"));
            tracing::info!("outside any script");
        });
        let d = board().snapshot();
        let logs = &d.scripts["logtap-test"].logs;
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].text, "volume capped n=3");
        assert_eq!(logs[0].level, Level::Warn);
        assert_eq!(logs[0].codec.as_deref(), Some("room-1"));
    }
}
