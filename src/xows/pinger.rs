//! One task keeps every link's keepalive: it pings the links that fell
//! silent and tells a session when its link is judged half-open. A host
//! shares one ([`Pinger`] in each codec's settings, like the connection
//! pace); a lone client gets its own.
//!
//! Before, each connection task had a timer of its own and woke for every
//! ping it sent: on a host with 10,000 idle links that was 500 task
//! wake-ups a second, each polling the whole session (its socket, its
//! commands, its timers) to write one frame. Now the links' next checks
//! wait in one schedule; the pinger wakes when the earliest is due (they are
//! rounded to a grain, so links come due in batches), writes the pings
//! itself through each link's shared write half, and only the answers
//! wake their sessions, which read them as any frame. Any frame counts as
//! life ([`Keepalive::received`], called by the session).
//!
//! The pinger never waits on one link: a write half held by a caller, or
//! a socket that cannot take the ping now, is tried again a grain later.
//! Its own timer's lateness feeds the host's lag, by which the answer's
//! wait widens ([`super::keepalive`]).
//!
//! A host's pinger sends at most `ping_rate` pings a second
//! ([`Pinger::with_rate`]): with more links than that covers in their
//! keepalive, each is pinged less often, so the idle cost is bounded by
//! the rate and not by the fleet. What an idle ping costs is mostly the
//! wake-up its answer causes, so the pings go out in batches a grain (a
//! second) apart, and a new link's first ping is spread over its interval
//! so links that came up together are not pinged together ever after.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_channel::mpsc;
use futures_util::StreamExt;
use tokio::sync::Notify;

use super::keepalive::{Keepalive, Verdict, note_lateness};
use super::link::Stats;
use super::wire::{Ping, Wire, WriteError};

/// The default `ping_rate`: keepalive pings per second, host-wide. At
/// 20 s keepalive it covers 2,700 links; 10,000 are each pinged every
/// 74 s, which keeps the idle host's pings well under 1 % of a core.
pub const DEFAULT_PING_RATE: u32 = 150;
/// The largest `ping_rate` accepted.
pub const MAX_PING_RATE: u32 = 100_000;

/// The handle on a keepalive task; clones share it.
#[derive(Clone, Default)]
pub struct Pinger {
    tx: Arc<Mutex<Option<mpsc::UnboundedSender<Weak<Watched>>>>>,
    /// Pings per second at most (`None`: each link at its keepalive).
    rate: Option<u32>,
}

impl std::fmt::Debug for Pinger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pinger")
    }
}

impl Pinger {
    /// A pinger whose task starts with the first link it watches; each
    /// link pinged after its own keepalive's silence.
    pub fn new() -> Pinger {
        Pinger::default()
    }

    /// A pinger that sends at most `per_second` pings a second (at least
    /// one): with more links than that covers in their keepalive, each is
    /// pinged less often ([`Keepalive::stretch`]). Its idle cost is then
    /// bounded by the rate, not by the fleet's size.
    pub fn with_rate(per_second: u32) -> Pinger {
        Pinger {
            rate: Some(per_second.max(1)),
            ..Pinger::default()
        }
    }

    /// Keeps `link` alive until it is dropped. Starts the task (on the
    /// caller's runtime) if none runs, or if the one that ran has gone
    /// with its runtime.
    pub(crate) fn watch(&self, link: &Arc<Watched>) {
        let mut tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let sent = tx
            .as_ref()
            .is_some_and(|t| t.unbounded_send(Arc::downgrade(link)).is_ok());
        if !sent {
            let (t, rx) = mpsc::unbounded();
            let _ = t.unbounded_send(Arc::downgrade(link));
            tokio::spawn(run(rx, self.rate));
            *tx = Some(t);
        }
    }
}

/// One link as the pinger sees it: its keepalive state, its write half,
/// and the verdict it hands its session.
pub(crate) struct Watched {
    alive: Mutex<Keepalive>,
    wire: Arc<Wire>,
    stats: Arc<Stats>,
    /// Why the link is given up on, once it is (half-open, or a ping
    /// could not be written).
    dead: Mutex<Option<String>>,
    judged: Notify,
}

impl Watched {
    pub(crate) fn new(keepalive: Keepalive, wire: Arc<Wire>, stats: Arc<Stats>) -> Arc<Watched> {
        Arc::new(Watched {
            alive: Mutex::new(keepalive),
            wire,
            stats,
            dead: Mutex::new(None),
            judged: Notify::new(),
        })
    }

    fn alive(&self) -> std::sync::MutexGuard<'_, Keepalive> {
        self.alive.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Something arrived on the link.
    pub(crate) fn received(&self, now: Instant) {
        self.alive().received(now);
    }

    /// Waits until the pinger gives the link up; says why. The session
    /// looks at its socket once more before it believes it (a frame there
    /// is an answer: [`Watched::received`]).
    pub(crate) async fn judged_dead(&self) -> String {
        loop {
            let notified = self.judged.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(why) = self.dead.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return why;
            }
            notified.await;
        }
    }

    fn give_up(&self, why: String) {
        *self.dead.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        self.judged.notify_one();
    }

    /// Looks at the link at `now`, pinged after at least `every` of
    /// silence: pings it, judges it, or waits. Returns when to look next.
    fn check(&self, now: Instant, lag: Duration, every: Duration) -> Instant {
        let mut alive = self.alive();
        alive.stretch(every);
        match alive.check(now, lag) {
            Verdict::Ping => {
                drop(alive);
                // Not taken (a writer holds the write half, or the socket
                // is full): tried again a grain later. Taken but not on the
                // socket yet: flushed on a task of its own, once the lock
                // the read half held is free.
                let sent = match self.wire.try_ping() {
                    Ok(Ping::Sent) => true,
                    Ok(Ping::Queued) => {
                        let wire = self.wire.clone();
                        tokio::spawn(async move { wire.flush().await });
                        true
                    }
                    Ok(Ping::Busy) | Err(WriteError::NoLink) => false,
                    Err(e @ WriteError::Failed(_)) => {
                        self.give_up(format!("writing a keepalive ping failed: {e}"));
                        false
                    }
                };
                alive = self.alive();
                if sent {
                    alive.pinged(now);
                    self.stats.pings.fetch_add(1, Ordering::Relaxed);
                }
            }
            Verdict::Dead { silent } => self.give_up(format!(
                "nothing received for {:.1}s despite a ping: the link is half-open",
                silent.as_secs_f64()
            )),
            Verdict::Wait => {}
        }
        alive.next_check(lag, origin()).max(now + alive.grain())
    }
}

/// The links by the moment of their next check. Deadlines are rounded to
/// a grain, so the links due together share one entry: taking a batch is
/// a walk down one list, not a heap's sift per link (at 10,000 links the
/// heap's pops were a tenth of the idle host's time).
#[derive(Default)]
struct Schedule {
    at: BTreeMap<Instant, Vec<Weak<Watched>>>,
    /// How many links it holds.
    len: usize,
}

impl Schedule {
    fn insert(&mut self, at: Instant, link: Weak<Watched>) {
        self.at.entry(at).or_default().push(link);
        self.len += 1;
    }

    /// When the earliest check is due.
    fn next(&self) -> Option<Instant> {
        self.at.keys().next().copied()
    }

    /// Takes every link due by `now`, earliest first.
    fn take_due(&mut self, now: Instant) -> Vec<Weak<Watched>> {
        let mut due = Vec::new();
        while let Some(entry) = self.at.first_entry() {
            if *entry.key() > now {
                break;
            }
            let links = entry.remove();
            self.len -= links.len();
            if due.is_empty() {
                due = links;
            } else {
                due.extend(links);
            }
        }
        due
    }

    /// Whether every link it holds is gone.
    fn all_gone(&self) -> bool {
        self.at.values().flatten().all(|l| l.strong_count() == 0)
    }
}

/// The task: links come in through `rx`, each is checked when due and
/// put back for its next check, until its session drops it. Ends when
/// every handle and every link is gone.
async fn run(mut rx: mpsc::UnboundedReceiver<Weak<Watched>>, rate: Option<u32>) {
    let mut schedule = Schedule::default();
    let mut open = true;
    loop {
        let next = schedule.next();
        let every = spacing(schedule.len + 1, rate);
        tokio::select! {
            biased;
            link = rx.next(), if open => match link {
                Some(link) => {
                    if let Some(l) = link.upgrade() {
                        let mut alive = l.alive();
                        alive.stretch(every);
                        alive.spread_first(rand::random::<f64>());
                        let at = alive.next_check(Duration::ZERO, origin());
                        drop(alive);
                        schedule.insert(at, link);
                    }
                }
                None => open = false,
            },
            _ = sleep_until_opt(next) => {
                let due = next.unwrap_or_else(Instant::now);
                let lag = note_lateness(due);
                let now = Instant::now();
                for link in schedule.take_due(now) {
                    if let Some(l) = link.upgrade() {
                        schedule.insert(l.check(now, lag, every), link);
                    }
                }
            }
        }
        if !open && schedule.all_gone() {
            return;
        }
    }
}

/// How far apart each of `links` links is pinged at least, so that all
/// of them together ask for nine tenths of `rate` pings a second (the
/// tenth left for links that fell due together). `rate` is at least one
/// ([`Pinger::with_rate`]).
fn spacing(links: usize, rate: Option<u32>) -> Duration {
    rate.map_or(Duration::ZERO, |r| {
        Duration::from_secs_f64(links as f64 / (0.9 * f64::from(r)))
    })
}

/// The moment deadlines are rounded from, shared by every link (so links
/// come due together, in grains).
fn origin() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Sleeps until `at`; forever when there is none.
pub(super) async fn sleep_until_opt(at: Option<impl Into<tokio::time::Instant>>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn watched(alive: Keepalive) -> Arc<Watched> {
        Watched::new(alive, Arc::new(Wire::default()), Arc::default())
    }

    #[test]
    fn ten_thousand_links_at_150_pings_a_second_are_each_pinged_every_74_seconds() {
        assert_eq!(spacing(10_000, None), Duration::ZERO);
        let every = spacing(10_000, Some(150));
        assert!(every > 74 * S && every < 75 * S, "{every:?}");
        // A small fleet keeps its configured keepalive (the larger wins).
        assert!(spacing(1_000, Some(150)) < 8 * S);
    }

    #[test]
    fn a_link_is_pinged_after_the_longer_of_its_keepalive_and_the_spacing_the_rate_asks() {
        let t0 = Instant::now();
        let link = watched(Keepalive::new(20 * S, 10 * S, t0));
        // Deadlines are rounded up to the grain.
        let about = |at: Instant, t: Instant| at >= t && at <= t + GRAIN_AT_MOST;
        let at = link.check(t0 + 20 * S, Duration::ZERO, 60 * S);
        assert!(about(at, t0 + 60 * S), "{at:?}");
        let at = link.check(t0 + 20 * S, Duration::ZERO, 5 * S);
        assert!(
            about(at, t0 + 20 * S + GRAIN_AT_MOST),
            "due now, no write half: a grain later {at:?}"
        );
    }

    #[test]
    fn links_due_by_now_come_out_together_earliest_first_and_later_ones_stay() {
        let t0 = Instant::now();
        let links: Vec<_> = (0..4)
            .map(|_| watched(Keepalive::new(20 * S, 10 * S, t0)))
            .collect();
        let mut schedule = Schedule::default();
        schedule.insert(t0 + 2 * S, Arc::downgrade(&links[0]));
        schedule.insert(t0 + S, Arc::downgrade(&links[1]));
        schedule.insert(t0 + 2 * S, Arc::downgrade(&links[2]));
        schedule.insert(t0 + 3 * S, Arc::downgrade(&links[3]));
        assert_eq!(schedule.next(), Some(t0 + S));
        assert!(schedule.take_due(t0).is_empty());
        let due: Vec<_> = schedule
            .take_due(t0 + 2 * S)
            .iter()
            .map(|l| l.as_ptr())
            .collect();
        let want: Vec<_> = [1, 0, 2].iter().map(|&i| Arc::as_ptr(&links[i])).collect();
        assert_eq!(due, want);
        assert_eq!(schedule.next(), Some(t0 + 3 * S));
        assert!(!schedule.all_gone());
        drop(links);
        assert!(schedule.all_gone());
    }

    #[tokio::test]
    async fn a_link_whose_ping_went_unanswered_is_given_up_with_the_reason() {
        let t0 = Instant::now();
        let mut alive = Keepalive::new(20 * S, 10 * S, t0);
        alive.pinged(t0 + 20 * S);
        let link = watched(alive);
        link.check(t0 + 31 * S, Duration::ZERO, Duration::ZERO);
        let why = tokio::time::timeout(5 * S, link.judged_dead())
            .await
            .expect("the verdict reached the session");
        assert!(
            why.contains("despite a ping: the link is half-open"),
            "{why}"
        );
    }

    #[tokio::test]
    async fn an_answer_before_the_deadline_keeps_the_link_and_a_ping_it_cannot_write_is_tried_a_grain_later()
     {
        let t0 = Instant::now();
        let mut alive = Keepalive::new(20 * S, 10 * S, t0);
        alive.pinged(t0 + 20 * S);
        let link = watched(alive);
        link.received(t0 + 21 * S);
        // Silent again for a whole keepalive: due for a ping, but this
        // link has no write half to take it.
        let at = link.check(t0 + 45 * S, Duration::ZERO, Duration::ZERO);
        assert!(
            at > t0 + 45 * S && at <= t0 + 45 * S + GRAIN_AT_MOST,
            "{:?}",
            at - t0
        );
        assert_eq!(link.stats.pings.load(Ordering::Relaxed), 0);
        assert!(link.dead.lock().unwrap().is_none());
    }

    const GRAIN_AT_MOST: Duration = super::super::keepalive::GRAIN;
}
