//! The wall-clock limit of the running test (`--test-timeout`): set by the
//! runner around each test, read by the test file's progress hook and by
//! the waits of `advance` and the other actions, so a test that runs away
//! fails saying why and the next one runs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The default of `--test-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// When the running test (or test file's top level) must end, and its
/// limit (for the message). One per run: the test engine's progress hook
/// holds a clone, and the test's state another, so each reader has it in
/// hand (no thread-local).
#[derive(Clone, Default)]
pub struct Deadline(Arc<Mutex<Option<(Instant, Duration)>>>);

impl Deadline {
    fn get(&self) -> Option<(Instant, Duration)> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, to: Option<(Instant, Duration)>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }

    /// Runs `f` with the test's time limit in force.
    pub fn enter<T>(&self, limit: Duration, f: impl FnOnce() -> T) -> T {
        struct Clear<'a>(&'a Deadline);
        impl Drop for Clear<'_> {
            fn drop(&mut self) {
                self.0.set(None);
            }
        }
        let _clear = Clear(self);
        self.set(Some((Instant::now() + limit, limit)));
        f()
    }

    /// The running test's time limit, once it has passed.
    pub fn past(&self) -> Option<TimedOut> {
        let (at, limit) = self.get()?;
        (Instant::now() >= at).then_some(TimedOut { limit })
    }

    /// Time the running test has left (`None` outside a test).
    pub fn time_left(&self) -> Option<Duration> {
        self.get()
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }
}

/// A test stopped for running past its time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", timeout_message(*limit))]
pub struct TimedOut {
    /// The limit it ran past.
    pub limit: Duration,
}

/// Why a test was stopped for taking too long.
pub fn timeout_message(limit: Duration) -> String {
    format!(
        "the test ran past its time limit of {} (--test-timeout)",
        shown(limit)
    )
}

/// `2s`, `1500ms`: a duration as `--test-timeout` takes it.
pub fn shown(d: Duration) -> String {
    match d.as_millis() {
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(shown(Duration::from_secs(2)), "2s");
        assert_eq!(shown(Duration::from_secs(60)), "60s");
        assert_eq!(shown(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn the_deadline_holds_only_inside_its_test() {
        let deadline = Deadline::default();
        assert_eq!(deadline.past(), None);
        deadline.enter(Duration::ZERO, || {
            assert!(
                deadline
                    .past()
                    .is_some_and(|m| m.to_string().contains("of 0s"))
            );
        });
        assert_eq!(deadline.past(), None);
        assert_eq!(deadline.time_left(), None);
    }
}
