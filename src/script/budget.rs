//! Wall-clock budgets: the deadline of the work running on this thread (a
//! callback, `on_unload`, or a compile with its libraries' top-level code),
//! checked by the engine's progress hook and by every blocking wait
//! (`sleep`, host calls), so no script holds a thread past its budget.
//!
//! The budget is for the script's own work (and `sleep`, which it asks
//! for). Time spent waiting for its codec is not: a codec that answers late
//! (busy, far away, just rebooted) is not a script running away, and each
//! call has its own request timeout, a catchable error. The deadline moves
//! on by each such wait; the waits of one job together have a bound of
//! their own, so a loop of calls to a codec that never answers in time
//! still ends.
//!
//! The deadline is kept on the thread ([`super::OnThread`]) because the
//! engine's progress hook, which enforces it, is called by Rhai with the
//! operation count only: there is no context to carry it in.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rhai::{Dynamic, EvalAltResult, FLOAT, INT, Position};

/// The running work's budgets on this thread.
#[derive(Clone, Copy)]
pub(crate) struct Deadline {
    /// When its own work runs out (moved on by every wait for the codec).
    at: Instant,
    budget: Duration,
    /// What it may still wait for its codec, and the bound it started with.
    wait_left: Duration,
    wait: Duration,
}

/// Runs `f` with this thread's deadline.
fn deadline<R>(f: impl FnOnce(&Cell<Option<Deadline>>) -> R) -> R {
    super::on_thread(|t| f(&t.deadline))
}

/// How long `sleep` may wait when nothing running has a deadline.
const UNBOUNDED_SLEEP: Duration = Duration::from_secs(5);

/// Runs `f` with a deadline of `budget` from now on this thread, and no
/// waiting for a codec beyond what its own work may take; the previous
/// deadline (if any) comes back afterwards, even on a panic.
pub fn with_budget<T>(budget: Duration, f: impl FnOnce() -> T) -> T {
    with_budgets(budget, Duration::ZERO, f)
}

/// [`with_budget`], and besides it up to `wait` in all spent waiting for
/// the codec (which does not count against `budget`).
pub fn with_budgets<T>(budget: Duration, wait: Duration, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Deadline>);
    impl Drop for Restore {
        fn drop(&mut self) {
            deadline(|d| d.set(self.0));
        }
    }
    let now = Deadline {
        at: Instant::now() + budget,
        budget,
        wait_left: wait,
        wait,
    };
    let _restore = Restore(deadline(|d| d.replace(Some(now))));
    f()
}

/// Time left before the deadline (`None` without one).
pub fn remaining() -> Option<Duration> {
    deadline(|d| {
        d.get()
            .map(|d| d.at.saturating_duration_since(Instant::now()))
    })
}

/// Whether the running work is past its deadline.
pub fn past_deadline() -> bool {
    deadline(|d| d.get().is_some_and(|d| Instant::now() >= d.at))
}

/// How long the running work may wait for its codec now, and the error
/// that ends a wait that reaches it: what is left of its wait bound
/// ([`waited_out`]), or, with none, of its own budget ([`exceeded`]).
/// `None` without a deadline.
pub fn codec_wait() -> Option<(Duration, Ending)> {
    deadline(|d| {
        d.get().map(|d| {
            if d.wait.is_zero() {
                let left = d.at.saturating_duration_since(Instant::now());
                (left, exceeded as Ending)
            } else {
                (d.wait_left, waited_out as Ending)
            }
        })
    })
}

/// Makes the error that ends a wait cut short by a bound.
pub type Ending = fn() -> Box<EvalAltResult>;

/// Takes a finished wait for the codec off the running work's own time
/// (its deadline moves on by it) and off its wait bound.
pub fn waited(took: Duration) {
    deadline(|d| {
        if let Some(mut now) = d.get()
            && !now.wait.is_zero()
        {
            let took = took.min(now.wait_left);
            now.at += took;
            now.wait_left -= took;
            d.set(Some(now));
        }
    })
}

/// The message of the error that stops work past its deadline.
pub fn exceeded_message() -> String {
    let budget = deadline(|d| d.get().map(|d| d.budget)).unwrap_or_default();
    exceeded_message_with(budget, crate::xows::keepalive::host_lag())
}

const OVERLOADED: &str = "ran past its wall-clock budget while this host was overloaded";

/// The message for work past a deadline of `budget` while this process's
/// timers run `lag` late. A budget is wall-clock time: on a host starved
/// of CPU (timers a fifth of the budget late or worse) the time ran out
/// without the script running away, and saying so lets a top level be
/// started again once the load allows ([`is_overloaded`]).
pub fn exceeded_message_with(budget: Duration, lag: Duration) -> String {
    if !budget.is_zero() && lag >= budget / 5 {
        format!(
            "{OVERLOADED} (its budget of {:.1}s ran out with this host's timers {:.1}s late)",
            budget.as_secs_f64(),
            lag.as_secs_f64()
        )
    } else {
        format!(
            "ran past its wall-clock budget of {:.1}s",
            budget.as_secs_f64()
        )
    }
}

/// Whether `e` ended work whose budget ran out while the host was
/// overloaded (see [`exceeded_message_with`]): not the script's own fault.
pub fn is_overloaded(e: &EvalAltResult) -> bool {
    matches!(e, EvalAltResult::ErrorTerminated(v, _) if v.clone().into_string().is_ok_and(|s| s.starts_with(OVERLOADED)))
}

/// The (uncatchable) error that ends work past its deadline.
pub fn exceeded() -> Box<EvalAltResult> {
    EvalAltResult::ErrorTerminated(Dynamic::from(exceeded_message()), Position::NONE).into()
}

const WAITED: &str = "waited for its codec for more than";

/// The (uncatchable) error that ends work whose waits for its codec
/// together passed their bound; at a top level this is not the script's
/// own fault (see [`is_waited_out`]).
pub fn waited_out() -> Box<EvalAltResult> {
    let wait = deadline(|d| d.get().map(|d| d.wait)).unwrap_or_default();
    let msg = format!("{WAITED} {:.1}s in all", wait.as_secs_f64());
    EvalAltResult::ErrorTerminated(msg.into(), Position::NONE).into()
}

/// Whether `e` is the error of [`waited_out`].
pub fn is_waited_out(e: &EvalAltResult) -> bool {
    matches!(e, EvalAltResult::ErrorTerminated(v, _) if v.clone().into_string().is_ok_and(|s| s.starts_with(WAITED)))
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
    fn waiting_for_the_codec_moves_the_deadline_on_up_to_its_own_bound() {
        let ms = Duration::from_millis;
        with_budgets(ms(200), ms(1000), || {
            assert_eq!(codec_wait().unwrap().0, ms(1000));
            let before = remaining().unwrap();
            waited(ms(300));
            assert!(remaining().unwrap() > before, "the deadline moved on");
            assert_eq!(codec_wait().unwrap().0, ms(700));
            waited(ms(5000));
            assert_eq!(codec_wait().unwrap().0, Duration::ZERO);
            assert!(is_waited_out(&waited_out()));
            let e = waited_out();
            assert!(
                matches!(*e, EvalAltResult::ErrorTerminated(ref v, _) if v.to_string().contains("more than 1.0s in all")),
                "{e:?}"
            );
        });
        // Without a bound for waits, a wait is the work's own time.
        with_budget(ms(200), || {
            assert!(codec_wait().unwrap().0 <= ms(200));
            let before = remaining().unwrap();
            waited(ms(100));
            assert!(remaining().unwrap() <= before);
        });
        assert!(codec_wait().is_none());
    }

    #[test]
    fn a_budget_that_runs_out_on_a_starved_host_is_not_blamed_on_the_script() {
        let s = Duration::from_secs;
        let own = exceeded_message_with(s(5), Duration::from_millis(200));
        assert_eq!(own, "ran past its wall-clock budget of 5.0s");
        let starved = exceeded_message_with(s(5), s(2));
        assert!(
            starved.contains("overloaded") && starved.contains("2.0s late"),
            "{starved}"
        );
        let e = |m: String| EvalAltResult::ErrorTerminated(m.into(), Position::NONE);
        assert!(is_overloaded(&e(starved)));
        assert!(!is_overloaded(&e(own)));
    }

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
