//! A virtual clock for `xmacro test`: time stands still until the runner
//! moves it, and timers, intervals and `daily` waits sit in a queue the
//! runner fires one at a time, in time order (ties in the order they were
//! set), so a test of "release the room after 10 minutes" takes no real
//! time and gives the same result every run.
//!
//! The clock counts virtual milliseconds since it was made and keeps the
//! instant (UTC) they started at; the local time is that instant in a time
//! zone (chrono-tz), so `daily` sees daylight saving changes as a wall clock
//! would: a daily time that a spring-forward change skips fires when the
//! clock jumps past it, and a time a fall-back change repeats fires once.
//!
//! The clock reads no later than [`LATEST`] (far beyond any test, well
//! inside what the date types hold): moving it further is refused with
//! [`OutOfRange`] instead of overflowing.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use tokio::sync::oneshot;

use crate::clock::{Clock, LocalWake, Wait};

#[derive(Debug, Clone, Copy)]
enum Due {
    /// Virtual milliseconds since the clock started.
    Mono(u64),
    /// A local wall time.
    Local(NaiveDateTime),
}

#[derive(Debug)]
struct Timer {
    seq: u64,
    due: Due,
    tx: oneshot::Sender<LocalWake>,
}

#[derive(Debug)]
struct State {
    ms: u64,
    /// The UTC instant at virtual 0 ms.
    origin: DateTime<Utc>,
    tz: Tz,
    seq: u64,
    timers: Vec<Timer>,
}

/// A clock only the test runner moves.
#[derive(Debug)]
pub struct VirtualClock(Mutex<State>);

/// The last instant the clock reaches, in UTC (a day short of the end of
/// year 9999, so a local time in any zone, and the next day's `daily`
/// time, still has a four-digit year).
pub const LATEST: &str = "9999-12-31 00:00 UTC";

/// The first instant the clock can be set to, in UTC.
const EARLIEST: &str = "0001-01-02 00:00 UTC";

fn bound(text: &str) -> DateTime<Utc> {
    let day = text.split(' ').next().unwrap_or_default();
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
        .unwrap_or_default()
}

/// A time the clock cannot show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("beyond the test clock's range (from {EARLIEST} to {LATEST}; it reads {now} now)")]
pub struct OutOfRange {
    /// The local time the clock reads.
    pub now: String,
}

/// The first instant at which the local time in `tz` reads `at` or later.
pub fn instant_of(tz: Tz, at: NaiveDateTime) -> DateTime<Utc> {
    // A local time a spring-forward change skips exists from the end of the
    // gap on; gaps are whole minutes, so look minute by minute.
    let mut probe = at;
    for _ in 0..=24 * 60 {
        match tz.from_local_datetime(&probe) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                return t.with_timezone(&Utc);
            }
            chrono::LocalResult::None => probe += chrono::Duration::minutes(1),
        }
    }
    Utc.from_utc_datetime(&at)
}

impl VirtualClock {
    /// A clock that reads `start` (local time in `tz`).
    pub fn new(start: NaiveDateTime, tz: Tz) -> VirtualClock {
        VirtualClock(Mutex::new(State {
            ms: 0,
            origin: instant_of(tz, start),
            tz,
            seq: 0,
            timers: Vec::new(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Virtual milliseconds since the clock started.
    pub fn elapsed_ms(&self) -> u64 {
        self.lock().ms
    }

    /// The time zone local times are read in.
    pub fn zone(&self) -> Tz {
        self.lock().tz
    }

    /// Changes the time zone; the local time reads the same as before (in
    /// the new zone), as when a room is set up in another place.
    pub fn set_zone(&self, tz: Tz) -> Result<(), OutOfRange> {
        let local = self.now();
        let old = std::mem::replace(&mut self.lock().tz, tz);
        self.set_time(local).inspect_err(|_| self.lock().tz = old)
    }

    /// Whether the clock can move on to `ms` virtual milliseconds.
    pub fn check(&self, ms: u64) -> Result<(), OutOfRange> {
        let st = self.lock();
        if ms <= st.last_ms() {
            Ok(())
        } else {
            Err(st.out_of_range())
        }
    }

    /// Sets the local time (what lies between is skipped: `daily` waits
    /// look again from the new time); timers keep their remaining delays.
    /// A time outside the clock's range is refused and changes nothing.
    pub fn set_time(&self, local: NaiveDateTime) -> Result<(), OutOfRange> {
        let mut st = self.lock();
        let at = instant_of(st.tz, local);
        if at < bound(EARLIEST) || at > bound(LATEST) {
            return Err(st.out_of_range());
        }
        st.origin = at - TimeDelta::milliseconds(st.ms as i64);
        let (moved, kept): (Vec<Timer>, Vec<Timer>) = std::mem::take(&mut st.timers)
            .into_iter()
            .partition(|t| matches!(t.due, Due::Local(_)));
        st.timers = kept;
        drop(st);
        for t in moved {
            let _ = t.tx.send(LocalWake::Moved);
        }
        Ok(())
    }

    /// How many waits are queued (cancelled ones are dropped first).
    pub fn pending(&self) -> usize {
        let mut st = self.lock();
        st.timers.retain(|t| !t.tx.is_closed());
        st.timers.len()
    }

    /// The virtual time of the earliest queued wait, if any.
    pub fn next_due(&self) -> Option<u64> {
        let mut st = self.lock();
        st.timers.retain(|t| !t.tx.is_closed());
        st.timers.iter().map(|t| st.due_ms(t.due)).min()
    }

    /// Fires the earliest wait due at or before `limit` ms (moving the
    /// clock to its time); `false` when none is, after moving the clock to
    /// `limit`. The caller lets the scripts react before the next one. The
    /// clock stops at the end of its range ([`VirtualClock::check`] first).
    pub fn fire_next(&self, limit: u64) -> bool {
        let mut st = self.lock();
        let limit = limit.min(st.last_ms());
        st.timers.retain(|t| !t.tx.is_closed());
        let best = st
            .timers
            .iter()
            .enumerate()
            .map(|(i, t)| (st.due_ms(t.due), t.seq, i))
            .filter(|(due, _, _)| *due <= limit)
            .min();
        match best {
            Some((due, _, i)) => {
                st.ms = st.ms.max(due);
                let t = st.timers.swap_remove(i);
                drop(st);
                let _ = t.tx.send(LocalWake::Reached);
                true
            }
            None => {
                st.ms = st.ms.max(limit);
                false
            }
        }
    }

    fn queue(&self, due: Due) -> oneshot::Receiver<LocalWake> {
        let (tx, rx) = oneshot::channel();
        let mut st = self.lock();
        st.seq += 1;
        let seq = st.seq;
        st.timers.push(Timer { seq, due, tx });
        rx
    }
}

impl State {
    fn instant(&self) -> DateTime<Utc> {
        i64::try_from(self.ms)
            .ok()
            .and_then(TimeDelta::try_milliseconds)
            .and_then(|d| self.origin.checked_add_signed(d))
            .unwrap_or_else(|| bound(LATEST))
    }

    fn local(&self) -> NaiveDateTime {
        self.instant().with_timezone(&self.tz).naive_local()
    }

    /// The most virtual milliseconds the clock can show.
    fn last_ms(&self) -> u64 {
        (bound(LATEST) - self.origin).num_milliseconds().max(0) as u64
    }

    fn out_of_range(&self) -> OutOfRange {
        OutOfRange {
            now: self.local().format("%Y-%m-%d %H:%M").to_string(),
        }
    }

    fn due_ms(&self, due: Due) -> u64 {
        match due {
            Due::Mono(ms) => ms,
            Due::Local(at) => {
                let since = instant_of(self.tz, at) - self.origin;
                (since.num_milliseconds().max(0) as u64).max(self.ms)
            }
        }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> NaiveDateTime {
        self.lock().local()
    }

    fn utc(&self) -> DateTime<Utc> {
        self.lock().instant()
    }

    fn poll(&self) -> Duration {
        Duration::from_secs(3600)
    }

    fn sleep(&self, d: Duration) -> Wait<()> {
        let due = self.elapsed_ms().saturating_add(d.as_millis() as u64);
        let rx = self.queue(Due::Mono(due));
        Box::pin(async move {
            // A dropped clock never fires: the wait stays pending.
            if rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }

    fn wait_local(&self, at: NaiveDateTime) -> Option<Wait<LocalWake>> {
        let rx = self.queue(Due::Local(at));
        Some(Box::pin(async move {
            match rx.await {
                Ok(w) => w,
                Err(_) => std::future::pending().await,
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn local_time_follows_the_zone_across_a_spring_forward_change() {
        let tz: Tz = "Europe/Oslo".parse().unwrap();
        let c = VirtualClock::new(t("2026-03-29 01:30"), tz);
        assert!(!c.fire_next(60 * 60 * 1000));
        assert_eq!(c.now(), t("2026-03-29 03:30"));
    }

    #[test]
    fn a_new_zone_keeps_the_local_time_and_moves_on_from_there() {
        let c = VirtualClock::new(t("2026-03-02 08:00"), Tz::UTC);
        c.set_zone("America/New_York".parse().unwrap()).unwrap();
        assert_eq!(c.now(), t("2026-03-02 08:00"));
        assert!(!c.fire_next(60 * 60 * 1000));
        assert_eq!(c.now(), t("2026-03-02 09:00"));
    }

    #[test]
    fn a_skipped_local_time_is_reached_at_the_end_of_the_gap() {
        let tz: Tz = "Europe/Oslo".parse().unwrap();
        let at = instant_of(tz, t("2026-03-29 02:30"));
        assert_eq!(at.with_timezone(&tz).naive_local(), t("2026-03-29 03:00"));
    }

    #[test]
    fn times_beyond_the_clock_s_range_are_refused_and_the_clock_never_overflows() {
        let c = VirtualClock::new(t("2026-01-05 09:00"), Tz::UTC);
        let e = c.check(100_000_000_000 * 86_400_000).unwrap_err();
        assert_eq!(e.now, "2026-01-05 09:00");
        assert!(
            e.to_string().starts_with("beyond the test clock's range"),
            "{e}"
        );
        assert!(c.check(365 * 86_400_000).is_ok());
        // Asked for more than there is, it stops at the end, readable.
        assert!(!c.fire_next(u64::MAX));
        assert_eq!(c.now(), t("9999-12-31 00:00"));
        assert!(c.check(c.elapsed_ms() + 1).is_err());
        assert!(c.set_time(t("2026-03-01 10:00")).is_ok());
        let far = NaiveDate::from_ymd_opt(200_000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert!(c.set_time(far).is_err());
        assert_eq!(c.now(), t("2026-03-01 10:00"));
    }

    #[tokio::test]
    async fn waits_fire_in_time_order_then_in_the_order_set() {
        let c = std::sync::Arc::new(VirtualClock::new(t("2026-03-02 08:00"), Tz::UTC));
        let late = c.sleep(Duration::from_secs(10));
        let early = c.sleep(Duration::from_secs(5));
        let tie = c.sleep(Duration::from_secs(5));
        assert_eq!(c.next_due(), Some(5000));
        assert!(c.fire_next(u64::MAX));
        early.await;
        assert!(c.fire_next(u64::MAX));
        tie.await;
        assert_eq!(c.elapsed_ms(), 5000);
        assert!(!c.fire_next(9_999));
        assert_eq!(c.elapsed_ms(), 9_999);
        assert!(c.fire_next(10_000));
        late.await;
        assert_eq!(c.pending(), 0);
    }
}
