//! The circuit breaker shared by every deployment: Closed, Open and HalfOpen, with thresholds
//! from configuration and time from the injected clock.
//!
//! After `failures_max` consecutive failures (5xx, timeouts, resets; never a 4xx, and a 429 is
//! back-pressure, not failure) it opens: calls fail fast for `open_for`. Then it is half-open and
//! lets exactly one probe through: a healthy answer closes it, a failure opens it again. The
//! breaker only decides: it never appends or sleeps, and its caller appends each
//! [`Transition`] to the ledger's system stream.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::clock::Clock;
use crate::defaults;
use crate::dokploy::error::BreakerSignal;

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls fail fast until `until_ms`.
    Open {
        /// When the breaker turns half-open (unix ms).
        until_ms: i64,
    },
    /// One probe may pass; `probing` while it is in flight.
    HalfOpen {
        /// Whether the probe is out.
        probing: bool,
    },
}

impl BreakerState {
    /// `closed`, `open` or `half_open` (for `/health` and metrics).
    pub fn as_str(&self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen { .. } => "half_open",
        }
    }
}

/// A change of state, to be recorded as an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Closed or half-open → open.
    Opened,
    /// Open → half-open.
    HalfOpened,
    /// Half-open → closed.
    Closed,
}

/// Whether a call may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it (`probe`: it is the half-open breaker's single probe).
    Allowed {
        /// Whether this call is the probe.
        probe: bool,
    },
    /// Do not send it; the breaker lets a probe through in `retry_in`.
    Refused {
        /// Time until half-open (zero while another call is probing).
        retry_in: Duration,
    },
}

/// Thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerOptions {
    /// Consecutive failures that open the breaker.
    pub failures_max: u32,
    /// How long it stays open.
    pub open_for: Duration,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        Self {
            failures_max: defaults::BREAKER_FAILURES.get(),
            open_for: defaults::BREAKER_OPEN_FOR.value,
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
}

/// The shared breaker.
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Mutex<Inner>>,
    options: BreakerOptions,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (state, failures) = self.snapshot();
        f.debug_struct("CircuitBreaker")
            .field("state", &state)
            .field("consecutive_failures", &failures)
            .finish()
    }
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(options: BreakerOptions, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
            })),
            options,
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state and the consecutive-failure count, as of now.
    pub fn snapshot(&self) -> (BreakerState, u32) {
        let inner = self.lock();
        (inner.state, inner.consecutive_failures)
    }

    /// Asks to send a call. May turn an expired open breaker half-open.
    pub fn admit(&self) -> (Admission, Option<Transition>) {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        match inner.state {
            BreakerState::Closed => (Admission::Allowed { probe: false }, None),
            BreakerState::Open { until_ms } if now < until_ms => {
                let wait = u64::try_from(until_ms - now).unwrap_or(0);
                let retry_in = Duration::from_millis(wait);
                (Admission::Refused { retry_in }, None)
            }
            BreakerState::Open { .. } => {
                inner.state = BreakerState::HalfOpen { probing: true };
                let admission = Admission::Allowed { probe: true };
                (admission, Some(Transition::HalfOpened))
            }
            BreakerState::HalfOpen { probing: true } => {
                let refused = Admission::Refused {
                    retry_in: Duration::ZERO,
                };
                (refused, None)
            }
            BreakerState::HalfOpen { probing: false } => {
                inner.state = BreakerState::HalfOpen { probing: true };
                (Admission::Allowed { probe: true }, None)
            }
        }
    }

    /// Records how an admitted call ended.
    pub fn record(&self, probe: bool, signal: BreakerSignal) -> Option<Transition> {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        match signal {
            BreakerSignal::Healthy => {
                inner.consecutive_failures = 0;
                if matches!(inner.state, BreakerState::HalfOpen { .. }) && probe {
                    inner.state = BreakerState::Closed;
                    return Some(Transition::Closed);
                }
                None
            }
            BreakerSignal::Failing => {
                inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
                let reopen = probe && matches!(inner.state, BreakerState::HalfOpen { .. });
                let trip = inner.state == BreakerState::Closed
                    && inner.consecutive_failures >= self.options.failures_max;
                if reopen || trip {
                    let open_ms =
                        i64::try_from(self.options.open_for.as_millis()).unwrap_or(i64::MAX);
                    inner.state = BreakerState::Open {
                        until_ms: now.saturating_add(open_ms),
                    };
                    return Some(Transition::Opened);
                }
                None
            }
            BreakerSignal::Neutral => {
                // A 4xx or 429 says nothing about health: a probe that got one frees the slot
                // for the next call to probe, and nothing else changes.
                if probe && inner.state == (BreakerState::HalfOpen { probing: true }) {
                    inner.state = BreakerState::HalfOpen { probing: false };
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn breaker() -> (CircuitBreaker, ManualClock) {
        let clock = ManualClock::new(0);
        let breaker = CircuitBreaker::new(BreakerOptions::default(), Arc::new(clock.clone()));
        (breaker, clock)
    }

    fn fail(breaker: &CircuitBreaker) -> Option<Transition> {
        assert_eq!(breaker.admit().0, Admission::Allowed { probe: false });
        breaker.record(false, BreakerSignal::Failing)
    }

    #[test]
    fn five_consecutive_failures_open_it_and_calls_then_fail_fast() {
        let (breaker, clock) = breaker();
        for _ in 0..4 {
            assert_eq!(fail(&breaker), None);
        }
        assert_eq!(fail(&breaker), Some(Transition::Opened));
        clock.advance(Duration::from_secs(20));
        assert_eq!(
            breaker.admit().0,
            Admission::Refused {
                retry_in: Duration::from_secs(40)
            }
        );
    }

    #[test]
    fn a_success_resets_the_count_and_4xx_or_429_never_move_it() {
        let (breaker, _) = breaker();
        for _ in 0..4 {
            fail(&breaker);
        }
        breaker.admit();
        assert_eq!(breaker.record(false, BreakerSignal::Healthy), None);
        for _ in 0..4 {
            assert_eq!(fail(&breaker), None);
        }
        for _ in 0..20 {
            breaker.admit();
            assert_eq!(breaker.record(false, BreakerSignal::Neutral), None);
        }
        assert_eq!(breaker.snapshot(), (BreakerState::Closed, 4));
    }

    #[test]
    fn after_sixty_seconds_exactly_one_probe_passes_and_its_success_closes_it() {
        let (breaker, clock) = breaker();
        for _ in 0..5 {
            fail(&breaker);
        }
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            breaker.admit(),
            (
                Admission::Allowed { probe: true },
                Some(Transition::HalfOpened)
            )
        );
        assert!(
            matches!(breaker.admit().0, Admission::Refused { .. }),
            "one probe only"
        );
        assert_eq!(
            breaker.record(true, BreakerSignal::Healthy),
            Some(Transition::Closed)
        );
        assert_eq!(breaker.snapshot(), (BreakerState::Closed, 0));
        assert_eq!(breaker.admit().0, Admission::Allowed { probe: false });
    }

    #[test]
    fn a_failed_probe_opens_it_again_for_another_full_period() {
        let (breaker, clock) = breaker();
        for _ in 0..5 {
            fail(&breaker);
        }
        clock.advance(Duration::from_secs(61));
        breaker.admit();
        assert_eq!(
            breaker.record(true, BreakerSignal::Failing),
            Some(Transition::Opened)
        );
        clock.advance(Duration::from_secs(59));
        assert!(matches!(breaker.admit().0, Admission::Refused { .. }));
        clock.advance(Duration::from_secs(1));
        assert_eq!(breaker.admit().0, Admission::Allowed { probe: true });
    }

    #[test]
    fn a_probe_answered_with_a_4xx_lets_the_next_call_probe() {
        let (breaker, clock) = breaker();
        for _ in 0..5 {
            fail(&breaker);
        }
        clock.advance(Duration::from_secs(60));
        breaker.admit();
        assert_eq!(breaker.record(true, BreakerSignal::Neutral), None);
        assert_eq!(breaker.admit().0, Admission::Allowed { probe: true });
    }
}
