//! The one place where failures become HTTP answers: always
//! `{"success": false, "error": {"code", "message"}}` with a fitting status, never internal
//! detail.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::deployment::name::NameError;
use crate::ids::DeploymentId;
use crate::orchestrator::StartError;

/// An HTTP error answer.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed.
    BadRequest {
        /// snake_case code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// 400: the stack name breaks a rule.
    InvalidName(NameError),
    /// 404: no such deployment (or route).
    NotFound,
    /// 409: another deployment holds the name.
    NameTaken {
        /// The holder.
        holder: DeploymentId,
    },
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 401: the ops API needs the admin token.
    Unauthorized,
    /// 429: too many deploy requests from this client.
    RateLimited {
        /// When the next one is allowed.
        retry_after: Duration,
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
            StartError::Ledger(_) => {
                tracing::error!(%error, "a deploy could not be recorded");
                ApiError::Unavailable {
                    code: "ledger_unavailable",
                    message: "the deployment could not be recorded; try again later".to_owned(),
                    retry_after: Duration::from_secs(30),
                }
            }
        }
    }
}

/// A JSON answer taken apart: its status, its body, and the `Retry-After` it asks for.
/// The deploy handler keeps these for `Idempotency-Key` repeats.
#[derive(Debug, Clone)]
pub struct JsonAnswer {
    /// The HTTP status.
    pub status: StatusCode,
    /// `{"success": false, "error": {"code", "message", …}}`.
    pub body: Value,
    /// When to try again, for 429 and 503.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// The answer this error gives.
    pub fn answer(self) -> JsonAnswer {
        let (status, code, message, holder, retry_after) = match self {
            ApiError::BadRequest { code, message } => {
                (StatusCode::BAD_REQUEST, code, message, None, None)
            }
            ApiError::InvalidName(reason) => (
                StatusCode::BAD_REQUEST,
                "invalid_name",
                reason.to_string(),
                None,
                None,
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no such deployment".to_owned(),
                None,
                None,
            ),
            ApiError::NameTaken { holder } => (
                StatusCode::CONFLICT,
                "name_taken",
                "this name is in use by another deployment".to_owned(),
                Some(holder.to_string()),
                None,
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large".to_owned(),
                None,
                None,
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json".to_owned(),
                None,
                None,
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send the admin token as Authorization: Bearer <token>".to_owned(),
                None,
                None,
            ),
            ApiError::RateLimited { retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many deploy requests; try again later".to_owned(),
                None,
                Some(retry_after),
            ),
            ApiError::Unavailable {
                code,
                message,
                retry_after,
            } => (
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                message,
                None,
                Some(retry_after),
            ),
        };
        let mut error = json!({"code": code, "message": message});
        if let Some(holder) = holder {
            error["deploymentId"] = json!(holder);
        }
        JsonAnswer {
            status,
            body: json!({"success": false, "error": error}),
            retry_after,
        }
    }
}

impl IntoResponse for JsonAnswer {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(retry_after) = self.retry_after {
            let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.answer().into_response()
    }
}
