//! Why a deployment could not start ([`StartError`]) or be cancelled ([`CancelError`]), and how a failed Dokploy call is told to
//! the saga core (`observed`). Why a started deployment fails is the core's decision
//! (`deployment::plan::FailureCode`), never an error here; a ledger that cannot record stops the
//! run with its [`LedgerError`], and recovery resumes it after a restart.

use crate::deployment::plan::{CallFailure, FailureClass};
use crate::dokploy::error::DokployError;
use crate::ids::DeploymentId;
use crate::ledger::error::LedgerError;

/// A Dokploy failure as the saga core tells failures apart (its message is the error's text,
/// which never holds a secret).
pub(crate) fn observed(error: &DokployError) -> CallFailure {
    let class = match error {
        DokployError::CircuitOpen { retry_in } => FailureClass::Unavailable {
            retry_in: *retry_in,
        },
        DokployError::Unauthorized => FailureClass::Unauthorized,
        DokployError::Timeout { .. } | DokployError::Transport { .. } => FailureClass::Unreachable,
        DokployError::UnexpectedResponse { .. } | DokployError::ResponseTooLarge { .. } => {
            FailureClass::BadAnswer
        }
        DokployError::Status { status, .. } => FailureClass::Status { status: *status },
        DokployError::NoRoute { .. } => FailureClass::NoRoute,
    };
    CallFailure {
        class,
        message: error.to_string(),
    }
}

/// Why a deployment could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StartError {
    /// The name breaks the rules.
    #[error(transparent)]
    InvalidName(#[from] crate::deployment::name::NameError),
    /// Another deployment holds the name (HTTP 409).
    #[error("the name {name:?} is taken by deployment {holder}")]
    NameTaken {
        /// The name.
        name: String,
        /// The deployment holding it.
        holder: DeploymentId,
    },
    /// As many deployments as allowed are running and as many as allowed wait in the
    /// admission queue (HTTP 503 with Retry-After).
    #[error(
        "{running_max} deployments are running and {queue_max} are waiting already; try again shortly"
    )]
    TooManyRunning {
        /// The running limit.
        running_max: usize,
        /// The queue limit.
        queue_max: usize,
    },
    /// The Dokploy circuit breaker is open (HTTP 503 with Retry-After).
    #[error("Dokploy is failing; new deployments are paused")]
    DokployUnavailable {
        /// When the breaker lets a probe through.
        retry_in: std::time::Duration,
    },
    /// The ledger cannot record the request (HTTP 503).
    #[error("the ledger cannot record the request: {0}")]
    Ledger(LedgerError),
}

/// Why a cancel changed nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CancelError {
    /// No deployment has this id (HTTP 404).
    #[error("no deployment {0}")]
    Unknown(DeploymentId),
    /// The requester's capability is not this deployment's (HTTP 403).
    #[error("this cancel capability is not the one deployment {0} handed out")]
    WrongCapability(DeploymentId),
    /// The deployment is over, already failing or already cancelled: the first cancel is the
    /// one that counts (HTTP 409 with the state).
    #[error("deployment {0} cannot be cancelled: it is over, failing or already cancelled")]
    NotCancellable(DeploymentId),
    /// The ledger cannot record the cancel (HTTP 503).
    #[error("the ledger cannot record the cancel: {0}")]
    Ledger(LedgerError),
}
