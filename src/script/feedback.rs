//! How codec feedback reaches a script: `xapi.X.on(f)` subscribes with a
//! [`Sink`] that the codec's connection task hands each document to, and
//! the sink posts the callback's job straight into the instance's mailbox.
//! Every subscription of an instance posts into that one mailbox from the
//! task that reads the socket, so callbacks run in the order the codec sent
//! the feedback, across Status, Configuration and Event subscriptions alike
//! (two tasks, one per subscription, would race and reorder it). The sink
//! never waits: a full mailbox supersedes state changes and drops events as
//! [`crate::xows::feedback_queue`] describes, and the instance warns once
//! per burst.

use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use super::instance::{Instance, Job};
use crate::xows::Sink;
use crate::xows::doc::values_at;
use crate::xows::feedback_queue::Pushed;
use crate::xows::path::{Path, Root};

/// One subscription's way into its instance's mailbox.
pub(crate) struct ScriptSink {
    instance: Weak<Instance>,
    /// The callback the values are for.
    id: u64,
    /// The path subscribed to: each document gives the callback the values
    /// at it (one per changed element for an array).
    path: Path,
    /// Status and Configuration changes supersede in a full mailbox;
    /// events (and a `once`'s one value) drop.
    stateful: bool,
    /// `once`: only the first value is posted.
    once: bool,
    fired: AtomicBool,
}

impl ScriptSink {
    /// A sink posting the values at `path` to callback `id` of `instance`.
    pub(crate) fn new(instance: Weak<Instance>, id: u64, path: Path, once: bool) -> ScriptSink {
        let stateful = !once && path.root() != Some(Root::Event);
        ScriptSink {
            instance,
            id,
            path,
            stateful,
            once,
            fired: AtomicBool::new(false),
        }
    }
}

impl Sink for ScriptSink {
    fn push(&self, document: Value) -> (Pushed, bool) {
        if self.once && self.fired.load(Ordering::Relaxed) {
            return (Pushed::Closed, false);
        }
        let Some(inst) = self.instance.upgrade() else {
            return (Pushed::Closed, false);
        };
        let mut outcome = Pushed::Queued;
        for v in values_at(document, &self.path.0) {
            outcome = if self.stateful {
                inst.post_state(self.id, v)
            } else {
                inst.post_event(Job::Call {
                    id: self.id,
                    args: vec![v],
                })
            };
            if self.once && outcome == Pushed::Queued {
                self.fired.store(true, Ordering::Relaxed);
                break;
            }
        }
        // The instance warns about its own bursts, with its span.
        (outcome, false)
    }
}
