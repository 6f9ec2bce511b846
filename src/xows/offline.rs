//! Callers' calls made while no link is up: they wait here, oldest first,
//! up to a bound, and go out on connect before any caller may write again
//! (or fail together when the connection gives up or closes).

use std::collections::VecDeque;

use super::calls::PendingCall;
use super::error::Error;
use super::protocol::Call;

/// The calls waiting for a connection.
pub(crate) struct OfflineQueue {
    calls: VecDeque<(Call, PendingCall)>,
    /// How many calls may wait; more are refused.
    limit: usize,
}

impl OfflineQueue {
    /// An empty queue keeping up to `limit` calls.
    pub(crate) fn new(limit: usize) -> Self {
        OfflineQueue {
            calls: VecDeque::new(),
            limit,
        }
    }

    /// Keeps `call`; a full queue (callers that gave up do not count)
    /// refuses it at once with [`Error::Disconnected`].
    pub(crate) fn push(&mut self, call: Call, pending: PendingCall) {
        self.calls.retain(|(_, p)| !p.reply.is_closed());
        if self.calls.len() >= self.limit {
            let reason = format!(
                "offline and {} calls already waiting for the connection",
                self.calls.len()
            );
            let _ = pending.reply.send(Err(Error::Disconnected {
                method: call.method,
                reason,
            }));
        } else {
            self.calls.push_back((call, pending));
        }
    }

    /// Calls waiting.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// Takes the calls whose callers still wait, oldest first.
    pub(crate) fn take(&mut self) -> impl Iterator<Item = (Call, PendingCall)> + use<> {
        std::mem::take(&mut self.calls)
            .into_iter()
            .filter(|(_, p)| !p.reply.is_closed())
    }

    /// Answers every waiting call with `err(method)`.
    pub(crate) fn fail(&mut self, err: impl Fn(String) -> Error) {
        for (call, pending) in self.calls.drain(..) {
            let _ = pending.reply.send(Err(err(call.method)));
        }
    }
}
