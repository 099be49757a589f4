//! The one place where failures become HTTP answers: always
//! `{"success": false, "error": {"code", "message"}}` with a fitting status, decided in
//! [`ApiError::status`] and nowhere else; never internal detail in the body.
//!
//! Conversions into [`ApiError`] never log. The answer carries an [`ErrorReport`] in its
//! extensions, and the logging middleware (`edge::log_errors`) writes it once, inside the
//! request's span (which holds its request id). Answers written below the router (a refused
//! connection, a request hyper could not parse) are rendered by [`ApiError::http1_bytes`]
//! from the same match.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use humantime::format_duration;
use serde::Serialize;

use crate::deployment::name::NameError;
use crate::ids::DeploymentId;
use crate::ledger::error::LedgerError;
use crate::orchestrator::StartError;
use crate::projection::ReadError;

/// An HTTP error answer. Each variant's doc names its status.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed.
    BadRequest {
        /// snake_case code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// 400: hyper could not parse the request as HTTP/1.1.
    MalformedRequest,
    /// 400: the stack name breaks a rule.
    InvalidName(NameError),
    /// 401: the ops API needs the admin token.
    Unauthorized,
    /// 403: the credential is understood but grants nothing here (a cancel capability that is
    /// not this deployment's).
    Forbidden {
        /// What is refused.
        message: String,
    },
    /// 404: no such thing (a deployment, an asset).
    NotFound {
        /// What was looked for.
        what: &'static str,
    },
    /// 404: no route has this path.
    UnknownRoute,
    /// 405: the path exists, but not with this method (axum adds `Allow`).
    MethodNotAllowed,
    /// 408: the answer was not ready within the request timeout.
    RequestTimeout {
        /// The timeout.
        after: Duration,
    },
    /// 408: the request body did not arrive within the body timeout.
    BodyTimeout {
        /// The timeout.
        after: Duration,
    },
    /// 409: another deployment holds the name.
    NameTaken {
        /// The holder.
        holder: DeploymentId,
    },
    /// 409: the deployment is over, already failing or already cancelled; nothing changed.
    NotCancellable {
        /// The deployment.
        id: DeploymentId,
        /// Where it stands.
        state: CancelState,
    },
    /// 409: the request conflicts with what is in force (a token name taken, a token in use).
    Conflict {
        /// snake_case code.
        code: &'static str,
        /// What conflicts.
        message: String,
    },
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 414: the request target is longer than allowed.
    UrlTooLong,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 422: this `Idempotency-Key` was first used with another body.
    IdempotencyKeyReused,
    /// 429: too many deploy requests from this client.
    RateLimited {
        /// When the next one is allowed.
        retry_after: Duration,
    },
    /// 429: this client holds its whole share of status streams.
    StreamsPerClient {
        /// The share.
        max: usize,
    },
    /// 431: the request's headers are too many or too large (or its whole head is, target
    /// included, past what hyper reads).
    HeadersTooLarge,
    /// 500: a bug or a failed task; the detail goes to the log, never to the client.
    Internal {
        /// What failed (logged).
        detail: String,
    },
    /// 503: the ledger could not be read or written (409 for a name claim it refused).
    Ledger(LedgerError),
    /// 500 when a stored read-model record does not decode, 503 when the index cannot be read.
    ReadModel(ReadError),
    /// 503: the server holds its maximum of open connections.
    TooManyConnections,
    /// 503 from `/ready`: the ledger takes no appends, or Dokploy is failing.
    NotReady {
        /// Whether the ledger takes appends.
        ledger: bool,
        /// Whether Dokploy is not known to be failing.
        dokploy: bool,
    },
    /// 503: the portal was started read-only (`--read-only`) to audit its ledger, so it takes
    /// no deploy (no Retry-After: only a restart without the flag changes that).
    ReadOnly {
        /// What the read-only open found, in a sentence without paths (None: not known here).
        found: Option<String>,
    },
    /// 503: try again later.
    Unavailable {
        /// snake_case code.
        code: &'static str,
        /// Why.
        message: String,
        /// When to try again.
        retry_after: Duration,
    },
}

impl From<StartError> for ApiError {
    fn from(error: StartError) -> Self {
        match error {
            StartError::InvalidName(reason) => ApiError::InvalidName(reason),
            StartError::NameTaken { holder, .. } => ApiError::NameTaken { holder },
            StartError::TooManyRunning { .. } => ApiError::Unavailable {
                code: "too_many_deployments",
                message: error.to_string(),
                retry_after: Duration::from_secs(10),
            },
            StartError::DokployUnavailable { retry_in } => ApiError::Unavailable {
                code: "dokploy_unavailable",
                message: error.to_string(),
                retry_after: retry_in.max(Duration::from_secs(1)),
            },
            StartError::Ledger(error) => ApiError::from(error),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::ReadOnly => ApiError::ReadOnly { found: None },
            LedgerError::ChainDamaged { .. } => ApiError::Unavailable {
                code: "ledger_damaged",
                message: error.to_string(),
                retry_after: Duration::from_secs(60),
            },
            error => ApiError::Ledger(error),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(error: tokio::task::JoinError) -> Self {
        ApiError::Internal {
            detail: format!("a request task failed: {error}"),
        }
    }
}

/// What the logging middleware writes about an error answer.
#[derive(Debug, Clone)]
pub struct ErrorReport {
    /// The answer's code.
    pub code: &'static str,
    /// Internal detail (a ledger or task failure), for the log only.
    pub detail: Option<String>,
}

/// The JSON error body.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    success: bool,
    error: ErrorFields<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorFields<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a CancelState>,
}

/// Where a deployment a cancel could not change stands (the `state` of a 409).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelState {
    /// `in_progress`, `success` or `failure`.
    pub status: String,
    /// Its phase.
    pub phase: String,
    /// Whether a cancel is recorded already.
    pub cancelled: bool,
    /// The failure's code, once it failed (`cancelled` after a cancel).
    pub code: Option<String>,
}

impl CancelState {
    /// Why a cancel changed nothing, in a sentence.
    fn why(&self) -> String {
        let why = match (self.status.as_str(), self.cancelled) {
            (_, true) => "it is already cancelled",
            ("in_progress", false) => "it failed and is rolling back",
            _ => "it is over",
        };
        let (status, phase) = (&self.status, &self.phase);
        format!("nothing changed: {why} (status {status}, phase {phase})")
    }
}

/// How long a client should wait after the ledger failed.
const LEDGER_RETRY: Duration = Duration::from_secs(10);
/// How long a client should wait when the server is at its connection cap.
const CONNECTIONS_RETRY: Duration = Duration::from_secs(1);
/// How long a probe should wait before asking `/ready` again.
const NOT_READY_RETRY: Duration = Duration::from_secs(5);
/// How long a client should wait for a place among its status streams.
const STREAMS_RETRY: Duration = Duration::from_secs(5);

impl ApiError {
    /// The status this error answers with: the one match that decides statuses.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::MalformedRequest | ApiError::InvalidName(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotCancellable { .. } => StatusCode::CONFLICT,
            ApiError::NotFound { .. } | ApiError::UnknownRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout { .. } | ApiError::BodyTimeout { .. } => {
                StatusCode::REQUEST_TIMEOUT
            }
            ApiError::NameTaken { .. }
            | ApiError::Ledger(LedgerError::NameTaken { .. })
            | ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UrlTooLong => StatusCode::URI_TOO_LONG,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } | ApiError::StreamsPerClient { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::ReadModel(error) => super::error_read::status(error),
            ApiError::Ledger(_)
            | ApiError::ReadOnly { .. }
            | ApiError::TooManyConnections
            | ApiError::NotReady { .. }
            | ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable snake_case code of the body.
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unavailable { code, .. }
            | ApiError::Conflict { code, .. } => code,
            ApiError::MalformedRequest => "malformed_request",
            ApiError::InvalidName(_) => "invalid_name",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotCancellable { .. } => "not_cancellable",
            ApiError::NotFound { .. } | ApiError::UnknownRoute => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::RequestTimeout { .. } => "request_timeout",
            ApiError::BodyTimeout { .. } => "body_timeout",
            ApiError::NameTaken { .. } | ApiError::Ledger(LedgerError::NameTaken { .. }) => {
                "name_taken"
            }
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UrlTooLong => "url_too_long",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::StreamsPerClient { .. } => "too_many_streams_for_client",
            ApiError::HeadersTooLarge => "headers_too_large",
            ApiError::Internal { .. } => "internal_error",
            ApiError::Ledger(_) => "ledger_unavailable",
            ApiError::ReadModel(error) => super::error_read::code(error),
            ApiError::ReadOnly { .. } => "read_only",
            ApiError::TooManyConnections => "too_many_connections",
            ApiError::NotReady { .. } => "not_ready",
        }
    }

    /// What a person reads; never internal detail.
    fn message(&self) -> String {
        let text = match self {
            ApiError::BadRequest { message, .. }
            | ApiError::Unavailable { message, .. }
            | ApiError::Conflict { message, .. } => {
                return message.clone();
            }
            ApiError::InvalidName(reason) => return reason.to_string(),
            ApiError::Forbidden { message } => return message.clone(),
            ApiError::NotCancellable { state, .. } => return state.why(),
            ApiError::NotFound { what } => return format!("no such {what}"),
            ApiError::RequestTimeout { after } => {
                return format!(
                    "the answer was not ready within {}",
                    format_duration(*after)
                );
            }
            ApiError::BodyTimeout { after } => {
                let after = format_duration(*after);
                return format!("the request body did not arrive within {after}");
            }
            ApiError::StreamsPerClient { max } => {
                return format!("this client holds {max} open status streams; close one first");
            }
            ApiError::ReadOnly { found } => {
                let found = found
                    .as_deref()
                    .map_or_else(String::new, |found| format!(" {found}."));
                return format!(
                    "this portal was started read-only (--read-only) for an audit of its ledger: it \
                     refuses deploys, because a deploy must be recorded in the ledger and nothing can \
                     be appended to it now.{found} Deploys resume once it is restarted without \
                     --read-only."
                );
            }
            ApiError::NotReady { ledger, dokploy } => {
                let ledger = if *ledger { "writable" } else { "not writable" };
                let dokploy = if *dokploy { "answering" } else { "failing" };
                return format!("not ready: the ledger is {ledger}, Dokploy is {dokploy}");
            }
            ApiError::MalformedRequest => "the request is not well-formed HTTP/1.1",
            ApiError::Unauthorized => "send the admin token as Authorization: Bearer <token>",
            ApiError::UnknownRoute => "no such route",
            ApiError::MethodNotAllowed => "this path does not take this method (see Allow)",
            ApiError::NameTaken { .. } | ApiError::Ledger(LedgerError::NameTaken { .. }) => {
                "this name is in use by another deployment"
            }
            ApiError::PayloadTooLarge => "the request body is too large",
            ApiError::UrlTooLong => "the request target (path and query) is too long",
            ApiError::UnsupportedMediaType => "send the body as application/json",
            ApiError::IdempotencyKeyReused => {
                "this Idempotency-Key was first used with another body; use a new key"
            }
            ApiError::RateLimited { .. } => "too many deploy requests; try again later",
            ApiError::HeadersTooLarge => {
                "the request head (target and headers) is too large, or has too many headers"
            }
            ApiError::Internal { .. } => {
                "the server failed to answer; it was logged under this request's x-request-id"
            }
            ApiError::Ledger(_) => "the ledger cannot be read or written now; try again later",
            ApiError::ReadModel(error) => super::error_read::message(error),
            ApiError::TooManyConnections => {
                "the server holds its maximum of open connections; try again shortly"
            }
        };
        text.to_owned()
    }

    /// How long the client should wait before trying again, for 429 and 503.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after } | ApiError::Unavailable { retry_after, .. } => {
                Some(*retry_after)
            }
            ApiError::StreamsPerClient { .. } => Some(STREAMS_RETRY),
            ApiError::Ledger(LedgerError::NameTaken { .. }) => None,
            ApiError::Ledger(_) => Some(LEDGER_RETRY),
            ApiError::ReadModel(ReadError::Unavailable { .. }) => Some(LEDGER_RETRY),
            ApiError::TooManyConnections => Some(CONNECTIONS_RETRY),
            ApiError::NotReady { .. } => Some(NOT_READY_RETRY),
            _ => None,
        }
    }

    /// The holder named in a 409.
    fn holder(&self) -> Option<String> {
        match self {
            ApiError::NameTaken { holder }
            | ApiError::Ledger(LedgerError::NameTaken { holder, .. }) => Some(holder.to_string()),
            ApiError::NotCancellable { id, .. } => Some(id.to_string()),
            _ => None,
        }
    }

    /// The internal detail that belongs in the log.
    fn detail(&self) -> Option<String> {
        match self {
            ApiError::Internal { detail } => Some(detail.clone()),
            ApiError::Ledger(error) => Some(error.to_string()),
            ApiError::ReadModel(error) => Some(error.to_string()),
            _ => None,
        }
    }

    /// The JSON body.
    fn body(&self) -> Vec<u8> {
        let message = self.message();
        let body = ErrorBody {
            success: false,
            error: ErrorFields {
                code: self.code(),
                message: &message,
                deployment_id: self.holder(),
                state: match self {
                    ApiError::NotCancellable { state, .. } => Some(state),
                    _ => None,
                },
            },
        };
        serde_json::to_vec(&body).expect("an error body of strings and a bool always serializes")
    }

    /// The whole HTTP/1.1 answer as bytes, for the places below the router (a refused
    /// connection, a request hyper could not parse). The connection closes after it.
    pub fn http1_bytes(&self) -> Vec<u8> {
        let (status, body) = (self.status(), self.body());
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        );
        if let Some(retry_after) = self.retry_after() {
            head.push_str(&format!(
                "retry-after: {}\r\n",
                retry_after_seconds(retry_after)
            ));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&body);
        bytes
    }
}

/// `Retry-After` in whole seconds, at least 1.
fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body(),
        )
            .into_response();
        if let Some(retry_after) = self.retry_after() {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_seconds(retry_after)),
            );
        }
        response.extensions_mut().insert(ErrorReport {
            code: self.code(),
            detail: self.detail(),
        });
        response
    }
}

/// A JSON success answer with a status.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: T) -> Response {
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_failure_is_503_and_only_a_refused_claim_is_409() {
        let stopped = ApiError::from(LedgerError::Stopped);
        assert_eq!(stopped.status(), StatusCode::SERVICE_UNAVAILABLE);
        let claim = ApiError::from(LedgerError::NameTaken {
            name: "shop".to_owned(),
            holder: DeploymentId::SYSTEM,
        });
        assert_eq!(claim.status(), StatusCode::CONFLICT);
        assert_eq!(claim.holder(), Some(DeploymentId::SYSTEM.to_string()));
    }

    #[test]
    fn raw_answers_are_complete_json_http_messages() {
        let bytes = ApiError::TooManyConnections.http1_bytes();
        let text = String::from_utf8(bytes).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("retry-after: 1"));
        let body: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "too_many_connections");
    }

    #[test]
    fn internal_detail_stays_out_of_the_body() {
        let error = ApiError::Internal {
            detail: "secret path /var/x".to_owned(),
        };
        let text = String::from_utf8(error.http1_bytes()).expect("ascii");
        assert!(!text.contains("/var/x"));
        assert_eq!(error.detail().as_deref(), Some("secret path /var/x"));
    }
}
