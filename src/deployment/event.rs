//! The event vocabulary: every fact StackLedger records, and the small value types inside them.
//!
//! An event is a fact that happened; it is never updated or deleted. Variants are encoded by
//! their position (bincode), so the evolution rules of `events/README.md` hold without
//! exception once a ledger exists outside this repository: variants are only ever appended to
//! the end of [`Event`], never reordered, removed or reshaped; a changed shape is a new variant.
//! For the same reason no type here uses `skip_serializing_if`, `flatten`, `tag` or `untagged`.
//!
//! This file performs no I/O and knows nothing of storage.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::deployment::phase::{DeploymentStatus, Phase};
use crate::deployment::{ApiAnswer, Leftover};

/// The kinds of Dokploy resource a deployment finds, creates and rolls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A Dokploy project.
    Project,
    /// A project's environment.
    Environment,
    /// An application inside an environment.
    Application,
    /// A domain routed to an application.
    Domain,
    /// One run of `application.deploy`.
    Deployment,
}

impl ResourceKind {
    /// The wire name (`application`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Project => "project",
            ResourceKind::Environment => "environment",
            ResourceKind::Application => "application",
            ResourceKind::Domain => "domain",
            ResourceKind::Deployment => "deployment",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Dokploy id (a 21-character nanoid). Never parsed as a UUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceId(pub String);

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The HTTP method of a Dokploy call (queries are GET, mutations POST).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HttpMethod {
    /// A tRPC query.
    Get,
    /// A tRPC mutation.
    Post,
}

impl HttpMethod {
    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

/// A fact recorded in the ledger. See `events/README.md` for each kind's meaning and origin.
///
/// Append-only: new kinds go at the end; an existing variant is never changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A person asked for a stack. The first event of every deployment stream.
    DeploymentRequested {
        /// The stack name (a DNS label).
        name: String,
        /// The Docker image to run.
        image: String,
        /// The host the stack will answer on (`NAME.<suffix>`).
        domain: String,
        /// The container port the domain routes to.
        port: u16,
        /// A keyed hash of the requester's address, never the address itself.
        client: String,
        /// The StackLedger version that accepted the request.
        server_version: String,
    },
    /// The deployment moved to a phase.
    PhaseEntered {
        /// The phase entered.
        phase: Phase,
    },
    /// An external call is about to be sent (durable before the request leaves).
    ApiCallStarted {
        /// The call's number within the deployment (1, 2, 3, …); retries keep it.
        call: u32,
        /// The attempt (1 for the first try).
        attempt: u32,
        /// GET or POST.
        method: HttpMethod,
        /// The Dokploy procedure (`application.create`) or the health path.
        endpoint: String,
    },
    /// The call answered and the orchestrator goes on with `answer`.
    ApiCallSucceeded {
        /// The call's number.
        call: u32,
        /// The attempt that succeeded.
        attempt: u32,
        /// The HTTP status.
        status: u16,
        /// How long the attempt took.
        duration_ms: u64,
        /// What the orchestrator took from the answer.
        answer: ApiAnswer,
    },
    /// The attempt failed.
    ApiCallFailed {
        /// The call's number.
        call: u32,
        /// The attempt that failed.
        attempt: u32,
        /// The HTTP status, if an answer came at all.
        status: Option<u16>,
        /// What went wrong (cut to a bounded length, never holding a secret).
        error: String,
        /// How long the attempt took.
        duration_ms: u64,
        /// The delay before the next attempt; None when the call is given up.
        retry_in_ms: Option<u64>,
    },
    /// A resource this deployment needs already existed (idempotency: it is not created again
    /// and not rolled back).
    ResourceFound {
        /// What it is.
        kind: ResourceKind,
        /// Its Dokploy id.
        id: ResourceId,
    },
    /// This deployment created a resource (rolled back on failure).
    ResourceCreated {
        /// What it is.
        kind: ResourceKind,
        /// Its Dokploy id.
        id: ResourceId,
    },
    /// `application.deploy` accepted a deploy with this unique title.
    DeployQueued {
        /// The title that identifies the Dokploy deployment row.
        title: String,
    },
    /// Dokploy's deployment row reached a final status.
    DeployFinished {
        /// `done`, `error` or `cancelled`.
        dokploy_status: String,
    },
    /// One poll of the app's health URL.
    HealthCheckAttempt {
        /// The poll's number (1, 2, 3, …).
        n: u32,
        /// The HTTP status, if an answer came.
        status: Option<u16>,
        /// What went wrong, if the poll failed.
        error: Option<String>,
        /// How long the poll took.
        duration_ms: u64,
    },
    /// The app answered 200 on its health URL.
    HealthVerified {
        /// Time from the first poll to the healthy answer.
        after_ms: u64,
    },
    /// The stack is up at `url`.
    DeploymentSucceeded {
        /// The public URL.
        url: String,
    },
    /// A phase failed; a rollback follows.
    DeploymentFailed {
        /// The phase that failed.
        phase: Phase,
        /// A stable snake_case error code.
        code: String,
        /// What a person reads.
        message: String,
    },
    /// Undoing what this deployment created begins (reverse order of creation).
    RollbackStarted,
    /// One created resource was deleted (or was already gone).
    RollbackStepSucceeded {
        /// What was deleted.
        kind: ResourceKind,
        /// Its Dokploy id.
        id: ResourceId,
    },
    /// One created resource could not be deleted; the rollback goes on.
    RollbackStepFailed {
        /// What could not be deleted.
        kind: ResourceKind,
        /// Its Dokploy id.
        id: ResourceId,
        /// Why.
        error: String,
    },
    /// The rollback is over; the deployment has failed.
    RollbackFinished {
        /// True when every created resource is gone.
        complete: bool,
    },
    /// The deployment was found unfinished at startup and is being recovered.
    RecoveryStarted {
        /// Why recovery runs (for example `server restarted`).
        reason: String,
    },
    /// System stream: the circuit breaker opened; calls fail fast.
    CircuitOpened,
    /// System stream: the breaker lets one probe through.
    CircuitHalfOpened,
    /// System stream: the breaker closed; calls flow again.
    CircuitClosed,
    /// System stream: a server process started on this ledger.
    ServerStarted {
        /// Its version.
        version: String,
    },
    /// A rollback step was not taken, because taking it could destroy what is not this
    /// deployment's or record a deletion that did not happen; the rollback ends incomplete.
    RollbackStepSkipped {
        /// What was not deleted.
        kind: ResourceKind,
        /// Its Dokploy id.
        id: ResourceId,
        /// Why, in words an operator can act on.
        reason: String,
    },
    /// After the rollback's steps, each created resource was looked up again: what is left.
    RollbackVerified {
        /// What is still there (empty: nothing).
        leftovers: Vec<Leftover>,
    },
    /// Dokploy began the build of the queued deploy: its row appeared.
    DeployStarted {
        /// Dokploy's `deploymentId` of the row.
        deployment_id: ResourceId,
        /// How long the deploy waited in Dokploy's build queue (no row yet).
        queued_ms: u64,
    },
    /// The queued deploy was lost (a Dokploy restart cancelled its row, or dropped it before
    /// it had one) and is queued again, once.
    DeployRequeued {
        /// Why it is taken as lost.
        reason: String,
    },
    /// The deployment waits in the portal for one of Dokploy's build slots.
    BuildSlotWaiting {
        /// Deployments ahead of it in the portal's line.
        ahead: u32,
    },
    /// The deployment holds a build slot: it may hand Dokploy its build.
    BuildSlotAcquired {
        /// How long it waited for the slot.
        waited_ms: u64,
    },
}

/// The name of an event kind, without its fields. [`EventKind::ALL`] lists them in the order
/// of [`Event`]'s variants, which is their encoded position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum EventKind {
    DeploymentRequested,
    PhaseEntered,
    ApiCallStarted,
    ApiCallSucceeded,
    ApiCallFailed,
    ResourceFound,
    ResourceCreated,
    DeployQueued,
    DeployFinished,
    HealthCheckAttempt,
    HealthVerified,
    DeploymentSucceeded,
    DeploymentFailed,
    RollbackStarted,
    RollbackStepSucceeded,
    RollbackStepFailed,
    RollbackFinished,
    RecoveryStarted,
    CircuitOpened,
    CircuitHalfOpened,
    CircuitClosed,
    ServerStarted,
    RollbackStepSkipped,
    RollbackVerified,
    DeployStarted,
    DeployRequeued,
    BuildSlotWaiting,
    BuildSlotAcquired,
}

impl EventKind {
    /// Every kind, in encoded order.
    pub const ALL: [EventKind; 28] = [
        EventKind::DeploymentRequested,
        EventKind::PhaseEntered,
        EventKind::ApiCallStarted,
        EventKind::ApiCallSucceeded,
        EventKind::ApiCallFailed,
        EventKind::ResourceFound,
        EventKind::ResourceCreated,
        EventKind::DeployQueued,
        EventKind::DeployFinished,
        EventKind::HealthCheckAttempt,
        EventKind::HealthVerified,
        EventKind::DeploymentSucceeded,
        EventKind::DeploymentFailed,
        EventKind::RollbackStarted,
        EventKind::RollbackStepSucceeded,
        EventKind::RollbackStepFailed,
        EventKind::RollbackFinished,
        EventKind::RecoveryStarted,
        EventKind::CircuitOpened,
        EventKind::CircuitHalfOpened,
        EventKind::CircuitClosed,
        EventKind::ServerStarted,
        EventKind::RollbackStepSkipped,
        EventKind::RollbackVerified,
        EventKind::DeployStarted,
        EventKind::DeployRequeued,
        EventKind::BuildSlotWaiting,
        EventKind::BuildSlotAcquired,
    ];

    /// The kind's name as written in the catalogue and in JSON (`ApiCallFailed`).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::DeploymentRequested => "DeploymentRequested",
            EventKind::PhaseEntered => "PhaseEntered",
            EventKind::ApiCallStarted => "ApiCallStarted",
            EventKind::ApiCallSucceeded => "ApiCallSucceeded",
            EventKind::ApiCallFailed => "ApiCallFailed",
            EventKind::ResourceFound => "ResourceFound",
            EventKind::ResourceCreated => "ResourceCreated",
            EventKind::DeployQueued => "DeployQueued",
            EventKind::DeployFinished => "DeployFinished",
            EventKind::HealthCheckAttempt => "HealthCheckAttempt",
            EventKind::HealthVerified => "HealthVerified",
            EventKind::DeploymentSucceeded => "DeploymentSucceeded",
            EventKind::DeploymentFailed => "DeploymentFailed",
            EventKind::RollbackStarted => "RollbackStarted",
            EventKind::RollbackStepSucceeded => "RollbackStepSucceeded",
            EventKind::RollbackStepFailed => "RollbackStepFailed",
            EventKind::RollbackFinished => "RollbackFinished",
            EventKind::RecoveryStarted => "RecoveryStarted",
            EventKind::CircuitOpened => "CircuitOpened",
            EventKind::CircuitHalfOpened => "CircuitHalfOpened",
            EventKind::CircuitClosed => "CircuitClosed",
            EventKind::ServerStarted => "ServerStarted",
            EventKind::RollbackStepSkipped => "RollbackStepSkipped",
            EventKind::RollbackVerified => "RollbackVerified",
            EventKind::DeployStarted => "DeployStarted",
            EventKind::DeployRequeued => "DeployRequeued",
            EventKind::BuildSlotWaiting => "BuildSlotWaiting",
            EventKind::BuildSlotAcquired => "BuildSlotAcquired",
        }
    }

    /// Whether events of this kind belong on the system stream (and only there).
    pub fn is_system(self) -> bool {
        matches!(
            self,
            EventKind::CircuitOpened
                | EventKind::CircuitHalfOpened
                | EventKind::CircuitClosed
                | EventKind::ServerStarted
        )
    }
}

impl Event {
    /// The kind of this event.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::DeploymentRequested { .. } => EventKind::DeploymentRequested,
            Event::PhaseEntered { .. } => EventKind::PhaseEntered,
            Event::ApiCallStarted { .. } => EventKind::ApiCallStarted,
            Event::ApiCallSucceeded { .. } => EventKind::ApiCallSucceeded,
            Event::ApiCallFailed { .. } => EventKind::ApiCallFailed,
            Event::ResourceFound { .. } => EventKind::ResourceFound,
            Event::ResourceCreated { .. } => EventKind::ResourceCreated,
            Event::DeployQueued { .. } => EventKind::DeployQueued,
            Event::DeployFinished { .. } => EventKind::DeployFinished,
            Event::HealthCheckAttempt { .. } => EventKind::HealthCheckAttempt,
            Event::HealthVerified { .. } => EventKind::HealthVerified,
            Event::DeploymentSucceeded { .. } => EventKind::DeploymentSucceeded,
            Event::DeploymentFailed { .. } => EventKind::DeploymentFailed,
            Event::RollbackStarted => EventKind::RollbackStarted,
            Event::RollbackStepSucceeded { .. } => EventKind::RollbackStepSucceeded,
            Event::RollbackStepFailed { .. } => EventKind::RollbackStepFailed,
            Event::RollbackFinished { .. } => EventKind::RollbackFinished,
            Event::RecoveryStarted { .. } => EventKind::RecoveryStarted,
            Event::CircuitOpened => EventKind::CircuitOpened,
            Event::CircuitHalfOpened => EventKind::CircuitHalfOpened,
            Event::CircuitClosed => EventKind::CircuitClosed,
            Event::ServerStarted { .. } => EventKind::ServerStarted,
            Event::RollbackStepSkipped { .. } => EventKind::RollbackStepSkipped,
            Event::RollbackVerified { .. } => EventKind::RollbackVerified,
            Event::DeployStarted { .. } => EventKind::DeployStarted,
            Event::DeployRequeued { .. } => EventKind::DeployRequeued,
            Event::BuildSlotWaiting { .. } => EventKind::BuildSlotWaiting,
            Event::BuildSlotAcquired { .. } => EventKind::BuildSlotAcquired,
        }
    }

    /// The deployment status this event sets, if it sets one. The projection's fold and the
    /// ledger writer's name claims both ask this, so they can never disagree on who holds a
    /// name. A failed deployment keeps its name until its rollback is over, so that a new
    /// deployment of the same name never races the deletion of the old one's resources.
    pub fn status_effect(&self) -> Option<DeploymentStatus> {
        match self {
            Event::DeploymentRequested { .. } | Event::RecoveryStarted { .. } => {
                Some(DeploymentStatus::InProgress)
            }
            Event::DeploymentSucceeded { .. } => Some(DeploymentStatus::Success),
            Event::RollbackFinished { .. } => Some(DeploymentStatus::Failure),
            _ => None,
        }
    }
}

/// Cuts `text` to at most `bytes_max` bytes on a character boundary, marking the cut with `…`.
/// Long Dokploy error messages are cut with this before they go into an event, so events stay
/// under the ledger's payload cap.
pub fn clip(text: &str, bytes_max: usize) -> String {
    if text.len() <= bytes_max {
        return text.to_owned();
    }
    let marker = "…";
    let mut end = bytes_max.saturating_sub(marker.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kind_all_is_in_declaration_order() {
        for (position, kind) in EventKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, position, "{kind:?} is out of place in ALL");
        }
    }

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(clip("short", 10), "short");
        let cut = clip("ééééééé", 8);
        assert!(cut.len() <= 8, "{cut:?}");
        assert!(cut.ends_with('…'));
        assert_eq!(clip("abcdefghij", 6), "abc…");
    }
}
