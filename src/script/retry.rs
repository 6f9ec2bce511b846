//! A top level stopped by something other than the script's own code is
//! started again. A codec that answers late or not at all just after a
//! reboot, a lost connection, a codec not ready yet: the script would have
//! run, and a room left without its automation until someone edits the
//! file or restarts the host is worse than a second try. What its own code
//! does (a throw, a runaway loop, a budget of its own spent) is not tried
//! again: it would fail the same way, for ever. A budget that ran out
//! while the host itself was starved of CPU (its timers far behind) is
//! the host's doing, not the script's, and is tried again.
//!
//! Here: how a top level ended, which errors are not the script's own,
//! and how long to wait
//! before each try (doubling from a second to a minute, spread out so a
//! fleet that failed together does not come back together).

use std::time::Duration;

use rhai::EvalAltResult;

use crate::xows::error::local_code;

/// How an instance's top level ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopLevelEnd {
    /// It ran through: callbacks run as events come.
    Ran,
    /// Its own code failed or was stopped (or the instance stopped first).
    Failed,
    /// Something other than its code stopped it ([`not_its_own`]): the
    /// host starts it again. The text says what.
    Retry(String),
}

/// The codec's "not ready" (just after a boot).
const NOT_READY: i64 = -31997;

/// The first pause before a top level is started again.
pub const FIRST: Duration = Duration::from_secs(1);
/// The longest pause between tries.
pub const LONGEST: Duration = Duration::from_secs(60);

/// Whether the error that ended a top level came from outside its code: a
/// call to the codec that timed out, found it disconnected or not ready, or
/// a top level whose waits for its codec passed their bound. The script's
/// own throws, its own budget, its limits and its memory are its own.
pub fn not_its_own(e: &EvalAltResult) -> bool {
    let mut e = e;
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
    | EvalAltResult::ErrorInModule(_, inner, _) = e
    {
        e = inner;
    }
    if super::budget::is_waited_out(e) || super::budget::is_overloaded(e) {
        return true;
    }
    let EvalAltResult::ErrorRuntime(v, _) = e else {
        return false;
    };
    let code = v
        .read_lock::<rhai::Map>()
        .and_then(|m| m.get("code").and_then(|c| c.as_int().ok()));
    matches!(
        code,
        Some(local_code::TIMEOUT | local_code::DISCONNECTED | local_code::OTHER | NOT_READY)
    )
}

/// The pause before try `attempt` (1 for the first retry): [`FIRST`],
/// doubling up to [`LONGEST`], each stretched by `spread` (0 to 1) up to
/// half as long again.
pub fn pause(attempt: u32, spread: f64) -> Duration {
    let doubled = FIRST.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    doubled
        .min(LONGEST)
        .mul_f64(1.0 + spread.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::fault;
    use crate::xows::protocol::RpcError;

    fn codec_error(code: i64) -> Box<EvalAltResult> {
        let map = crate::script::api::error_map(&RpcError::new(code, "x"));
        EvalAltResult::ErrorRuntime(map, rhai::Position::NONE).into()
    }

    #[test]
    fn a_top_level_whose_budget_ran_out_on_a_starved_host_is_tried_again() {
        let budget = crate::script::budget::exceeded_message_with;
        let end = |m: String| EvalAltResult::ErrorTerminated(m.into(), rhai::Position::NONE);
        let starved = budget(Duration::from_secs(5), Duration::from_secs(3));
        assert!(not_its_own(&end(starved)));
        let runaway = budget(Duration::from_secs(5), Duration::ZERO);
        assert!(!not_its_own(&end(runaway)));
    }

    #[test]
    fn a_slow_lost_or_unready_codec_is_not_the_script_s_fault_its_own_code_is() {
        for code in [local_code::TIMEOUT, local_code::DISCONNECTED, NOT_READY] {
            assert!(not_its_own(&codec_error(code)), "{code}");
        }
        let nested: Box<EvalAltResult> = EvalAltResult::ErrorInFunctionCall(
            "setup".into(),
            String::new(),
            codec_error(local_code::TIMEOUT),
            rhai::Position::NONE,
        )
        .into();
        assert!(not_its_own(&nested));
        crate::script::budget::with_budgets(Duration::ZERO, Duration::from_secs(1), || {
            assert!(not_its_own(&crate::script::budget::waited_out()));
            assert!(!not_its_own(&crate::script::budget::exceeded()));
        });
        for own in [
            codec_error(-32602),
            codec_error(1),
            fault::usage("bad path"),
            EvalAltResult::ErrorRuntime("boom".into(), rhai::Position::NONE).into(),
            EvalAltResult::ErrorTooManyOperations(rhai::Position::NONE).into(),
        ] {
            assert!(!not_its_own(&own), "{own}");
        }
    }

    #[test]
    fn pauses_double_from_a_second_to_a_minute_and_spread() {
        let secs: Vec<u64> = (1..=9).map(|n| pause(n, 0.0).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(pause(1, 1.0), Duration::from_millis(1500));
        assert_eq!(pause(u32::MAX, 0.5), LONGEST.mul_f64(1.25));
    }
}
