//! Wall-clock budgets: the deadline of the work running on this thread (a
//! callback, `on_unload`, or a compile with its libraries' top-level code),
//! checked by the engine's progress hook and by every blocking wait
//! (`sleep`, host calls), so no script holds a thread past its budget.
//!
//! The deadline is a thread-local because the engine's progress hook, which
//! enforces it, is called by Rhai with the operation count only: there is
//! no context to carry it in.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rhai::{Dynamic, EvalAltResult, FLOAT, INT, Position};

thread_local! {
    static DEADLINE: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
}

/// How long `sleep` may wait when nothing running has a deadline.
const UNBOUNDED_SLEEP: Duration = Duration::from_secs(5);

/// Runs `f` with a deadline of `budget` from now on this thread; the
/// previous deadline (if any) comes back afterwards, even on a panic.
pub fn with_budget<T>(budget: Duration, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<(Instant, Duration)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(self.0));
        }
    }
    let _restore = Restore(DEADLINE.with(|d| d.replace(Some((Instant::now() + budget, budget)))));
    f()
}

/// Time left before the deadline (`None` without one).
pub fn remaining() -> Option<Duration> {
    DEADLINE.with(|d| {
        d.get()
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    })
}

/// Whether the running work is past its deadline.
pub fn past_deadline() -> bool {
    DEADLINE.with(|d| d.get().is_some_and(|(at, _)| Instant::now() >= at))
}

/// The message of the error that stops work past its deadline.
pub fn exceeded_message() -> String {
    let budget = DEADLINE
        .with(|d| d.get().map(|(_, b)| b))
        .unwrap_or_default();
    format!(
        "ran past its wall-clock budget of {:.1}s",
        budget.as_secs_f64()
    )
}

/// The (uncatchable) error that ends work past its deadline.
pub fn exceeded() -> Box<EvalAltResult> {
    EvalAltResult::ErrorTerminated(Dynamic::from(exceeded_message()), Position::NONE).into()
}

const STOPPING: &str = "the script is stopping";

/// The (uncatchable) error that ends a wait when its instance stops.
pub fn stopping() -> Box<EvalAltResult> {
    EvalAltResult::ErrorTerminated(STOPPING.into(), Position::NONE).into()
}

/// Whether `e` is the error of [`stopping`] (a normal end, not a fault).
pub fn is_stopping(e: &EvalAltResult) -> bool {
    matches!(e, EvalAltResult::ErrorTerminated(v, _) if v.clone().into_string().is_ok_and(|s| s == STOPPING))
}

/// How long a blocking wait of `want` may take, and whether it is cut short
/// by the deadline (then the wait ends with [`exceeded`]).
pub fn bound(want: Duration) -> (Duration, bool) {
    let left = remaining().unwrap_or(UNBOUNDED_SLEEP);
    if want > left {
        (left, true)
    } else {
        (want, false)
    }
}

/// Seconds a script asked to sleep, checked.
pub fn sleep_seconds(secs: FLOAT) -> Result<Duration, Box<EvalAltResult>> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(super::fault::usage(format!(
            "sleep({secs}): the time must be 0 seconds or more"
        )));
    }
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// `sleep(INT)` as seconds.
pub fn int_seconds(secs: INT) -> Result<Duration, Box<EvalAltResult>> {
    sleep_seconds(secs as FLOAT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_longer_than_the_budget_is_cut_to_what_is_left() {
        with_budget(Duration::from_millis(200), || {
            let (wait, cut) = bound(Duration::from_secs(60));
            assert!(cut);
            assert!(wait <= Duration::from_millis(200));
            let (wait, cut) = bound(Duration::from_millis(10));
            assert!(!cut);
            assert_eq!(wait, Duration::from_millis(10));
        });
        assert!(remaining().is_none(), "the deadline ends with its scope");
        assert!(sleep_seconds(-1.0).is_err());
        assert!(sleep_seconds(FLOAT::NAN).is_err());
    }
}
