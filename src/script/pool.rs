//! The threads scripts run on: never tokio's. Instances with work wait in
//! one ready queue; a worker runs an instance's jobs for a while, then puts
//! it back if more wait. Up to `min` workers (one per core) start as work
//! arrives; past that a watcher thread starts more by two rules, both
//! about work that *waits*:
//!
//! - **A worker is blocked and work waits** ([`WAIT`]): the oldest queued
//!   job has waited [`WAIT`] while fewer than `min` workers can run script
//!   code (the others are inside [`Pool::blocking`]: a host call, `sleep`).
//!   One worker starts. The next needs the wait, and the time since the
//!   last start, to reach twice [`WAIT`], the one after four times, and so
//!   on (extra workers that went idle leave, and the wait shrinks). A
//!   host call takes tens of microseconds to a few milliseconds; without
//!   this rule two scripts in host calls would leave every other script on
//!   the machine queued behind them although the cores are free. The
//!   doubling is what keeps a storm of jobs that all block from making a
//!   thread each: each new worker picks a job and blocks in turn, so
//!   "fewer than `min` can run" stays true until the queue drains. 3000
//!   starting instances whose top levels each wait about a millisecond for
//!   a subscription (a second of start-up on two loaded cores) peaked at
//!   182 workers with one worker per [`WAIT`]; with the doubling a storm of
//!   any length adds about log2(length / [`WAIT`]) workers: nine a second.
//! - **The queue stalls** ([`STALL`]): work waits and no worker has picked
//!   up a job for [`STALL`] (all are in long callbacks or long waits); each
//!   further stall in a row doubles the workers, up to the work waiting.
//!   So a runaway script delays another by at most [`STALL`] even when all
//!   `min` workers compute. A watcher that itself wakes a whole [`STALL`]
//!   late sees a starved machine, not a stalled queue (the workers did not
//!   run for the same reason), and starts none: a host sharing too few
//!   cores with its neighbours keeps its thread count instead of doubling
//!   it into the hundreds.
//!
//! Work that only computes never grows the pool past `min` by the first
//! rule: more threads than cores would not run it sooner. So the thread
//! count follows blocked work, logarithmically, not instances; idle extra
//! workers leave after [`IDLE_EXIT`]. [`WAIT`] is 2 ms: well above a host
//! call's round trip (50-130 us), so a quick call does not start a thread,
//! and short against the 20 ms a queued callback could wait before.
//!
//! The watcher costs nothing while idle: with no work waiting it sleeps on
//! a condition variable with no timer. It is woken only when a job is
//! queued with no worker idle or a worker blocks while work waits, and only
//! if that brings its next check forward, so a queue under load does not
//! wake it per job.
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
    /// Instances with work, each with when it was queued.
    ready: VecDeque<(Instant, Arc<dyn Runnable>)>,
    workers: usize,
    idle: usize,
    /// Workers inside [`Pool::blocking`].
    blocked: usize,
    /// When a worker last took work from the ready queue (or last started).
    last_pick: Instant,
    /// When the watcher last started workers (paces the blocked rule).
    last_grow: Instant,
    /// Whether the watcher thread runs.
    watching: bool,
    /// When the watcher checks next by itself; `None`: it sleeps until
    /// woken. Wakers compare against it so they wake it only to bring the
    /// check forward.
    watch_until: Option<Instant>,
    /// Workers started by each rule (the tests check which rule fired).
    grown_for_blocked: usize,
    grown_for_stall: usize,
}

/// The pool.
pub struct Pool {
    shared: Mutex<Shared>,
    wake: Condvar,
    /// Wakes the watcher: its next check moved forward.
    watcher: Condvar,
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
/// Work that waited this long while a worker is blocked starts one more
/// (twice this for each extra worker already running).
pub const WAIT: Duration = Duration::from_millis(2);
/// Work that waited this long with no worker picking any up starts more.
pub const STALL: Duration = Duration::from_millis(20);
/// Threads at most, blocked or not.
const HARD_MAX: usize = 8192;

impl Pool {
    fn new(min: usize, max: usize) -> Arc<Pool> {
        let now = Instant::now();
        Arc::new(Pool {
            shared: Mutex::new(Shared {
                ready: VecDeque::new(),
                workers: 0,
                idle: 0,
                blocked: 0,
                last_pick: now,
                last_grow: now,
                watching: false,
                watch_until: None,
                grown_for_blocked: 0,
                grown_for_stall: 0,
            }),
            wake: Condvar::new(),
            watcher: Condvar::new(),
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
    /// otherwise lets the watcher decide.
    pub fn schedule(self: &Arc<Self>, r: Arc<dyn Runnable>) {
        let mut s = self.lock();
        s.ready.push_back((Instant::now(), r));
        if s.idle > 0 {
            drop(s);
            self.wake.notify_one();
        } else if s.workers < self.min {
            s.workers += 1;
            s.last_pick = Instant::now();
            drop(s);
            self.spawn_worker();
        } else {
            self.nudge(s);
        }
    }

    /// Whether a new worker may start for waiting work.
    fn may_grow(&self, s: &Shared) -> bool {
        s.idle == 0 && s.workers.saturating_sub(s.blocked) < self.max && s.workers < self.hard_max
    }

    /// Whether fewer than `min` workers can run script code.
    fn short_of_runners(&self, s: &Shared) -> bool {
        s.workers.saturating_sub(s.blocked) < self.min
    }

    /// When the watcher must next look at the queue: the earlier of the
    /// two rules' moments; `None` while nothing waits or nothing may start.
    fn next_check(&self, s: &Shared) -> Option<Instant> {
        let &(queued, _) = s.ready.front()?;
        if !self.may_grow(s) {
            return None;
        }
        let stall = s.last_pick + STALL;
        if self.short_of_runners(s) {
            Some(stall.min(queued.max(s.last_grow) + self.blocked_wait(s)))
        } else {
            Some(stall)
        }
    }

    /// How long work must wait (and the last start be past) before the
    /// blocked rule starts a worker: [`WAIT`] for the first worker beyond
    /// `min`, twice that for the second, four times for the third...
    fn blocked_wait(&self, s: &Shared) -> Duration {
        let extra = s.workers.saturating_sub(self.min);
        WAIT.saturating_mul(1 << extra.min(16))
    }

    /// Wakes (or starts) the watcher if its next check must come sooner
    /// than it planned. Called with work queued and no worker idle.
    fn nudge(self: &Arc<Self>, mut s: std::sync::MutexGuard<'_, Shared>) {
        if !s.watching {
            s.watching = true;
            s.watch_until = Some(Instant::now());
            drop(s);
            self.spawn_watcher();
            return;
        }
        let Some(at) = self.next_check(&s) else {
            return;
        };
        // A moment already past is now: the watcher's lateness counts
        // from when it was asked to look.
        let at = at.max(Instant::now());
        if s.watch_until.is_none_or(|planned| at < planned) {
            s.watch_until = Some(at);
            drop(s);
            self.watcher.notify_one();
        }
    }

    /// Call around a blocking wait inside a job: the worker stops counting
    /// against the cap while it waits; if work waits meanwhile, the watcher
    /// starts another worker after [`WAIT`].
    pub fn blocking<T>(self: &Arc<Self>, f: impl FnOnce() -> T) -> T {
        struct Unblock<'a>(&'a Pool);
        impl Drop for Unblock<'_> {
            fn drop(&mut self) {
                self.0.lock().blocked -= 1;
            }
        }
        let mut s = self.lock();
        s.blocked += 1;
        if !s.ready.is_empty() && s.idle == 0 {
            self.nudge(s);
        } else {
            drop(s);
        }
        let _unblock = Unblock(self);
        f()
    }

    /// Script threads now: workers and the watcher.
    pub fn threads(&self) -> usize {
        let s = self.lock();
        s.workers + usize::from(s.watching)
    }

    fn spawn_watcher(self: &Arc<Self>) {
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name("xmacro-stall".into())
            // Reserved, touched only as used: the allocator sets up its
            // per-thread cache on the first allocation, which takes more
            // than 64 KiB of stack in a debug build.
            .stack_size(512 << 10)
            .spawn(move || pool.watch());
        if spawned.is_err() {
            let mut s = self.lock();
            s.watching = false;
            s.watch_until = None;
            tracing::error!("could not start the script pool's watcher");
        }
    }

    /// How many workers to start now, by whichever rule is due, and books
    /// them. Called when [`Pool::next_check`] has come.
    /// `late` is how far past its planned moment the watcher woke.
    fn grow(&self, s: &mut Shared, now: Instant, late: Duration) -> usize {
        let room = self
            .max
            .saturating_sub(s.workers.saturating_sub(s.blocked))
            .min(self.hard_max - s.workers);
        if now >= s.last_pick + STALL && late >= STALL {
            // The watcher itself ran a whole stall late: the machine is
            // starved, and the workers did not pick work for the same
            // reason. More threads would only share the same cores (a host
            // starved by its neighbours once reached 122 this way); it
            // counts again from now.
            s.last_pick = now;
            tracing::debug!(
                late_ms = late.as_millis() as u64,
                "script pool: starved, not stalled"
            );
            return 0;
        }
        let more = if now >= s.last_pick + STALL {
            // Stalls in a row double the workers (up to the work waiting),
            // so 260 scripts asleep at once get their threads in a few
            // stalls, not in 260.
            s.last_pick = now;
            let more = s.workers.max(1).min(s.ready.len()).min(room).max(1);
            s.grown_for_stall += more;
            more
        } else {
            s.grown_for_blocked += 1;
            1
        };
        s.last_grow = now;
        s.workers += more;
        tracing::debug!(
            more,
            workers = s.workers,
            blocked = s.blocked,
            queued = s.ready.len(),
            "script pool grows"
        );
        more
    }

    /// Sleeps until work waits with no worker idle, then starts workers
    /// when a rule's moment comes (see the module doc).
    fn watch(self: Arc<Self>) {
        let mut s = self.lock();
        loop {
            let now = Instant::now();
            match self.next_check(&s) {
                None => {
                    s.watch_until = None;
                    s = self.watcher.wait(s).unwrap_or_else(|p| p.into_inner());
                }
                Some(at) if at > now => {
                    s.watch_until = Some(at);
                    s = self
                        .watcher
                        .wait_timeout(s, at - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                Some(at) => {
                    // Against the moment it planned to wake (a waker may
                    // have brought that forward).
                    let planned = s.watch_until.unwrap_or(at).min(at);
                    let more = self.grow(&mut s, now, now.saturating_duration_since(planned));
                    // Checks again at once: wakers need not wake it.
                    s.watch_until = Some(now);
                    drop(s);
                    for _ in 0..more {
                        self.spawn_worker();
                    }
                    s = self.lock();
                }
            }
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
                    if let Some((_, j)) = s.ready.pop_front() {
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
        pool.schedule(quick.clone());
        wait_within(
            Duration::from_millis(500),
            "quick job waited for the slow one",
            || quick.0.load(Ordering::SeqCst) > 0,
        );
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
        let jobs = schedule_all(&pool, 300, || {
            BlockedSleeper(pool.clone(), AtomicUsize::new(0), Duration::from_millis(1))
        });
        wait_within(Duration::from_secs(30), "jobs did not finish", || {
            jobs.iter().all(|j| j.1.load(Ordering::SeqCst) > 0)
        });
        // Once every job that blocked with work waiting started a worker
        // (hundreds here). Now the blocked rule adds workers while the
        // queue waits, at a pace that halves with each: about 300 ms of
        // waits queued on 2 workers drain at 6 or 7 workers (one more
        // after 2 ms, 4 ms, 8 ms, 16 ms...). Reaching 16 would take
        // minutes of queueing, or stalls of STALL (machine starved).
        assert!(pool.workers() < 16, "{} workers", pool.workers());
    }

    /// Keeps a worker inside [`Pool::blocking`] until released.
    struct Gate(Arc<Pool>, std::sync::atomic::AtomicBool, AtomicUsize);

    impl Runnable for Gate {
        fn run_some(self: Arc<Self>) -> bool {
            self.0.blocking(|| {
                while !self.1.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
            self.2.fetch_add(1, Ordering::SeqCst);
            false
        }
    }

    /// Computes for `slice` per run, and asks to run again until stopped.
    struct Spinner(Duration, std::sync::atomic::AtomicBool, AtomicUsize);

    impl Runnable for Spinner {
        fn run_some(self: Arc<Self>) -> bool {
            let t = Instant::now();
            while t.elapsed() < self.0 {
                std::hint::spin_loop();
            }
            self.2.fetch_add(1, Ordering::SeqCst);
            !self.1.load(Ordering::SeqCst)
        }
    }

    fn wait_for(what: &str, cond: impl FnMut() -> bool) {
        wait_within(Duration::from_secs(10), what, cond);
    }

    /// Polls `cond` until it holds; fails with `what` after `limit`.
    fn wait_within(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
        let t = Instant::now();
        while !cond() {
            assert!(t.elapsed() < limit, "{what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Queues a [`Gate`] and waits until it blocks in a host call.
    fn blocked_gate(pool: &Arc<Pool>) -> Arc<Gate> {
        let gate = Arc::new(Gate(pool.clone(), false.into(), AtomicUsize::new(0)));
        pool.schedule(gate.clone());
        wait_for("the gate job blocks", || pool.lock().blocked == 1);
        gate
    }

    /// Makes `n` jobs with `make` and queues them all.
    fn schedule_all<R: Runnable>(pool: &Arc<Pool>, n: usize, make: impl Fn() -> R) -> Vec<Arc<R>> {
        let jobs: Vec<_> = (0..n).map(|_| Arc::new(make())).collect();
        for j in &jobs {
            pool.schedule(j.clone());
        }
        jobs
    }

    #[test]
    fn a_worker_blocked_in_a_host_call_is_replaced_within_a_few_milliseconds_when_work_waits() {
        let pool = Pool::new(2, 256);
        let gate = blocked_gate(&pool);
        // One worker left computes for two scripts in turn: each waits a
        // slice (3 ms, more than WAIT) for the other, while jobs are picked
        // up far more often than STALL, so only the blocked rule can fire.
        let spinners = schedule_all(&pool, 2, || {
            Spinner(Duration::from_millis(3), false.into(), AtomicUsize::new(0))
        });
        // A liveness bound: WAIT is 2 ms, this is 500 times that.
        wait_within(
            Duration::from_secs(1),
            "the blocked worker was not replaced",
            || pool.workers() >= 3,
        );
        assert!(pool.lock().grown_for_blocked >= 1);
        for s in &spinners {
            s.1.store(true, Ordering::SeqCst);
        }
        gate.1.store(true, Ordering::SeqCst);
        wait_for("every job ends", || {
            gate.2.load(Ordering::SeqCst) == 1 && pool.lock().ready.is_empty()
        });
    }

    #[test]
    fn jobs_that_wait_on_nothing_do_not_grow_the_pool() {
        let pool = Pool::new(2, 256);
        let jobs = schedule_all(&pool, 200, || {
            Spinner(Duration::from_micros(250), true.into(), AtomicUsize::new(0))
        });
        wait_for("the jobs run", || {
            jobs.iter().all(|j| j.2.load(Ordering::SeqCst) == 1)
        });
        let s = pool.lock();
        // Queued jobs waited up to 25 ms, but no worker was blocked: more
        // threads than cores would not have run them sooner.
        assert_eq!(s.grown_for_blocked, 0);
        // Only a stall (both workers off the CPU for STALL on a loaded
        // machine) may add workers here. (Fewer is fine: on a loaded
        // machine a worker can find the queue empty and retire before the
        // check.)
        assert!(
            s.workers <= 2 || s.grown_for_stall > 0,
            "{} workers",
            s.workers
        );
    }

    #[test]
    fn a_watcher_that_woke_a_whole_stall_late_starts_no_worker_for_the_stall() {
        let pool = Pool::new(2, 256);
        let mut s = pool.lock();
        let now = Instant::now();
        let job = Arc::new(Sleeper(AtomicUsize::new(0), Duration::ZERO));
        s.workers = 2;
        s.ready.push_back((now - 3 * STALL, job));
        // The machine starved everyone, the watcher too: no growth, and
        // the stall counts again from now.
        s.last_pick = now - 3 * STALL;
        assert_eq!(pool.grow(&mut s, now, STALL), 0);
        assert_eq!((s.workers, s.grown_for_stall, s.last_pick), (2, 0, now));
        // The watcher on time: the same stall doubles the workers.
        s.last_pick = now - 3 * STALL;
        assert_eq!(pool.grow(&mut s, now, Duration::from_millis(1)), 1);
        assert_eq!((s.workers, s.grown_for_stall), (3, 1));
    }

    #[test]
    fn the_watcher_sleeps_without_a_timer_once_no_work_waits() {
        let pool = Pool::new(1, 256);
        let gate = blocked_gate(&pool);
        let quick = Arc::new(Sleeper(AtomicUsize::new(0), Duration::ZERO));
        pool.schedule(quick.clone());
        wait_for("the quick job runs beside the blocked one", || {
            quick.0.load(Ordering::SeqCst) == 1
        });
        gate.1.store(true, Ordering::SeqCst);
        wait_for("the watcher plans no wake-up", || {
            let s = pool.lock();
            s.watching && s.watch_until.is_none()
        });
    }

    #[test]
    fn workers_blocked_in_a_wait_do_not_count_against_the_cap() {
        let pool = Pool::new(1, 2);
        let _sleepers = schedule_all(&pool, 4, || {
            BlockedSleeper(pool.clone(), AtomicUsize::new(0), Duration::from_secs(3))
        });
        let quick = Arc::new(Sleeper(AtomicUsize::new(0), Duration::ZERO));
        pool.schedule(quick.clone());
        wait_within(
            Duration::from_secs(2),
            "four sleepers used up a pool of two",
            || quick.0.load(Ordering::SeqCst) > 0,
        );
    }
}
