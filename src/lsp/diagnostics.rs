//! Checking files off the message loop: a worker thread takes each
//! changed file, waits until the changes pause ([`DEBOUNCE`], at most
//! [`MAX_DELAY`] in a burst), checks it the way `xmacro check` does, and
//! publishes the findings; a result a newer change has overtaken is
//! dropped, never shown.
//!
//! A file's check is its compile (syntax, and each import: a library that
//! is missing or does not compile is marked at the import) and, against
//! the schema, every literal xAPI path, command parameter and argument
//! value ([`crate::check::scan`]).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use lsp_types::{
    Diagnostic, DiagnosticSeverity, NumberOrString, PublishDiagnosticsParams, Range, Uri,
};

use super::documents::{self, Doc};
use super::transport::Out;
use super::workspace::{Place, Workspace};
use crate::check;
use crate::script::{engine, lex, loader};

/// How long a file must stay unchanged before it is checked.
pub const DEBOUNCE: Duration = Duration::from_millis(100);
/// The longest a change waits in a burst of changes.
pub const MAX_DELAY: Duration = Duration::from_millis(400);

enum Job {
    Check(Doc),
    Forget(Uri),
}

/// The handle of the checking thread; it ends when this is dropped.
pub struct Checker(Sender<Job>);

impl Checker {
    /// Starts the thread; findings go to `out`.
    pub fn start(ws: Arc<Workspace>, out: Out) -> Checker {
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("lsp-checker".into())
            .spawn(move || run(&rx, &ws, &out))
            .expect("a thread can be started");
        Checker(tx)
    }

    /// Checks `doc` once its changes pause.
    pub fn check(&self, doc: Doc) {
        let _ = self.0.send(Job::Check(doc));
    }

    /// Clears a closed file's findings.
    pub fn forget(&self, uri: Uri) {
        let _ = self.0.send(Job::Forget(uri));
    }
}

fn run(rx: &Receiver<Job>, ws: &Workspace, out: &Out) {
    let mut engines: HashMap<PathBuf, Arc<rhai::Engine>> = HashMap::new();
    let mut pending: HashMap<String, (Doc, Instant)> = HashMap::new();
    let mut closed: HashSet<String> = HashSet::new();
    loop {
        // Wait for work, then for the changes to pause.
        if pending.is_empty() {
            match rx.recv() {
                Ok(job) => take(job, &mut pending, &mut closed, out),
                Err(_) => return,
            }
        }
        let oldest = pending.values().map(|(_, t)| *t).min();
        let Some(oldest) = oldest else { continue };
        let wait = DEBOUNCE.min(MAX_DELAY.saturating_sub(oldest.elapsed()));
        match rx.recv_timeout(wait) {
            Ok(job) => {
                take(job, &mut pending, &mut closed, out);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let Some(key) = pending.keys().next().cloned() else {
            continue;
        };
        let Some((doc, _)) = pending.remove(&key) else {
            continue;
        };
        let place = ws.place(&doc.uri);
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            diagnose(ws, &place, &doc.text, &mut engines)
        }))
        .unwrap_or_else(|_| {
            vec![note(
                Range::default(),
                DiagnosticSeverity::ERROR,
                "xmacro lsp failed to check this file (a bug: please report it with the file)"
                    .into(),
            )]
        });
        // A change that came meanwhile makes these findings stale; a file
        // closed meanwhile keeps its cleared list.
        while let Ok(job) = rx.try_recv() {
            take(job, &mut pending, &mut closed, out);
        }
        if pending.contains_key(&key) || closed.contains(&key) {
            continue;
        }
        out.notify(
            "textDocument/publishDiagnostics",
            PublishDiagnosticsParams {
                uri: doc.uri.clone(),
                diagnostics: found,
                version: Some(doc.version),
            },
        );
    }
}

fn take(
    job: Job,
    pending: &mut HashMap<String, (Doc, Instant)>,
    closed: &mut HashSet<String>,
    out: &Out,
) {
    match job {
        Job::Check(doc) => {
            closed.remove(doc.uri.as_str());
            let since = pending
                .get(doc.uri.as_str())
                .map_or_else(Instant::now, |(_, t)| *t);
            pending.insert(doc.uri.as_str().to_string(), (doc, since));
        }
        Job::Forget(uri) => {
            pending.remove(uri.as_str());
            closed.insert(uri.as_str().to_string());
            out.notify(
                "textDocument/publishDiagnostics",
                PublishDiagnosticsParams {
                    uri,
                    diagnostics: Vec::new(),
                    version: None,
                },
            );
        }
    }
}

fn note(range: Range, severity: DiagnosticSeverity, message: String) -> Diagnostic {
    Diagnostic {
        range,
        severity: Some(severity),
        source: Some("xmacro".into()),
        message,
        ..Default::default()
    }
}

/// The findings in `text`, the file at `place`: its compile error, if
/// any, and the schema's findings. `engines` keeps one engine per scripts
/// folder.
pub fn diagnose(
    ws: &Workspace,
    place: &Place,
    text: &str,
    engines: &mut HashMap<PathBuf, Arc<rhai::Engine>>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if place.outside {
        out.push(note(
            Range::default(),
            DiagnosticSeverity::INFORMATION,
            format!(
                "this file is outside the scripts folder {}: `xmacro run` does not load it, and its imports are read from its own folder",
                ws.scripts.display()
            ),
        ));
    }
    if let Some(problem) = compile_problem(place, text, engines) {
        out.push(problem);
    }
    let model = ws.model();
    for f in check::scan(&place.name, text, &model.schema) {
        let mut d = note(
            documents::range(text, f.span.line, f.span.col, f.span.len),
            DiagnosticSeverity::WARNING,
            f.message,
        );
        d.code = Some(NumberOrString::String("xapi".into()));
        out.push(d);
    }
    out
}

/// Where `text` imports `library` (`lib/x.rhai`): the place of the path.
fn import_of(text: &str, library: &str) -> Option<(usize, usize)> {
    let tokens = lex::lex(text);
    tokens
        .windows(2)
        .find_map(|w| match (&w[0].token, &w[1].token) {
            (rhai::Token::Import, rhai::Token::StringConstant(p))
                if p.as_str() == library || format!("{p}.rhai") == library =>
            {
                Some((w[1].at.line()?, w[1].at.position()?))
            }
            _ => None,
        })
}

/// The compile error of `text`, marked where it is (or at the import whose
/// library failed).
fn compile_problem(
    place: &Place,
    text: &str,
    engines: &mut HashMap<PathBuf, Arc<rhai::Engine>>,
) -> Option<Diagnostic> {
    let e = match &place.dir {
        Some(dir) => {
            let engine = engines
                .entry(dir.clone())
                .or_insert_with(|| engine::build(dir.clone(), 1_000_000));
            loader::compile_text(engine, &place.name, text).err()?
        }
        // Not a file on disk: syntax only, imports cannot be looked up.
        None => {
            let e = engine::parser().compile(text).err()?;
            let at = e.position();
            loader::CompileError {
                message: e.err_type().to_string(),
                at: at.line().map(|l| (l, at.position().unwrap_or(1))),
                import: None,
            }
        }
    };
    let (line, col) =
        e.at.or_else(|| e.import.as_deref().and_then(|lib| import_of(text, lib)))
            .unwrap_or((1, 1));
    let own = format!("{}:{line}:{col}: ", place.name);
    let message = e
        .message
        .strip_prefix(&own)
        .unwrap_or(&e.message)
        .to_string();
    let len = lex::token_width(documents::line(text, line.saturating_sub(1)), col);
    let mut d = note(
        documents::range(text, line, col, len),
        DiagnosticSeverity::ERROR,
        message,
    );
    d.code = Some(NumberOrString::String("compile".into()));
    Some(d)
}
