//! The retry schedule: capped exponential backoff with full jitter, `Retry-After` honoured and
//! clamped, a bound on attempts and on the total time of one call. Pure: time comes in as
//! arguments, randomness from an injected, seedable [`Jitter`].
//!
//! It never sleeps, and never decides whether a failure may be retried (that is
//! [`crate::dokploy::error::DokployError::is_retryable`]'s); it never allows a retry whose wait
//! would end past the call's deadline.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::defaults;

/// A `Retry-After` header: a delay in seconds, or an HTTP date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: 7`.
    Delay(Duration),
    /// `Retry-After: Fri, 27 Nov 2026 13:09:27 GMT`, as unix milliseconds.
    At(i64),
}

impl RetryAfter {
    /// Reads a header value; None for anything that is neither form.
    pub fn parse(value: &str) -> Option<RetryAfter> {
        let value = value.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(RetryAfter::Delay(Duration::from_secs(seconds)));
        }
        let at = httpdate::parse_http_date(value).ok()?;
        let unix_ms = at.duration_since(UNIX_EPOCH).ok()?.as_millis();
        Some(RetryAfter::At(i64::try_from(unix_ms).ok()?))
    }

    /// The delay it asks for, as of `now_ms` (a date in the past asks for none).
    pub fn delay(self, now_ms: i64) -> Duration {
        match self {
            RetryAfter::Delay(delay) => delay,
            RetryAfter::At(at_ms) => {
                Duration::from_millis(u64::try_from(at_ms.saturating_sub(now_ms)).unwrap_or(0))
            }
        }
    }
}

/// A seedable source of jitter, shared by every retry loop.
#[derive(Debug)]
pub struct Jitter {
    rng: Mutex<SmallRng>,
}

impl Jitter {
    /// Jitter from a seed (tests use a fixed one; the server one from `ids::random_seed`).
    pub fn seeded(seed: u64) -> Self {
        Self {
            rng: Mutex::new(SmallRng::seed_from_u64(seed)),
        }
    }

    /// A uniform draw in [0, 1).
    pub fn unit(&self) -> f64 {
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random::<f64>()
    }
}

/// How calls are retried (defaults from the predecessor: 1, 2, 4, 8, 16 s, at most 5 retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries_max: u32,
    /// The first backoff ceiling.
    pub base: Duration,
    /// The largest backoff ceiling.
    pub backoff_max: Duration,
    /// The longest `Retry-After` obeyed; longer requests are clamped to it.
    pub retry_after_max: Duration,
    /// The most time one call may take, attempts and waits included.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries_max: defaults::RETRIES_MAX,
            base: defaults::RETRY_BASE.value,
            backoff_max: defaults::RETRY_DELAY_MAX.value,
            retry_after_max: defaults::RETRY_AFTER_MAX,
            deadline: defaults::CALL_DEADLINE,
        }
    }
}

impl RetryPolicy {
    /// The ceiling of the backoff before retry `retry` (1-based): base·2^(retry-1), capped.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.base.saturating_mul(factor).min(self.backoff_max)
    }

    /// The delay before retry `retry`: Dokploy's `Retry-After` when it gave one (clamped),
    /// otherwise full jitter, uniform in [0, ceiling]. `unit` is a draw in [0, 1).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        match retry_after {
            Some(asked) => asked.min(self.retry_after_max),
            None => self.ceiling(retry).mul_f64(unit.clamp(0.0, 1.0)),
        }
    }

    /// Whether retry `retry` may happen after `elapsed` in the call with a wait of `delay`.
    pub fn allows(&self, retry: u32, elapsed: Duration, delay: Duration) -> bool {
        retry <= self.retries_max && elapsed.saturating_add(delay) < self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_from_one_second_up_to_sixteen() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<u64> = (1..=7).map(|n| policy.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, vec![1, 2, 4, 8, 16, 16, 16]);
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_ceiling() {
        let policy = RetryPolicy::default();
        let jitter = Jitter::seeded(7);
        for retry in 1..=5 {
            for _ in 0..200 {
                let delay = policy.delay(retry, None, jitter.unit());
                assert!(delay <= policy.ceiling(retry), "{delay:?} at retry {retry}");
            }
        }
        assert_eq!(policy.delay(3, None, 0.0), Duration::ZERO);
    }

    #[test]
    fn retry_after_is_honoured_and_clamped() {
        let policy = RetryPolicy::default();
        let seven = Some(Duration::from_secs(7));
        assert_eq!(policy.delay(1, seven, 0.5), Duration::from_secs(7));
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(policy.delay(1, hour, 0.5), Duration::from_secs(60));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates_and_ignores_garbage() {
        assert_eq!(
            RetryAfter::parse(" 7 "),
            Some(RetryAfter::Delay(Duration::from_secs(7)))
        );
        let date = RetryAfter::parse("Fri, 27 Nov 2026 13:09:27 GMT").expect("an HTTP date");
        assert_eq!(date, RetryAfter::At(1_795_784_967_000));
        assert_eq!(date.delay(1_795_784_960_000), Duration::from_secs(7));
        assert_eq!(
            date.delay(1_795_784_999_000),
            Duration::ZERO,
            "a past date asks no wait"
        );
        for garbage in ["", "soon", "-3", "1.5", "Fri, 99 Nov 2026 13:09:27 GMT"] {
            assert_eq!(RetryAfter::parse(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn attempts_and_the_deadline_bound_the_retries() {
        let policy = RetryPolicy {
            deadline: Duration::from_secs(30),
            ..RetryPolicy::default()
        };
        let second = Duration::from_secs(1);
        assert!(policy.allows(5, Duration::ZERO, second));
        assert!(!policy.allows(6, Duration::ZERO, second));
        assert!(!policy.allows(2, Duration::from_secs(29), second));
    }
}
