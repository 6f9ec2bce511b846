//! A change reaches the fleet in stages (`[rollout]` in the config): the
//! canary codecs run it first, the rest keep the promoted version until
//! the change has soaked without a failure, and a failure takes it back.
//!
//! - [`version`]: what a version of a script is (its text, its
//!   libraries', its args and scope, further inputs by name), kept whole
//!   and named by a content hash;
//! - [`state`]: one script's rollout as plain data, events in and
//!   decisions out, shared by every host through the store.
//!
//! The host ([`crate::host`]) feeds the events (saves, failures, the
//! clock, operators' requests) and runs on each codec what the record says.

pub mod state;
pub mod version;

use crate::config::rollout::RolloutConfig;
use crate::config::{CodecEntry, Selector};

pub use state::{By, Decision, Event, Now, Phase, Rollout};
pub use version::Snapshot;

/// Whether `codec` is one of the canary codecs.
pub fn is_canary(policy: &RolloutConfig, codec: &CodecEntry) -> bool {
    policy
        .canary
        .iter()
        .any(|s| Selector::parse(s).picks(codec))
}

/// The time now, as a rollout reads it, from a clock (local time for the
/// window, UTC for deadlines).
pub fn now(clock: &dyn crate::clock::Clock) -> Now {
    Now {
        utc_ms: clock.utc().timestamp_millis(),
        local: clock.now().time(),
    }
}

/// An operator's request about a script's rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Put the soaking change everywhere now.
    Promote,
    /// Take the soaking change back from the canary.
    Abort,
}

/// Why a request was not done: an HTTP status and the reason.
pub type Refusal = (u16, String);

/// A request on its way to the host, with where the answer goes.
#[derive(Debug)]
pub struct Ask {
    pub script: String,
    pub request: Request,
    pub reply: tokio::sync::oneshot::Sender<Result<String, Refusal>>,
}

/// Where the status server sends operators' requests (the host answers).
pub type Control = tokio::sync::mpsc::UnboundedSender<Ask>;
