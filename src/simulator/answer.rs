//! What a simulated procedure answers and how that goes on the wire: a JSON body (as a value or
//! already encoded), an empty 200, or Dokploy's tRPC-shaped error (`message`, `code`, `data`
//! with `httpStatus`, `path` where a procedure was reached, and `zodError` with zod's
//! `issues` where input failed validation); and the plain-text answers Next.js gives before
//! Dokploy's code runs (`Invalid JSON`, a body over 1 MB).
//!
//! It owns these shapes only: it never decides what a procedure does, never touches the world
//! or the fault plan, and never echoes a request's key.

use axum::Json;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// What a procedure answers: a JSON body (as a value, or already encoded), or nothing (200
/// with an empty body).
pub(super) enum Answer {
    Json(Value),
    Encoded(Vec<u8>),
    Empty,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Self::Json(value) => (StatusCode::OK, Json(value)).into_response(),
            Self::Encoded(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Self::Empty => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                Body::empty(),
            )
                .into_response(),
        }
    }
}

/// A Dokploy error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failure {
    status: u16,
    code: &'static str,
    message: String,
    issues: Option<Value>,
}

impl Failure {
    /// An error answer without zod issues.
    pub(super) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            issues: None,
        }
    }

    /// Dokploy's 404 for a row that does not exist (`Project not found`).
    pub(super) fn not_found(what: &str) -> Self {
        Self::new(404, "NOT_FOUND", format!("{what} not found"))
    }

    /// A 400 `BAD_REQUEST` with this message.
    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BAD_REQUEST", message)
    }

    /// The 400 `Input validation failed` carrying these zod issues.
    pub(super) fn invalid(issues: Vec<Value>) -> Self {
        Self {
            issues: Some(Value::Array(issues)),
            ..Self::bad_request("Input validation failed")
        }
    }

    /// The tRPC-shaped answer; `procedure`, where the call reached one, is its `data.path`.
    pub(super) fn response(&self, procedure: Option<&str>) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.response_body(procedure))).into_response()
    }

    /// The body of [`Failure::response`].
    pub(super) fn response_body(&self, procedure: Option<&str>) -> Value {
        // Dokploy's error formatter (`server/api/trpc.ts`) adds zod's `flatten()`.
        let zod_error = self.issues.as_ref().map_or(Value::Null, flatten);
        let mut body = json!({
            "message": self.message,
            "code": self.code,
            "data": {"code": self.code, "httpStatus": self.status, "zodError": zod_error},
        });
        if let Some(procedure) = procedure {
            body["data"]["path"] = json!(procedure);
        }
        if let Some(issues) = &self.issues {
            body["issues"] = issues.clone();
        }
        body
    }
}

/// Dokploy's answer to a call without the right key (not tRPC-shaped: it comes from the
/// middleware in front of the procedures).
pub(super) fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"message": "Unauthorized"})),
    )
        .into_response()
}

/// zod's `flatten()`: each issue's message under its first path key, or in `formErrors`.
fn flatten(issues: &Value) -> Value {
    let mut form_errors = Vec::new();
    let mut field_errors = serde_json::Map::new();
    for issue in issues.as_array().into_iter().flatten() {
        let message = issue["message"].clone();
        match issue["path"].get(0) {
            Some(key) => {
                let key = key.as_str().map_or_else(|| key.to_string(), str::to_owned);
                let messages = field_errors.entry(key).or_insert_with(|| json!([]));
                if let Some(messages) = messages.as_array_mut() {
                    messages.push(message);
                }
            }
            None => form_errors.push(message),
        }
    }
    json!({"formErrors": form_errors, "fieldErrors": field_errors})
}

/// How Next.js answers before Dokploy's handler runs (`sendError`): this status, the message
/// as the reason phrase and as a plain-text body, and no content type.
pub(super) fn next_error(status: StatusCode, message: &'static str) -> Response {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = status;
    response
        .extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(message.as_bytes()));
    response
}
