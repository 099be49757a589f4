//! The saga core: [`next`] decides what a deployment does next, from its [`SagaState`], the
//! [`Settings`], the time, and how the step just executed went ([`Executed`]).
//!
//! Every decision of a deployment is made here: the forward phases with their find-or-create
//! steps (`forward.rs`), deploy and health polling with their timeouts (`polling.rs`), every
//! failure code ([`FailureCode`]), recovery (resume or roll back, by [`RecoveryPolicy`]),
//! reconciling a create whose answer was lost, and the rollback in reverse order of creation
//! (`rollback.rs`). The orchestrator only executes the [`Step`]s and folds what they append
//! into the state. A new decision (cancel, a deadline, a retry) is a new rule here and, where
//! it needs one, a new kind of step or of [`Executed`].
//!
//! The outcome of the step just executed is an input, not a fact read back from the events:
//! a call the open breaker refused records nothing, and an answer recorded before a restart
//! is not acted on after it (the step is repeated from its lookup instead, because every step
//! is idempotent by read-before-create). It must never read a clock, do I/O, mint ids or draw
//! randomness: the time is an argument.

mod control;
#[cfg(test)]
mod fixtures;
mod forward;
mod polling;
mod rollback;
#[cfg(test)]
mod tests_control;
#[cfg(test)]
mod tests_forward;
#[cfg(test)]
mod tests_polling;
#[cfg(test)]
mod tests_queue;
#[cfg(test)]
mod tests_recovery;
#[cfg(test)]
mod tests_rollback;

use std::fmt;
use std::time::Duration;

use crate::defaults;
use crate::deployment::saga::SagaState;
use crate::deployment::{ApiAnswer, DeploymentStatus, Event, Phase, Request, clip};
use crate::ids::Seq;

/// The longest failure message or error text the core writes into an event.
pub const MESSAGE_BYTES_MAX: usize = 600;

/// What startup does with deployments found unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecoveryPolicy {
    /// Continue where they stopped.
    Resume,
    /// Fail them and roll back what they created.
    Rollback,
}

/// What a deployment does while Dokploy is not answering (the circuit breaker is open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutagePolicy {
    /// Wait at the next step boundary until the breaker lets calls through, or the deadline.
    Wait,
    /// Fail with `dokploy_unavailable` and roll back (the rollback waits for the breaker).
    Fail,
}

/// A duration that is never zero (a poll interval of zero would poll without a pause).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NonZeroDuration(Duration);

impl NonZeroDuration {
    /// `duration`, unless it is zero.
    pub const fn new(duration: Duration) -> Option<Self> {
        if duration.is_zero() {
            None
        } else {
            Some(Self(duration))
        }
    }

    /// The duration.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl From<NonZeroDuration> for Duration {
    fn from(duration: NonZeroDuration) -> Self {
        duration.0
    }
}

/// What the decisions depend on (defaults from DESIGN §4 and §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The Docker image every stack runs.
    pub image: String,
    /// Stacks answer at `NAME.<suffix>`.
    pub domain_suffix: String,
    /// The container port the domain routes to.
    pub port: u16,
    /// The health URL template; `{name}` and `{suffix}` are replaced.
    pub health_url: String,
    /// How long health may take to turn 200 (zero: one poll decides).
    pub health_timeout: Duration,
    /// Time between health polls.
    pub health_interval: NonZeroDuration,
    /// Time between polls of `deployment.all`.
    pub deploy_poll_interval: NonZeroDuration,
    /// How long Dokploy's build of a deploy may run (from its row appearing to a final
    /// status).
    pub deploy_timeout: Duration,
    /// How long a deploy may wait in Dokploy's build queue before its row appears.
    pub deploy_queue_timeout: Duration,
    /// How long a rollback waits for this deployment's still-running build before it deletes
    /// the application (past it the application is left, and the rollback is incomplete).
    pub rollback_build_wait: Duration,
    /// What a recovered deployment does.
    pub recovery: RecoveryPolicy,
    /// How long a deployment may take from its request (a deployment recorded without a
    /// deadline gets this from the start of its run).
    pub deployment_deadline: Duration,
    /// What a deployment does while Dokploy is not answering.
    pub on_outage: OutagePolicy,
}

impl Default for Settings {
    fn default() -> Self {
        // Every value from the one table of defaults that the flags use too.
        let interval = |default: defaults::DurationDefault| {
            NonZeroDuration::new(default.value).expect("a default interval is not zero")
        };
        Self {
            image: defaults::STACK_IMAGE.to_owned(),
            domain_suffix: defaults::DOMAIN_SUFFIX.to_owned(),
            port: defaults::STACK_PORT.get(),
            health_url: defaults::HEALTH_URL.to_owned(),
            health_timeout: defaults::HEALTH_TIMEOUT.value,
            health_interval: interval(defaults::HEALTH_INTERVAL),
            deploy_poll_interval: interval(defaults::DEPLOY_POLL_INTERVAL),
            deploy_timeout: defaults::DEPLOY_TIMEOUT.value,
            deploy_queue_timeout: defaults::DEPLOY_QUEUE_TIMEOUT.value,
            rollback_build_wait: defaults::ROLLBACK_BUILD_WAIT.value,
            recovery: RecoveryPolicy::Resume,
            deployment_deadline: defaults::DEPLOYMENT_DEADLINE.value,
            on_outage: OutagePolicy::Wait,
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

/// How a deployment ended.
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

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Append this event to the deployment's stream.
    Record {
        /// The event.
        event: Event,
        /// The seq it answers (a rollback step points to the failure it undoes).
        cause: Option<Seq>,
    },
    /// Send this request through the recording, retrying caller.
    Call {
        /// The request.
        request: Request,
        /// Whether this call begins a rollback step (not a retry after an open breaker).
        rollback_step: bool,
    },
    /// GET this health URL once.
    Probe {
        /// The URL.
        url: String,
    },
    /// Sleep this long on the injected clock.
    Wait(Duration),
    /// Take a place in the portal's line for one of Dokploy's build slots, or keep it: ends
    /// when the slot is this deployment's, when its place in line has changed, or when the
    /// run is woken (a cancel, the deadline).
    AcquireBuildSlot,
    /// Take a place in the admission queue for one of the `--running-max` running slots, or
    /// keep it: ends when the slot is this run's, when its place has changed, or when the run
    /// is woken (a cancel, the deadline).
    Admit,
    /// The deployment is over.
    Finish(Outcome),
}

impl Step {
    fn record(event: Event) -> Self {
        Step::Record { event, cause: None }
    }

    fn call(request: Request) -> Self {
        Step::Call {
            request,
            rollback_step: false,
        }
    }
}

/// How the step just executed went (the part its events do not carry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    /// Nothing yet in this run: it has just begun, or resumed after a restart.
    Nothing,
    /// The event of a [`Step::Record`] is appended and folded.
    Recorded,
    /// A [`Step::Call`] ended (its attempts are appended and folded).
    Called {
        /// The request sent.
        request: Request,
        /// The answer the caller went on with, or why the call failed for good.
        result: Result<ApiAnswer, CallFailure>,
    },
    /// A [`Step::Probe`] got an answer or an error.
    Probed(Probe),
    /// A [`Step::Wait`] is over.
    Waited,
    /// A [`Step::AcquireBuildSlot`] found the deployment waiting at a new place in line.
    InLine {
        /// Deployments ahead of it.
        ahead: u32,
    },
    /// A [`Step::AcquireBuildSlot`] got the slot.
    SlotAcquired {
        /// How long this run waited in line for it.
        waited_ms: u64,
    },
    /// A [`Step::Admit`] found the deployment waiting at a new place in the queue.
    Queued {
        /// Deployments ahead of it.
        ahead: u32,
    },
    /// A [`Step::Admit`] got the running slot.
    Admitted {
        /// How long this run waited in the queue.
        waited_ms: u64,
    },
    /// A wait ended early: a cancel was recorded, or the deadline passed.
    Woken,
}

/// One health poll's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// What went wrong, if no answer came.
    pub error: Option<String>,
    /// How long the poll took.
    pub duration_ms: u64,
}

/// Why a Dokploy call failed for good, as the decisions need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// What kind of failure.
    pub class: FailureClass,
    /// What a person reads (never a secret).
    pub message: String,
}

/// The kinds of call failure the decisions tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The circuit breaker is open; the call was not sent.
    Unavailable {
        /// When the breaker lets a probe through.
        retry_in: Duration,
    },
    /// Dokploy refused the API key.
    Unauthorized,
    /// No answer (timeout, transport error).
    Unreachable,
    /// An answer that is not what the procedure returns.
    BadAnswer,
    /// Dokploy answered with an error status (a 404 here is Dokploy's "this resource does
    /// not exist" for the procedure called).
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// A 404 without the procedure named: the route is missing (a wrong base URL, a proxy, or
    /// a Dokploy without the procedure). Never counted as "gone".
    NoRoute,
}

impl CallFailure {
    /// Dokploy's "not found" (a rollback counts it as already gone).
    pub fn is_not_found(&self) -> bool {
        self.class == FailureClass::Status { status: 404 }
    }
}

/// The stable codes a `DeploymentFailed` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCode {
    /// Dokploy reported the deploy as `error` or `cancelled`.
    DeployFailed,
    /// The deploy did not finish within the deploy timeout.
    DeployTimeout,
    /// The app did not answer 200 within the health timeout.
    HealthTimeout,
    /// The breaker was open.
    DokployUnavailable,
    /// Dokploy refused the API key.
    DokployUnauthorized,
    /// Dokploy did not answer.
    DokployUnreachable,
    /// Dokploy's answer was not of the expected kind.
    DokployBadAnswer,
    /// Dokploy answered with an error status.
    DokployError,
    /// The project has no default environment.
    NoEnvironment,
    /// A resource a phase needs is not recorded.
    MissingResource,
    /// The recovery policy rolls back a deployment a restart interrupted.
    Interrupted,
    /// Dokploy has no route for a procedure StackLedger calls.
    DokployNoRoute,
    /// Dokploy's build queue did not start the deploy within the queue limit (after one
    /// re-queue).
    DeployQueueTimeout,
    /// The deployment passed its deadline (`--deployment-deadline`).
    DeadlineExceeded,
    /// An operator or the requester cancelled the deployment.
    Cancelled,
}

impl FailureCode {
    /// The snake_case code written into the event.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::DeployFailed => "deploy_failed",
            FailureCode::DeployTimeout => "deploy_timeout",
            FailureCode::HealthTimeout => "health_timeout",
            FailureCode::DokployUnavailable => "dokploy_unavailable",
            FailureCode::DokployUnauthorized => "dokploy_unauthorized",
            FailureCode::DokployUnreachable => "dokploy_unreachable",
            FailureCode::DokployBadAnswer => "dokploy_bad_answer",
            FailureCode::DokployError => "dokploy_error",
            FailureCode::NoEnvironment => "no_environment",
            FailureCode::MissingResource => "missing_resource",
            FailureCode::Interrupted => "interrupted",
            FailureCode::DokployNoRoute => "dokploy_no_route",
            FailureCode::DeployQueueTimeout => "deploy_queue_timeout",
            FailureCode::DeadlineExceeded => "deadline_exceeded",
            FailureCode::Cancelled => "cancelled",
        }
    }

    /// The code of a call that failed for good.
    pub fn of_call(class: FailureClass) -> Self {
        match class {
            FailureClass::Unavailable { .. } => FailureCode::DokployUnavailable,
            FailureClass::Unauthorized => FailureCode::DokployUnauthorized,
            FailureClass::Unreachable => FailureCode::DokployUnreachable,
            FailureClass::BadAnswer => FailureCode::DokployBadAnswer,
            FailureClass::Status { .. } => FailureCode::DokployError,
            FailureClass::NoRoute => FailureCode::DokployNoRoute,
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use control::deadline_ms;

/// The next step of the deployment `state` folds, at `now_ms`, after `executed`.
pub fn next(state: &SagaState, settings: &Settings, now_ms: i64, executed: &Executed) -> Step {
    match state.status {
        DeploymentStatus::Success => return Step::Finish(Outcome::Succeeded(state.url.clone())),
        DeploymentStatus::Failure => {
            let complete = state.rollback.and_then(|rollback| rollback.complete);
            return Step::Finish(Outcome::RolledBack {
                complete: complete == Some(true),
            });
        }
        DeploymentStatus::InProgress => {}
    }
    if state.failure.is_none()
        && let Some(step) = control::stop(state, settings, now_ms, executed)
    {
        return step;
    }
    if control::needs_admission(state) {
        return control::admission(executed);
    }
    if let Some(failed) = state.failure {
        return rollback::next(state, settings, now_ms, failed.seq, executed);
    }
    if let Some(step) = control::outage(state, settings, now_ms, executed) {
        return step;
    }
    forward::next(state, settings, now_ms, executed)
}

/// Whether the run of `state` holds one of Dokploy's build slots and still needs it: from
/// `BuildSlotAcquired` in this run until its deploy is final, or the deployment failed and its
/// rollback no longer waits for the build. The run gives the slot back as soon as this is
/// false.
pub fn holds_build_slot(state: &SagaState) -> bool {
    state.run.build_slot_ms.is_some()
        && state.deploy_finished.is_none()
        && state.status == DeploymentStatus::InProgress
        && (state.failure.is_none() || rollback_may_wait_for_the_build(state))
}

/// Whether a failed deployment's build may still run on Dokploy while its rollback waits it
/// out (the deploy was sent and the application it created is not dealt with yet): the slot
/// stays taken, so that the portal never hands Dokploy a second build meanwhile.
fn rollback_may_wait_for_the_build(state: &SagaState) -> bool {
    use crate::deployment::ResourceKind::Application;
    state.attempted(crate::deployment::Procedure::ApplicationDeploy)
        && state.created.iter().any(|(kind, _)| *kind == Application)
        && !state
            .rolled_back
            .iter()
            .any(|(kind, _)| *kind == Application)
}

/// Records the failure of `phase` (a rollback follows).
fn fail(phase: Phase, code: FailureCode, message: impl AsRef<str>) -> Step {
    Step::record(Event::DeploymentFailed {
        phase,
        code: code.as_str().to_owned(),
        message: clip(message.as_ref(), MESSAGE_BYTES_MAX),
    })
}

/// Time from `from_ms` to `to_ms`, never negative.
fn elapsed(from_ms: i64, to_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(to_ms.saturating_sub(from_ms)).unwrap_or(0))
}
