//! One deployment's state, folded from its events: `DeploymentState::apply`.
//!
//! The fold is pure: no clock, no I/O, no ids, no randomness; every timestamp comes from the
//! envelope. The live read model and `stackledger-replay` call this same code, so what a user
//! saw and what an engineer replays cannot differ. It never panics on an unexpected order of
//! events: the ledger writer enforces the order, and the fold stays total regardless.

use std::collections::HashMap;

use crate::deployment::{
    ApiAnswer, DeploymentStatus, Event, HttpMethod, Phase, ResourceId, ResourceKind,
};
use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::envelope::{Envelope, Hash};
use crate::projection::logs::{LogEntry, LogLevel, LogView, human_ms};

/// The Dokploy resources a deployment works with, as far as known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// The project.
    pub project_id: Option<ResourceId>,
    /// The project's environment.
    pub environment_id: Option<ResourceId>,
    /// The application.
    pub application_id: Option<ResourceId>,
    /// The domain.
    pub domain_id: Option<ResourceId>,
}

impl Resources {
    fn set(&mut self, kind: ResourceKind, id: &ResourceId) {
        let slot = match kind {
            ResourceKind::Project => &mut self.project_id,
            ResourceKind::Environment => &mut self.environment_id,
            ResourceKind::Application => &mut self.application_id,
            ResourceKind::Domain => &mut self.domain_id,
            ResourceKind::Deployment => return,
        };
        *slot = Some(id.clone());
    }
}

/// Why a deployment failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The phase that failed.
    pub phase: Phase,
    /// A stable snake_case code.
    pub code: String,
    /// What a person reads.
    pub message: String,
    /// The seq of the `DeploymentFailed` event (rollback steps point to it).
    pub seq: Seq,
}

/// A Dokploy call whose intent is recorded but whose outcome is not (yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCall {
    /// The call's number.
    pub call: u32,
    /// The attempt in flight.
    pub attempt: u32,
    /// GET or POST.
    pub method: HttpMethod,
    /// The procedure.
    pub endpoint: String,
    /// The seq of its `ApiCallStarted`.
    pub started_seq: Seq,
}

/// How a rollback went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollbackProgress {
    /// Resources deleted (or found already gone).
    pub steps_succeeded: u32,
    /// Resources that could not be deleted.
    pub steps_failed: u32,
    /// None while running; then whether every created resource is gone.
    pub complete: Option<bool>,
}

/// Everything known about one deployment, as of its last folded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentState {
    /// The deployment (and stream) id.
    pub id: DeploymentId,
    /// The stack name.
    pub name: String,
    /// The Docker image.
    pub image: String,
    /// The host (`NAME.<suffix>`).
    pub domain: String,
    /// The container port.
    pub port: u16,
    /// The current phase.
    pub phase: Phase,
    /// Overall status.
    pub status: DeploymentStatus,
    /// Percent done.
    pub progress: u8,
    /// The current step's title.
    pub current_step: String,
    /// The stack's URL (known from the request; confirmed by success).
    pub url: String,
    /// The Dokploy resources in use.
    pub resources: Resources,
    /// What this deployment created, in order of creation (rolled back in reverse).
    pub created: Vec<(ResourceKind, ResourceId)>,
    /// When it was requested (unix ms).
    pub started_at: i64,
    /// When it succeeded or finished rolling back (unix ms).
    pub completed_at: Option<i64>,
    /// Why it failed.
    pub error: Option<Failure>,
    /// The rollback, once started.
    pub rollback: Option<RollbackProgress>,
    /// Resources the rollback dealt with (deleted, gone, or failed to delete).
    pub rolled_back: Vec<(ResourceKind, ResourceId)>,
    /// The last 50 log lines.
    pub logs: LogView,
    /// The intent without an outcome, if any (recovery reconciles it).
    pub pending_call: Option<PendingCall>,
    /// Endpoint of every call seen, by call number (to name outcomes).
    pub calls: HashMap<u32, String>,
    /// Time spent in each phase left so far (ms), in order; the current phase since `phase_since`.
    pub phase_durations: Vec<(Phase, u64)>,
    /// When the current phase was entered (unix ms).
    pub phase_since: i64,
    /// The title of the deploy this deployment queued.
    pub deploy_title: Option<String>,
    /// Dokploy's final status of that deploy.
    pub deploy_status: Option<String>,
    /// Failed attempts that were retried.
    pub retries: u32,
    /// Health polls made.
    pub health_polls: u32,
    /// Times the deployment was recovered after a restart.
    pub recoveries: u32,
    /// The seq of the `DeploymentRequested` event.
    pub first_seq: Seq,
    /// The seq of the last event folded.
    pub last_seq: Seq,
    /// The stream version of the last event folded.
    pub version: StreamVersion,
    /// The hash of the last event folded: the receipt a user can keep.
    pub head_hash: Hash,
    /// The last event's time (unix ms).
    pub updated_at: i64,
}

impl DeploymentState {
    /// Starts a state from the stream's `DeploymentRequested`; None for any other event.
    pub fn start(envelope: &Envelope) -> Option<Self> {
        let Event::DeploymentRequested {
            name,
            image,
            domain,
            port,
            ..
        } = &envelope.event
        else {
            return None;
        };
        let mut state = Self {
            id: envelope.stream,
            name: name.clone(),
            image: image.clone(),
            domain: domain.clone(),
            port: *port,
            phase: Phase::Initializing,
            status: DeploymentStatus::InProgress,
            progress: 0,
            current_step: Phase::Initializing.title().to_owned(),
            url: format!("https://{domain}"),
            resources: Resources::default(),
            created: Vec::new(),
            started_at: envelope.at,
            completed_at: None,
            error: None,
            rollback: None,
            rolled_back: Vec::new(),
            logs: LogView::default(),
            pending_call: None,
            calls: HashMap::new(),
            phase_durations: Vec::new(),
            phase_since: envelope.at,
            deploy_title: None,
            deploy_status: None,
            retries: 0,
            health_polls: 0,
            recoveries: 0,
            first_seq: envelope.seq,
            last_seq: envelope.seq,
            version: envelope.version,
            head_hash: envelope.hash,
            updated_at: envelope.at,
        };
        state.log(
            envelope,
            LogLevel::Info,
            format!("Deployment of {name} requested"),
            None,
        );
        Some(state)
    }

    /// Folds one event of this deployment's stream.
    pub fn apply(&mut self, envelope: &Envelope) {
        if envelope.stream != self.id || envelope.seq <= self.last_seq {
            return;
        }
        self.last_seq = envelope.seq;
        self.version = envelope.version;
        self.head_hash = envelope.hash;
        self.updated_at = envelope.at;
        if let Some(status) = envelope.event.status_effect() {
            self.status = status;
        }
        let (level, message, duration_ms) = match &envelope.event {
            Event::DeploymentRequested { .. } => return,
            Event::PhaseEntered { phase } => self.enter(*phase, envelope.at),
            Event::ApiCallStarted { .. }
            | Event::ApiCallSucceeded { .. }
            | Event::ApiCallFailed { .. } => self.api_call(envelope),
            Event::ResourceFound { kind, id } => {
                self.resources.set(*kind, id);
                (LogLevel::Info, format!("Found existing {kind} {id}"), None)
            }
            Event::ResourceCreated { kind, id } => {
                self.resources.set(*kind, id);
                self.created.push((*kind, id.clone()));
                (LogLevel::Info, format!("Created {kind} {id}"), None)
            }
            Event::DeployQueued { title } => {
                self.deploy_title = Some(title.clone());
                (LogLevel::Info, format!("Deploy queued as {title}"), None)
            }
            Event::DeployFinished { dokploy_status } => {
                self.deploy_status = Some(dokploy_status.clone());
                let level = if dokploy_status == "done" {
                    LogLevel::Info
                } else {
                    LogLevel::Error
                };
                (
                    level,
                    format!("Dokploy deploy ended: {dokploy_status}"),
                    None,
                )
            }
            Event::HealthCheckAttempt { .. } | Event::HealthVerified { .. } => {
                self.health(&envelope.event)
            }
            Event::DeploymentSucceeded { .. }
            | Event::DeploymentFailed { .. }
            | Event::RecoveryStarted { .. } => self.outcome(envelope),
            Event::RollbackStarted
            | Event::RollbackStepSucceeded { .. }
            | Event::RollbackStepFailed { .. }
            | Event::RollbackFinished { .. } => self.rollback(envelope),
            Event::CircuitOpened
            | Event::CircuitHalfOpened
            | Event::CircuitClosed
            | Event::ServerStarted { .. } => return,
        };
        self.log(envelope, level, message, duration_ms);
    }

    /// Closes the current phase's time at `at` and opens `phase`'s.
    fn switch_phase(&mut self, phase: Phase, at: i64) {
        if phase != self.phase {
            let spent = u64::try_from(at.saturating_sub(self.phase_since)).unwrap_or(0);
            self.phase_durations.push((self.phase, spent));
            self.phase_since = at;
        }
        self.phase = phase;
    }

    fn enter(&mut self, phase: Phase, at: i64) -> (LogLevel, String, Option<u64>) {
        self.switch_phase(phase, at);
        if let Some(progress) = phase.progress() {
            self.progress = progress;
        }
        self.current_step = phase.title().to_owned();
        (LogLevel::Info, format!("{}…", phase.title()), None)
    }

    fn api_call(&mut self, envelope: &Envelope) -> (LogLevel, String, Option<u64>) {
        match &envelope.event {
            Event::ApiCallStarted {
                call,
                attempt,
                method,
                endpoint,
            } => {
                self.calls.insert(*call, endpoint.clone());
                self.pending_call = Some(PendingCall {
                    call: *call,
                    attempt: *attempt,
                    method: *method,
                    endpoint: endpoint.clone(),
                    started_seq: envelope.seq,
                });
                let message = match attempt {
                    1 => format!("Calling {endpoint}"),
                    n => format!("Calling {endpoint} (attempt {n})"),
                };
                (LogLevel::Info, message, None)
            }
            Event::ApiCallSucceeded {
                call,
                status,
                duration_ms,
                answer,
                ..
            } => {
                self.pending_call = None;
                let endpoint = self.endpoint(*call);
                let message = format!("{endpoint} answered {status}{}", describe(answer));
                (LogLevel::Info, message, Some(*duration_ms))
            }
            Event::ApiCallFailed {
                call,
                attempt,
                status,
                error,
                duration_ms,
                retry_in_ms,
            } => {
                self.pending_call = None;
                let endpoint = self.endpoint(*call);
                let what = match status {
                    Some(status) => format!("{endpoint} failed with {status}"),
                    None => format!("{endpoint} failed: {error}"),
                };
                let (level, message) = match retry_in_ms {
                    Some(delay) => {
                        self.retries += 1;
                        let retry = format!("{what}, retry {attempt} in {}", human_ms(*delay));
                        (LogLevel::Warn, retry)
                    }
                    None => (LogLevel::Error, format!("{what}, giving up")),
                };
                (level, message, Some(*duration_ms))
            }
            _ => unreachable!("api_call is only called for API call events"),
        }
    }

    fn health(&mut self, event: &Event) -> (LogLevel, String, Option<u64>) {
        match event {
            Event::HealthCheckAttempt {
                n,
                status,
                error,
                duration_ms,
            } => {
                self.health_polls += 1;
                let (level, message) = match (status, error) {
                    (Some(200), _) => (LogLevel::Info, format!("Health check {n}: 200")),
                    (Some(status), _) => (LogLevel::Warn, format!("Health check {n}: {status}")),
                    (None, Some(error)) => {
                        (LogLevel::Warn, format!("Health check {n} failed: {error}"))
                    }
                    (None, None) => (LogLevel::Warn, format!("Health check {n} failed")),
                };
                (level, message, Some(*duration_ms))
            }
            Event::HealthVerified { after_ms } => (
                LogLevel::Info,
                format!("Healthy after {}", human_ms(*after_ms)),
                Some(*after_ms),
            ),
            _ => unreachable!("health is only called for health events"),
        }
    }

    fn outcome(&mut self, envelope: &Envelope) -> (LogLevel, String, Option<u64>) {
        match &envelope.event {
            Event::DeploymentSucceeded { url } => {
                self.url = url.clone();
                self.switch_phase(Phase::Completed, envelope.at);
                self.progress = 100;
                self.current_step = Phase::Completed.title().to_owned();
                self.completed_at = Some(envelope.at);
                let took = envelope.at.saturating_sub(self.started_at);
                let took = u64::try_from(took).unwrap_or(0);
                (LogLevel::Info, format!("Deployed at {url}"), Some(took))
            }
            Event::DeploymentFailed {
                phase,
                code,
                message,
            } => {
                self.error = Some(Failure {
                    phase: *phase,
                    code: code.clone(),
                    message: message.clone(),
                    seq: envelope.seq,
                });
                let text = format!("{} failed: {message}", phase.title());
                (LogLevel::Error, text, None)
            }
            Event::RecoveryStarted { reason } => {
                self.recoveries += 1;
                self.completed_at = None;
                (LogLevel::Warn, format!("Recovering: {reason}"), None)
            }
            _ => unreachable!("outcome is only called for outcome events"),
        }
    }

    fn rollback(&mut self, envelope: &Envelope) -> (LogLevel, String, Option<u64>) {
        let progress = self.rollback.get_or_insert_with(RollbackProgress::default);
        match &envelope.event {
            Event::RollbackStarted => {
                self.switch_phase(Phase::RollingBack, envelope.at);
                self.current_step = Phase::RollingBack.title().to_owned();
                let count = self.created.len();
                let text = format!("Rolling back {count} created resource(s)");
                (LogLevel::Warn, text, None)
            }
            Event::RollbackStepSucceeded { kind, id } => {
                progress.steps_succeeded += 1;
                self.rolled_back.push((*kind, id.clone()));
                (LogLevel::Info, format!("Deleted {kind} {id}"), None)
            }
            Event::RollbackStepFailed { kind, id, error } => {
                progress.steps_failed += 1;
                self.rolled_back.push((*kind, id.clone()));
                let text = format!("Could not delete {kind} {id}: {error}");
                (LogLevel::Error, text, None)
            }
            Event::RollbackFinished { complete } => {
                progress.complete = Some(*complete);
                self.switch_phase(Phase::Failed, envelope.at);
                self.current_step = Phase::Failed.title().to_owned();
                self.completed_at = Some(envelope.at);
                let text = if *complete {
                    "Rollback complete: nothing left behind"
                } else {
                    "Rollback partial: some resources could not be deleted"
                };
                (LogLevel::Error, text.to_owned(), None)
            }
            _ => unreachable!("rollback is only called for rollback events"),
        }
    }

    fn endpoint(&self, call: u32) -> String {
        self.calls
            .get(&call)
            .cloned()
            .unwrap_or_else(|| format!("call {call}"))
    }

    fn log(
        &mut self,
        envelope: &Envelope,
        level: LogLevel,
        message: String,
        duration_ms: Option<u64>,
    ) {
        self.logs.push(LogEntry {
            seq: envelope.seq.0,
            at: envelope.at,
            level,
            phase: self.phase,
            kind: envelope.event.kind(),
            message,
            duration_ms,
        });
    }

    /// The latest human-readable message (that of the newest log line).
    pub fn message(&self) -> &str {
        self.logs.last().map_or("", |entry| entry.message.as_str())
    }

    /// Whether the name is held by this deployment (DESIGN §5).
    pub fn holds_name(&self) -> bool {
        self.status.holds_name()
    }

    /// "complete" or "partial" once a rollback finished.
    pub fn rollback_outcome(&self) -> Option<&'static str> {
        match self.rollback?.complete? {
            true => Some("complete"),
            false => Some("partial"),
        }
    }

    /// Whether a call to `endpoint` was ever started (an intent whose outcome may be unknown).
    pub fn attempted(&self, endpoint: &str) -> bool {
        self.calls.values().any(|called| called == endpoint)
    }

    /// The highest call number used so far.
    pub fn last_call(&self) -> u32 {
        self.calls.keys().copied().max().unwrap_or(0)
    }

    /// Whether this kind of resource was found or created already.
    pub fn has(&self, kind: ResourceKind) -> bool {
        match kind {
            ResourceKind::Project => self.resources.project_id.is_some(),
            ResourceKind::Environment => self.resources.environment_id.is_some(),
            ResourceKind::Application => self.resources.application_id.is_some(),
            ResourceKind::Domain => self.resources.domain_id.is_some(),
            ResourceKind::Deployment => self.deploy_title.is_some(),
        }
    }

    /// Whether a rollback already dealt with this resource.
    pub fn rolled_back(&self, kind: ResourceKind, id: &ResourceId) -> bool {
        self.rolled_back.iter().any(|(k, i)| *k == kind && i == id)
    }

    /// Whether the deployment is over (succeeded, or failed and rolled back).
    pub fn is_finished(&self) -> bool {
        self.status != DeploymentStatus::InProgress
    }
}

/// A short account of what a call answered, for the log line.
fn describe(answer: &ApiAnswer) -> String {
    match answer {
        ApiAnswer::Empty => String::new(),
        ApiAnswer::Project(None) | ApiAnswer::Application(None) | ApiAnswer::Domain(None) => {
            ": not found".to_owned()
        }
        ApiAnswer::Project(Some(project)) => format!(": project {}", project.project_id),
        ApiAnswer::Application(Some(app)) => format!(": application {}", app.application_id),
        ApiAnswer::Domain(Some(id)) => format!(": domain {id}"),
        ApiAnswer::Deployments(rows) => match rows.first() {
            Some(row) => format!(": {} deployment(s), newest {}", rows.len(), row.status),
            None => ": no deployments".to_owned(),
        },
    }
}
