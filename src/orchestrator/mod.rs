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
//! first come first served, in the [`gate::Gate`] (their places are events).
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
mod cancel;
pub mod error;
pub mod gate;
mod recovery;
mod run;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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
pub use cancel::{CancelCapability, CancelRequest, Canceller};
pub use error::{CancelError, StartError};
use gate::{Gate, Slots};
pub use plan::{NonZeroDuration, OutagePolicy, Outcome, RecoveryPolicy};
use run::Wakes;

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

/// A deployment that was accepted: its run is started (it may wait in the admission queue).
#[derive(Debug)]
pub struct Started {
    /// Its id.
    pub id: DeploymentId,
    /// The normalized stack name.
    pub name: String,
    /// Where it will answer.
    pub url: String,
    /// The capability that lets the requester cancel it (only its hash is recorded).
    pub cancel: CancelCapability,
    /// The run; it ends with the outcome, or with the ledger error that stopped it.
    pub task: JoinHandle<Result<Outcome, LedgerError>>,
}

/// The most runs that exist at once (queued ones included); shutdown waits for all of them.
const RUNS_MAX: u32 = u32::MAX;

struct Inner<A> {
    ledger: Ledger,
    caller: Caller<A>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    settings: Settings,
    /// Places for new deployments: running slots plus places in the admission queue
    /// (`running_max + queue_max`); a deployment holds one until its run is gone. Recovered
    /// deployments take one when they can and queue regardless.
    seats: Arc<Semaphore>,
    /// One permit per run in this process (queued ones included), so that shutdown can wait
    /// until every run is gone.
    runs: Arc<Semaphore>,
    /// The running slots (`--running-max`) and the admission queue, ordered by request seq.
    admission: Arc<Gate>,
    /// Dokploy's build slots and the line for them, shared by every run.
    build_gate: Arc<Gate>,
    /// The runs in flight that a recorded cancel must wake (a run waiting in a line or a
    /// wait looks at its events again).
    wakes: Wakes,
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

    /// Deployments running now (holding a running slot).
    pub fn running(&self) -> usize {
        self.inner.admission.slots().building
    }

    /// Deployments waiting in the admission queue, and deployments running.
    pub fn admission(&self) -> Slots {
        self.inner.admission.slots()
    }

    /// Deployments waiting in line for a build slot, and builds handed to Dokploy.
    pub fn build_slots(&self) -> Slots {
        self.inner.build_gate.slots()
    }

    /// The line for Dokploy's build slots that every run joins (a holder of a slot from here,
    /// an operator's maintenance or a test, keeps the deploy phases waiting in line).
    pub fn build_gate(&self) -> &Arc<Gate> {
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
        let seat = Arc::clone(&self.inner.seats)
            .try_acquire_owned()
            .map_err(|_| StartError::TooManyRunning {
                running_max: self.inner.settings.running_max.get(),
                queue_max: self.inner.settings.queue_max,
            })?;
        let id = self.inner.ids.deployment_id();
        let settings = &self.inner.settings;
        let cancel = CancelCapability::new();
        let accepted = accepted(settings, self.inner.clock.now_ms(), &cancel);
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
            let events = vec![NewEvent::new(requested), NewEvent::new(accepted)];
            let appended = orchestrator.inner.ledger.append(id, expected, events).await;
            match appended {
                Ok(_) => Ok(orchestrator.spawn(id, Some(seat), None)),
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
            cancel,
            task,
        })
    }

    /// Runs the deployment `id` in its own task, holding `seat` until the run is gone; a
    /// recovered run comes with its place in the admission queue taken and `RecoveryStarted`
    /// to append first.
    fn spawn(
        &self,
        id: DeploymentId,
        seat: Option<OwnedSemaphorePermit>,
        recovered: Option<recovery::Recovered>,
    ) -> JoinHandle<Result<Outcome, LedgerError>> {
        let orchestrator = self.clone();
        // No permit: shutdown has taken them all; the deployment is durable and the next start
        // recovers it.
        let Ok(run) = Arc::clone(&self.inner.runs).try_acquire_owned() else {
            return tokio::spawn(async { Err(LedgerError::Stopped) });
        };
        let task = tokio::spawn(async move {
            let queued = match recovered {
                Some(recovered) => Some(recovered.record(orchestrator.inner.as_ref()).await?),
                None => None,
            };
            let outcome = orchestrator.drive(id, queued).await;
            drop(seat);
            drop(run);
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
        let _ = self.inner.runs.acquire_many(RUNS_MAX).await;
    }

    /// Runs a deployment from wherever its events say it stands, to the end (with its place
    /// in the admission queue, if it has one already).
    async fn drive(
        &self,
        id: DeploymentId,
        queued: Option<(gate::Ticket, i64)>,
    ) -> Result<Outcome, LedgerError> {
        match run::Run::load(self.inner.as_ref(), id, queued)? {
            Some(run) => run.drive().await,
            None => {
                tracing::error!(deployment = %id, "no such deployment to drive");
                Ok(Outcome::RolledBack { complete: true })
            }
        }
    }
}

/// The terms a new deployment is accepted under: its deadline from `now_ms` and the hash of
/// the requester's cancel capability.
fn accepted(settings: &Settings, now_ms: i64, cancel: &CancelCapability) -> Event {
    let deadline = settings.plan.deployment_deadline;
    let deadline_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX);
    Event::DeploymentAccepted {
        deadline_ms,
        deadline_at_ms: now_ms.saturating_add(i64::try_from(deadline_ms).unwrap_or(i64::MAX)),
        cancel_hash: cancel.hash(),
    }
}
