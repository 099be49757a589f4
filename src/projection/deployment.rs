//! One deployment as the read side sees it, folded from its events: `DeploymentState::apply`.
//!
//! The state holds what users and operators are shown (phase, progress, resources, failure,
//! rollback, times), the figures metrics read (phase timings, retries) and the 50-entry log,
//! whose sentences come from the one renderer ([`crate::projection::render`]).
//!
//! The fold is pure: no clock, no I/O, no ids, no randomness; every timestamp comes from the
//! envelope. The live read model and `stackledger-replay` call this same code, so what a user
//! saw and what an engineer replays cannot differ. It never panics on an unexpected order of
//! events: the ledger writer enforces the order, and the fold stays total regardless. It must
//! never decide anything for the orchestrator, which folds its own stream
//! ([`crate::deployment::saga`]).

use crate::deployment::{
    DeploymentStatus, Event, Leftover, Phase, ResourceId, ResourceKind, RollbackOutcome,
};
use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::envelope::{Envelope, Hash};
use crate::projection::logs::{LogEntry, LogView};
use crate::projection::render::Narrator;
use crate::projection::timings::PhaseDurations;

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

/// How a rollback went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackProgress {
    /// Resources that could not be deleted.
    pub steps_failed: u32,
    /// Resources deliberately not deleted (deleting them was unsafe or could not be checked).
    pub skipped: Vec<SkippedStep>,
    /// What the verification found left on Dokploy (empty before it, and when nothing is).
    pub leftovers: Vec<Leftover>,
    /// None while running; then whether every created resource is gone.
    pub outcome: Option<RollbackOutcome>,
}

/// A rollback step not taken, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedStep {
    /// What was not deleted.
    pub kind: ResourceKind,
    /// Its Dokploy id.
    pub id: ResourceId,
    /// Why, in words an operator can act on.
    pub reason: String,
}

/// Everything the read side knows about one deployment, as of its last folded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentState {
    /// The deployment (and stream) id.
    pub id: DeploymentId,
    /// The stack name.
    pub name: String,
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
    /// When it was requested (unix ms).
    pub started_at: i64,
    /// When it succeeded or finished rolling back (unix ms).
    pub completed_at: Option<i64>,
    /// Why it failed.
    pub error: Option<Failure>,
    /// The rollback, once started.
    pub rollback: Option<RollbackProgress>,
    /// Time spent in each phase left so far (metrics).
    pub phase_durations: PhaseDurations,
    /// Failed attempts that were retried (metrics, the ops list).
    pub retries: u32,
    /// Who asked to cancel it (`operator:<name>` or `requester`), once a cancel is recorded.
    pub cancelled_by: Option<String>,
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
    /// The last 50 log lines.
    logs: LogView,
    /// What the renderer remembers of this stream.
    narrator: Narrator,
}

impl DeploymentState {
    /// Starts a state from the stream's `DeploymentRequested`; None for any other event.
    pub fn start(envelope: &Envelope) -> Option<Self> {
        let Event::DeploymentRequested { name, domain, .. } = &envelope.event else {
            return None;
        };
        let mut state = Self {
            id: envelope.stream,
            name: name.clone(),
            phase: Phase::Initializing,
            status: DeploymentStatus::InProgress,
            progress: 0,
            current_step: Phase::Initializing.title().to_owned(),
            url: format!("https://{domain}"),
            resources: Resources::default(),
            started_at: envelope.at,
            completed_at: None,
            error: None,
            rollback: None,
            phase_durations: PhaseDurations::starting(envelope.at),
            retries: 0,
            cancelled_by: None,
            first_seq: envelope.seq,
            last_seq: envelope.seq,
            version: envelope.version,
            head_hash: envelope.hash,
            updated_at: envelope.at,
            logs: LogView::default(),
            narrator: Narrator::default(),
        };
        state.log(envelope);
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
        match &envelope.event {
            // The request opened the state; the system stream's events are not a deployment's.
            Event::DeploymentRequested { .. }
            | Event::CircuitOpened
            | Event::CircuitHalfOpened
            | Event::CircuitClosed
            | Event::ServerStarted { .. } => return,
            Event::RollbackStarted
            | Event::RollbackStepSucceeded { .. }
            | Event::RollbackStepFailed { .. }
            | Event::RollbackStepSkipped { .. }
            | Event::RollbackVerified { .. }
            | Event::RollbackFinished { .. } => self.fold_rollback(envelope),
            _ => self.fold(envelope),
        }
        self.log(envelope);
    }

    /// Folds what a forward event changes.
    fn fold(&mut self, envelope: &Envelope) {
        match &envelope.event {
            Event::PhaseEntered { phase } => {
                self.switch_phase(*phase, envelope.at);
                if let Some(progress) = phase.progress() {
                    self.progress = progress;
                }
            }
            Event::ApiCallFailed {
                retry_in_ms: Some(_),
                ..
            } => self.retries += 1,
            Event::ResourceFound { kind, id } => self.resources.set(*kind, id),
            Event::ResourceCreated { kind, id } => self.resources.set(*kind, id),
            Event::DeploymentSucceeded { url } => {
                self.url = url.clone();
                self.switch_phase(Phase::Completed, envelope.at);
                self.progress = 100;
                self.completed_at = Some(envelope.at);
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
            }
            Event::RecoveryStarted { .. } => self.completed_at = None,
            Event::CancelRequested { by, .. } => self.cancelled_by = Some(by.clone()),
            _ => {}
        }
    }

    /// Folds what a rollback event changes.
    fn fold_rollback(&mut self, envelope: &Envelope) {
        let progress = self.rollback.get_or_insert_with(RollbackProgress::default);
        match &envelope.event {
            Event::RollbackStarted => self.switch_phase(Phase::RollingBack, envelope.at),
            Event::RollbackStepFailed { .. } => progress.steps_failed += 1,
            Event::RollbackStepSkipped { kind, id, reason } => progress.skipped.push(SkippedStep {
                kind: *kind,
                id: id.clone(),
                reason: reason.clone(),
            }),
            Event::RollbackVerified { leftovers } => progress.leftovers = leftovers.clone(),
            Event::RollbackFinished { complete } => {
                progress.outcome = Some(RollbackOutcome::of(*complete));
                self.switch_phase(Phase::Failed, envelope.at);
                self.completed_at = Some(envelope.at);
            }
            _ => {}
        }
    }

    /// Closes the current phase's time at `at` and opens `phase`, whose title becomes the
    /// current step.
    fn switch_phase(&mut self, phase: Phase, at: i64) {
        self.phase_durations.switch(self.phase, phase, at);
        self.phase = phase;
        self.current_step = phase.title().to_owned();
    }

    /// Renders the event into the log, under the phase it left the deployment in.
    fn log(&mut self, envelope: &Envelope) {
        let line = self.narrator.line(envelope);
        self.logs.push(LogEntry {
            seq: envelope.seq.0,
            at: envelope.at,
            phase: self.phase,
            line,
        });
    }

    /// The last 50 log lines, oldest first.
    pub fn logs(&self) -> &LogView {
        &self.logs
    }

    /// The latest human-readable message (that of the newest log line).
    pub fn message(&self) -> &str {
        self.logs
            .last()
            .map_or("", |entry| entry.line.text.as_str())
    }

    /// Whether the name is held by this deployment (DESIGN §5).
    pub fn holds_name(&self) -> bool {
        self.status.holds_name()
    }

    /// How the rollback ended, once it has.
    pub fn rollback_outcome(&self) -> Option<RollbackOutcome> {
        self.rollback.as_ref()?.outcome
    }

    /// What the rollback's verification found left on Dokploy (empty: nothing, or not yet).
    pub fn leftovers(&self) -> &[Leftover] {
        self.rollback
            .as_ref()
            .map_or(&[][..], |rollback| rollback.leftovers.as_slice())
    }

    /// Whether the deployment is over (succeeded, or failed and rolled back).
    pub fn is_finished(&self) -> bool {
        self.status != DeploymentStatus::InProgress
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::fixture::{requested, stream};

    fn envelope(seq: u64, at: i64, event: Event) -> Envelope {
        crate::projection::fixture::envelope(stream(3), seq, at, event)
    }

    /// Folds `events` after a request at seq 1, time 0; event n lands at seq n+1, n seconds.
    fn folded(events: Vec<Event>) -> DeploymentState {
        let mut state =
            DeploymentState::start(&envelope(1, 0, requested("shop"))).expect("a request");
        for (n, event) in (1..).zip(events) {
            state.apply(&envelope(n + 1, 1_000 * n as i64, event));
        }
        state
    }

    fn phase(phase: Phase) -> Event {
        Event::PhaseEntered { phase }
    }

    #[test]
    fn deployment_state_times_phases_and_logs_each_line_under_the_phase_it_left() {
        let state = folded(vec![
            phase(Phase::CreatingProject),
            phase(Phase::Deploying),
            Event::DeploymentSucceeded {
                url: "https://shop.example".into(),
            },
        ]);
        assert_eq!((state.phase, state.progress), (Phase::Completed, 100));
        assert_eq!(state.completed_at, Some(3_000));
        let spent: Vec<_> = state.phase_durations.iter().copied().collect();
        assert_eq!(
            spent,
            vec![
                (Phase::Initializing, 1_000),
                (Phase::CreatingProject, 1_000),
                (Phase::Deploying, 1_000)
            ]
        );
        let phases: Vec<_> = state.logs().iter().map(|entry| entry.phase).collect();
        assert_eq!(
            phases,
            [
                Phase::Initializing,
                Phase::CreatingProject,
                Phase::Deploying,
                Phase::Completed
            ]
        );
        assert_eq!(state.message(), "Deployed at https://shop.example");
    }

    #[test]
    fn deployment_state_counts_only_retried_failures_as_retries() {
        let failed = |retry_in_ms| Event::ApiCallFailed {
            call: 1,
            attempt: 1,
            status: Some(503),
            error: "unavailable".into(),
            duration_ms: 2,
            retry_in_ms,
        };
        let state = folded(vec![failed(Some(1_000)), failed(Some(2_000)), failed(None)]);
        assert_eq!(state.retries, 2);
    }

    #[test]
    fn deployment_state_types_the_rollback_outcome_once_the_rollback_finishes() {
        let step_failed = Event::RollbackStepFailed {
            kind: ResourceKind::Project,
            id: ResourceId("p1".into()),
            error: "busy".into(),
        };
        let running = folded(vec![Event::RollbackStarted, step_failed.clone()]);
        assert_eq!(running.rollback_outcome(), None);
        assert_eq!(running.phase, Phase::RollingBack);
        let finished = folded(vec![
            Event::RollbackStarted,
            step_failed,
            Event::RollbackFinished { complete: false },
        ]);
        assert_eq!(finished.rollback_outcome(), Some(RollbackOutcome::Partial));
        assert_eq!(finished.rollback.as_ref().map(|r| r.steps_failed), Some(1));
        assert_eq!(
            (finished.phase, finished.current_step.as_str()),
            (Phase::Failed, Phase::Failed.title())
        );
    }

    #[test]
    fn deployment_state_keeps_skipped_steps_and_the_leftovers_of_an_incomplete_rollback() {
        let skipped = Event::RollbackStepSkipped {
            kind: ResourceKind::Project,
            id: ResourceId("p1".into()),
            reason: "the project still holds application blog (a2)".into(),
        };
        let left = Leftover {
            kind: crate::deployment::LeftoverKind::Project,
            id: Some(ResourceId("p1".into())),
            detail: "the project shop (p1) is still on Dokploy".into(),
        };
        let verified = Event::RollbackVerified {
            leftovers: vec![left.clone()],
        };
        let before = folded(vec![Event::RollbackStarted, skipped.clone()]);
        assert_eq!(before.leftovers(), &[][..], "not verified yet");
        let state = folded(vec![
            Event::RollbackStarted,
            skipped,
            verified,
            Event::RollbackFinished { complete: false },
        ]);
        let rollback = state.rollback.as_ref().expect("a rollback");
        assert_eq!(rollback.skipped.len(), 1);
        assert_eq!(rollback.skipped[0].kind, ResourceKind::Project);
        assert_eq!(state.leftovers(), &[left][..]);
        assert_eq!(state.rollback_outcome(), Some(RollbackOutcome::Partial));
        assert_eq!(state.phase, Phase::Failed);
    }

    #[test]
    fn deployment_state_ignores_events_already_folded_and_a_repeated_request() {
        let mut state = folded(vec![phase(Phase::CreatingProject)]);
        let before = state.clone();
        state.apply(&envelope(2, 9_000, phase(Phase::Deploying)));
        assert_eq!(state, before, "seq 2 was folded already");
        state.apply(&envelope(3, 9_000, requested("other")));
        assert_eq!((state.name.as_str(), state.logs().len()), ("shop", 2));
        assert_eq!(state.last_seq, Seq(3));
        assert!(
            DeploymentState::start(&envelope(1, 0, phase(Phase::Deploying))).is_none(),
            "only a request opens a state"
        );
    }
}
