//! A stream polled only when it has woken its task. The connection task
//! waits on several things at once (the codec's frames, commands, its
//! keepalive timer) and `select!` polls every branch on every wake-up; an
//! idle link wakes once for its ping and once for the answer, and polling
//! the WebSocket on the timer's wake-up costs more than the timer itself
//! (the split stream's lock, tungstenite zeroing its 4 KiB read buffer, a
//! readiness check) for nothing. On a host with 10,000 idle links that is
//! a measurable share of its idle CPU.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::Stream;
use futures_util::task::AtomicWaker;

/// Whether the inner stream asked to be polled, and the task to tell.
struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// Polls `S` only after it woke the task (or returned an item: more may
/// wait in its buffer). Otherwise answers `Pending` at once.
pub(crate) struct WokenOnly<S> {
    inner: S,
    flag: Arc<Flag>,
    waker: Waker,
}

impl<S> WokenOnly<S> {
    pub(crate) fn new(inner: S) -> WokenOnly<S> {
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        WokenOnly {
            inner,
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    /// The stream itself, polled directly (its wake-ups then go to the
    /// caller's task; the next poll through `self` polls it again).
    pub(crate) fn get_mut(&mut self) -> &mut S {
        self.flag.woken.store(true, Ordering::Release);
        &mut self.inner
    }
}

impl<S: Stream + Unpin> Stream for WokenOnly<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        this.flag.task.register(cx.waker());
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let mut inner_cx = Context::from_waker(&this.waker);
        let polled = Pin::new(&mut this.inner).poll_next(&mut inner_cx);
        if polled.is_ready() {
            this.flag.woken.store(true, Ordering::Release);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::sync::atomic::AtomicUsize;

    /// A stream that counts its polls and yields what the test pushes.
    struct Counted {
        polls: Arc<AtomicUsize>,
        rx: futures_channel::mpsc::UnboundedReceiver<u32>,
    }

    impl Stream for Counted {
        type Item = u32;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            self.rx.poll_next_unpin(cx)
        }
    }

    #[test]
    fn a_stream_that_did_not_wake_the_task_is_not_polled_and_one_that_did_is() {
        let polls = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = futures_channel::mpsc::unbounded();
        let mut s = WokenOnly::new(Counted {
            polls: polls.clone(),
            rx,
        });
        let woke = Arc::new(AtomicUsize::new(0));
        struct Count(Arc<AtomicUsize>);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let task = Waker::from(Arc::new(Count(woke.clone())));
        let mut cx = Context::from_waker(&task);

        // First poll reaches the stream; nothing there.
        assert!(s.poll_next_unpin(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        // Woken for something else (a timer): the stream is left alone.
        for _ in 0..5 {
            assert!(s.poll_next_unpin(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        // The stream has an item: the task is woken, and the next poll reads.
        tx.unbounded_send(7).unwrap();
        assert_eq!(woke.load(Ordering::Relaxed), 1);
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Ready(Some(7)));
        // After an item the stream is polled again (more may be buffered).
        tx.unbounded_send(8).unwrap();
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Ready(Some(8)));
        assert!(s.poll_next_unpin(&mut cx).is_pending());
        let after = polls.load(Ordering::Relaxed);
        assert!(s.poll_next_unpin(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), after);
        // Reaching in directly makes the next poll read again.
        let _ = s.get_mut();
        assert!(s.poll_next_unpin(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), after + 1);
        // The end of the stream comes through.
        drop(tx);
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Ready(None));
    }
}
