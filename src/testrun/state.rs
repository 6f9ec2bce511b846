//! The state of the test that is running: its virtual clock, its rooms, the
//! scripts' log, and the runtime that drives the simulators and the
//! scripts' codec calls. Also the one rule every action follows: after it,
//! wait until the scripts are idle (no job queued or running, no feedback
//! in flight), then fire the timers that are due, one at a time.
//!
//! The running test's state travels in Rhai's per-call tag, as an
//! instance's context does ([`crate::script::instance::job`]): the runner
//! fills a [`Current`] for the length of one test and calls the test's body
//! with it as the tag, and the test script's functions (`room.load`,
//! `advance`, ...) read it back from their `NativeCallContext`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

use rhai::{Dynamic, Engine};

use super::room::{Logs, Room};
use crate::clock::vclock::VirtualClock;

/// How long the scripts may stay busy after one action before the test
/// fails (a liveness bound, far above anything a test should need).
pub const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// Schemas a run loaded, kept for the next test that names them.
pub type Schemas =
    Arc<std::sync::Mutex<std::collections::HashMap<(PathBuf, String), Arc<crate::schema::Schema>>>>;

/// What a test's actions reach.
pub struct TestState {
    pub rt: Arc<tokio::runtime::Runtime>,
    pub clock: Arc<VirtualClock>,
    pub rooms: Vec<Arc<Room>>,
    pub logs: Logs,
    /// The scripts directory (`room.load` compiles from here).
    pub dir: PathBuf,
    pub engine: Arc<Engine>,
    /// Stores of this test's scripts (in memory, for the whole test).
    pub stores: Arc<super::memstore::MemoryBackend>,
    /// Schemas loaded so far in this run, by file and product.
    pub schemas: Schemas,
    /// The schema `sim()` loads when a test names none.
    pub default_schema: Option<super::DefaultSchema>,
    /// The limits the scripts `room.load` starts run within.
    pub limits: crate::script::limits::Limits,
    /// The memory account the runner's work for the test goes to (not the
    /// test file's budget).
    pub harness: Arc<crate::script::memory::Account>,
    /// Set when a script under test did not compile (exit code 2).
    pub script_error: bool,
    /// The project's panels, saved on every room (`room.panels()`).
    pub panels: Option<std::sync::Arc<super::panels::TestPanels>>,
    /// The test's time limit (`--test-timeout`).
    pub deadline: super::deadline::Deadline,
}

/// The running test's state, as the tag of the calls into its body holds
/// it: filled by the runner for one test, empty outside one.
#[derive(Clone, Default)]
pub struct Current(Arc<Mutex<Option<TestState>>>);

/// Why a test function was called where no test runs.
const OUTSIDE: &str = "this works inside a test(\"name\", || { ... }) only";

impl Current {
    /// The tag to call the test's body with.
    pub fn tag(&self) -> Dynamic {
        Dynamic::from(self.clone())
    }

    /// Installs a test's state (or removes it with `None`), giving back the old.
    pub fn swap(&self, state: Option<TestState>) -> Option<TestState> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *slot, state)
    }
}

/// Runs `f` with the state of the test whose call carries `tag`; what it
/// allocates is the runner's, not the test file's.
pub fn with<T>(
    tag: Option<&Dynamic>,
    f: impl FnOnce(&mut TestState) -> Result<T, String>,
) -> Result<T, String> {
    let current = tag
        .and_then(|t| t.read_lock::<Current>().map(|c| c.clone()))
        .ok_or(OUTSIDE)?;
    let mut slot = match current.0.try_lock() {
        Ok(slot) => slot,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        // A test function called back from inside another (one thread
        // runs the test): refused rather than waiting on itself.
        Err(TryLockError::WouldBlock) => {
            return Err("a test action cannot run inside another".into());
        }
    };
    let t = slot.as_mut().ok_or(OUTSIDE)?;
    let harness = t.harness.clone();
    harness.enter(0, || f(t))
}

/// Why the scripts did not settle after an action.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// Still busy after [`SETTLE_LIMIT`].
    #[error("the scripts were still busy after {}s", SETTLE_LIMIT.as_secs())]
    Busy,
    /// The test ran past its time limit.
    #[error(transparent)]
    TimedOut(#[from] super::deadline::TimedOut),
    /// A time beyond the virtual clock's range.
    #[error("that is {0}")]
    OutOfRange(#[from] crate::clock::vclock::OutOfRange),
}

/// Waits until every script of these rooms is idle and nothing the
/// simulators queued for them is still in flight; at most `limit`, and
/// never past the running test's time limit.
pub async fn quiet(
    rooms: &[Arc<Room>],
    limit: Duration,
    deadline: &super::deadline::Deadline,
) -> Result<(), SettleError> {
    let read = async || {
        Some(rooms.iter().fold((true, 0), |(all, sum), r| {
            let (i, n) = r.idle();
            (all && i, sum + n)
        }))
    };
    let flush = async || {
        let mut any = false;
        for r in rooms {
            any |= r.barrier().await;
        }
        any
    };
    crate::host::idle::wait(read, flush, limit)
        .await
        .map_err(|_| deadline.past().map_or(SettleError::Busy, Into::into))
}

impl TestState {
    /// Runs `fut` on the test's runtime.
    pub fn block<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
        self.rt.block_on(fut)
    }

    /// Waits for the scripts, then fires what is due now, reacting to each.
    pub fn settle(&self) -> Result<(), SettleError> {
        self.advance_to(self.clock.elapsed_ms())
    }

    /// Moves the clock to `target` ms, firing every timer due on the way in
    /// order and letting the scripts react to each before the next; refused
    /// beyond the clock's range, and stopped at the test's time limit.
    pub fn advance_to(&self, target: u64) -> Result<(), SettleError> {
        self.clock.check(target)?;
        let rooms = self.rooms.clone();
        let clock = self.clock.clone();
        let deadline = self.deadline.clone();
        let limit = deadline
            .time_left()
            .map_or(SETTLE_LIMIT, |l| l.min(SETTLE_LIMIT));
        self.block(async move {
            quiet(&rooms, limit, &deadline).await?;
            while clock.fire_next(target) {
                if let Some(late) = deadline.past() {
                    return Err(late.into());
                }
                let limit = deadline
                    .time_left()
                    .map_or(SETTLE_LIMIT, |l| l.min(SETTLE_LIMIT));
                quiet(&rooms, limit, &deadline).await?;
            }
            Ok(())
        })
    }
}
