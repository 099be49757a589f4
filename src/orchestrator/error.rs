//! Why a deployment stops: a step that failed (the deployment fails and rolls back) or a ledger
//! that cannot record (the run stops where it is; recovery resumes it after a restart).

use crate::deployment::Phase;
use crate::dokploy::api::AnswerMismatch;
use crate::dokploy::caller::CallError;
use crate::dokploy::error::DokployError;
use crate::ids::DeploymentId;
use crate::ledger::error::LedgerError;

/// A failed phase: recorded as `DeploymentFailed`, then rolled back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// The phase that failed.
    pub phase: Phase,
    /// A stable snake_case code.
    pub code: &'static str,
    /// What a person reads.
    pub message: String,
}

/// How a step ended badly.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    /// The deployment fails and rolls back.
    #[error("{} failed ({}): {}", .0.phase, .0.code, .0.message)]
    Failed(StepFailure),
    /// The ledger refused or failed: the run stops without deciding anything more.
    #[error("the ledger cannot record the deployment: {0}")]
    Ledger(#[from] LedgerError),
}

impl StepError {
    /// A failure of `phase` with `code`.
    pub fn failed(phase: Phase, code: &'static str, message: impl Into<String>) -> Self {
        StepError::Failed(StepFailure {
            phase,
            code,
            message: message.into(),
        })
    }

    /// A failed Dokploy call in `phase`.
    pub fn from_call(phase: Phase, error: CallError) -> Self {
        match error {
            CallError::Ledger(error) => StepError::Ledger(error),
            CallError::Dokploy(error) => {
                let code = match &error {
                    DokployError::CircuitOpen { .. } => "dokploy_unavailable",
                    DokployError::Unauthorized => "dokploy_unauthorized",
                    DokployError::Timeout { .. } | DokployError::Transport { .. } => {
                        "dokploy_unreachable"
                    }
                    DokployError::UnexpectedResponse { .. }
                    | DokployError::ResponseTooLarge { .. } => "dokploy_bad_answer",
                    DokployError::Status { .. } => "dokploy_error",
                };
                StepError::failed(phase, code, error.to_string())
            }
        }
    }

    /// An answer of the wrong kind in `phase` (a bug or a corrupted recording).
    pub fn mismatch(phase: Phase, error: AnswerMismatch) -> Self {
        StepError::failed(phase, "dokploy_bad_answer", error.to_string())
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
    /// As many deployments as allowed are running (HTTP 503 with Retry-After).
    #[error("{running_max} deployments are running already; try again shortly")]
    TooManyRunning {
        /// The limit.
        running_max: usize,
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
