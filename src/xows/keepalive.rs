//! When a silent link is pinged, and when it is judged half-open. Plain
//! data with the clock passed in; the pinger ([`super::pinger`]) looks at
//! each link at its [`Keepalive::next_check`] and asks [`Keepalive::check`];
//! the session reports what arrives ([`Keepalive::received`]).
//!
//! The judgement is by what arrived, never by a timer alone:
//!
//! - any frame counts as life (feedback, answers, pongs), so a link with
//!   traffic is never pinged;
//! - the answer's wait starts when the ping actually went out, so a ping
//!   this process was too busy to send on time does not shorten it;
//! - the wait widens by the host's own lag: how late timers fire in this
//!   process ([`LagMeter`], fed by the pinger's timer). A host
//!   starved of CPU reads its sockets late too; a pong sitting unread in
//!   the socket is no sign the codec is gone. The connection task also
//!   looks at the socket once more before it gives up on a link.
//!
//! One check per link, at the next moment something is due (not a
//! ticker): an idle link is looked at once per `keepalive`, and the
//! deadlines are rounded up to [`GRAIN`] (a quarter of the keepalive when
//! that is shorter) so links come due in batches.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Deadlines are rounded up to a multiple of this since the process
/// started, so idle links' timers fire together.
pub const GRAIN: Duration = Duration::from_secs(1);

/// What to do when the timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing yet.
    Wait,
    /// Send a ping now (and call [`Keepalive::pinged`] once it went out).
    Ping,
    /// Nothing arrived for this long, although a ping went out and its
    /// answer had the (widened) time to arrive: the link is half-open.
    Dead { silent: Duration },
}

/// One link's keepalive state.
#[derive(Debug, Clone)]
pub struct Keepalive {
    /// Ping after this much silence (as configured).
    idle: Duration,
    /// Ping after this much silence now: `idle`, or longer when the host
    /// has more links than its ping rate covers in `idle`
    /// ([`Keepalive::stretch`]).
    every: Duration,
    /// Wait this long for anything after a ping.
    timeout: Duration,
    last_rx: Instant,
    /// When the unanswered ping went out (`None`: none outstanding).
    ping_sent: Option<Instant>,
    /// Deadlines are rounded up to this ([`GRAIN`], less for short
    /// keepalives).
    grain: Duration,
    /// Until the first ping, the part of `every` of silence that calls
    /// for one ([`Keepalive::spread_first`]); a part, so the first ping
    /// stretches with `every` too.
    first: Option<f64>,
}

impl Keepalive {
    /// A link that came up at `now`.
    pub fn new(idle: Duration, timeout: Duration, now: Instant) -> Keepalive {
        Keepalive {
            idle,
            every: idle,
            timeout,
            last_rx: now,
            ping_sent: None,
            grain: GRAIN
                .min(idle / 4)
                .min(timeout / 4)
                .max(Duration::from_millis(1)),
            first: None,
        }
    }

    /// Pings after `at_least` of silence when that is longer than the
    /// configured `idle`: a host keeps its pings under its rate by
    /// pinging each of many links less often.
    pub fn stretch(&mut self, at_least: Duration) {
        self.every = self.idle.max(at_least);
    }

    /// The first ping after a part of the interval (from a quarter to the
    /// whole, `unit` in 0..1), every later one after the whole. Links that
    /// came up together (a fleet's start, a site's outage) would
    /// otherwise be pinged together forever: a random part each spreads
    /// their pings evenly over the interval, and none is pinged right
    /// after it came up.
    pub fn spread_first(&mut self, unit: f64) {
        self.first = Some(0.25 + 0.75 * unit.clamp(0.0, 1.0));
    }

    /// The silence that calls for a ping now.
    fn due_after(&self) -> Duration {
        self.first
            .map_or(self.every, |part| self.every.mul_f64(part))
    }

    /// A frame arrived (any frame): the link is alive. `true` when it
    /// answered a ping: the next ping is now due a whole `every` from
    /// here (the pinger's look at the answer's deadline finds that out).
    pub fn received(&mut self, now: Instant) -> bool {
        self.last_rx = now;
        self.ping_sent.take().is_some()
    }

    /// The grain its deadlines are rounded to.
    pub fn grain(&self) -> Duration {
        self.grain
    }

    /// The ping went out at `now`.
    pub fn pinged(&mut self, now: Instant) {
        self.ping_sent = Some(now);
        self.first = None;
    }

    /// When the timer should fire next, given the host's lag.
    pub fn next_check(&self, lag: Duration, start: Instant) -> Instant {
        let due = match self.ping_sent {
            None => self.last_rx + self.due_after(),
            Some(sent) => sent + self.timeout + lag * 2,
        };
        round_up(due, start, self.grain)
    }

    /// The timer fired at `now`; `lag` is how late this host's timers run.
    pub fn check(&self, now: Instant, lag: Duration) -> Verdict {
        match self.ping_sent {
            None if now.saturating_duration_since(self.last_rx) >= self.due_after() => {
                Verdict::Ping
            }
            None => Verdict::Wait,
            Some(sent) if now.saturating_duration_since(sent) >= self.timeout + lag * 2 => {
                Verdict::Dead {
                    silent: now.saturating_duration_since(self.last_rx),
                }
            }
            Some(_) => Verdict::Wait,
        }
    }
}

/// `t` rounded up to the next multiple of `grain` counted from `start`.
fn round_up(t: Instant, start: Instant, grain: Duration) -> Instant {
    let since = t.saturating_duration_since(start).as_nanos();
    let grain = grain.as_nanos();
    let up = since.div_ceil(grain) * grain;
    start + Duration::from_nanos(up.min(u64::MAX as u128) as u64)
}

/// How late this process's timers fire: the largest lateness seen,
/// falling by half the time since (a stall of five seconds widens the
/// keepalive's wait for about ten). Plain data; [`host_lag`] and
/// [`note_lateness`] share one for the process.
#[derive(Debug, Clone, Copy)]
pub struct LagMeter {
    lag: Duration,
    at: Option<Instant>,
}

impl LagMeter {
    pub const fn new() -> LagMeter {
        LagMeter {
            lag: Duration::ZERO,
            at: None,
        }
    }

    /// The lag now.
    pub fn lag(&self, now: Instant) -> Duration {
        match self.at {
            None => Duration::ZERO,
            Some(at) => self
                .lag
                .saturating_sub(now.saturating_duration_since(at) / 2),
        }
    }

    /// A timer due at `due` fired at `now`.
    pub fn observe(&mut self, due: Instant, now: Instant) {
        let late = now.saturating_duration_since(due);
        if late >= self.lag(now) {
            self.lag = late;
            self.at = Some(now);
        }
    }
}

impl Default for LagMeter {
    fn default() -> Self {
        LagMeter::new()
    }
}

static METER: Mutex<LagMeter> = Mutex::new(LagMeter::new());

/// This process's timer lag now.
pub fn host_lag() -> Duration {
    METER
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .lag(Instant::now())
}

/// Records a timer due at `due` that fired now; returns the lag now.
pub fn note_lateness(due: Instant) -> Duration {
    let now = Instant::now();
    let mut m = METER.lock().unwrap_or_else(|p| p.into_inner());
    m.observe(due, now);
    m.lag(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    fn link(t0: Instant) -> Keepalive {
        Keepalive::new(20 * S, 10 * S, t0)
    }

    #[test]
    fn a_new_link_is_first_pinged_after_its_part_of_the_interval_and_then_after_the_whole() {
        let t0 = Instant::now();
        let mut k = link(t0);
        k.spread_first(0.5);
        // A quarter plus three quarters of a half: 12.5 s, rounded up to
        // the grain.
        assert_eq!(k.next_check(Duration::ZERO, t0), t0 + 13 * S);
        assert_eq!(k.check(t0 + 12 * S, Duration::ZERO), Verdict::Wait);
        assert_eq!(k.check(t0 + 12_500 * MS, Duration::ZERO), Verdict::Ping);
        k.pinged(t0 + 12_500 * MS);
        k.received(t0 + 13 * S);
        assert_eq!(k.next_check(Duration::ZERO, t0), t0 + 33 * S);
        assert_eq!(k.check(t0 + 32 * S, Duration::ZERO), Verdict::Wait);
        for (unit, first) in [(0.0, 5 * S), (1.0, 20 * S), (7.0, 20 * S)] {
            let mut k = link(t0);
            k.spread_first(unit);
            assert_eq!(k.next_check(Duration::ZERO, t0), t0 + first);
        }
    }

    #[test]
    fn a_link_of_a_host_with_more_links_than_its_ping_rate_covers_is_pinged_less_often() {
        let t0 = Instant::now();
        let mut k = link(t0);
        // Stretched to 66.7 s (as many links as a rate covers then).
        k.stretch(Duration::from_secs_f64(10_000.0 / 150.0));
        assert_eq!(k.check(t0 + 60 * S, Duration::ZERO), Verdict::Wait);
        assert_eq!(k.check(t0 + 67 * S, Duration::ZERO), Verdict::Ping);
        k.pinged(t0 + 67 * S);
        // The answer's wait is not stretched.
        assert!(matches!(
            k.check(t0 + 77 * S, Duration::ZERO),
            Verdict::Dead { .. }
        ));
        // Never below what was configured.
        let mut k = link(t0);
        k.stretch(S);
        assert_eq!(k.check(t0 + 19 * S, Duration::ZERO), Verdict::Wait);
        assert_eq!(k.check(t0 + 20 * S, Duration::ZERO), Verdict::Ping);
        // The first ping spreads over the stretched interval, even when
        // it was spread before the host had its many links.
        let mut k = link(t0);
        k.spread_first(0.0);
        assert_eq!(k.next_check(Duration::ZERO, t0), t0 + 5 * S);
        k.stretch(40 * S);
        assert_eq!(k.next_check(Duration::ZERO, t0), t0 + 10 * S);
    }

    #[test]
    fn a_link_with_traffic_is_never_pinged() {
        let t0 = Instant::now();
        let mut k = link(t0);
        for i in 1..100 {
            k.received(t0 + i * 5 * S);
            assert_eq!(k.check(t0 + i * 5 * S + S, Duration::ZERO), Verdict::Wait);
        }
    }

    #[test]
    fn a_silent_link_is_pinged_then_declared_half_open_when_nothing_answers() {
        let t0 = Instant::now();
        let mut k = link(t0);
        assert_eq!(k.check(t0 + 19 * S, Duration::ZERO), Verdict::Wait);
        assert_eq!(k.check(t0 + 20 * S, Duration::ZERO), Verdict::Ping);
        k.pinged(t0 + 20 * S);
        assert_eq!(k.check(t0 + 29 * S, Duration::ZERO), Verdict::Wait);
        assert_eq!(
            k.check(t0 + 30 * S, Duration::ZERO),
            Verdict::Dead { silent: 30 * S }
        );
    }

    #[test]
    fn any_frame_after_the_ping_counts_as_the_answer() {
        let t0 = Instant::now();
        let mut k = link(t0);
        k.pinged(t0 + 20 * S);
        k.received(t0 + 29 * S);
        assert_eq!(k.check(t0 + 31 * S, Duration::ZERO), Verdict::Wait);
        assert_eq!(k.check(t0 + 49 * S, Duration::ZERO), Verdict::Ping);
    }

    #[test]
    fn an_answer_to_a_ping_moves_the_next_check_a_whole_keepalive_on() {
        let t0 = Instant::now();
        let mut k = link(t0);
        assert!(!k.received(t0 + S), "no ping was out");
        k.pinged(t0 + 21 * S);
        assert_eq!(k.next_check(Duration::ZERO, t0), t0 + 31 * S);
        assert!(k.received(t0 + 22 * S), "the answer");
        assert_eq!(k.next_check(Duration::ZERO, t0), t0 + 42 * S);
        assert!(!k.received(t0 + 23 * S));
    }

    #[test]
    fn a_ping_sent_late_by_a_busy_host_gets_its_whole_wait_from_when_it_went_out() {
        let t0 = Instant::now();
        let mut k = link(t0);
        // Due at 20 s, the host was starved and sent it at 45 s.
        k.pinged(t0 + 45 * S);
        assert_eq!(k.check(t0 + 50 * S, Duration::ZERO), Verdict::Wait);
        assert!(matches!(
            k.check(t0 + 55 * S, Duration::ZERO),
            Verdict::Dead { .. }
        ));
    }

    #[test]
    fn a_lagging_host_widens_the_wait_by_twice_its_lag() {
        let t0 = Instant::now();
        let mut k = link(t0);
        k.pinged(t0 + 20 * S);
        let lag = 3 * S;
        assert_eq!(k.check(t0 + 35 * S, lag), Verdict::Wait);
        assert!(matches!(k.check(t0 + 36 * S, lag), Verdict::Dead { .. }));
        assert_eq!(k.next_check(lag, t0), t0 + 36 * S);
    }

    #[test]
    fn checks_fall_on_a_coarse_grain_so_idle_links_wake_together() {
        let t0 = Instant::now();
        let k = Keepalive::new(20 * S, 10 * S, t0 + Duration::from_millis(1));
        assert_eq!(
            k.next_check(Duration::ZERO, t0),
            t0 + 20 * S + GRAIN,
            "20.001 s rounds up to 20.25 s"
        );
    }

    #[test]
    fn the_host_lag_is_the_worst_recent_lateness_fading_at_half_the_time_since() {
        let t0 = Instant::now();
        let mut m = LagMeter::new();
        assert_eq!(m.lag(t0), Duration::ZERO);
        m.observe(t0, t0 + 4 * S);
        assert_eq!(m.lag(t0 + 4 * S), 4 * S);
        // A punctual timer does not erase it at once.
        m.observe(t0 + 6 * S, t0 + 6 * S);
        assert_eq!(m.lag(t0 + 6 * S), 3 * S);
        assert_eq!(m.lag(t0 + 12 * S), Duration::ZERO);
    }
}
