//! A host-wide limit on connection attempts per second (`connect_rate`):
//! one token bucket shared by every codec's attempts, at start-up and on
//! reconnect. Against real codecs every attempt is a TCP and TLS
//! handshake through firewalls and proxies that count them, so a fleet
//! dropped at once (a site-wide network blip, a restarted proxy) must come
//! back at a rate the network accepts, not in one storm.
//!
//! [`Bucket`] is the arithmetic, plain data with the clock passed in, so it
//! is tested exactly; [`ConnectPace`] is the shared handle the connection
//! tasks wait on. Each attempt *reserves* the next free moment and sleeps
//! until then, so waiting codecs go in the order they asked, each woken
//! once (no herd retrying for a token).
//!
//! The bound is on any one second: with a rate of `r` a second, at most `r`
//! attempts start within any second. The bucket holds a small burst
//! (`r / 50`, at least one) so a codec's first attempt after a drop goes at
//! once when few codecs reconnect, and refills at nine tenths of `r`: burst
//! plus refill stay under `r`, and the tenth left over absorbs handshakes
//! that reach the codec late (a busy network or host delays some attempts
//! into the next second, where they must not push the count over `r`).
//!
//! The bucket plans; [`Window`] enforces. A task woken late (a host too
//! busy to run its timers on time wakes a whole batch at once) would start
//! attempts that were planned apart all together, so before it starts an
//! attempt checks the log of real starts in the last second and waits
//! again when that already holds nine tenths of `r`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The default `connect_rate`: attempts per second, host-wide.
pub const DEFAULT_CONNECT_RATE: u32 = 500;
/// The largest `connect_rate` accepted.
pub const MAX_CONNECT_RATE: u32 = 100_000;

/// The token bucket: how many attempts may start now, and when the next
/// one may once those are used.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Tokens added per second.
    refill: f64,
    /// Tokens held at most.
    burst: f64,
    /// Tokens now (negative: reserved ahead of time by waiting attempts).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Bucket {
    /// A full bucket for `rate` attempts in any one second (`rate` >= 1).
    pub fn new(rate: u32, now: Instant) -> Bucket {
        let rate = f64::from(rate.max(1));
        let burst = (rate / 50.0).floor().max(1.0);
        Bucket {
            refill: (rate * 0.9).max(1.0).min(rate - burst + 1.0),
            burst,
            tokens: burst,
            at: now,
        }
    }

    /// Takes a token for one attempt: returns how long to wait before
    /// starting it (zero: at once). The token is taken now, so the next
    /// caller waits behind this one.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        if now > self.at {
            let earned = now.duration_since(self.at).as_secs_f64() * self.refill;
            self.tokens = (self.tokens + earned).min(self.burst);
            self.at = now;
        }
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.refill)
        }
    }

    /// Attempts started per second once the burst is used.
    pub fn sustained(&self) -> f64 {
        self.refill
    }
}

/// The attempts really started in the last second: at most `capacity`.
#[derive(Debug, Clone)]
pub struct Window {
    capacity: usize,
    started: VecDeque<Instant>,
}

impl Window {
    /// A log for `rate` attempts a second, holding nine tenths of it (at
    /// least one): the tenth left absorbs handshakes that reach the codec
    /// late.
    pub fn new(rate: u32) -> Window {
        let rate = rate.max(1) as usize;
        Window {
            capacity: (rate - rate / 10).max(1),
            started: VecDeque::new(),
        }
    }

    /// Records an attempt starting `now`, or says when one may start
    /// (the moment the oldest start in the window is a second old).
    pub fn admit(&mut self, now: Instant) -> Result<(), Instant> {
        let second = Duration::from_secs(1);
        while self
            .started
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= second)
        {
            self.started.pop_front();
        }
        if self.started.len() < self.capacity {
            self.started.push_back(now);
            Ok(())
        } else {
            Err(self.started[0] + second)
        }
    }
}

/// The shared limit every codec of a host waits on before each connection
/// attempt. Cloning shares it.
#[derive(Clone)]
pub struct ConnectPace {
    rate: u32,
    bucket: Arc<Mutex<Bucket>>,
    window: Arc<Mutex<Window>>,
}

impl std::fmt::Debug for ConnectPace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnectPace({}/s)", self.rate)
    }
}

impl ConnectPace {
    /// A limit of `rate` attempts in any one second (at least 1).
    pub fn new(rate: u32) -> ConnectPace {
        ConnectPace {
            rate: rate.max(1),
            bucket: Arc::new(Mutex::new(Bucket::new(rate, Instant::now()))),
            window: Arc::new(Mutex::new(Window::new(rate))),
        }
    }

    /// The configured rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// How long the next attempt waits for its turn (reserving it).
    pub fn reserve(&self) -> Duration {
        let now = Instant::now();
        self.bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reserve(now)
    }

    /// Waits for this attempt's turn: its planned moment, then room in
    /// the last second's log of real starts.
    pub async fn wait(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        loop {
            let admitted = self
                .window
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .admit(Instant::now());
            match admitted {
                Ok(()) => return,
                Err(at) => tokio::time::sleep_until(at.into()).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts of `attempts` attempts asked for all at `t0`.
    fn starts(rate: u32, attempts: usize) -> Vec<Duration> {
        let t0 = Instant::now();
        let mut b = Bucket::new(rate, t0);
        (0..attempts).map(|_| b.reserve(t0)).collect()
    }

    /// The most starts inside any half-open window of one second.
    fn busiest_second(starts: &[Duration]) -> usize {
        starts
            .iter()
            .map(|s| {
                starts
                    .iter()
                    .filter(|t| *t >= s && **t < *s + Duration::from_secs(1))
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_fleet_asking_at_once_never_starts_more_than_the_rate_in_any_second() {
        for rate in [1, 2, 7, 50, 500, 1000] {
            let s = starts(rate, rate as usize * 4);
            let most = busiest_second(&s);
            assert!(most <= rate as usize, "rate {rate}: {most} in one second");
            assert!(s.windows(2).all(|w| w[0] <= w[1]), "in the order asked");
        }
    }

    #[test]
    fn the_fleet_comes_back_at_nine_tenths_of_the_rate_leaving_room_for_late_handshakes() {
        let s = starts(500, 10_000);
        let last = s.last().unwrap().as_secs_f64();
        // 10 at once, then 450 a second.
        assert!((last - (9_990.0 / 450.0)).abs() < 0.01, "{last}");
        let most = busiest_second(&s[..2000]);
        assert!(most <= 460, "{most}");
    }

    #[test]
    fn a_few_codecs_reconnecting_go_at_once() {
        let s = starts(500, 10);
        assert!(s.iter().all(|d| d.is_zero()), "{s:?}");
        // Fifty, at 500/s: the last waits about a tenth of a second.
        let s = starts(500, 50);
        assert!(*s.last().unwrap() < Duration::from_millis(100), "{s:?}");
    }

    #[test]
    fn an_idle_bucket_fills_again_but_only_to_its_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(50, t0);
        for _ in 0..100 {
            b.reserve(t0);
        }
        // Long after the storm: the burst (one token at 50/s) is back, no more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.reserve(later), Duration::ZERO);
        let next = b.reserve(later);
        assert!((next.as_secs_f64() - 1.0 / 45.0).abs() < 1e-6, "{next:?}");
    }

    #[test]
    fn attempts_woken_late_all_at_once_still_start_at_most_nine_tenths_of_the_rate_a_second() {
        let t0 = Instant::now();
        let mut w = Window::new(50);
        // A stalled host wakes 200 planned attempts at the same moment,
        // and each retries when the window says.
        let mut started = Vec::new();
        let mut pending: Vec<Instant> = vec![t0; 200];
        while let Some(at) = pending.pop() {
            match w.admit(at) {
                Ok(()) => started.push(at.duration_since(t0)),
                Err(next) => pending.insert(0, next),
            }
            pending.sort_by(|a, b| b.cmp(a));
        }
        assert_eq!(started.len(), 200);
        started.sort();
        assert_eq!(busiest_second(&started), 45);
        let mut one = Window::new(1);
        assert_eq!(one.admit(t0), Ok(()));
        assert_eq!(one.admit(t0), Err(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn a_rate_of_one_spaces_attempts_a_second_apart() {
        let s = starts(1, 3);
        assert_eq!(s[0], Duration::ZERO);
        assert_eq!(s[1], Duration::from_secs(1));
        assert_eq!(s[2], Duration::from_secs(2));
    }
}
