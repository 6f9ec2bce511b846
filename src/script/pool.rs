//! The threads scripts run on: never tokio's. Instances with work wait in
//! one ready queue; a worker runs an instance's jobs for a while, then puts
//! it back if more wait. Up to `min` workers (one per core) start as work
//! arrives; past that a worker starts only when the pool *stalls*: work
//! waits and no worker has picked up a job for [`STALL`] (all are in a long
//! callback or blocked in a wait such as `sleep` or a slow host call); each
//! further stall in a row doubles the workers, up to the work waiting. So a
//! slow or runaway script delays another by at most [`STALL`], and the
//! thread count grows with blocked work, not with instances: 3000 starting
//! instances whose top levels each wait a millisecond for a subscription
//! run on the `min` workers. Idle extra workers leave.
//!
//! The cap counts workers that can run script code; a worker blocked in a
//! wait (`sleep`, a host call) does not count, so scripts that sleep cannot
//! use up the pool and starve the others. Each instance runs one job at a
//! time, so blocked workers never outnumber instances; a hard cap on all
//! threads stays as the last resort.
//!
//! Why not tokio's blocking pool (`spawn_blocking`) or a crate such as
//! rayon: `spawn_blocking` starts a thread for every task queued while none
//! is idle (up to 512), which is the growth with instance count this pool
//! avoids, and shares its threads with tokio's file I/O; neither knows a
//! thread blocked in a host call from one running script code, nor gives
//! each worker the large native stack deep Rhai values need.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Something a worker can run a slice of.
pub trait Runnable: Send + Sync + 'static {
    /// Runs up to a few jobs; returns whether more are waiting.
    fn run_some(self: Arc<Self>) -> bool;
}

struct Shared {
    ready: VecDeque<Arc<dyn Runnable>>,
    workers: usize,
    idle: usize,
    /// Workers inside [`Pool::blocking`].
    blocked: usize,
    /// When a worker last took work from the ready queue (or last started).
    last_pick: Instant,
    /// Whether the thread that watches for stalls runs.
    watching: bool,
}

/// The pool.
pub struct Pool {
    shared: Mutex<Shared>,
    wake: Condvar,
    /// Wakes the stall watcher: work was queued with no worker idle.
    stalled: Condvar,
    min: usize,
    max: usize,
    hard_max: usize,
}

/// Native stack per worker (reserved, touched only as used): deep script
/// recursion is stopped by the call depth limit well before this is used
/// up, and Rhai clones and drops nested values recursively, which for the
/// deepest values the size limits allow needs tens of megabytes.
pub const STACK: usize = 64 << 20;
/// An extra worker idle this long leaves (a start-up storm's threads go soon).
const IDLE_EXIT: Duration = Duration::from_secs(5);
/// Work that waited this long with no worker picking any up starts one more.
pub const STALL: Duration = Duration::from_millis(20);
/// Threads at most, blocked or not.
const HARD_MAX: usize = 8192;

impl Pool {
    fn new(min: usize, max: usize) -> Arc<Pool> {
        Arc::new(Pool {
            shared: Mutex::new(Shared {
                ready: VecDeque::new(),
                workers: 0,
                idle: 0,
                blocked: 0,
                last_pick: Instant::now(),
                watching: false,
            }),
            wake: Condvar::new(),
            stalled: Condvar::new(),
            min,
            max,
            hard_max: HARD_MAX.max(max),
        })
    }

    /// The process-wide pool.
    pub fn global() -> Arc<Pool> {
        static POOL: OnceLock<Arc<Pool>> = OnceLock::new();
        POOL.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            Pool::new(cores.max(2), 256)
        })
        .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `r` to run; starts a worker while fewer than `min` run,
    /// otherwise lets the stall watcher decide.
    pub fn schedule(self: &Arc<Self>, r: Arc<dyn Runnable>) {
        let mut s = self.lock();
        s.ready.push_back(r);
        if s.idle > 0 {
            drop(s);
            self.wake.notify_one();
        } else if s.workers < self.min {
            s.workers += 1;
            s.last_pick = Instant::now();
            drop(s);
            self.spawn_worker();
        } else {
            let watch = !s.watching;
            s.watching = true;
            drop(s);
            if watch {
                self.spawn_watcher();
            }
            self.stalled.notify_one();
        }
    }

    /// Whether a new worker may start for waiting work.
    fn may_grow(&self, s: &Shared) -> bool {
        s.idle == 0 && s.workers.saturating_sub(s.blocked) < self.max && s.workers < self.hard_max
    }

    /// Call around a blocking wait inside a job: the worker stops counting
    /// against the cap while it waits; if the wait is long and work waits,
    /// the stall watcher starts another worker.
    pub fn blocking<T>(self: &Arc<Self>, f: impl FnOnce() -> T) -> T {
        struct Unblock<'a>(&'a Pool);
        impl Drop for Unblock<'_> {
            fn drop(&mut self) {
                self.0.lock().blocked -= 1;
            }
        }
        self.lock().blocked += 1;
        let _unblock = Unblock(self);
        f()
    }

    /// Script threads now: workers and the stall watcher.
    pub fn threads(&self) -> usize {
        let s = self.lock();
        s.workers + usize::from(s.watching)
    }

    fn spawn_watcher(self: &Arc<Self>) {
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name("xmacro-stall".into())
            .stack_size(64 << 10)
            .spawn(move || pool.watch());
        if spawned.is_err() {
            self.lock().watching = false;
            tracing::error!("could not start the script pool's stall watcher");
        }
    }

    /// Sleeps until work waits with no worker idle, then starts a worker
    /// each time the queue has stalled for [`STALL`].
    fn watch(self: Arc<Self>) {
        let mut s = self.lock();
        loop {
            if s.ready.is_empty() || s.idle > 0 {
                s = self.stalled.wait(s).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let waited = s.last_pick.elapsed();
            if waited >= STALL && self.may_grow(&s) {
                // Stalls in a row double the workers (up to the work
                // waiting), so 260 scripts asleep at once get their threads
                // in a few stalls, not in 260.
                let room = self
                    .max
                    .saturating_sub(s.workers.saturating_sub(s.blocked))
                    .min(self.hard_max - s.workers);
                let more = s.workers.max(1).min(s.ready.len()).min(room).max(1);
                s.workers += more;
                s.last_pick = Instant::now();
                drop(s);
                for _ in 0..more {
                    self.spawn_worker();
                }
                s = self.lock();
                continue;
            }
            let pause = STALL.saturating_sub(waited).max(STALL / 4);
            s = self
                .stalled
                .wait_timeout(s, pause)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Worker threads now.
    pub fn workers(&self) -> usize {
        self.lock().workers
    }

    fn spawn_worker(self: &Arc<Self>) {
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name("xmacro-script".into())
            .stack_size(STACK)
            .spawn(move || pool.work());
        if spawned.is_err() {
            self.lock().workers -= 1;
            tracing::error!("could not start a script worker thread");
        }
    }

    fn work(self: Arc<Self>) {
        loop {
            let job = {
                let mut s = self.lock();
                loop {
                    if let Some(j) = s.ready.pop_front() {
                        s.last_pick = Instant::now();
                        break Some(j);
                    }
                    s.idle += 1;
                    let (guard, timeout) = self
                        .wake
                        .wait_timeout(s, IDLE_EXIT)
                        .unwrap_or_else(|p| p.into_inner());
                    s = guard;
                    s.idle -= 1;
                    if timeout.timed_out() && s.ready.is_empty() && s.workers > self.min {
                        s.workers -= 1;
                        break None;
                    }
                }
            };
            let Some(job) = job else { return };
            let again = job.clone().run_some();
            if again {
                self.schedule(job);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Sleeper(AtomicUsize, Duration);

    impl Runnable for Sleeper {
        fn run_some(self: Arc<Self>) -> bool {
            std::thread::sleep(self.1);
            self.0.fetch_add(1, Ordering::SeqCst);
            false
        }
    }

    #[test]
    fn a_blocked_worker_does_not_hold_up_others() {
        let pool = Pool::new(1, 8);
        let slow = Arc::new(Sleeper(AtomicUsize::new(0), Duration::from_millis(800)));
        pool.schedule(slow.clone());
        std::thread::sleep(Duration::from_millis(50));
        let quick = Arc::new(Sleeper(AtomicUsize::new(0), Duration::ZERO));
        let t = std::time::Instant::now();
        pool.schedule(quick.clone());
        while quick.0.load(Ordering::SeqCst) == 0 {
            assert!(
                t.elapsed() < Duration::from_millis(500),
                "quick job waited for the slow one"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(pool.workers() >= 2);
    }

    struct BlockedSleeper(Arc<Pool>, AtomicUsize, Duration);

    impl Runnable for BlockedSleeper {
        fn run_some(self: Arc<Self>) -> bool {
            self.0.blocking(|| std::thread::sleep(self.2));
            self.1.fetch_add(1, Ordering::SeqCst);
            false
        }
    }

    #[test]
    fn many_short_waits_run_on_the_minimum_workers_not_one_thread_each() {
        let pool = Pool::new(2, 256);
        let jobs: Vec<_> = (0..300)
            .map(|_| {
                Arc::new(BlockedSleeper(
                    pool.clone(),
                    AtomicUsize::new(0),
                    Duration::from_millis(1),
                ))
            })
            .collect();
        for j in &jobs {
            pool.schedule(j.clone());
        }
        let t = std::time::Instant::now();
        while jobs.iter().any(|j| j.1.load(Ordering::SeqCst) == 0) {
            assert!(t.elapsed() < Duration::from_secs(30), "jobs did not finish");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Before, every job that blocked with work waiting started a worker
        // (hundreds here); now only a stall of STALL does.
        assert!(pool.workers() < 16, "{} workers", pool.workers());
    }

    #[test]
    fn workers_blocked_in_a_wait_do_not_count_against_the_cap() {
        let pool = Pool::new(1, 2);
        let sleepers: Vec<_> = (0..4)
            .map(|_| {
                Arc::new(BlockedSleeper(
                    pool.clone(),
                    AtomicUsize::new(0),
                    Duration::from_secs(3),
                ))
            })
            .collect();
        for s in &sleepers {
            pool.schedule(s.clone());
        }
        let quick = Arc::new(Sleeper(AtomicUsize::new(0), Duration::ZERO));
        let t = std::time::Instant::now();
        pool.schedule(quick.clone());
        while quick.0.load(Ordering::SeqCst) == 0 {
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "four sleepers used up a pool of two"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
