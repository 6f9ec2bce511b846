//! `xmacro status`: the status as aligned text tables for a terminal, and
//! the exit code that says how healthy the host is. Everything in the
//! status may come from scripts (names, errors a script threw), so every
//! control character is shown escaped: an answer cannot set the terminal's
//! title, clear it, or forge a line.

use super::snapshot::Status;
use crate::log::safe::escape;

/// Columns padded to the widest cell (control characters escaped); the
/// last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escape(c).into_owned()).collect())
        .collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn short_time(t: &str) -> String {
    // 2026-11-21T21:40:00.123Z -> 2026-11-21 21:40:00
    t.get(..19).unwrap_or(t).replace('T', " ")
}

fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The tables.
pub fn render(s: &Status) -> String {
    let head = format!(
        "xmacro {} · {} · {} · up {} · stores {} bytes",
        s.version,
        s.health,
        if s.ready {
            "ready".to_string()
        } else {
            format!("not ready ({})", s.ready_reason)
        },
        duration(s.uptime_seconds),
        s.store_bytes
    );
    let mut out = format!("{}\n", escape(&head));
    let mut rows = vec![
        [
            "CODEC",
            "STATE",
            "CONNECTED SINCE",
            "RTT",
            "RECONNECTS",
            "LAST ERROR",
            "PANELS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for c in &s.codecs {
        rows.push(vec![
            c.name.clone(),
            c.state.clone(),
            c.connected_since
                .as_deref()
                .map(short_time)
                .unwrap_or_else(|| "-".into()),
            c.rtt_ms
                .map(|ms| format!("{ms:.1} ms"))
                .unwrap_or_else(|| "-".into()),
            c.reconnects.to_string(),
            clip(c.last_error.as_deref().unwrap_or(""), 60),
            clip(&panels_cell(&c.panels), 60),
        ]);
    }
    out.push('\n');
    out.push_str(&table(&rows));
    let mut rows = vec![
        [
            "SCRIPT",
            "STATE",
            "VERSION",
            "INSTANCES",
            "ERRORS",
            "LAST ERROR",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for sc in &s.scripts {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for i in &sc.instances {
            match counts.iter_mut().find(|(k, _)| *k == i.state) {
                Some(c) => c.1 += 1,
                None => counts.push((i.state.clone(), 1)),
            }
        }
        let instances = counts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ");
        // Errors of the running version; those of versions no longer
        // running are shown apart, and their message is not repeated.
        let running: u64 = sc.instances.iter().map(|i| i.errors).sum();
        let older = sc.errors.saturating_sub(running);
        let errors = match older {
            0 => running.to_string(),
            n => format!("{running} (+{n} older)"),
        };
        let err = sc
            .compile_error
            .as_ref()
            .or_else(|| {
                sc.instances
                    .iter()
                    .filter_map(|i| i.last_error.as_ref())
                    .max_by(|a, b| a.at.cmp(&b.at))
            })
            .or(sc.last_error.as_ref().filter(|_| running > 0))
            .map(|e| clip(&e.message, 60))
            .unwrap_or_default();
        rows.push(vec![
            sc.name.clone(),
            sc.state.clone(),
            sc.version
                .as_deref()
                .map(|v| v.chars().take(8).collect())
                .unwrap_or_else(|| "-".into()),
            if instances.is_empty() {
                "-".into()
            } else {
                instances
            },
            errors,
            err,
        ]);
    }
    out.push('\n');
    out.push_str(&table(&rows));
    out
}

/// A codec's panels in a cell: how many are in sync, and those out of
/// sync with why.
pub fn panels_cell(p: &super::snapshot::PanelsStatus) -> String {
    let mut out = if p.in_sync.is_empty() && p.failing.is_empty() {
        String::new()
    } else {
        format!("{} in sync", p.in_sync.len())
    };
    for (id, why) in &p.failing {
        out.push_str(&format!("; OUT OF SYNC {id}: {why}"));
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_codecs_panels_cell_says_how_many_are_in_sync_and_which_are_out_with_why() {
        let mut p = crate::ops::snapshot::PanelsStatus {
            in_sync: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        assert_eq!(panels_cell(&p), "2 in sync");
        p.failing.insert("c".into(), "Invalid XML".into());
        assert_eq!(panels_cell(&p), "2 in sync; OUT OF SYNC c: Invalid XML");
        assert_eq!(panels_cell(&Default::default()), "");
    }
    use super::*;

    #[test]
    fn columns_line_up() {
        let t = table(&[
            vec!["A".into(), "B".into(), "C".into()],
            vec!["long-name".into(), "x".into(), "tail".into()],
        ]);
        assert_eq!(t, "A          B  C\nlong-name  x  tail\n");
        assert_eq!(duration(3725), "1h2m");
        assert_eq!(
            short_time("2026-11-21T21:40:00.123Z"),
            "2026-11-21 21:40:00"
        );
        assert_eq!(clip("abcdef", 4), "abc…");
    }

    #[test]
    fn errors_of_a_version_no_longer_running_are_counted_apart_from_the_running_ones() {
        let status: Status = serde_json::from_value(serde_json::json!({
            "version": "0", "health": "ok", "ready": true, "ready_reason": "",
            "started_at": "", "uptime_seconds": 1, "store_bytes": 0, "codecs": [],
            "scripts": [{"name": "fixed", "file": "fixed.rhai", "state": "ok",
                         "version": "0000000000000002", "loaded_at": null, "errors": 2,
                         "last_error": {"at": "", "message": "fixed.rhai:3:1: old mistake", "codec": null},
                         "compile_error": null,
                         "instances": [{"codec": "room", "state": "running", "since": "",
                                        "errors": 0, "last_error": null}],
                         "logs": []}],
            "reloads": []
        }))
        .unwrap();
        let out = render(&status);
        let row = out.lines().find(|l| l.starts_with("fixed")).unwrap();
        assert!(
            row.contains(" ok ") && row.contains("0 (+2 older)"),
            "{row}"
        );
        assert!(!row.contains("old mistake"), "{row}");
    }

    #[test]
    fn text_from_the_host_cannot_drive_the_terminal() {
        let evil = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\r\u{9b}H\n";
        let status: Status = serde_json::from_value(serde_json::json!({
            "version": "0", "health": "degraded", "ready": false,
            "ready_reason": format!("codec {evil} not tried"),
            "started_at": "", "uptime_seconds": 1, "store_bytes": 0,
            "codecs": [{"name": format!("room{evil}"), "url": "ws://h/ws", "tags": [],
                        "state": format!("failed{evil}"), "connected_since": null,
                        "last_error": format!("boom{evil}"), "reconnects": 0,
                        "retry_in_seconds": null, "rtt_ms": null}],
            "scripts": [{"name": format!("s{evil}"), "file": "s.rhai", "state": "failing",
                         "version": format!("v{evil}"), "loaded_at": null, "errors": 1,
                         "last_error": {"at": "", "message": format!("s.rhai:1:1: {evil}"), "codec": null},
                         "compile_error": null,
                         "instances": [{"codec": "room", "state": format!("x{evil}"), "since": "",
                                        "errors": 1, "last_error": null}],
                         "logs": []}],
            "reloads": []
        }))
        .unwrap();
        let out = render(&status);
        for c in out.chars() {
            assert!(
                c == '\n' || !c.is_control(),
                "a control character {c:?} reached the terminal:\n{out}"
            );
        }
        assert!(out.contains("PWNED") && out.contains("\\u{1b}]0;"), "{out}");
        assert_eq!(out.lines().count(), 7, "one line per row:\n{out}");
    }
}
