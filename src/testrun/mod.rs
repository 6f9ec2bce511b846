//! `xmacro test`: integrators test their macros against simulated rooms on
//! a virtual clock. Every `*.test.rhai` file under a directory declares
//! tests with `test("name", || { ... })`; each test gets fresh rooms
//! (in-process simulators), a fresh virtual clock, and the scripts it loads
//! from the directory. Actions wait until the scripts are idle, so results
//! do not depend on timing. The command (`xmacro test`, its arguments and
//! its exit code) is [`crate::cmd::test`]; this is the runner it drives.
//!
//! - [`api`]: what test files call.
//! - [`deadline`]: the time limit of the running test.
//! - [`memstore`]: the scripts' stores, in memory.
//! - [`record`]: recorded feedback files (`feedback --record`, `room.replay`).
//! - [`room`]: one simulated room and the scripts loaded on it.
//! - [`sandbox`]: the engine test files run in, with the scripts' limits.
//! - [`state`]: the running test's state and the idle rule.
//! - [`report`]: text lines, the summary and JUnit XML.
//! - [`values`]: durations, equality by value, `assert_eq`.

pub mod api;
pub mod deadline;
pub mod memstore;
pub mod panels;
pub mod record;
pub mod report;
pub mod room;
pub mod sandbox;
pub mod state;
pub mod values;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rhai::Engine;

use crate::script::limits::Limits;

use report::{Outcome, Summary, TestResult};
use state::TestState;

/// Where a test's clock starts (a Monday morning), in UTC unless the test
/// calls `set_zone`.
pub const START: &str = "2026-01-05 09:00";

/// How many of the scripts' last log lines a failure shows.
const LOG_TAIL: usize = 10;

/// The name a test file's own error is reported under (it does not
/// compile, or its top level fails), in place of its tests.
pub const FILE_CASE: &str = "(the test file)";

/// What `xmacro test` runs.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Searched for `*.test.rhai`; scripts load from here too.
    pub dir: PathBuf,
    /// Only tests whose file or name contains this text.
    pub filter: Option<String>,
    /// The schema `sim()` loads when a test names none (`--schema`).
    pub schema: Option<DefaultSchema>,
    /// How long one test may take (`--test-timeout`).
    pub timeout: Duration,
    /// The limits the scripts under test run within: the host's, so a
    /// test passes only under the limits `xmacro run` applies.
    pub limits: Limits,
    /// The project's panels, saved on every room a test creates.
    pub panels: Option<std::sync::Arc<panels::TestPanels>>,
}

impl TestOptions {
    /// Every test under `dir`, built-in rooms, the default time limit.
    pub fn new(dir: impl Into<PathBuf>) -> TestOptions {
        TestOptions {
            dir: dir.into(),
            filter: None,
            schema: None,
            timeout: deadline::DEFAULT_TIMEOUT,
            limits: Limits::default(),
            panels: None,
        }
    }
}

/// `--schema FILE --product NAME`: the room `sim()` starts by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultSchema {
    pub file: PathBuf,
    pub product: String,
}

/// Why nothing could be run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("{0}: {1}")]
    Dir(String, String),
    #[error("cannot start the test runtime: {0}")]
    Runtime(String),
}

/// The `*.test.rhai` files under `dir`, sorted, relative to it.
pub fn discover(dir: &Path) -> Result<Vec<String>, TestError> {
    crate::script::files::tests(dir)
        .map_err(|e| TestError::Dir(dir.display().to_string(), e.to_string()))
}

/// Runs every test under `opts.dir`; `each` sees each result as it ends.
/// A test file that does not compile (or whose top level fails) is that
/// file's error ([`FILE_CASE`]), and the other files still run. The tests
/// run on a thread with a script worker's stack.
pub fn run(opts: &TestOptions, each: impl FnMut(&TestResult) + Send) -> Result<Summary, TestError> {
    let files = discover(&opts.dir)?;
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("xmacro-test".into())
            .stack_size(crate::script::pool::STACK)
            .spawn_scoped(s, || run_files(opts, &files, each))
            .map_err(|e| TestError::Runtime(e.to_string()))?
            .join()
            .map_err(|_| TestError::Runtime("the test runner panicked".into()))?
    })
}

/// What every test of a run shares.
struct Run<'a> {
    opts: &'a TestOptions,
    rt: Arc<tokio::runtime::Runtime>,
    scripts: Arc<Engine>,
    schemas: state::Schemas,
    accounts: sandbox::Accounts,
    /// The running test's time limit (the test engines' progress hooks
    /// and the test's state read it).
    deadline: deadline::Deadline,
    /// The running test's state, carried in the tag of the calls into it.
    current: state::Current,
}

fn run_files(
    opts: &TestOptions,
    files: &[String],
    mut each: impl FnMut(&TestResult),
) -> Result<Summary, TestError> {
    let run = Run {
        opts,
        rt: Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| TestError::Runtime(e.to_string()))?,
        ),
        scripts: crate::script::engine::build(opts.dir.clone(), opts.limits.max_operations),
        schemas: state::Schemas::default(),
        accounts: sandbox::Accounts::new(opts.limits.memory),
        deadline: deadline::Deadline::default(),
        current: state::Current::default(),
    };
    let mut summary = Summary::default();
    let mut report = |r: TestResult| {
        each(&r);
        summary.results.push(r);
    };
    for file in files {
        let started = Instant::now();
        let declared: api::Declarations = Arc::default();
        let constants = sandbox::Constants::default();
        let engine = sandbox::engine(
            &opts.dir,
            declared.clone(),
            constants.clone(),
            run.deadline.clone(),
        );
        let ast = match load_file(&run, &engine, file, &constants) {
            Ok(ast) => ast,
            Err(why) => {
                report(TestResult {
                    file: file.clone(),
                    name: FILE_CASE.into(),
                    outcome: Outcome::Error(why),
                    took: started.elapsed(),
                });
                continue;
            }
        };
        let tests = declared.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for t in tests {
            let wanted = opts
                .filter
                .as_ref()
                .is_none_or(|f| t.name.contains(f.as_str()) || file.contains(f.as_str()));
            if wanted {
                report(run_one(&run, (&engine, &ast, file), &t));
            }
        }
    }
    Ok(summary)
}

/// Reads, compiles and runs a test file's top level (which declares its
/// tests); its constants go to `constants`. The error names the place.
fn load_file(
    run: &Run,
    engine: &Engine,
    file: &str,
    constants: &sandbox::Constants,
) -> Result<rhai::AST, String> {
    let path = run.opts.dir.join(file);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("{file}: cannot read it: {e}"))?;
    let ast = engine
        .compile(&text)
        .map_err(|e| match (e.1.line(), e.1.position()) {
            (Some(l), Some(c)) => format!("{file}:{l}:{c}: {}", e.0),
            _ => format!("{file}: {}", e.0),
        })?;
    let mut scope = rhai::Scope::new();
    run.accounts
        .run_test_code(|| {
            run.deadline.enter(run.opts.timeout, || {
                engine.run_ast_with_scope(&mut scope, &ast)
            })
        })
        .map_err(|e| crate::script::diagnose::describe_error(file, &e))?;
    *constants.write().unwrap_or_else(|p| p.into_inner()) = sandbox::constants_of(&scope);
    Ok(ast)
}

/// Calls a test's body as `FnPtr::call` would, with `tag` (the test's
/// state) in the call's runtime state, where every test function reads it.
fn call_body(
    engine: &Engine,
    ast: &rhai::AST,
    body: &rhai::FnPtr,
    tag: rhai::Dynamic,
) -> Result<rhai::Dynamic, Box<rhai::EvalAltResult>> {
    let mut global = engine.new_global_runtime_state();
    global.tag = tag;
    global.lib.push(ast.shared_lib().clone());
    let ctx = rhai::NativeCallContext::new_with_all_fields(
        engine,
        body.fn_name(),
        None,
        &global,
        rhai::Position::NONE,
    );
    body.call_raw(&ctx, None, [])
}

fn run_one(
    run: &Run,
    (engine, ast, file): (&Engine, &rhai::AST, &str),
    t: &api::Declared,
) -> TestResult {
    let started = Instant::now();
    let start = chrono::NaiveDateTime::parse_from_str(START, "%Y-%m-%d %H:%M").unwrap_or_default();
    let logs: room::Logs = Arc::new(Mutex::new(Vec::new()));
    run.current.swap(Some(TestState {
        rt: run.rt.clone(),
        clock: Arc::new(crate::clock::vclock::VirtualClock::new(
            start,
            chrono_tz::Tz::UTC,
        )),
        rooms: Vec::new(),
        logs: logs.clone(),
        dir: run.opts.dir.clone(),
        engine: run.scripts.clone(),
        stores: Arc::new(memstore::MemoryBackend::default()),
        schemas: run.schemas.clone(),
        default_schema: run.opts.schema.clone(),
        limits: run.opts.limits.clone(),
        harness: run.accounts.harness.clone(),
        script_error: false,
        panels: run.opts.panels.clone(),
        deadline: run.deadline.clone(),
    }));
    let result = run.deadline.enter(run.opts.timeout, || {
        run.accounts
            .run_test_code(|| call_body(engine, ast, &t.body, run.current.tag()))
    });
    let done = run.current.swap(None);
    let mut script_error = false;
    if let Some(done) = done {
        script_error = done.script_error;
        let rooms = done.rooms.clone();
        let harness = done.harness.clone();
        harness.enter(0, || {
            done.block(async move {
                for r in rooms {
                    r.stop().await;
                }
            })
        });
    }
    let outcome = match result {
        Ok(_) => Outcome::Passed,
        Err(e) => {
            let mut why = crate::script::diagnose::describe_error(file, &e);
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
