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

use crate::deployment::kind::EventKind;
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
    /// The terms the deployment was accepted under, appended with its `DeploymentRequested` in
    /// one atomic append: its deadline and the hash of the cancel capability handed to the
    /// person who asked (since 0.2.0).
    DeploymentAccepted {
        /// The configured length of the deadline (`--deployment-deadline`).
        deadline_ms: u64,
        /// When the deadline passes (unix ms): the deployment fails with `deadline_exceeded`
        /// at its next step boundary after this, also after a restart.
        deadline_at_ms: i64,
        /// SHA-256 (hex) of the cancel capability; empty when none was issued.
        cancel_hash: String,
    },
    /// The deployment waits in the admission queue for one of the `--running-max` running
    /// slots (since 0.2.0).
    AdmissionWaiting {
        /// Deployments ahead of it in the queue (rounded like `BuildSlotWaiting`).
        ahead: u32,
    },
    /// The deployment holds a running slot: its run goes on (since 0.2.0).
    AdmissionGranted {
        /// How long this run waited in the admission queue.
        waited_ms: u64,
    },
    /// Someone asked to cancel the deployment (since 0.2.0). It takes effect at the next step
    /// boundary: the deployment fails with `cancelled` and rolls back.
    CancelRequested {
        /// Who asked: `operator:<token name>`, or `requester` (the cancel capability).
        by: String,
        /// The keyed hash of the asking client's address.
        client: String,
        /// Why, as given (may be empty; clipped).
        reason: String,
    },
    /// Dokploy is not answering (the circuit breaker is open): the deployment waits at a step
    /// boundary instead of failing, until the breaker lets calls through or its deadline passes
    /// (`--on-outage wait`; since 0.2.0).
    OutageWaiting {
        /// When the breaker lets a probe through, from this event.
        retry_in_ms: u64,
        /// When the deployment gives up (its deadline, unix ms).
        gives_up_at_ms: i64,
    },
    /// Ops stream: an admin token was added (since 0.2.0). Only its hash is kept.
    AdminTokenAdded {
        /// The token's name (its operator).
        name: String,
        /// SHA-256 (hex) of the token.
        hash: String,
        /// The name of the token that added it (`admin` for the configured one).
        by: String,
        /// The keyed hash of the client that added it.
        client: String,
    },
    /// Ops stream: an admin token was revoked; it is refused from this event on (since 0.2.0).
    AdminTokenRevoked {
        /// The revoked token's name.
        name: String,
        /// The name of the token that revoked it.
        by: String,
        /// The keyed hash of the client.
        client: String,
    },
    /// Ops stream: an operator asked to cancel a deployment, and what came of it (since 0.2.0).
    CancelAsked {
        /// The deployment.
        deployment: crate::ids::DeploymentId,
        /// Who asked (as in `CancelRequested`).
        by: String,
        /// The keyed hash of the client.
        client: String,
        /// `accepted`, or why it changed nothing (`finished`, `already_cancelling`, …).
        outcome: String,
    },
    /// Ops stream: an operator exported part of the log (since 0.2.0).
    LedgerExported {
        /// The token's name.
        by: String,
        /// The keyed hash of the client.
        client: String,
        /// The seq the export started after.
        after: u64,
        /// The seq of the last event exported (`after` when none).
        through: u64,
    },
    /// Ops stream: an operator verified the log (since 0.2.0).
    LedgerVerified {
        /// The token's name.
        by: String,
        /// The keyed hash of the client.
        client: String,
        /// Whether the chain verified.
        ok: bool,
        /// The last seq verified.
        last_seq: u64,
    },
    /// Ops stream: requests with a missing or wrong admin token, counted per client per minute
    /// so that a flood adds a bounded number of events (since 0.2.0).
    AuthenticationRefused {
        /// The keyed hash of the client (`*` for the clients past the per-minute cap).
        client: String,
        /// Refusals counted in this window.
        refused: u32,
        /// When the window began (unix ms).
        window_start_ms: i64,
    },
    /// System stream: the ledger took a checkpoint summarising the log through `through_seq`
    /// (since 0.3.0). Recorded in the chain so that a checkpoint cannot be swapped: an open
    /// that starts from it checks `through_hash` against the chain and `digest` against what
    /// the checkpoint stores.
    CheckpointTaken {
        /// The seq of the last event the checkpoint summarises.
        through_seq: u64,
        /// The hash of that event.
        through_hash: [u8; 32],
        /// SHA-256 of what the checkpoint stores (the projection's snapshot and the ledger's
        /// own state).
        digest: [u8; 32],
    },
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
            Event::DeploymentAccepted { .. } => EventKind::DeploymentAccepted,
            Event::AdmissionWaiting { .. } => EventKind::AdmissionWaiting,
            Event::AdmissionGranted { .. } => EventKind::AdmissionGranted,
            Event::CancelRequested { .. } => EventKind::CancelRequested,
            Event::OutageWaiting { .. } => EventKind::OutageWaiting,
            Event::AdminTokenAdded { .. } => EventKind::AdminTokenAdded,
            Event::AdminTokenRevoked { .. } => EventKind::AdminTokenRevoked,
            Event::CancelAsked { .. } => EventKind::CancelAsked,
            Event::LedgerExported { .. } => EventKind::LedgerExported,
            Event::LedgerVerified { .. } => EventKind::LedgerVerified,
            Event::AuthenticationRefused { .. } => EventKind::AuthenticationRefused,
            Event::CheckpointTaken { .. } => EventKind::CheckpointTaken,
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
    fn clip_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(clip("short", 10), "short");
        let cut = clip("ééééééé", 8);
        assert!(cut.len() <= 8, "{cut:?}");
        assert!(cut.ends_with('…'));
        assert_eq!(clip("abcdefghij", 6), "abc…");
    }
}
