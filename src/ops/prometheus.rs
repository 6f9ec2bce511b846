//! `/metrics` in the Prometheus text exposition format (version 0.0.4):
//! the process counters from [`crate::telemetry::metrics`](mod@crate::telemetry::metrics) plus gauges read
//! from the status at scrape time. docs/ops.md lists every metric.

use std::fmt::Write as _;

use super::snapshot::Status;
use crate::telemetry::metrics::{HistogramSnapshot, Outcome, ReloadOutcome, metrics};

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.head(name, kind, help);
        let _ = writeln!(self.0, "{name} {value}");
    }

    fn labelled(&mut self, name: &str, kind: &str, help: &str, key: &str, rows: &[(&str, u64)]) {
        self.head(name, kind, help);
        for (v, n) in rows {
            let _ = writeln!(self.0, "{name}{{{key}=\"{}\"}} {n}", label(v));
        }
    }

    fn histogram(&mut self, name: &str, help: &str, h: &HistogramSnapshot) {
        self.head(name, "histogram", help);
        for (le, n) in &h.buckets {
            let _ = writeln!(self.0, "{name}_bucket{{le=\"{le}\"}} {n}");
        }
        let _ = writeln!(self.0, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(self.0, "{name}_sum {}", h.sum_seconds);
        let _ = writeln!(self.0, "{name}_count {}", h.count);
    }
}

/// The whole exposition.
pub fn render(status: &Status) -> String {
    let m = metrics();
    let mut o = Out(String::new());
    o.one(
        "xmacro_ready",
        "gauge",
        "1 once the config is loaded and every codec was tried at least once.",
        u64::from(status.ready),
    );
    o.one(
        "xmacro_codecs",
        "gauge",
        "Configured codecs.",
        status.codecs.len() as u64,
    );
    let up = status
        .codecs
        .iter()
        .filter(|c| c.state == "connected")
        .count();
    o.one(
        "xmacro_codecs_connected",
        "gauge",
        "Codecs connected now.",
        up as u64,
    );
    let rows: Vec<(&str, u64)> = status
        .codecs
        .iter()
        .map(|c| (c.name.as_str(), u64::from(c.state == "connected")))
        .collect();
    o.labelled(
        "xmacro_codec_up",
        "gauge",
        "1 if this codec is connected now.",
        "codec",
        &rows,
    );
    o.one(
        "xmacro_codec_reconnects_total",
        "counter",
        "Reconnections after a connection dropped, all codecs.",
        status.codecs.iter().map(|c| c.reconnects).sum(),
    );
    let rows: Vec<(&str, u64)> = Outcome::ALL
        .iter()
        .map(|o| (o.label(), m.requests_with(*o)))
        .collect();
    o.labelled(
        "xmacro_requests_total",
        "counter",
        "Requests to codecs by how they ended.",
        "outcome",
        &rows,
    );
    o.histogram(
        "xmacro_request_duration_seconds",
        "Time from a request until its answer or failure.",
        &m.request_duration.snapshot(),
    );
    o.one(
        "xmacro_feedback_events_total",
        "counter",
        "Feedback documents handed to subscribers.",
        m.feedback_in.get(),
    );
    o.labelled(
        "xmacro_feedback_events_dropped_total",
        "counter",
        "Events dropped: a subscriber's buffer or a script's mailbox was full (state changes are merged instead, never dropped).",
        "where",
        &[
            ("subscriber", m.feedback_dropped_subscriber.get()),
            ("mailbox", m.feedback_dropped_mailbox.get()),
        ],
    );
    o.one(
        "xmacro_feedback_coalesced_total",
        "counter",
        "Status and Configuration changes merged into a change still waiting (latest value per path kept): a subscriber's buffer or a script's mailbox was full.",
        m.feedback_coalesced.get(),
    );
    o.labelled(
        "xmacro_callbacks_total",
        "counter",
        "Script callbacks and top levels by how they ended.",
        "outcome",
        &[
            ("ok", m.callbacks_ok.get()),
            ("failed", m.callbacks_failed.get()),
            ("stopped", m.callbacks_stopped.get()),
        ],
    );
    o.histogram(
        "xmacro_callback_duration_seconds",
        "How long each callback ran.",
        &m.callback_duration.snapshot(),
    );
    let rows: Vec<(&str, u64)> = ReloadOutcome::ALL
        .iter()
        .map(|r| (r.label(), m.reloads_with(*r)))
        .collect();
    o.labelled(
        "xmacro_script_reloads_total",
        "counter",
        "Script loads by outcome.",
        "outcome",
        &rows,
    );
    let p = crate::telemetry::panels::panels();
    o.labelled(
        "xmacro_panel_saves_total",
        "counter",
        "UI extension panel saves (Panel Save commands) by result.",
        "result",
        &[("ok", p.saves_ok.get()), ("failed", p.saves_failed.get())],
    );
    let mut by_state: Vec<(&str, u64)> = vec![
        ("ok", 0),
        ("failing", 0),
        ("compile_error", 0),
        ("waiting", 0),
    ];
    for s in &status.scripts {
        if let Some(row) = by_state.iter_mut().find(|(k, _)| *k == s.state) {
            row.1 += 1;
        }
    }
    o.labelled(
        "xmacro_scripts",
        "gauge",
        "Scripts by state.",
        "state",
        &by_state,
    );
    o.one(
        "xmacro_store_bytes",
        "gauge",
        "Bytes of the script stores on disk.",
        status.store_bytes,
    );
    let audit = crate::audit::counters();
    o.one(
        "xmacro_audit_dropped_total",
        "counter",
        "Audit records lost because the buffer to the database was full (the database slow or down).",
        audit.dropped.get(),
    );
    let denied = audit.denied_by_script();
    let rows: Vec<(&str, u64)> = denied.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    o.labelled(
        "xmacro_denied_total",
        "counter",
        "Calls refused by a script's allow list, by script.",
        "script",
        &rows,
    );
    o.one(
        "xmacro_script_log_lines_suppressed_total",
        "counter",
        "Script log lines not written because a script logged too fast.",
        m.log_lines_suppressed.get(),
    );
    let rollbacks = m.rollbacks();
    let rows: Vec<(&str, u64)> = rollbacks.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    o.labelled(
        "xmacro_rollbacks_total",
        "counter",
        "Changes rolled back after a failure on a canary codec ([rollout]), by script.",
        "script",
        &rows,
    );
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panel_saves_are_counted_by_result() {
        crate::telemetry::panels::panels().saves_failed.inc();
        let s: Status = serde_json::from_value(serde_json::json!({
            "version": "0", "health": "ok", "ready": true, "ready_reason": "",
            "started_at": "", "uptime_seconds": 0, "store_bytes": 0,
            "codecs": [], "scripts": [], "reloads": []
        }))
        .unwrap();
        let text = render(&s);
        assert!(
            text.contains("# TYPE xmacro_panel_saves_total counter"),
            "{text}"
        );
        assert!(
            text.contains("xmacro_panel_saves_total{result=\"failed\"}"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
