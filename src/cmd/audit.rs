//! `xmacro audit`: prints the audit trail (commands and configuration sets
//! scripts made, and calls `allow` refused) from the store's database,
//! newest last, as a table or JSON lines. It opens its own read-only
//! connection, so it works while the host runs.

use std::path::PathBuf;

use crate::audit::{Filter, Outcome, Record, Source};
use crate::cli::AuditArgs;
use crate::config::{Config, DEFAULT_STATE};
use crate::error::AppError;

/// Reads the trail and prints it.
pub fn run(args: AuditArgs) -> Result<(), AppError> {
    let source = source(&args)?;
    let filter = Filter {
        codec: args.codec.clone(),
        script: args.script.clone(),
        since_ms: args
            .since
            .map(|d| crate::audit::now_ms() - d.as_millis() as i64),
        limit: args.limit,
    };
    let records = source
        .reader()
        .and_then(|mut r| r.read(&filter))
        .map_err(|e| AppError::Failed(e.to_string()))?;
    let mut out = String::new();
    if args.json {
        for r in &records {
            out.push_str(&r.to_json().to_string());
            out.push('\n');
        }
    } else {
        out = table(&records);
    }
    super::out::print(&out)
}

/// The trail of `--state`, else of the config's store.
fn source(args: &AuditArgs) -> Result<Source, AppError> {
    if let Some(d) = &args.state {
        return Ok(Source::Dir(d.clone()));
    }
    match crate::config::discover(args.config.as_deref()) {
        Some(file) => {
            let c = Config::load(&file)?;
            Ok(match c.postgres {
                Some(pg) => Source::Postgres(pg.target),
                None => Source::Dir(c.state),
            })
        }
        None => Ok(Source::Dir(PathBuf::from(DEFAULT_STATE))),
    }
}

/// The records as aligned columns; values longer than a column are cut.
pub fn table(records: &[Record]) -> String {
    if records.is_empty() {
        return "no records\n".into();
    }
    let rows: Vec<[String; 7]> = records
        .iter()
        .map(|r| {
            let result = match &r.outcome {
                Outcome::Error { code, reason } => format!("error {code}: {reason}"),
                o => o.as_str().to_string(),
            };
            let mut params = r.params.to_string();
            if let Some(b) = &r.body {
                params.push_str(&format!(
                    " body {} bytes sha256 {}",
                    b.bytes,
                    &b.sha256[..12]
                ));
            }
            [
                r.time(),
                r.codec.clone(),
                r.script.clone(),
                r.version.clone(),
                r.kind.as_str().to_string(),
                format!("{} {}", r.path, cut(&params, 80)),
                cut(&result, 80),
            ]
        })
        .collect();
    let head = [
        "TIME",
        "CODEC",
        "SCRIPT",
        "VERSION",
        "KIND",
        "PATH AND PARAMETERS",
        "RESULT",
    ];
    let mut widths = head.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&head);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
    }
    out
}

fn cut(text: &str, max: usize) -> String {
    let t = crate::log::safe::escape(text).into_owned();
    if t.chars().count() <= max {
        t
    } else {
        let mut s: String = t.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}
