//! How a script thread waits for a host call: it polls the call's future
//! itself (inside the runtime's context, so timers and sockets work) and,
//! while answers have lately come back quickly, spins a short while before
//! parking, so the answer is picked up without a wake-up of a sleeping
//! thread (tens of microseconds on a virtual machine).
//!
//! Spinning only ever runs where it cannot take a core from anyone: never
//! when the process may use one CPU only (`taskset -c 0`, a one-CPU
//! container), never on more threads at once than the CPUs less one, and
//! never for long (see [`SPIN`]). A thread whose last waits outlasted the
//! window stops spinning and tries again only after a run of quick ones
//! would have been caught, so a script waiting on slow answers burns
//! nothing. `XMACRO_CALL_SPIN_US` sets the window (0 turns spinning off).

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// The spin window when `XMACRO_CALL_SPIN_US` does not say otherwise:
/// about one round trip to a codec on the same host or LAN.
pub const SPIN: Duration = Duration::from_micros(120);
/// After this many slow waits in a row a thread skips spinning for up to
/// this many waits (doubling per miss).
const MAX_SKIP: u32 = 64;

/// Threads spinning now, process-wide.
static SPINNING: AtomicUsize = AtomicUsize::new(0);

/// The spin window and how many threads may spin at once (0: none).
fn policy() -> (Duration, usize) {
    static POLICY: OnceLock<(Duration, usize)> = OnceLock::new();
    *POLICY.get_or_init(|| {
        let window = std::env::var("XMACRO_CALL_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(SPIN, Duration::from_micros);
        // Honours the affinity mask (taskset) and cgroup CPU quotas.
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        (window, spinners_for(cpus))
    })
}

/// At most one spinner fewer than the CPUs the process may use.
fn spinners_for(cpus: usize) -> usize {
    cpus.saturating_sub(1)
}

/// Per thread: how many coming waits skip spinning, and the misses in a row.
#[derive(Clone, Copy, Default)]
pub(crate) struct Adapt {
    skip: u32,
    misses: u32,
}

impl Adapt {
    /// No skips, no misses: the next wait may spin.
    pub(crate) const NEW: Adapt = Adapt { skip: 0, misses: 0 };

    /// Whether this wait may spin (and counts a skipped one).
    fn wants_spin(&mut self) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            false
        } else {
            true
        }
    }

    /// Learns from a finished wait: quick ones (within the window) make the
    /// next wait spin; slow ones make it skip 1, 2, 4 ... waits.
    fn learn(&mut self, quick: bool) {
        if quick {
            *self = Adapt::default();
        } else {
            self.misses = (self.misses + 1).min(7);
            self.skip = (1u32 << (self.misses - 1)).min(MAX_SKIP);
        }
    }
}

/// Wakes the waiting thread: a flag it can spin on, and an unpark (no
/// system call unless it is parked).
struct Signal {
    woken: AtomicBool,
    thread: Thread,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Runs `fut` to completion on this (non-runtime) thread within `rt`'s
/// context, spinning briefly before parking when the policy allows.
pub fn block_on<F: Future>(rt: &tokio::runtime::Handle, fut: F) -> F::Output {
    let _inside = rt.enter();
    let signal = Arc::new(Signal {
        woken: AtomicBool::new(false),
        thread: std::thread::current(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let (window, max_spinners) = policy();
    let mut adapt = super::on_thread(|t| t.spin.get());
    let mut spin = max_spinners > 0 && !window.is_zero() && adapt.wants_spin();
    let started = Instant::now();
    let out = loop {
        signal.woken.store(false, Ordering::Relaxed);
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            break v;
        }
        if spin {
            // One spin per wait: later polls (a timer, a partial write) park.
            spin = false;
            spin_until_woken(&signal.woken, started + window, max_spinners);
        }
        while !signal.woken.load(Ordering::Acquire) {
            std::thread::park();
        }
    };
    if max_spinners > 0 && !window.is_zero() {
        adapt.learn(started.elapsed() <= window);
        super::on_thread(|t| t.spin.set(adapt));
    }
    out
}

/// Spins until `woken` or `until`, if fewer than `max` threads spin now.
fn spin_until_woken(woken: &AtomicBool, until: Instant, max: usize) {
    if SPINNING.fetch_add(1, Ordering::AcqRel) >= max {
        SPINNING.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    let mut n = 0u32;
    while !woken.load(Ordering::Acquire) {
        std::hint::spin_loop();
        n = n.wrapping_add(1);
        if n.is_multiple_of(64) && Instant::now() >= until {
            break;
        }
    }
    SPINNING.fetch_sub(1, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cpu_means_no_spinner_and_two_mean_one() {
        assert_eq!(spinners_for(1), 0);
        assert_eq!(spinners_for(2), 1);
        assert_eq!(spinners_for(16), 15);
    }

    #[test]
    fn slow_answers_make_a_thread_skip_spinning_longer_each_time() {
        let mut a = Adapt::default();
        assert!(a.wants_spin());
        let mut skipped = Vec::new();
        for _ in 0..9 {
            a.learn(false);
            let mut n = 0;
            while !a.wants_spin() {
                n += 1;
            }
            skipped.push(n);
        }
        assert_eq!(skipped, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
        a.learn(true);
        assert!(a.wants_spin(), "a quick answer brings spinning back");
    }

    #[test]
    fn a_future_woken_from_another_thread_completes() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        rt.spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send(7).unwrap();
        });
        let got = std::thread::scope(|s| s.spawn(|| block_on(rt.handle(), rx)).join().unwrap());
        assert_eq!(got.unwrap(), 7);
        // Timers work inside: the runtime's context is entered.
        let slept = std::thread::scope(|s| {
            s.spawn(|| {
                block_on(rt.handle(), async {
                    tokio::time::timeout(Duration::from_millis(10), std::future::pending::<()>())
                        .await
                        .is_err()
                })
            })
            .join()
            .unwrap()
        });
        assert!(slept);
    }
}
