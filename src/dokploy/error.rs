//! What can go wrong talking to Dokploy, and the single place that decides what is retried.
//!
//! Nothing else may decide whether a call is retried ([`DokployError::is_retryable`]) or how it
//! moves the breaker, which never counts a 4xx or a 429 as Dokploy failing. No variant carries
//! a request header, so an error never holds the API key.

use std::time::Duration;

use crate::deployment::Procedure;
use crate::dokploy::retry::RetryAfter;

/// A failed Dokploy call (or health probe).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DokployError {
    /// Dokploy answered with an error status. `message` is Dokploy's own (`Project not found`,
    /// `Input validation failed`, …), scrubbed of every configured secret and cut to a bounded
    /// length (or our words, where Dokploy's need explaining: a 401 asking for a server).
    #[error("Dokploy answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// Dokploy's message.
        message: String,
        /// Dokploy's error code (`NOT_FOUND`), when the body had one.
        code: Option<String>,
        /// The `Retry-After` it asked for, when it did and it was readable.
        retry_after: Option<RetryAfter>,
    },
    /// The bare 401 `{"message":"Unauthorized"}`: Dokploy refused the API key (missing, unknown,
    /// expired, disabled, rate limited, or without organization metadata; Dokploy does not
    /// say which).
    #[error(
        "Dokploy refused the API key (401 Unauthorized): check DOKPLOY_API_KEY; Dokploy gives the same answer for a wrong, expired, disabled or rate-limited key"
    )]
    Unauthorized,
    /// No answer within the per-request timeout. The request may have been acted on.
    #[error("Dokploy did not answer within {timeout_ms} ms")]
    Timeout {
        /// The timeout that elapsed.
        timeout_ms: u64,
    },
    /// The connection failed. `sent` says whether the request may have reached Dokploy
    /// (false only when the connection could not be made at all).
    #[error("cannot reach Dokploy: {message}")]
    Transport {
        /// What failed.
        message: String,
        /// Whether the request may have been acted on.
        sent: bool,
    },
    /// A success status with a body that is not what the operation returns (an HTML page,
    /// truncated JSON, wrong types).
    #[error("unexpected Dokploy response to {operation}: {reason}")]
    UnexpectedResponse {
        /// The procedure called.
        operation: Procedure,
        /// What was wrong with it.
        reason: String,
    },
    /// The answer was larger than the client accepts.
    #[error("Dokploy's answer to {operation} exceeded {limit} bytes")]
    ResponseTooLarge {
        /// The procedure called.
        operation: Procedure,
        /// The cap.
        limit: usize,
    },
    /// A 404 that is not Dokploy's "this resource does not exist" for the procedure called
    /// (no `data.path` naming it): the route itself is missing. Never counted as "gone".
    #[error(
        "Dokploy answered 404 Not found for {procedure} without naming the procedure: the route does not exist there (a wrong DOKPLOY_URL, a proxy in front of Dokploy, or a Dokploy version without {procedure})"
    )]
    NoRoute {
        /// The procedure called.
        procedure: Procedure,
    },
    /// The circuit breaker is open: the call was not sent.
    #[error("Dokploy calls are paused after repeated failures (circuit breaker open)")]
    CircuitOpen {
        /// When the breaker lets a probe through.
        retry_in: Duration,
    },
}

/// How an outcome moves the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerSignal {
    /// Dokploy is answering (success).
    Healthy,
    /// Dokploy is failing (5xx, timeouts, resets).
    Failing,
    /// Says nothing about Dokploy's health (4xx, 429 back-pressure, our own refusal).
    Neutral,
}

impl DokployError {
    /// Whether the same call may be sent again: 5xx, 408, 429, timeouts and transport errors;
    /// never another 4xx, a bad answer, or an open breaker. The retry loop and the breaker
    /// both ask this, nothing else decides it.
    pub fn is_retryable(&self) -> bool {
        match self {
            DokployError::Status { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            DokployError::Timeout { .. } | DokployError::Transport { .. } => true,
            DokployError::Unauthorized
            | DokployError::NoRoute { .. }
            | DokployError::UnexpectedResponse { .. }
            | DokployError::ResponseTooLarge { .. }
            | DokployError::CircuitOpen { .. } => false,
        }
    }

    /// How this failure moves the circuit breaker.
    pub fn breaker_signal(&self) -> BreakerSignal {
        match self {
            DokployError::Status { status, .. } if *status >= 500 => BreakerSignal::Failing,
            DokployError::Timeout { .. } | DokployError::Transport { .. } => BreakerSignal::Failing,
            _ => BreakerSignal::Neutral,
        }
    }

    /// Whether Dokploy may have acted on the request although no answer came back.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            DokployError::Timeout { .. } => true,
            DokployError::Transport { sent, .. } => *sent,
            _ => false,
        }
    }

    /// The delay Dokploy asked for, if any.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            DokployError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when an answer came.
    pub fn status(&self) -> Option<u16> {
        match self {
            DokployError::Status { status, .. } => Some(*status),
            DokployError::Unauthorized => Some(401),
            DokployError::NoRoute { .. } => Some(404),
            _ => None,
        }
    }

    /// Whether this is Dokploy's "not found" for a resource (rollback counts it as already
    /// gone); a missing route ([`DokployError::NoRoute`]) is not. The client makes a 404 a
    /// `Status` only when Dokploy's body names the procedure called (`code` `NOT_FOUND`,
    /// `data.path`); the recorded stand-in maps recorded 404s back the same way.
    pub fn is_not_found(&self) -> bool {
        matches!(self, DokployError::Status { status: 404, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> DokployError {
        DokployError::Status {
            status,
            message: "m".into(),
            code: None,
            retry_after: None,
        }
    }

    #[test]
    fn only_5xx_408_429_timeouts_and_transport_errors_are_retried() {
        for retried in [500, 502, 503, 504, 408, 429] {
            assert!(status(retried).is_retryable(), "{retried}");
        }
        for refused in [400, 401, 403, 404, 409, 413, 415, 422] {
            assert!(!status(refused).is_retryable(), "{refused}");
        }
        assert!(DokployError::Timeout { timeout_ms: 1 }.is_retryable());
        let reset = DokployError::Transport {
            message: "reset".into(),
            sent: true,
        };
        assert!(reset.is_retryable());
        assert!(!DokployError::Unauthorized.is_retryable());
        let bad = DokployError::UnexpectedResponse {
            operation: Procedure::ProjectAll,
            reason: "html".into(),
        };
        assert!(!bad.is_retryable());
    }

    #[test]
    fn the_breaker_counts_server_failures_but_never_4xx_or_429() {
        assert_eq!(status(503).breaker_signal(), BreakerSignal::Failing);
        assert_eq!(status(429).breaker_signal(), BreakerSignal::Neutral);
        assert_eq!(status(404).breaker_signal(), BreakerSignal::Neutral);
        assert_eq!(
            DokployError::Timeout { timeout_ms: 1 }.breaker_signal(),
            BreakerSignal::Failing
        );
    }

    #[test]
    fn an_unanswered_request_that_was_sent_has_an_unknown_outcome() {
        assert!(DokployError::Timeout { timeout_ms: 1 }.outcome_unknown());
        let refused = DokployError::Transport {
            message: "refused".into(),
            sent: false,
        };
        assert!(!refused.outcome_unknown());
        assert!(!status(503).outcome_unknown());
    }
}
