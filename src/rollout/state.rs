//! One script's staged rollout as plain data: the promoted version (what
//! every codec runs), the candidate (what the canary codecs run while it
//! soaks), and where the change is: steady, soaking until a deadline,
//! rolled back (with the reason), or aborted by an operator. Events come
//! in (a save, a failure on a canary, the clock, an operator's promote or
//! abort) and a decision comes out; no I/O, no clock of its own, so every
//! path is tested here on made-up times.
//!
//! The record is what hosts share (in the store, [`crate::store`]): every
//! host applies the same events to the same record, and a conditional
//! write makes sure one change wins (two hosts promoting after a soak
//! promote once).

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use super::version::{Snapshot, show};
use crate::config::rollout::RolloutConfig;

/// One script's rollout record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Rollout {
    /// The version every codec runs (but the canary while a change soaks).
    pub promoted: Option<Snapshot>,
    /// The change under soak, or the last one rolled back or aborted.
    pub candidate: Option<Snapshot>,
    pub phase: Phase,
}

/// Where a change is. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Phase {
    /// No change under way: every codec runs the promoted version.
    #[default]
    Steady,
    /// The candidate runs on the canary until `until`.
    Soaking { since: i64, until: i64 },
    /// The candidate failed (on `codec`, or compiling) and runs nowhere;
    /// it is never promoted. Saving again starts a new rollout.
    RolledBack {
        at: i64,
        codec: Option<String>,
        reason: String,
    },
    /// An operator took the candidate back.
    Aborted { at: i64 },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A version was saved (the files, args or scope changed).
    Saved(Snapshot),
    /// `version` failed: on a canary codec, or compiling (`codec` none).
    Failed {
        version: u64,
        codec: Option<String>,
        reason: String,
    },
    /// Time passed: a soak may be over.
    Tick,
    /// `xmacro rollout promote`.
    Promote,
    /// `xmacro rollout abort`.
    Abort,
}

/// The time now: UTC for deadlines, local for the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub utc_ms: i64,
    pub local: NaiveTime,
}

/// Who promoted a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The soak ended without a failure.
    Soak,
    /// An operator.
    Operator,
}

/// What an event came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing changed.
    Nothing,
    /// The script's first version: promoted at once (there is nothing to
    /// compare it with).
    First(u64),
    /// A change started soaking on the canary.
    Soaking { version: u64, until: i64 },
    /// The save went back to the promoted version: the candidate goes.
    Reverted { dropped: u64 },
    /// The candidate failed: the canary goes back to the promoted version.
    RolledBack {
        version: u64,
        codec: Option<String>,
        reason: String,
    },
    /// The candidate became the promoted version, everywhere.
    Promoted { version: u64, by: By },
    /// An operator took the candidate back.
    Aborted { version: u64 },
}

impl Decision {
    /// Whether the record changed (and must be written).
    pub fn changed(&self) -> bool {
        *self != Decision::Nothing
    }
}

/// An operator's request that cannot be done now (the message says what
/// state the rollout is in instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("nothing to {what}: {state}")]
pub struct Refused {
    /// `promote` or `abort`.
    pub what: &'static str,
    /// Why there is nothing to do it to.
    pub state: String,
}

impl Rollout {
    /// Applies one event; an operator's request that cannot be done is
    /// refused with why (nothing changes).
    pub fn apply(
        &mut self,
        event: Event,
        now: Now,
        policy: &RolloutConfig,
    ) -> Result<Decision, Refused> {
        Ok(match event {
            Event::Saved(snap) => self.saved(snap, now, policy),
            Event::Failed {
                version,
                codec,
                reason,
            } => self.failed(version, codec, reason, now),
            Event::Tick => self.tick(now, policy),
            Event::Promote => return self.promote(By::Operator),
            Event::Abort => return self.abort(now),
        })
    }

    fn saved(&mut self, snap: Snapshot, now: Now, policy: &RolloutConfig) -> Decision {
        let version = snap.version();
        let Some(promoted) = &self.promoted else {
            *self = Rollout {
                promoted: Some(snap),
                candidate: None,
                phase: Phase::Steady,
            };
            return Decision::First(version);
        };
        if promoted.version() == version {
            return match self.candidate.take() {
                Some(c) => {
                    self.phase = Phase::Steady;
                    Decision::Reverted {
                        dropped: c.version(),
                    }
                }
                None => Decision::Nothing,
            };
        }
        if self.candidate_version() == Some(version) {
            // The same change again: soaking on, or failed for good.
            return Decision::Nothing;
        }
        let until = now
            .utc_ms
            .saturating_add(policy.soak.as_millis().min(i64::MAX as u128) as i64);
        self.candidate = Some(snap);
        self.phase = Phase::Soaking {
            since: now.utc_ms,
            until,
        };
        Decision::Soaking { version, until }
    }

    fn failed(
        &mut self,
        version: u64,
        codec: Option<String>,
        reason: String,
        now: Now,
    ) -> Decision {
        if !self.is_soaking() || self.candidate_version() != Some(version) {
            return Decision::Nothing;
        }
        self.phase = Phase::RolledBack {
            at: now.utc_ms,
            codec: codec.clone(),
            reason: reason.clone(),
        };
        Decision::RolledBack {
            version,
            codec,
            reason,
        }
    }

    fn tick(&mut self, now: Now, policy: &RolloutConfig) -> Decision {
        match self.phase {
            Phase::Soaking { until, .. }
                if now.utc_ms >= until && policy.window.is_none_or(|w| w.contains(now.local)) =>
            {
                self.promote(By::Soak).unwrap_or(Decision::Nothing)
            }
            _ => Decision::Nothing,
        }
    }

    fn promote(&mut self, by: By) -> Result<Decision, Refused> {
        if !self.is_soaking() {
            return Err(self.nothing_soaking("promote"));
        }
        let Some(c) = self.candidate.take() else {
            return Err(self.nothing_soaking("promote"));
        };
        let version = c.version();
        self.promoted = Some(c);
        self.phase = Phase::Steady;
        Ok(Decision::Promoted { version, by })
    }

    fn abort(&mut self, now: Now) -> Result<Decision, Refused> {
        match (&self.phase, &self.candidate) {
            (Phase::Soaking { .. }, Some(c)) => {
                let version = c.version();
                self.phase = Phase::Aborted { at: now.utc_ms };
                Ok(Decision::Aborted { version })
            }
            _ => Err(self.nothing_soaking("abort")),
        }
    }

    fn nothing_soaking(&self, what: &'static str) -> Refused {
        let state = match &self.phase {
            Phase::Steady => "steady: no change is soaking".to_string(),
            Phase::RolledBack { reason, .. } => format!(
                "its last change {} was rolled back ({reason}); save a fixed version to start again",
                self.candidate_version().map(show).unwrap_or_default()
            ),
            Phase::Aborted { .. } => format!(
                "its last change {} was aborted; save again to start a new rollout",
                self.candidate_version().map(show).unwrap_or_default()
            ),
            Phase::Soaking { .. } => "no candidate".to_string(),
        };
        Refused { what, state }
    }

    /// Whether a change is soaking on the canary.
    pub fn is_soaking(&self) -> bool {
        matches!(self.phase, Phase::Soaking { .. })
    }

    /// The candidate's version, if any.
    pub fn candidate_version(&self) -> Option<u64> {
        self.candidate.as_ref().map(Snapshot::version)
    }

    /// The promoted version, if any.
    pub fn promoted_version(&self) -> Option<u64> {
        self.promoted.as_ref().map(Snapshot::version)
    }

    /// The version a codec runs: the candidate on the canary while it
    /// soaks, else the promoted one. (Whether that version's scope holds
    /// the codec is the caller's to check.)
    pub fn runs(&self, canary: bool) -> Option<&Snapshot> {
        match (&self.phase, canary) {
            (Phase::Soaking { .. }, true) => self.candidate.as_ref(),
            _ => self.promoted.as_ref(),
        }
    }

    /// When to look again ([`Event::Tick`]): the soak's deadline.
    pub fn due(&self) -> Option<i64> {
        match self.phase {
            Phase::Soaking { until, .. } => Some(until),
            _ => None,
        }
    }

    /// Whether the soak is over and promotion waits for the window.
    pub fn waits_for_window(&self, now: Now, policy: &RolloutConfig) -> bool {
        matches!(self.phase, Phase::Soaking { until, .. } if now.utc_ms >= until)
            && policy.window.is_some_and(|w| !w.contains(now.local))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::rollout::Window;
    use crate::rollout::version::Snapshot;
    use std::time::Duration;

    fn policy(window: Option<&str>) -> RolloutConfig {
        RolloutConfig {
            canary: vec!["tag:canary".into()],
            soak: Duration::from_secs(30 * 60),
            window: window.map(|w| Window::parse(w).unwrap()),
        }
    }

    /// A virtual clock: minutes after 12:00 local, the same in UTC ms.
    fn at(minutes: i64) -> Now {
        let noon = NaiveTime::from_hms_opt(12, 0, 0).unwrap();
        Now {
            utc_ms: 1_000_000_000_000 + minutes * 60_000,
            local: noon + chrono::Duration::minutes(minutes),
        }
    }

    fn v(text: &str) -> Snapshot {
        Snapshot {
            file: "room.rhai".into(),
            source: text.into(),
            ..Default::default()
        }
    }

    fn started(p: &RolloutConfig) -> Rollout {
        let mut r = Rollout::default();
        r.apply(Event::Saved(v("one")), at(0), p).unwrap();
        r.apply(Event::Saved(v("two")), at(1), p).unwrap();
        r
    }

    #[test]
    fn a_first_version_is_promoted_at_once_and_runs_everywhere() {
        let p = policy(None);
        let mut r = Rollout::default();
        let d = r.apply(Event::Saved(v("one")), at(0), &p).unwrap();
        assert_eq!(d, Decision::First(v("one").version()));
        assert_eq!(r.runs(true), Some(&v("one")));
        assert_eq!(r.runs(false), Some(&v("one")));
        assert_eq!(r.due(), None);
    }

    #[test]
    fn a_saved_change_runs_on_the_canary_only_until_the_soak_ends() {
        let p = policy(None);
        let r = started(&p);
        assert_eq!(r.runs(true), Some(&v("two")));
        assert_eq!(r.runs(false), Some(&v("one")));
        assert_eq!(r.due(), Some(at(31).utc_ms));
    }

    #[test]
    fn a_change_that_soaks_without_a_failure_is_promoted_everywhere() {
        let p = policy(None);
        let mut r = started(&p);
        assert_eq!(r.apply(Event::Tick, at(30), &p).unwrap(), Decision::Nothing);
        let d = r.apply(Event::Tick, at(31), &p).unwrap();
        assert_eq!(
            d,
            Decision::Promoted {
                version: v("two").version(),
                by: By::Soak
            }
        );
        assert_eq!(r.runs(false), Some(&v("two")));
        assert_eq!(r.phase, Phase::Steady);
        assert_eq!(r.candidate, None);
        assert_eq!(r.apply(Event::Tick, at(40), &p).unwrap(), Decision::Nothing);
    }

    #[test]
    fn a_failure_on_the_canary_rolls_the_change_back_and_it_is_never_promoted() {
        let p = policy(None);
        let mut r = started(&p);
        let d = r
            .apply(
                Event::Failed {
                    version: v("two").version(),
                    codec: Some("lab-1".into()),
                    reason: "room.rhai:3:5: boom".into(),
                },
                at(2),
                &p,
            )
            .unwrap();
        assert!(
            matches!(d, Decision::RolledBack { ref codec, .. } if codec.as_deref() == Some("lab-1"))
        );
        assert_eq!(r.runs(true), Some(&v("one")), "the canary goes back");
        assert_eq!(r.apply(Event::Tick, at(60), &p).unwrap(), Decision::Nothing);
        assert_eq!(r.promoted, Some(v("one")));
        let e = r.apply(Event::Promote, at(61), &p).unwrap_err().to_string();
        assert!(e.contains("rolled back (room.rhai:3:5: boom)"), "{e}");
        assert_eq!(
            r.apply(Event::Saved(v("two")), at(62), &p).unwrap(),
            Decision::Nothing,
            "the failed version saved again stays back"
        );
        let d = r.apply(Event::Saved(v("three")), at(63), &p).unwrap();
        assert!(
            matches!(d, Decision::Soaking { .. }),
            "a new save starts again"
        );
        assert_eq!(r.runs(true), Some(&v("three")));
    }

    #[test]
    fn a_failure_of_another_version_changes_nothing() {
        let p = policy(None);
        let mut r = started(&p);
        let d = r
            .apply(
                Event::Failed {
                    version: v("one").version(),
                    codec: Some("room-1".into()),
                    reason: "x".into(),
                },
                at(2),
                &p,
            )
            .unwrap();
        assert_eq!(d, Decision::Nothing);
        assert!(r.is_soaking());
    }

    #[test]
    fn promote_puts_a_soaking_change_everywhere_at_once_and_abort_takes_it_back() {
        let p = policy(Some("22:00-05:00"));
        let mut r = started(&p);
        let d = r.apply(Event::Promote, at(2), &p).unwrap();
        assert_eq!(
            d,
            Decision::Promoted {
                version: v("two").version(),
                by: By::Operator
            },
            "an operator promotes outside the window too"
        );
        assert_eq!(r.runs(false), Some(&v("two")));
        assert!(
            r.apply(Event::Promote, at(3), &p)
                .unwrap_err()
                .to_string()
                .contains("steady")
        );

        r.apply(Event::Saved(v("three")), at(4), &p).unwrap();
        let d = r.apply(Event::Abort, at(5), &p).unwrap();
        assert_eq!(
            d,
            Decision::Aborted {
                version: v("three").version()
            }
        );
        assert_eq!(r.runs(true), Some(&v("two")));
        assert_eq!(
            r.apply(Event::Tick, at(100), &p).unwrap(),
            Decision::Nothing
        );
        assert!(
            r.apply(Event::Abort, at(101), &p)
                .unwrap_err()
                .to_string()
                .contains("aborted")
        );
    }

    #[test]
    fn a_soaked_change_waits_for_the_window_to_be_promoted() {
        // Soak from 12:01 to 12:31; the window opens at 22:00.
        let p = policy(Some("22:00-05:00"));
        let mut r = started(&p);
        assert_eq!(r.apply(Event::Tick, at(31), &p).unwrap(), Decision::Nothing);
        assert!(r.waits_for_window(at(31), &p));
        assert!(r.is_soaking());
        assert_eq!(
            r.apply(Event::Tick, at(9 * 60 + 59), &p).unwrap(),
            Decision::Nothing
        );
        let d = r.apply(Event::Tick, at(10 * 60), &p).unwrap();
        assert!(
            matches!(d, Decision::Promoted { by: By::Soak, .. }),
            "{d:?}"
        );
    }

    #[test]
    fn saving_the_promoted_version_again_drops_the_candidate() {
        let p = policy(None);
        let mut r = started(&p);
        let d = r.apply(Event::Saved(v("one")), at(2), &p).unwrap();
        assert_eq!(
            d,
            Decision::Reverted {
                dropped: v("two").version()
            }
        );
        assert_eq!(r.runs(true), Some(&v("one")));
        assert_eq!(r.phase, Phase::Steady);
    }

    #[test]
    fn a_new_save_while_soaking_restarts_the_soak_with_the_newer_change() {
        let p = policy(None);
        let mut r = started(&p);
        let d = r.apply(Event::Saved(v("three")), at(20), &p).unwrap();
        assert_eq!(
            d,
            Decision::Soaking {
                version: v("three").version(),
                until: at(50).utc_ms
            }
        );
        assert_eq!(r.runs(true), Some(&v("three")));
        assert_eq!(r.runs(false), Some(&v("one")));
    }

    #[test]
    fn two_hosts_applying_the_same_tick_to_the_same_record_agree() {
        let p = policy(None);
        let r = started(&p);
        let (mut a, mut stale) = (r.clone(), r);
        assert!(a.apply(Event::Tick, at(31), &p).unwrap().changed());
        // The other host decides the same on its copy, but its conditional
        // write loses to a's: it reads a's record and applies its tick
        // again, which now changes nothing.
        assert!(stale.apply(Event::Tick, at(31), &p).unwrap().changed());
        let mut b = a.clone();
        assert_eq!(b.apply(Event::Tick, at(31), &p).unwrap(), Decision::Nothing);
        assert_eq!(a, b);
    }

    #[test]
    fn the_record_reads_back_as_written() {
        let p = policy(None);
        let mut r = started(&p);
        r.apply(
            Event::Failed {
                version: v("two").version(),
                codec: None,
                reason: "room.rhai:1:1: syntax".into(),
            },
            at(2),
            &p,
        )
        .unwrap();
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"state\":\"rolled_back\""), "{text}");
        assert_eq!(serde_json::from_str::<Rollout>(&text).unwrap(), r);
    }
}
