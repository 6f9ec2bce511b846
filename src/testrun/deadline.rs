//! The wall-clock limit of the running test (`--test-timeout`): set on the
//! thread that runs it, read by the test file's progress hook and by the
//! waits of `advance` and the other actions, so a test that runs away
//! fails saying why and the next one runs.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The default of `--test-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

thread_local! {
    /// When the running test must end, and its limit (for the message).
    static DEADLINE: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
}

/// Runs `f` with the test's time limit in force on this thread.
pub fn with_deadline<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(None));
        }
    }
    let _clear = Clear;
    DEADLINE.with(|d| d.set(Some((Instant::now() + limit, limit))));
    f()
}

/// The running test's time limit, once it has passed.
pub fn past_deadline() -> Option<String> {
    let (at, limit) = DEADLINE.with(Cell::get)?;
    (Instant::now() >= at).then(|| timeout_message(limit))
}

/// Time the running test has left (`None` outside a test).
pub fn time_left() -> Option<Duration> {
    DEADLINE
        .with(Cell::get)
        .map(|(at, _)| at.saturating_duration_since(Instant::now()))
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
        assert_eq!(past_deadline(), None);
        with_deadline(Duration::ZERO, || {
            assert!(past_deadline().is_some_and(|m| m.contains("of 0s")));
        });
        assert_eq!(past_deadline(), None);
        assert_eq!(time_left(), None);
    }
}
