//! `xmacro test`: integrators test their macros against simulated rooms on
//! a virtual clock. Every `*.test.rhai` file under a directory declares
//! tests with `test("name", || { ... })`; each test gets fresh rooms
//! (in-process simulators), a fresh virtual clock, and the scripts it loads
//! from the directory. Actions wait until the scripts are idle, so results
//! do not depend on timing.
//!
//! - [`api`]: what test files call.
//! - [`cli`]: the command line and its output.
//! - [`memstore`]: the scripts' stores, in memory.
//! - [`record`]: recorded feedback files (`feedback --record`, `room.replay`).
//! - [`room`]: one simulated room and the scripts loaded on it.
//! - [`state`]: the running test's state and the idle rule.
//! - [`report`]: text lines, the summary and JUnit XML.

pub mod api;
pub mod cli;
pub mod memstore;
pub mod record;
pub mod report;
pub mod room;
pub mod state;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rhai::Engine;

use report::{Outcome, Summary, TestResult};
use state::TestState;

/// Where a test's clock starts (a Monday morning), in UTC unless the test
/// calls `set_zone`.
pub const START: &str = "2026-01-05 09:00";

/// How many of the scripts' last log lines a failure shows.
const LOG_TAIL: usize = 10;

/// What `xmacro test` runs.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Searched for `*.test.rhai`; scripts load from here too.
    pub dir: PathBuf,
    /// Only tests whose file or name contains this text.
    pub filter: Option<String>,
}

/// Why nothing could be run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("{0}: {1}")]
    Dir(String, String),
    #[error("{0}")]
    Compile(String),
    #[error("cannot start the test runtime: {0}")]
    Runtime(String),
}

/// The `*.test.rhai` files under `dir`, sorted, relative to it.
pub fn discover(dir: &Path) -> Result<Vec<String>, TestError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if name.ends_with(".test.rhai") {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                out.push(rel.to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)
        .map_err(|e| TestError::Dir(dir.display().to_string(), e.to_string()))?;
    out.sort();
    Ok(out)
}

/// The engine test files run in: the standard library plus the test API.
fn test_engine(tests: api::Declarations) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(50_000_000)
        .set_max_call_levels(64);
    api::register(&mut engine, tests);
    engine
}

/// Runs every test under `opts.dir`; `each` sees each result as it ends.
pub fn run(opts: &TestOptions, mut each: impl FnMut(&TestResult)) -> Result<Summary, TestError> {
    let files = discover(&opts.dir)?;
    let rt = Arc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TestError::Runtime(e.to_string()))?,
    );
    let scripts_engine = crate::script::engine::build(
        opts.dir.clone(),
        crate::script::instance::Limits::default().max_operations,
    );
    let mut summary = Summary::default();
    let schemas = state::Schemas::default();
    for file in files {
        let declared: api::Declarations = Arc::default();
        let engine = test_engine(declared.clone());
        let path = opts.dir.join(&file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| TestError::Dir(path.display().to_string(), e.to_string()))?;
        let ast = engine.compile(&text).map_err(|e| {
            let at = match (e.1.line(), e.1.position()) {
                (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
                _ => file.clone(),
            };
            TestError::Compile(format!("{at}: {}", e.0))
        })?;
        if let Err(e) = engine.run_ast(&ast) {
            return Err(TestError::Compile(crate::script::instance::describe_error(
                &file, &e,
            )));
        }
        let tests = declared.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for t in tests {
            let wanted = opts
                .filter
                .as_ref()
                .is_none_or(|f| t.name.contains(f.as_str()) || file.contains(f.as_str()));
            if !wanted {
                continue;
            }
            let r = run_one(
                &rt,
                &scripts_engine,
                &schemas,
                &opts.dir,
                (&engine, &ast, &file),
                &t,
            );
            each(&r);
            summary.results.push(r);
        }
    }
    Ok(summary)
}

fn run_one(
    rt: &Arc<tokio::runtime::Runtime>,
    scripts: &Arc<Engine>,
    schemas: &state::Schemas,
    dir: &Path,
    (engine, ast, file): (&Engine, &rhai::AST, &str),
    t: &api::Declared,
) -> TestResult {
    let started = Instant::now();
    let start = chrono::NaiveDateTime::parse_from_str(START, "%Y-%m-%d %H:%M").unwrap_or_default();
    let logs: room::Logs = Arc::new(Mutex::new(Vec::new()));
    state::swap(Some(TestState {
        rt: rt.clone(),
        clock: Arc::new(crate::vclock::VirtualClock::new(start, chrono_tz::Tz::UTC)),
        rooms: Vec::new(),
        logs: logs.clone(),
        dir: dir.to_path_buf(),
        engine: scripts.clone(),
        stores: Arc::new(memstore::MemoryBackend::default()),
        schemas: schemas.clone(),
        script_error: false,
    }));
    let result = t.body.call::<rhai::Dynamic>(engine, ast, ());
    let done = state::swap(None);
    let mut script_error = false;
    if let Some(done) = done {
        script_error = done.script_error;
        let rooms = done.rooms.clone();
        done.block(async move {
            for r in rooms {
                r.stop().await;
            }
        });
    }
    let outcome = match result {
        Ok(_) => Outcome::Passed,
        Err(e) => {
            let mut why = crate::script::instance::describe_error(file, &e);
            let lines = logs.lock().unwrap_or_else(|p| p.into_inner());
            if !lines.is_empty() {
                why.push_str("\nlast log lines of the scripts under test:");
                for l in lines.iter().skip(lines.len().saturating_sub(LOG_TAIL)) {
                    why.push_str(&format!("\n  [{}] {}: {}", l.script, l.level, l.text));
                }
            }
            if script_error {
                Outcome::Error(why)
            } else {
                Outcome::Failed(why)
            }
        }
    };
    TestResult {
        file: file.to_string(),
        name: t.name.clone(),
        outcome,
        took: started.elapsed(),
    }
}
