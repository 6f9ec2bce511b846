//! One way to wait until scripts have nothing left to do, shared by the
//! host ([`crate::host::HostHandle::idle`], the barrier tests wait on) and
//! `xmacro test` between actions: no job queued or running, and the same
//! reading again after a round trip to the codecs, so feedback they sent
//! before it has been handled too. Timers not due yet do not count.

use std::time::{Duration, Instant};

use crate::script::instance::WENT_IDLE;

/// Waits until `read` says idle (`(true, mark)`) twice with the same mark
/// around a `flush` (a round trip to every codec). `read` giving `None`
/// means there is nothing to wait for any more. A `flush` that says it had
/// nothing to flush (`false`: nothing can be on its way) ends the wait at
/// once. Fails with the time waited when still busy after `limit`.
pub async fn wait<M: PartialEq>(
    mut read: impl AsyncFnMut() -> Option<(bool, M)>,
    mut flush: impl AsyncFnMut() -> bool,
    limit: Duration,
) -> Result<(), Duration> {
    let started = Instant::now();
    let mut confirmed: Option<M> = None;
    loop {
        // Tasks woken by feedback or a fired timer post their jobs now.
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
        let went_idle = WENT_IDLE.notified();
        tokio::pin!(went_idle);
        went_idle.as_mut().enable();
        let Some((idle, mark)) = read().await else {
            return Ok(());
        };
        if !idle {
            confirmed = None;
            if started.elapsed() > limit {
                return Err(started.elapsed());
            }
            // A job ends on a worker thread: look again when one does (or
            // shortly: the signal is shared by every instance).
            let _ = tokio::time::timeout(Duration::from_millis(5), went_idle).await;
            continue;
        }
        if confirmed.as_ref() == Some(&mark) || !flush().await {
            return Ok(());
        }
        confirmed = Some(mark);
    }
}
