//! The engine test files run in, with the limits scripts have: value sizes,
//! expression and call depth, printing of deeply nested values, imports
//! only from the tests directory, no `eval`, a memory budget, and on top a
//! wall-clock limit per test (`--test-timeout`, see [`super::deadline`]).
//! The thread that runs the tests has a script worker's stack.
//!
//! Test files also see their top-level `const`s inside their `fn`s, as
//! scripts do (Rhai's own functions see only their parameters).
//!
//! Memory is counted as for a script instance ([`crate::script::memory`]):
//! what the test file's own code allocates goes to the file's account,
//! checked against the budget by the progress hook; what the runner does on
//! the test's behalf (rooms, simulators, schemas) goes to an account
//! without a budget ([`Accounts::harness`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use rhai::{Dynamic, Engine};

use super::api;
use crate::script::limits::{MAX_ARRAY, MAX_CALL_DEPTH, MAX_MAP, MAX_STRING};
use crate::script::memory::{self, Account};

/// Rhai operations one test may take.
pub const MAX_OPERATIONS: u64 = 50_000_000;

/// A file's top-level constants, by name, for its functions to read.
pub type Constants = Arc<RwLock<HashMap<String, Dynamic>>>;

/// The memory accounts of a run.
pub struct Accounts {
    /// What test files allocate, limited to `budget` bytes.
    pub tests: Account,
    /// What the runner allocates for the tests (uncounted).
    pub harness: Arc<Account>,
    pub budget: u64,
}

impl Accounts {
    /// Accounts whose test files may hold `budget` bytes (a script
    /// instance's memory limit).
    pub fn new(budget: u64) -> Accounts {
        Accounts {
            tests: Account::new(),
            harness: Arc::new(Account::new()),
            budget,
        }
    }

    /// Runs test-file code against the tests' budget.
    pub fn run_test_code<T>(&self, f: impl FnOnce() -> T) -> T {
        self.tests.enter(self.budget, f)
    }
}

/// The engine for one test file in `dir`: the standard library, the test
/// API (`tests` collects what `test(...)` declares) and the file's
/// constants (filled once its top level has run).
pub fn engine(
    dir: &Path,
    tests: api::Declarations,
    constants: Constants,
    deadline: super::deadline::Deadline,
) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(MAX_OPERATIONS)
        .set_max_call_levels(MAX_CALL_DEPTH)
        .set_max_expr_depths(64, 32)
        .set_max_string_size(MAX_STRING)
        .set_max_array_size(MAX_ARRAY)
        .set_max_map_size(MAX_MAP)
        .set_max_modules(64)
        .disable_symbol("eval")
        .set_module_resolver(crate::script::loader::SandboxResolver::new(
            dir.to_path_buf(),
        ));
    engine.on_progress(move |ops| {
        if ops % 4 == 0
            && let Some(limit) = memory::over_budget()
        {
            return Some(memory::exceeded_message(limit).into());
        }
        if ops % 512 == 0 {
            return deadline.past().map(|late| late.to_string().into());
        }
        None
    });
    #[allow(deprecated)]
    engine.on_var(move |name, index, ctx| {
        // A local (or a parameter) of the same name wins.
        if index > 0 || ctx.scope().contains(name) {
            return Ok(None);
        }
        let constants = constants.read().unwrap_or_else(|p| p.into_inner());
        Ok(constants.get(name).map(|v| v.clone().into_read_only()))
    });
    crate::script::depth::register(&mut engine);
    api::register(&mut engine, tests);
    engine
}

/// The constants a file's top level left in `scope`.
pub fn constants_of(scope: &rhai::Scope) -> HashMap<String, Dynamic> {
    scope
        .iter()
        .filter(|(_, constant, _)| *constant)
        .map(|(name, _, value)| (name.to_string(), value))
        .collect()
}
