//! Log rate limits per source, so one print loop in a script or one codec
//! flooding odd frames cannot fill the disk or drown everyone else's lines.
//!
//! A [`RateLimit`] lets a burst of lines through in each one-second window
//! and counts the rest; the first line let through in a later window carries
//! the count of what was suppressed, so nothing vanishes without a trace.
//! [`Keyed`] holds one limit per source key (an instance, a codec).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines each source may log per window before the rest are counted.
pub const DEFAULT_BURST: u32 = 50;
/// The length of one window.
pub const WINDOW: Duration = Duration::from_secs(1);

/// What to do with one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `suppressed` lines were dropped before it (log that first).
    Log { suppressed: u64 },
    /// Drop it (it is counted).
    Drop,
}

/// One source's limit: `burst` lines per window.
#[derive(Debug, Clone)]
pub struct RateLimit {
    burst: u32,
    window_start: Option<Instant>,
    used: u32,
    suppressed: u64,
}

impl RateLimit {
    pub const fn new(burst: u32) -> Self {
        RateLimit {
            burst,
            window_start: None,
            used: 0,
            suppressed: 0,
        }
    }

    /// Decides about one line arriving at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        let fresh = self
            .window_start
            .is_none_or(|s| now.saturating_duration_since(s) >= WINDOW);
        if fresh {
            self.window_start = Some(now);
            self.used = 0;
        }
        if self.used < self.burst {
            self.used += 1;
            Verdict::Log {
                suppressed: std::mem::take(&mut self.suppressed),
            }
        } else {
            self.suppressed += 1;
            Verdict::Drop
        }
    }

    /// Lines dropped and not reported yet (reported and reset by this call).
    pub fn take_suppressed(&mut self) -> u64 {
        std::mem::take(&mut self.suppressed)
    }

    /// When this source last opened a window.
    fn last_active(&self) -> Option<Instant> {
        self.window_start
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(DEFAULT_BURST)
    }
}

/// One [`RateLimit`] per key; keys idle for a minute are forgotten once
/// many are held, so the map stays as small as the set of live sources.
#[derive(Debug)]
pub struct Keyed<K> {
    burst: u32,
    limits: Mutex<HashMap<K, RateLimit>>,
}

const PRUNE_AT: usize = 4096;
const IDLE: Duration = Duration::from_secs(60);

impl<K: Hash + Eq + Clone> Keyed<K> {
    pub fn new(burst: u32) -> Self {
        Keyed {
            burst,
            limits: Mutex::new(HashMap::new()),
        }
    }

    /// Decides about one line from `key`.
    pub fn check(&self, key: &K) -> Verdict {
        let now = Instant::now();
        let mut map = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PRUNE_AT && !map.contains_key(key) {
            map.retain(|_, l| {
                l.suppressed > 0
                    || l.last_active()
                        .is_some_and(|t| now.saturating_duration_since(t) < IDLE)
            });
        }
        map.entry(key.clone())
            .or_insert_with(|| RateLimit::new(self.burst))
            .check(now)
    }

    /// Forgets a source, returning what it had suppressed and not reported.
    pub fn remove(&self, key: &K) -> u64 {
        let mut map = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key).map_or(0, |mut l| l.take_suppressed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_lines_are_counted_and_reported_in_the_next_window() {
        let mut l = RateLimit::new(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check(t0), Verdict::Log { suppressed: 0 });
        }
        for _ in 0..1000 {
            assert_eq!(l.check(t0 + Duration::from_millis(500)), Verdict::Drop);
        }
        assert_eq!(
            l.check(t0 + Duration::from_millis(1001)),
            Verdict::Log { suppressed: 1000 }
        );
        assert_eq!(
            l.check(t0 + Duration::from_millis(1002)),
            Verdict::Log { suppressed: 0 }
        );
    }

    #[test]
    fn sources_are_limited_separately() {
        let k: Keyed<&str> = Keyed::new(2);
        assert!(matches!(k.check(&"a"), Verdict::Log { .. }));
        assert!(matches!(k.check(&"a"), Verdict::Log { .. }));
        assert_eq!(k.check(&"a"), Verdict::Drop);
        assert!(matches!(k.check(&"b"), Verdict::Log { .. }));
        assert_eq!(k.remove(&"a"), 1);
    }
}
