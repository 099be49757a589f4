//! Time as an input: every "now" and every wait in StackLedger goes through [`Clock`].
//!
//! [`SystemClock`] is the production clock. [`ManualClock`] is virtual time for tests and for
//! `stackledger-replay redrive`: `sleep` returns at once after moving time forward and recording
//! the delay, so a 60 s health timeout or a 16 s backoff runs in microseconds and tests can
//! assert the exact schedule.
//!
//! This is the only file that may read the system clock, and [`ManualClock`] never reads it:
//! virtual time moves only when a test or `sleep` moves it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A boxed future returned by [`Clock::sleep`] (no async-trait: the trait stays object-safe).
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The source of time.
pub trait Clock: Send + Sync + 'static {
    /// Now, as unix milliseconds.
    fn now_ms(&self) -> i64;
    /// Waits for `duration` (real or virtual).
    fn sleep(&self, duration: Duration) -> Sleep<'_>;
    /// Waits until the clock reads `at_ms` or later. Unlike `sleep`, a virtual clock never
    /// moves for it: it resolves when something else moves time that far (a deadline watched
    /// while waiting for something else).
    fn sleep_until(&self, at_ms: i64) -> Sleep<'_>;
}

/// Wall-clock time and real sleeps.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn sleep_until(&self, at_ms: i64) -> Sleep<'_> {
        // Re-reads the clock after each wait: the wall clock may be set while it waits.
        Box::pin(async move {
            loop {
                let left = at_ms.saturating_sub(self.now_ms());
                let Ok(left @ 1..) = u64::try_from(left) else {
                    return;
                };
                tokio::time::sleep(Duration::from_millis(left)).await;
            }
        })
    }
}

/// Virtual time: starts at a given instant and moves only when told to or when slept on.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now_ms: Arc<AtomicI64>,
    sleeps: Arc<Mutex<Vec<Duration>>>,
    /// Bumped whenever time moves, for `sleep_until`.
    moved: Arc<tokio::sync::watch::Sender<()>>,
}

impl ManualClock {
    /// A clock standing at `start_ms` (unix milliseconds).
    pub fn new(start_ms: i64) -> Self {
        Self {
            now_ms: Arc::new(AtomicI64::new(start_ms)),
            sleeps: Arc::new(Mutex::new(Vec::new())),
            moved: Arc::new(tokio::sync::watch::Sender::new(())),
        }
    }

    /// Moves time forward by `duration`.
    pub fn advance(&self, duration: Duration) {
        let step = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        self.now_ms.fetch_add(step, Ordering::SeqCst);
        self.moved.send_replace(());
    }

    /// Every delay passed to `sleep` so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        self.sleeps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(duration);
        self.advance(duration);
        // Yield once so that a loop which only sleeps still lets other tasks run.
        Box::pin(tokio::task::yield_now())
    }

    fn sleep_until(&self, at_ms: i64) -> Sleep<'_> {
        let mut moved = self.moved.subscribe();
        Box::pin(async move {
            while self.now_ms() < at_ms {
                // The sender lives as long as the clock borrowed here: it cannot fail.
                let _ = moved.changed().await;
            }
        })
    }
}

/// Real elapsed time, for latency figures (metrics, benchmarks) only: never for decisions,
/// which take their time from a [`Clock`].
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts measuring.
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Time since start.
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds (`2026-11-27T13:09:20.123Z`).
/// Times before 1970 show as the epoch.
pub fn rfc3339(unix_ms: i64) -> String {
    // RFC 3339 has four-digit years: a later time (a recorded deadline far in the future, or
    // bytes from a damaged disk) shows as the last millisecond of 9999 and never fails.
    const LAST_MS: i64 = 253_402_300_799_999;
    let since_epoch = Duration::from_millis(u64::try_from(unix_ms.min(LAST_MS)).unwrap_or(0));
    humantime::format_rfc3339_millis(UNIX_EPOCH + since_epoch).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_never_moves_for_sleep_until_and_wakes_it_when_moved() {
        use futures_util::FutureExt;
        let clock = ManualClock::new(1_000);
        assert!(
            clock.sleep_until(1_000).now_or_never().is_some(),
            "already there"
        );
        let mut waiting = clock.sleep_until(5_000);
        assert!((&mut waiting).now_or_never().is_none());
        assert_eq!(clock.now_ms(), 1_000, "waiting never moves time");
        clock.advance(Duration::from_secs(3));
        assert!((&mut waiting).now_or_never().is_none(), "4 s is not 5 s");
        clock.advance(Duration::from_secs(1));
        assert!(waiting.now_or_never().is_some(), "time reached it");
    }

    #[test]
    fn rfc3339_formats_unix_milliseconds_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_784_960_123), "2026-11-27T13:09:20.123Z");
        assert_eq!(rfc3339(-5), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(i64::MAX),
            "9999-12-31T23:59:59.999Z",
            "never a panic"
        );
    }

    #[tokio::test]
    async fn manual_clock_sleep_moves_time_and_records_the_delay() {
        let clock = ManualClock::new(1_000);
        clock.sleep(Duration::from_secs(16)).await;
        clock.advance(Duration::from_millis(5));
        assert_eq!(clock.now_ms(), 17_005);
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(16)]);
    }

    #[test]
    fn system_clock_reads_a_time_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
