//! The orchestrator: deployments as sagas over the ledger.
//!
//! A deployment is one task. It walks the nine phases of DESIGN §4 through [`DokployApi`] (via
//! the recording [`Caller`]) and the ledger, and nothing else: every decision is an event, and
//! where it stands is always what its own events fold to. That is what makes resuming safe: a
//! run starts from the projection of its stream, skips what is recorded as done, reconciles an
//! intent without an outcome by a lookup, and repeats the rest (every step is idempotent by
//! read-before-create). Any failed phase rolls back what this deployment created, in reverse
//! order. At startup every deployment still `in_progress` is resumed or rolled back.

pub mod error;
mod rollback;
mod run;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::crash::{CrashPoint, CrashPoints};
use crate::deployment::{DeploymentStatus, Event};
use crate::dokploy::api::DokployApi;
use crate::dokploy::breaker::BreakerState;
use crate::dokploy::caller::Caller;
use crate::ids::{DeploymentId, IdGen, StreamVersion};
use crate::ledger::error::LedgerError;
use crate::ledger::{ExpectedVersion, Ledger, NewEvent};
use crate::projection::LiveReadModel;
pub use error::{StartError, StepError, StepFailure};

/// What to do with deployments found unfinished at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecoveryPolicy {
    /// Continue where they stopped.
    Resume,
    /// Fail them and roll back what they created.
    Rollback,
}

/// The orchestrator's settings (defaults from DESIGN §4 and §8).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Docker image every stack runs.
    pub image: String,
    /// Stacks answer at `NAME.<suffix>`.
    pub domain_suffix: String,
    /// The container port the domain routes to.
    pub port: u16,
    /// The health URL template; `{name}` and `{suffix}` are replaced.
    pub health_url: String,
    /// How long health may take to turn 200.
    pub health_timeout: Duration,
    /// Time between health polls.
    pub health_interval: Duration,
    /// Time between polls of `deployment.all`.
    pub deploy_poll_interval: Duration,
    /// How long a deploy may take to finish (queued and running).
    pub deploy_timeout: Duration,
    /// Deployments running at once; more are refused.
    pub running_max: usize,
    /// What startup does with unfinished deployments.
    pub recovery: RecoveryPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            image: "ghcr.io/flexinit/agent-stack:latest".to_owned(),
            domain_suffix: "ai.flexinit.nl".to_owned(),
            port: 8080,
            health_url: "https://{name}.{suffix}/health".to_owned(),
            health_timeout: Duration::from_secs(60),
            health_interval: Duration::from_secs(5),
            deploy_poll_interval: Duration::from_secs(2),
            deploy_timeout: Duration::from_secs(600),
            running_max: 16,
            recovery: RecoveryPolicy::Resume,
        }
    }
}

impl Settings {
    /// The host of a stack.
    pub fn host(&self, name: &str) -> String {
        format!("{name}.{}", self.domain_suffix)
    }

    /// The health URL of a stack.
    pub fn health_url_of(&self, name: &str) -> String {
        self.health_url
            .replace("{name}", name)
            .replace("{suffix}", &self.domain_suffix)
    }
}

/// How a deployment run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The stack is up at this URL.
    Succeeded(String),
    /// It failed and was rolled back (`complete`: nothing left behind).
    RolledBack {
        /// Whether every created resource is gone.
        complete: bool,
    },
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
    read_model: LiveReadModel,
    caller: Caller<A>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    settings: Settings,
    running: Arc<Semaphore>,
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

/// What the orchestrator is built from.
pub struct Parts<A> {
    /// The ledger.
    pub ledger: Ledger,
    /// Its projection.
    pub read_model: LiveReadModel,
    /// Dokploy calls, retried, guarded and recorded.
    pub caller: Caller<A>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Deployment ids.
    pub ids: Arc<dyn IdGen>,
    /// Settings.
    pub settings: Settings,
    /// Crash points (disabled outside crash tests).
    pub crash: Arc<CrashPoints>,
}

impl<A: DokployApi> Orchestrator<A> {
    /// An orchestrator over `parts`.
    pub fn new(parts: Parts<A>) -> Self {
        let running = Arc::new(Semaphore::new(parts.settings.running_max.max(1)));
        let caller = parts.caller.with_crash_points(Arc::clone(&parts.crash));
        Self {
            inner: Arc::new(Inner {
                ledger: parts.ledger,
                read_model: parts.read_model,
                caller,
                clock: parts.clock,
                ids: parts.ids,
                settings: parts.settings,
                running,
                crash: parts.crash,
                server_version: env!("CARGO_PKG_VERSION").to_owned(),
                tasks: std::sync::Mutex::new(Vec::new()),
            }),
        }
    }

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
        self.inner.settings.running_max.max(1) - self.inner.running.available_permits()
    }

    /// Accepts a deployment of `name` for `client` (a keyed hash of the requester) and starts
    /// it. The name is claimed atomically by the ledger writer.
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
                running_max: self.inner.settings.running_max,
            })?;
        let id = self.inner.ids.deployment_id();
        let settings = &self.inner.settings;
        let requested = Event::DeploymentRequested {
            name: name.clone(),
            image: settings.image.clone(),
            domain: settings.host(&name),
            port: settings.port,
            client: client.to_owned(),
            server_version: self.inner.server_version.clone(),
        };
        let expected = ExpectedVersion::Exact(StreamVersion::EMPTY);
        let appended = self
            .inner
            .ledger
            .append_one(id, expected, NewEvent::new(requested))
            .await;
        match appended {
            Ok(_) => {}
            Err(LedgerError::NameTaken { name, holder }) => {
                return Err(StartError::NameTaken { name, holder });
            }
            Err(error) => return Err(StartError::Ledger(error)),
        }
        let orchestrator = self.clone();
        let task = tokio::spawn(async move {
            let outcome = orchestrator.drive(id, false).await;
            drop(permit);
            outcome
        });
        self.track(&task);
        Ok(Started {
            id,
            url: format!("https://{}", settings.host(&name)),
            name,
            task,
        })
    }

    /// Resumes (or rolls back, by policy) every deployment left `in_progress`, each after a
    /// `RecoveryStarted`. Call once at startup, before accepting new deployments.
    pub async fn recover(
        &self,
    ) -> Result<Vec<JoinHandle<Result<Outcome, LedgerError>>>, LedgerError> {
        let unfinished: Vec<(DeploymentId, StreamVersion)> = self
            .inner
            .read_model
            .read()
            .in_progress()
            .iter()
            .map(|state| (state.id, state.version))
            .collect();
        let mut tasks = Vec::with_capacity(unfinished.len());
        for (id, version) in unfinished {
            self.inner.crash.hit(CrashPoint::InRecovery);
            let reason = "the server restarted while the deployment was in progress".to_owned();
            let event = NewEvent::new(Event::RecoveryStarted { reason });
            self.inner
                .ledger
                .append_one(id, ExpectedVersion::Exact(version), event)
                .await?;
            tracing::warn!(deployment = %id, "recovering an interrupted deployment");
            let permit = Arc::clone(&self.inner.running).acquire_owned().await;
            let orchestrator = self.clone();
            let roll_back = self.inner.settings.recovery == RecoveryPolicy::Rollback;
            let task = tokio::spawn(async move {
                let outcome = orchestrator.drive(id, roll_back).await;
                drop(permit);
                outcome
            });
            self.track(&task);
            tasks.push(task);
        }
        Ok(tasks)
    }

    fn track<T>(&self, task: &JoinHandle<T>) {
        let mut tasks = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tasks.retain(|task| !task.is_finished());
        tasks.push(task.abort_handle());
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
        let all = u32::try_from(self.inner.settings.running_max.max(1)).unwrap_or(u32::MAX);
        let _ = self.inner.running.acquire_many(all).await;
    }

    /// Runs a deployment from wherever its events say it stands, to the end.
    async fn drive(&self, id: DeploymentId, roll_back: bool) -> Result<Outcome, LedgerError> {
        let mut run = match run::Run::load(self.inner.as_ref(), id) {
            Some(run) => run,
            None => {
                tracing::error!(deployment = %id, "no such deployment to drive");
                return Ok(Outcome::RolledBack { complete: true });
            }
        };
        if run.status() != DeploymentStatus::InProgress {
            return Ok(run.finished_outcome());
        }
        let failure_seq = match run.recorded_failure() {
            Some(seq) => seq,
            None => {
                let forward = if roll_back {
                    Err(run.interrupted().await)
                } else {
                    run.forward().await
                };
                match forward {
                    Ok(url) => return Ok(Outcome::Succeeded(url)),
                    Err(StepError::Ledger(error)) => return Err(error),
                    Err(StepError::Failed(failure)) => run.fail(failure).await?,
                }
            }
        };
        let complete = run.roll_back(failure_seq).await?;
        Ok(Outcome::RolledBack { complete })
    }
}
