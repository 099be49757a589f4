//! [`EventKind`]: the name of each event kind without its fields, in the order of
//! [`crate::deployment::Event`]'s variants (their encoded position), and which stream each
//! belongs on. It must never be reordered: the position is the encoding.

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
    DeploymentAccepted,
    AdmissionWaiting,
    AdmissionGranted,
    CancelRequested,
    OutageWaiting,
    AdminTokenAdded,
    AdminTokenRevoked,
    CancelAsked,
    LedgerExported,
    LedgerVerified,
    AuthenticationRefused,
    CheckpointTaken,
}

impl EventKind {
    /// Every kind, in encoded order.
    pub const ALL: [EventKind; 40] = [
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
        EventKind::DeploymentAccepted,
        EventKind::AdmissionWaiting,
        EventKind::AdmissionGranted,
        EventKind::CancelRequested,
        EventKind::OutageWaiting,
        EventKind::AdminTokenAdded,
        EventKind::AdminTokenRevoked,
        EventKind::CancelAsked,
        EventKind::LedgerExported,
        EventKind::LedgerVerified,
        EventKind::AuthenticationRefused,
        EventKind::CheckpointTaken,
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
            EventKind::DeploymentAccepted => "DeploymentAccepted",
            EventKind::AdmissionWaiting => "AdmissionWaiting",
            EventKind::AdmissionGranted => "AdmissionGranted",
            EventKind::CancelRequested => "CancelRequested",
            EventKind::OutageWaiting => "OutageWaiting",
            EventKind::AdminTokenAdded => "AdminTokenAdded",
            EventKind::AdminTokenRevoked => "AdminTokenRevoked",
            EventKind::CancelAsked => "CancelAsked",
            EventKind::LedgerExported => "LedgerExported",
            EventKind::LedgerVerified => "LedgerVerified",
            EventKind::AuthenticationRefused => "AuthenticationRefused",
            EventKind::CheckpointTaken => "CheckpointTaken",
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
                | EventKind::CheckpointTaken
        )
    }

    /// Whether events of this kind belong on the ops stream (and only there): operator
    /// actions.
    pub fn is_ops(self) -> bool {
        matches!(
            self,
            EventKind::AdminTokenAdded
                | EventKind::AdminTokenRevoked
                | EventKind::CancelAsked
                | EventKind::LedgerExported
                | EventKind::LedgerVerified
                | EventKind::AuthenticationRefused
        )
    }
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
    fn no_kind_belongs_on_both_the_system_and_the_ops_stream() {
        for kind in EventKind::ALL {
            assert!(!(kind.is_system() && kind.is_ops()), "{kind:?}");
        }
    }
}
