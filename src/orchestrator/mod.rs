//! The orchestrator: the effect runner of the deployment saga.
//!
//! A deployment is one task. Its decisions are made by the pure saga core
//! ([`crate::deployment::plan`]); the run (`run.rs`) only executes them: it calls Dokploy through
//! the recording [`Caller`], appends to the ledger, probes health, sleeps on the injected clock,
//! and folds every event it appends into its own decision state
//! ([`crate::deployment::saga::SagaState`]). Where a deployment stands is always what its own
//! events fold to, which makes resuming safe: at startup every deployment still `in_progress`
//! (found in the ledger, `recovery.rs`) gets `RecoveryStarted` and is resumed or rolled back by
//! policy. This module never reads the projection (the read side); a stack name is claimed
//! atomically by the ledger writer. Up to `running_max` deployments run at once, but only
//! `dokploy_builds` of them hand Dokploy a build at a time: the deploy phases past that wait,
//! first come first served, in the [`build_gate::BuildGate`] (their places are events).
//!
//! [`Orchestrator::builder`] is the one place that wires it: the caller with its breaker, retry
//! policy and jitter seed, the crash points, and the settings. The server, the benchmarks and
//! the replay tool all build it so:
//!
//! ```no_run
//! # async fn example(
//! #     api: std::sync::Arc<stackledger::dokploy::client::DokployClient>,
//! #     ledger: stackledger::ledger::Ledger,
//! # ) {
//! use std::sync::Arc;
//!
//! use stackledger::clock::SystemClock;
//! use stackledger::dokploy::breaker::BreakerOptions;
//! use stackledger::dokploy::retry::RetryPolicy;
//! use stackledger::ids::RandomIds;
//! use stackledger::orchestrator::{Orchestrator, Settings};
//!
//! let orchestrator = Orchestrator::builder(api, ledger, Arc::new(SystemClock))
//!     .ids(Arc::new(RandomIds))
//!     .settings(Settings::default())
//!     .breaker(BreakerOptions::default())
//!     .retry(RetryPolicy::default())
//!     .jitter_seed(7)
//!     .crash_at(None)
//!     .build();
//! let started = orchestrator.deploy("shop", "client-hash").await;
//! # }
//! ```

mod build;
pub mod build_gate;
pub mod error;
mod recovery;
mod run;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::crash::{CrashPoint, CrashPoints};
use crate::deployment::Event;
use crate::deployment::plan;
use crate::dokploy::api::DokployApi;
use crate::dokploy::breaker::BreakerState;
use crate::dokploy::caller::Caller;
use crate::ids::{DeploymentId, IdGen, StreamVersion};
use crate::ledger::error::LedgerError;
use crate::ledger::{ExpectedVersion, Ledger, NewEvent};
pub use build::Builder;
use build_gate::{BuildGate, BuildSlots};
pub use error::StartError;
pub use plan::{NonZeroDuration, OutagePolicy, Outcome, RecoveryPolicy};

/// The orchestrator's settings, validated (defaults from DESIGN §4 and §8): what each
/// deployment's decisions depend on, and how many run at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The saga core's settings (image, domain, health and deploy timing, recovery policy).
    pub plan: plan::Settings,
    /// Deployments running at once; more wait in the admission queue.
    pub running_max: NonZeroUsize,
    /// Deployments that may wait in the admission queue; past that new ones are refused
    /// (recovered deployments always queue).
    pub queue_max: usize,
    /// Builds handed to Dokploy at once (`--dokploy-builds`); the deploy phases past that wait
    /// in the portal's line for a build slot.
    pub dokploy_builds: NonZeroUsize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            plan: plan::Settings::default(),
            running_max: crate::defaults::RUNNING_MAX,
            queue_max: crate::defaults::QUEUE_MAX,
            dokploy_builds: crate::defaults::DOKPLOY_BUILDS,
        }
    }
}

impl Settings {
    /// The host of a stack.
    pub fn host(&self, name: &str) -> String {
        self.plan.host(name)
    }

    /// The health URL of a stack.
    pub fn health_url_of(&self, name: &str) -> String {
        self.plan.health_url_of(name)
    }
}

/// A deployment that was accepted and is running.
#[derive(Debug)]
pub struct Started {
    /// Its id.
    pub id: DeploymentId,
    /// The normalized stack name.
    pub name: String,
    /// Where it will answer.
    pub url: String,
    /// The run; it ends with the outcome, or with the ledger error that stopped it.
    pub task: JoinHandle<Result<Outcome, LedgerError>>,
}

struct Inner<A> {
    ledger: Ledger,
    caller: Caller<A>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    settings: Settings,
    running: Arc<Semaphore>,
    /// Dokploy's build slots and the line for them, shared by every run.
    build_gate: Arc<BuildGate>,
    crash: Arc<CrashPoints>,
    server_version: String,
    /// The runs in flight, so that shutdown can stop them where they stand.
    tasks: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
}

/// Starts, runs, resumes and rolls back deployments. Cheap to clone.
pub struct Orchestrator<A> {
    inner: Arc<Inner<A>>,
}

impl<A> Clone for Orchestrator<A> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<A> std::fmt::Debug for Orchestrator<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl<A: DokployApi> Orchestrator<A> {
    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The Dokploy caller (its breaker feeds `/health`).
    pub fn caller(&self) -> &Caller<A> {
        &self.inner.caller
    }

    /// How often each crash point was reached in this process (crash tests size their sweep
    /// with it).
    pub fn crash_counts(&self) -> Vec<(CrashPoint, u64)> {
        self.inner.crash.counts()
    }

    /// Deployments running now.
    pub fn running(&self) -> usize {
        self.inner.settings.running_max.get() - self.inner.running.available_permits()
    }

    /// Deployments waiting in line for a build slot, and builds handed to Dokploy.
    pub fn build_slots(&self) -> BuildSlots {
        self.inner.build_gate.slots()
    }

    /// The line for Dokploy's build slots that every run joins (a holder of a slot from here,
    /// an operator's maintenance or a test, keeps the deploy phases waiting in line).
    pub fn build_gate(&self) -> &Arc<BuildGate> {
        &self.inner.build_gate
    }

    /// Accepts a deployment of `name` for `client` (a keyed hash of the requester) and starts
    /// it. The name is claimed atomically by the ledger writer. Cancel-safe: a caller that stops
    /// waiting after the checks never leaves a claimed name without its run.
    pub async fn deploy(&self, name: &str, client: &str) -> Result<Started, StartError> {
        let name = crate::deployment::name::validate(name)?;
        let (state, _) = self.inner.caller.breaker().snapshot();
        if let BreakerState::Open { until_ms } = state {
            let wait = until_ms.saturating_sub(self.inner.clock.now_ms());
            let retry_in = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
            return Err(StartError::DokployUnavailable { retry_in });
        }
        let permit = Arc::clone(&self.inner.running)
            .try_acquire_owned()
            .map_err(|_| StartError::TooManyRunning {
                running_max: self.inner.settings.running_max.get(),
            })?;
        let id = self.inner.ids.deployment_id();
        let settings = &self.inner.settings;
        let requested = Event::DeploymentRequested {
            name: name.clone(),
            image: settings.plan.image.clone(),
            domain: settings.host(&name),
            port: settings.plan.port,
            client: client.to_owned(),
            server_version: self.inner.server_version.clone(),
        };
        let url = format!("https://{}", settings.host(&name));
        // The claim and the start of the run happen in a task of their own, so that a caller
        // who stops waiting (a client timing out, a dropped future) can never leave a claimed
        // name without a run: once the request is durable, its run is started regardless.
        let orchestrator = self.clone();
        let admission = tokio::spawn(async move {
            let expected = ExpectedVersion::Exact(StreamVersion::EMPTY);
            let appended = orchestrator
                .inner
                .ledger
                .append_one(id, expected, NewEvent::new(requested))
                .await;
            match appended {
                Ok(_) => Ok(orchestrator.spawn(id, permit)),
                Err(LedgerError::NameTaken { name, holder }) => {
                    Err(StartError::NameTaken { name, holder })
                }
                Err(error) => Err(StartError::Ledger(error)),
            }
        });
        let task = admission
            .await
            .expect("the admission task is never aborted and does not panic")?;
        Ok(Started {
            id,
            url,
            name,
            task,
        })
    }

    /// Runs the deployment `id` in its own task, holding `permit` until the run is gone.
    fn spawn(
        &self,
        id: DeploymentId,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> JoinHandle<Result<Outcome, LedgerError>> {
        let orchestrator = self.clone();
        let task = tokio::spawn(async move {
            let outcome = orchestrator.drive(id).await;
            drop(permit);
            outcome
        });
        let mut tasks = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tasks.retain(|task| !task.is_finished());
        tasks.push(task.abort_handle());
        task
    }

    /// Stops every run where it stands (at its last recorded event, or inside a call whose
    /// intent is recorded) and waits until each is gone; the next start recovers them. For
    /// shutdown.
    pub async fn stop_runs(&self) {
        let tasks = std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for task in tasks {
            task.abort();
        }
        // Every run holds a permit until its future is dropped: once all permits are back,
        // no run (and none of its handles on the ledger) is left.
        let all = u32::try_from(self.inner.settings.running_max.get()).unwrap_or(u32::MAX);
        let _ = self.inner.running.acquire_many(all).await;
    }

    /// Runs a deployment from wherever its events say it stands, to the end.
    async fn drive(&self, id: DeploymentId) -> Result<Outcome, LedgerError> {
        match run::Run::load(self.inner.as_ref(), id)? {
            Some(run) => run.drive().await,
            None => {
                tracing::error!(deployment = %id, "no such deployment to drive");
                Ok(Outcome::RolledBack { complete: true })
            }
        }
    }
}
