//! [`Builder`]: the one wiring of an [`Orchestrator`] from typed settings (the caller with its
//! breaker, retry policy and jitter seed, the crash points, the ids, the settings), so that the
//! server, the benchmarks and the replay tool cannot wire it differently.
//!
//! This is the only place an [`Orchestrator`] is constructed, and building never starts a run,
//! reads the ledger or does I/O: recovery and deployments begin only when the caller asks.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::crash::{CrashAt, CrashPoints};
use crate::dokploy::api::DokployApi;
use crate::dokploy::breaker::{BreakerOptions, CircuitBreaker};
use crate::dokploy::caller::Caller;
use crate::dokploy::retry::{Jitter, RetryPolicy};
use crate::ids::{IdGen, RandomIds};
use crate::ledger::Ledger;
use crate::orchestrator::gate::Gate;
use crate::orchestrator::run::Wakes;
use crate::orchestrator::{Inner, Orchestrator, Settings};

/// Builds an [`Orchestrator`]; every part but the API, the ledger and the clock has a default
/// (random ids, default settings, breaker and retry policy, jitter seed 0, no crash point).
pub struct Builder<A> {
    api: Arc<A>,
    ledger: Ledger,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    settings: Settings,
    breaker: BreakerOptions,
    retry: RetryPolicy,
    jitter_seed: u64,
    crash_at: Option<CrashAt>,
}

impl<A> std::fmt::Debug for Builder<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("settings", &self.settings)
            .field("breaker", &self.breaker)
            .field("retry", &self.retry)
            .finish()
    }
}

impl<A: DokployApi> Orchestrator<A> {
    /// A builder of an orchestrator calling `api`, recording in `ledger`, timed by `clock`.
    pub fn builder(api: Arc<A>, ledger: Ledger, clock: Arc<dyn Clock>) -> Builder<A> {
        Builder {
            api,
            ledger,
            clock,
            ids: Arc::new(RandomIds),
            settings: Settings::default(),
            breaker: BreakerOptions::default(),
            retry: RetryPolicy::default(),
            jitter_seed: 0,
            crash_at: None,
        }
    }
}

impl<A: DokployApi> Builder<A> {
    /// Where deployment ids come from.
    pub fn ids(mut self, ids: Arc<dyn IdGen>) -> Self {
        self.ids = ids;
        self
    }

    /// The deployments' settings.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The circuit breaker's thresholds.
    pub fn breaker(mut self, breaker: BreakerOptions) -> Self {
        self.breaker = breaker;
        self
    }

    /// The retry policy of every Dokploy call.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The seed of the retry jitter (fixed in tests and redrive, random in the server).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = seed;
        self
    }

    /// Crash tests only: abort at this occurrence of a crash point.
    pub fn crash_at(mut self, crash_at: Option<CrashAt>) -> Self {
        self.crash_at = crash_at;
        self
    }

    /// The orchestrator.
    pub fn build(self) -> Orchestrator<A> {
        let crash = Arc::new(CrashPoints::at(self.crash_at));
        let caller = Caller::new(
            self.api,
            CircuitBreaker::new(self.breaker, Arc::clone(&self.clock)),
            self.retry,
            Arc::new(Jitter::seeded(self.jitter_seed)),
            Arc::clone(&self.clock),
            self.ledger.clone(),
        )
        .with_crash_points(Arc::clone(&crash));
        let seats = self
            .settings
            .running_max
            .get()
            .saturating_add(self.settings.queue_max)
            .min(Semaphore::MAX_PERMITS);
        let seats = Arc::new(Semaphore::new(seats));
        let runs = Arc::new(Semaphore::new(super::RUNS_MAX as usize));
        let admission = Gate::new(self.settings.running_max);
        let build_gate = Gate::new(self.settings.dokploy_builds);
        Orchestrator {
            inner: Arc::new(Inner {
                ledger: self.ledger,
                caller,
                clock: self.clock,
                ids: self.ids,
                settings: self.settings,
                seats,
                runs,
                admission,
                build_gate,
                wakes: Wakes::default(),
                crash,
                server_version: env!("CARGO_PKG_VERSION").to_owned(),
                tasks: std::sync::Mutex::new(Vec::new()),
            }),
        }
    }
}
