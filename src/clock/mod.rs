//! Time for scripts: the local wall clock `daily` reads, and the waits of
//! timers and `daily`, replaceable so `xmacro test` runs them on a virtual
//! clock ([`crate::clock::vclock`]) that only moves when a test says so.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use chrono::NaiveDateTime;

pub mod vclock;

/// A wait handed out by a clock.
pub type Wait<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a wait for a local time ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalWake {
    /// The local time was reached.
    Reached,
    /// The clock was set to another time: look again from the new time.
    Moved,
}

/// Where `daily` reads the local time, and what timers wait on.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The local date and time now.
    fn now(&self) -> NaiveDateTime;
    /// How often a schedule looks at the clock while waiting.
    fn poll(&self) -> Duration;
    /// Waits `d` on this clock (tokio's timer unless overridden).
    fn sleep(&self, d: Duration) -> Wait<()> {
        Box::pin(tokio::time::sleep(d))
    }
    /// Waits until the local time reads `at` or later, when this clock can
    /// tell exactly; `None` means: poll [`Clock::now`] every [`Clock::poll`].
    fn wait_local(&self, at: NaiveDateTime) -> Option<Wait<LocalWake>> {
        let _ = at;
        None
    }
    /// The instant now, in UTC (what a simulated device stamps its
    /// records with).
    fn utc(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}

/// The machine's local time.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        chrono::Local::now().naive_local()
    }
    fn poll(&self) -> Duration {
        Duration::from_secs(1)
    }
}

/// A clock that only moves when told (tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<NaiveDateTime>);

impl ManualClock {
    pub fn new(at: NaiveDateTime) -> Self {
        ManualClock(Mutex::new(at))
    }
    pub fn set(&self, at: NaiveDateTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> NaiveDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn poll(&self) -> Duration {
        Duration::from_millis(10)
    }
}

/// Microseconds since the Unix epoch (wall clock), as burst events carry
/// and scripts read with `now_us()` to measure latency.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The next time after `now` that the wall clock reads `at`.
pub fn next_daily(now: NaiveDateTime, at: chrono::NaiveTime) -> NaiveDateTime {
    let today = now.date().and_time(at);
    if today > now {
        today
    } else {
        today + chrono::Duration::days(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, NaiveTime};

    #[test]
    fn next_daily_rolls_to_tomorrow() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let seven = NaiveTime::from_hms_opt(7, 30, 0).unwrap();
        let early = d.and_hms_opt(6, 0, 0).unwrap();
        assert_eq!(next_daily(early, seven), d.and_time(seven));
        let late = d.and_hms_opt(7, 30, 0).unwrap();
        assert_eq!(
            next_daily(late, seven),
            d.succ_opt().unwrap().and_time(seven)
        );
    }
}
