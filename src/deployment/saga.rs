//! The saga's decision state: what one deployment's own stream says, folded down to what the
//! next decision needs ([`SagaState`]). The orchestrator keeps one per run, folding every event
//! it appends; [`crate::deployment::plan::next`] decides from it.
//!
//! Besides the events there is one input: where the current run began ([`SagaState::begin_run`]).
//! What a run learned from the answers it went on with (the default environment of the project
//! it found or created, which lookups its rollback made) holds for that run only: after a
//! restart it is looked up again, because Dokploy may have changed in between. Deadlines of a
//! wait restart with the run too.
//!
//! This is a pure fold: no clock, no I/O, no ids; times come from the events' envelopes. It
//! knows nothing of the read model (that is the projection's, and renders the same events for
//! people) and must never grow fields that no decision reads.

use std::collections::BTreeSet;

use crate::deployment::{
    ApiAnswer, DeployStatus, DeploymentStatus, Event, EventKind, Phase, Procedure, ResourceId,
    ResourceKind,
};
use crate::ids::{DeploymentId, Seq};
use rollback::inspected_kind;

/// The Dokploy resources a deployment works with, as far as its events tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// The project.
    pub project: Option<ResourceId>,
    /// The project's environment.
    pub environment: Option<ResourceId>,
    /// The application.
    pub application: Option<ResourceId>,
    /// The domain.
    pub domain: Option<ResourceId>,
}

impl Resources {
    /// The id recorded for `kind` (None for a deployment, which is not a resource kept here).
    pub fn get(&self, kind: ResourceKind) -> Option<&ResourceId> {
        match kind {
            ResourceKind::Project => self.project.as_ref(),
            ResourceKind::Environment => self.environment.as_ref(),
            ResourceKind::Application => self.application.as_ref(),
            ResourceKind::Domain => self.domain.as_ref(),
            ResourceKind::Deployment => None,
        }
    }

    fn set(&mut self, kind: ResourceKind, id: &ResourceId) {
        let slot = match kind {
            ResourceKind::Project => &mut self.project,
            ResourceKind::Environment => &mut self.environment,
            ResourceKind::Application => &mut self.application,
            ResourceKind::Domain => &mut self.domain,
            ResourceKind::Deployment => return,
        };
        *slot = Some(id.clone());
    }
}

/// The recorded `DeploymentFailed`: rollback steps point to its seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    /// The phase that failed.
    pub phase: Phase,
    /// The seq of the `DeploymentFailed` event.
    pub seq: Seq,
}

/// A rollback, once started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollback {
    /// Steps recorded as failed (in any run).
    pub steps_failed: u32,
    /// Steps recorded as skipped (in any run).
    pub steps_skipped: u32,
    /// How many leftovers the verification recorded, once it has.
    pub leftovers: Option<u32>,
    /// None while running; then whether nothing was left behind.
    pub complete: Option<bool>,
}

/// What the rollback's verification found for one created resource (run memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Dokploy's resource 404: it is gone. (A route 404 never gets here: the verification
    /// ends at the first one, since the saga cannot tell the two apart from the events.)
    Gone,
    /// Still there: what the lookup answered.
    Found(ApiAnswer),
    /// The lookup failed for good: with this HTTP status, if an answer came (Dokploy's own
    /// text stays in the call's events).
    Unchecked(Option<u16>),
}

/// What the current run learned that is not a decision of its own (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunMemory {
    /// When the run began (unix ms).
    pub started_ms: i64,
    /// The default environment of the last project answer this run went on with.
    last_project_environment: Option<ResourceId>,
    /// The default environment of the project this run found or created.
    pub project_environment: Option<ResourceId>,
    /// The rollback lookup in flight: its call number and the kind it looks for.
    lookup: Option<(u32, ResourceKind)>,
    /// Kinds the rollback of this run has looked up (answered or failed).
    pub looked_up: Vec<ResourceKind>,
    /// Whether one of those lookups failed (the rollback cannot be known to be complete).
    pub lookup_failed: bool,
    /// When this run took its build slot (unix ms); None until it has one. A slot never
    /// outlives its run: a resumed run takes one again.
    pub build_slot_ms: Option<i64>,
    /// When this run's rollback began to wait out the deployment's build (its first poll).
    pub build_wait_started_ms: Option<i64>,
    /// The verification lookup in flight: its call number and the kind it looks at.
    inspection: Option<(u32, ResourceKind)>,
    /// What this run's verification found, kind by kind, in the order looked at.
    pub verified: Vec<(ResourceKind, Verdict)>,
    /// When this run was granted its running slot (`AdmissionGranted`); None while it waits
    /// in the admission queue.
    pub admitted_ms: Option<i64>,
    /// Whether this run recorded `OutageWaiting` and no call has been answered since.
    pub outage_waiting: bool,
}

/// The recorded `CancelRequested`: the rollback it starts points to its seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancel {
    /// The seq of the `CancelRequested` event.
    pub seq: Seq,
    /// Who asked.
    pub by: String,
    /// Why, as given.
    pub reason: String,
}

/// One deployment's decision state, folded from its own stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaState {
    /// The deployment (and stream) id.
    pub id: DeploymentId,
    /// The stack name.
    pub name: String,
    /// Overall status.
    pub status: DeploymentStatus,
    /// The current phase.
    pub phase: Phase,
    /// The stack's URL (from the request; confirmed by success).
    pub url: String,
    /// The resources found or created.
    pub resources: Resources,
    /// What this deployment created, in order of creation (rolled back in reverse).
    pub created: Vec<(ResourceKind, ResourceId)>,
    /// Every procedure a call was started for (an intent whose outcome may be unknown).
    pub attempted: BTreeSet<Procedure>,
    /// The highest call number recorded.
    pub last_call: u32,
    /// The title of the deploy this deployment queued last (the current one, after a
    /// re-queue), and when it was queued.
    pub deploy_queued: Option<(String, i64)>,
    /// When Dokploy started the build of the current deploy (its row appeared), if it has.
    pub deploy_started: Option<i64>,
    /// How often the deploy was queued again after Dokploy lost it.
    pub requeued: u32,
    /// Dokploy's final status of that deploy; `Err` holds a text this version does not know.
    pub deploy_finished: Option<Result<DeployStatus, String>>,
    /// When `verifying_health` was entered (unix ms).
    pub health_entered_ms: Option<i64>,
    /// Health polls recorded.
    pub health_polls: u32,
    /// The status the last health poll got, if it got one.
    pub last_health: Option<u16>,
    /// The failure, once recorded.
    pub failure: Option<Failed>,
    /// The rollback, once started.
    pub rollback: Option<Rollback>,
    /// Resources the rollback dealt with (deleted, gone, failed to delete, or skipped).
    pub rolled_back: Vec<(ResourceKind, ResourceId)>,
    /// Of those, the ones the rollback left (its step failed or was skipped).
    pub rollback_kept: Vec<(ResourceKind, ResourceId)>,
    /// When the deployment's deadline passes (unix ms), as recorded when it was accepted;
    /// None for a deployment recorded before deadlines existed.
    pub deadline_at_ms: Option<i64>,
    /// The cancel, once one is recorded (the ledger records at most one).
    pub cancel: Option<Cancel>,
    /// The kind of the last event folded.
    pub last_event: EventKind,
    /// The seq of the last event folded.
    pub last_seq: Seq,
    /// The current run (see [`SagaState::begin_run`]).
    pub run: RunMemory,
}

impl SagaState {
    /// A state from the stream's first event, which must be `DeploymentRequested`.
    pub fn start(id: DeploymentId, seq: Seq, event: &Event) -> Option<Self> {
        let Event::DeploymentRequested { name, domain, .. } = event else {
            return None;
        };
        Some(Self {
            id,
            name: name.clone(),
            status: DeploymentStatus::InProgress,
            phase: Phase::Initializing,
            url: format!("https://{domain}"),
            resources: Resources::default(),
            created: Vec::new(),
            attempted: BTreeSet::new(),
            last_call: 0,
            deploy_queued: None,
            deploy_started: None,
            requeued: 0,
            deploy_finished: None,
            health_entered_ms: None,
            health_polls: 0,
            last_health: None,
            failure: None,
            rollback: None,
            rolled_back: Vec::new(),
            rollback_kept: Vec::new(),
            deadline_at_ms: None,
            cancel: None,
            last_event: EventKind::DeploymentRequested,
            last_seq: seq,
            run: RunMemory::default(),
        })
    }

    /// The fold of a whole stream, `(seq, at, event)` in order; None when it does not start
    /// with `DeploymentRequested`.
    pub fn fold<'a>(
        id: DeploymentId,
        events: impl IntoIterator<Item = (Seq, i64, &'a Event)>,
    ) -> Option<Self> {
        let mut events = events.into_iter();
        let (seq, _, first) = events.next()?;
        let mut state = Self::start(id, seq, first)?;
        for (seq, at, event) in events {
            state.apply(seq, at, event);
        }
        Some(state)
    }

    /// Marks the beginning of a run at `now_ms`: what the previous run learned is forgotten.
    pub fn begin_run(&mut self, now_ms: i64) {
        self.run = RunMemory {
            started_ms: now_ms,
            ..RunMemory::default()
        };
    }

    /// Folds one event of this stream (at `at`, unix ms). Older seqs are ignored.
    pub fn apply(&mut self, seq: Seq, at: i64, event: &Event) {
        if seq <= self.last_seq {
            return;
        }
        self.last_seq = seq;
        self.last_event = event.kind();
        if let Some(status) = event.status_effect() {
            self.status = status;
        }
        match event {
            Event::PhaseEntered { phase } => {
                self.phase = *phase;
                if *phase == Phase::VerifyingHealth {
                    self.health_entered_ms = Some(at);
                }
            }
            Event::ApiCallStarted { .. }
            | Event::ApiCallSucceeded { .. }
            | Event::ApiCallFailed { .. } => self.call_event(at, event),
            Event::ResourceFound { kind, id } => self.resource(*kind, id, false),
            Event::ResourceCreated { kind, id } => self.resource(*kind, id, true),
            Event::DeployQueued { .. }
            | Event::DeployStarted { .. }
            | Event::DeployRequeued { .. }
            | Event::BuildSlotAcquired { .. } => self.deploy_event(at, event),
            Event::DeployFinished { dokploy_status } => {
                let status = DeployStatus::parse(dokploy_status).ok_or(dokploy_status.clone());
                self.deploy_finished = Some(status);
            }
            Event::HealthCheckAttempt { status, .. } => {
                self.health_polls += 1;
                self.last_health = *status;
            }
            Event::DeploymentSucceeded { url } => {
                self.url = url.clone();
                self.phase = Phase::Completed;
            }
            Event::DeploymentFailed { phase, .. } => {
                self.failure = Some(Failed { phase: *phase, seq });
            }
            Event::RollbackStarted
            | Event::RollbackStepSucceeded { .. }
            | Event::RollbackStepFailed { .. }
            | Event::RollbackStepSkipped { .. }
            | Event::RollbackVerified { .. }
            | Event::RollbackFinished { .. } => self.rollback_event(event),
            Event::DeploymentAccepted { .. }
            | Event::AdmissionGranted { .. }
            | Event::OutageWaiting { .. }
            | Event::CancelRequested { .. } => self.control_event(seq, at, event),
            Event::DeploymentRequested { .. }
            | Event::AdmissionWaiting { .. }
            | Event::AdminTokenAdded { .. }
            | Event::AdminTokenRevoked { .. }
            | Event::CancelAsked { .. }
            | Event::LedgerExported { .. }
            | Event::LedgerVerified { .. }
            | Event::AuthenticationRefused { .. }
            | Event::HealthVerified { .. }
            | Event::RecoveryStarted { .. }
            | Event::CircuitOpened
            | Event::CircuitHalfOpened
            | Event::CircuitClosed
            | Event::ServerStarted { .. }
            | Event::CheckpointTaken { .. }
            | Event::BuildSlotWaiting { .. } => {}
        }
    }

    /// A call's intent or outcome.
    fn call_event(&mut self, at: i64, event: &Event) {
        match event {
            Event::ApiCallStarted { call, endpoint, .. } => {
                self.call_started(*call, endpoint, at);
            }
            Event::ApiCallSucceeded { call, answer, .. } => {
                self.run.outage_waiting = false;
                self.call_answered(*call, answer);
            }
            Event::ApiCallFailed {
                call,
                retry_in_ms: None,
                status,
                ..
            } => {
                self.lookup_done(*call, true);
                self.inspection_failed(*call, *status);
            }
            _ => {}
        }
    }

    /// The deadline, the admission queue, an outage wait and a cancel.
    fn control_event(&mut self, seq: Seq, at: i64, event: &Event) {
        match event {
            Event::DeploymentAccepted { deadline_at_ms, .. } => {
                self.deadline_at_ms = Some(*deadline_at_ms);
            }
            Event::AdmissionGranted { .. } => self.run.admitted_ms = Some(at),
            Event::OutageWaiting { .. } => self.run.outage_waiting = true,
            Event::CancelRequested { by, reason, .. } => {
                self.cancel = Some(Cancel {
                    seq,
                    by: by.clone(),
                    reason: reason.clone(),
                });
            }
            _ => {}
        }
    }

    /// The deploy's place in Dokploy's queue and in the portal's line of builds.
    fn deploy_event(&mut self, at: i64, event: &Event) {
        match event {
            Event::DeployQueued { title } => {
                self.deploy_queued = Some((title.clone(), at));
                self.deploy_started = None;
            }
            Event::DeployStarted { .. } => self.deploy_started = Some(at),
            Event::DeployRequeued { .. } => {
                self.requeued += 1;
                self.deploy_started = None;
            }
            Event::BuildSlotAcquired { .. } => self.run.build_slot_ms = Some(at),
            _ => {}
        }
    }

    fn call_started(&mut self, call: u32, endpoint: &str, at: i64) {
        self.last_call = self.last_call.max(call);
        let Some(procedure) = Procedure::from_name(endpoint) else {
            return;
        };
        self.attempted.insert(procedure);
        // After the failure, the only lookups are the rollback's reconciliation, its build
        // wait and its verification.
        if self.failure.is_some() {
            self.run.lookup = looked_up_kind(procedure).map(|kind| (call, kind));
            if procedure == Procedure::DeploymentAll && self.run.build_wait_started_ms.is_none() {
                self.run.build_wait_started_ms = Some(at);
            }
            if self.verifying() {
                self.run.inspection = inspected_kind(procedure).map(|kind| (call, kind));
            }
        }
    }

    fn call_answered(&mut self, call: u32, answer: &ApiAnswer) {
        if let ApiAnswer::Project(Some(project)) = answer {
            self.run.last_project_environment = project.environment_id.clone();
        }
        self.lookup_done(call, false);
        if let Some(kind) = self.inspection_done(call) {
            let verdict = match answer {
                ApiAnswer::Application(None) | ApiAnswer::Domain(None) => Verdict::Gone,
                answer => Verdict::Found(answer.clone()),
            };
            self.run.verified.push((kind, verdict));
        }
    }

    /// Notes the end of the rollback lookup `call`, if it is the one in flight.
    fn lookup_done(&mut self, call: u32, failed: bool) {
        let Some((in_flight, kind)) = self.run.lookup else {
            return;
        };
        if in_flight == call {
            self.run.lookup = None;
            self.run.looked_up.push(kind);
            self.run.lookup_failed |= failed;
        }
    }

    fn resource(&mut self, kind: ResourceKind, id: &ResourceId, created: bool) {
        self.resources.set(kind, id);
        if created {
            self.created.push((kind, id.clone()));
            // Something new to undo: what a verification found before it no longer holds.
            if let Some(rollback) = &mut self.rollback {
                rollback.leftovers = None;
            }
        }
        if kind == ResourceKind::Project {
            self.run.project_environment = self.run.last_project_environment.take();
        }
    }

    /// Whether this kind of resource was found or created already.
    pub fn has(&self, kind: ResourceKind) -> bool {
        match kind {
            ResourceKind::Deployment => self.deploy_queued.is_some(),
            kind => self.resources.get(kind).is_some(),
        }
    }

    /// Whether a call to `procedure` was ever started.
    pub fn attempted(&self, procedure: Procedure) -> bool {
        self.attempted.contains(&procedure)
    }
}

/// The kinds a deployment creates and a rollback deletes, in the order they are created.
pub const UNDONE: [ResourceKind; 3] = [
    ResourceKind::Project,
    ResourceKind::Application,
    ResourceKind::Domain,
];

/// The kind a lookup procedure finds, when it is one the rollback reconciles with.
fn looked_up_kind(procedure: Procedure) -> Option<ResourceKind> {
    [
        ResourceKind::Project,
        ResourceKind::Application,
        ResourceKind::Domain,
    ]
    .into_iter()
    .find(|kind| create_of(*kind).and_then(Procedure::lookup) == Some(procedure))
}

/// The procedure that creates `kind`, for the kinds a deployment creates.
pub fn create_of(kind: ResourceKind) -> Option<Procedure> {
    match kind {
        ResourceKind::Project => Some(Procedure::ProjectCreate),
        ResourceKind::Application => Some(Procedure::ApplicationCreate),
        ResourceKind::Domain => Some(Procedure::DomainCreate),
        ResourceKind::Environment | ResourceKind::Deployment => None,
    }
}

mod rollback;
#[cfg(test)]
mod tests;
