//! Reconnect delays: exponential with jitter and a cap, and a much slower
//! schedule after an authentication failure (a codec may lock the account).
//! Plain data; the caller supplies the randomness so tests are exact.

use std::time::Duration;

/// Backoff settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffPolicy {
    /// First delay after a failure.
    pub initial: Duration,
    /// Largest delay for ordinary failures.
    pub max: Duration,
    /// First delay after an authentication failure.
    pub auth_initial: Duration,
    /// Largest delay after authentication failures.
    pub auth_max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
            auth_initial: Duration::from_secs(60),
            auth_max: Duration::from_secs(600),
        }
    }
}

/// The state of one connection's retries.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
    auth_failures: u32,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Self {
        Backoff {
            policy,
            attempt: 0,
            auth_failures: 0,
        }
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Call after a connection came up and stayed up.
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.auth_failures = 0;
    }

    /// The delay before the next attempt. `jitter` is uniform in [0, 1):
    /// the delay is drawn from the whole of [d/10, d) for the exponential
    /// step d ("full jitter" with a small floor), so a fleet dropped at once
    /// comes back spread over the step instead of in lockstep. After an
    /// authentication failure the delay is at least half the step.
    pub fn next_delay(&mut self, auth_failure: bool, jitter: f64) -> Duration {
        let (base, cap, n) = if auth_failure {
            self.auth_failures += 1;
            (
                self.policy.auth_initial,
                self.policy.auth_max,
                self.auth_failures - 1,
            )
        } else {
            self.attempt += 1;
            (self.policy.initial, self.policy.max, self.attempt - 1)
        };
        let step = base.saturating_mul(1u32 << n.min(20)).min(cap);
        let j = jitter.clamp(0.0, 1.0);
        if auth_failure {
            // Never sooner than half the step: the account may be locked.
            step / 2 + step.mul_f64(j / 2.0)
        } else {
            step / 10 + step.mul_f64(0.9 * j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_with_jitter_inside_bounds() {
        let mut b = Backoff::new(BackoffPolicy::default());
        assert_eq!(b.next_delay(false, 0.0), Duration::from_millis(25));
        assert_eq!(b.next_delay(false, 0.0), Duration::from_millis(50));
        assert_eq!(b.next_delay(false, 0.999_999).as_millis(), 999);
        for _ in 0..30 {
            let d = b.next_delay(false, 0.5);
            assert!(d <= Duration::from_secs(30));
        }
        assert_eq!(b.next_delay(false, 0.0), Duration::from_secs(3));
        b.reset();
        assert_eq!(b.next_delay(false, 0.0), Duration::from_millis(25));
    }

    #[test]
    fn auth_failures_wait_minutes() {
        let mut b = Backoff::new(BackoffPolicy::default());
        let first = b.next_delay(true, 0.0);
        assert_eq!(first, Duration::from_secs(30));
        let mut last = first;
        for _ in 0..10 {
            last = b.next_delay(true, 0.99);
        }
        assert!(last >= Duration::from_secs(300) && last <= Duration::from_secs(600));
        // Ordinary failures keep their own, faster schedule.
        assert_eq!(b.next_delay(false, 0.0), Duration::from_millis(25));
    }
}
