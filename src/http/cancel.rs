//! `POST /api/deployments/:id/cancel` (issue 13): a cancel, recorded, never a kill. An operator
//! sends the admin token; the person who started the deployment sends the cancel capability
//! `POST /api/deploy` returned to them, both as `Authorization: Bearer <secret>`. The body is
//! optional: `{"reason": "…"}`.
//!
//! 202 once the cancel is recorded (it takes effect at the deployment's next step boundary);
//! 409 with the deployment's state when it is over, already failing or already cancelled
//! (nothing changes); 403 for a capability that is not this deployment's; 401 without a
//! credential. It never echoes the credential.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde::{Deserialize, Serialize};

use crate::deployment::{DeploymentStatus, Event};
use crate::http::AppState;
use crate::http::admin::{bearer, token_name};
use crate::http::client::client_hash;
use crate::http::error::{ApiError, CancelState, json};
use crate::http::extract::DeploymentPath;
use crate::http::operator;
use crate::http::route::{Route, Schema};
use crate::ids::DeploymentId;
use crate::orchestrator::{CancelError, CancelRequest, Canceller};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            "POST",
            "/api/deployments/{id}/cancel",
            "Cancel a deployment (admin token, or the requester's cancel capability): {\"reason\"?}",
            &[
                (202, "the cancel is recorded; the deployment rolls back at its next step"),
                (400, "the path or body does not decode"),
                (401, "no credential"),
                (403, "the capability is not this deployment's"),
                (404, "unknown id"),
                (409, "finished, failing or already cancelled: nothing changed (state)"),
                (503, "the ledger cannot record it (Retry-After)"),
            ],
            post(cancel),
        )
        .body(&[("reason", Schema::String)]),
    ]
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    #[serde(default)]
    reason: String,
}

/// The 202.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Cancelling {
    success: bool,
    deployment_id: String,
    /// The seq of the recorded `CancelRequested`.
    seq: u64,
    message: &'static str,
}

async fn cancel(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    DeploymentPath(id): DeploymentPath,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let client = client_hash(&state.client_key, state.guards.client(peer, &headers));
    let Some(by) = canceller(&state, &headers) else {
        operator::count_refusal(&state, &client, state.clock.now_ms()).await;
        return Err(ApiError::Unauthorized);
    };
    let reason = reason(body)?;
    let request = CancelRequest {
        by: by.clone(),
        client: client.clone(),
        reason,
    };
    let answer = state.orchestrator.cancel(id, request).await;
    if let Err(CancelError::WrongCapability(_)) = &answer {
        // A bearer that is neither an admin token nor this deployment's capability: counted
        // with the refused authentications, so guessing tokens here is on the record too.
        operator::count_refusal(&state, &client, state.clock.now_ms()).await;
    }
    if let Canceller::Operator { .. } = &by {
        let outcome = match &answer {
            Ok(_) => "accepted".to_owned(),
            Err(error) => outcome_of(error),
        };
        let asked = Event::CancelAsked {
            deployment: id,
            by: by.recorded_as(),
            client,
            outcome,
        };
        // The cancel itself is on the deployment's stream (with the token's name) whatever
        // happens here: a failure to add the ops stream's copy is logged, not answered.
        if let Err(error) = operator::record(&state, asked).await {
            tracing::error!(deployment = %id, ?error, "the operator's cancel could not be added to the ops stream");
        }
    }
    match answer {
        Ok(seq) => Ok(json(
            StatusCode::ACCEPTED,
            Cancelling {
                success: true,
                deployment_id: id.to_string(),
                seq: seq.0,
                message: "cancel recorded: the deployment stops at its next step and rolls back",
            },
        )),
        Err(error) => Err(refused(&state, id, error)),
    }
}

/// Who asks: an operator when the bearer is an admin token in force, else the requester;
/// None without a bearer.
fn canceller(state: &AppState, headers: &HeaderMap) -> Option<Canceller> {
    let secret = bearer(headers).filter(|secret| !secret.is_empty())?;
    Some(match token_name(state, secret) {
        Some(name) => Canceller::Operator { name },
        None => Canceller::Requester {
            capability: secret.to_owned(),
        },
    })
}

/// What a refused cancel is recorded as on the ops stream.
fn outcome_of(error: &CancelError) -> String {
    match error {
        CancelError::Unknown(_) => "unknown_deployment",
        CancelError::WrongCapability(_) => "forbidden",
        CancelError::NotCancellable(_) => "not_cancellable",
        CancelError::Ledger(_) => "ledger_unavailable",
    }
    .to_owned()
}

/// The optional reason: an empty body, or JSON `{"reason": "…"}`.
fn reason(body: Result<Bytes, BytesRejection>) -> Result<String, ApiError> {
    let body = body.map_err(|rejection| ApiError::BadRequest {
        code: "invalid_body",
        message: format!(
            "the request body could not be read ({})",
            rejection.status()
        ),
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(String::new());
    }
    let parsed: CancelBody =
        serde_json::from_slice(&body).map_err(|error| ApiError::BadRequest {
            code: "invalid_body",
            message: format!("the body must be empty or JSON like {{\"reason\": \"…\"}}: {error}"),
        })?;
    Ok(parsed.reason)
}

/// The answer to a cancel that changed nothing.
fn refused(state: &AppState, id: DeploymentId, error: CancelError) -> ApiError {
    match error {
        CancelError::Unknown(_) => ApiError::NotFound { what: "deployment" },
        CancelError::WrongCapability(_) => ApiError::Forbidden {
            message: "this cancel capability is not the one this deployment handed out".to_owned(),
        },
        CancelError::NotCancellable(_) => {
            let model = state.read_model.read();
            let deployment = match model.get(id) {
                Ok(deployment) => deployment,
                Err(error) => return ApiError::from(error),
            };
            let deployment = deployment.as_deref();
            let state = CancelState {
                status: deployment
                    .map_or("unknown", |d| d.status.as_str())
                    .to_owned(),
                phase: deployment
                    .map_or("unknown", |d| d.phase.as_str())
                    .to_owned(),
                // The writer refuses a deployment in progress that has not failed only for a
                // cancel it holds already, which may not be folded yet (two cancels raced).
                cancelled: deployment.is_some_and(|d| {
                    d.cancelled_by.is_some()
                        || (d.status == DeploymentStatus::InProgress && d.error.is_none())
                }),
                code: deployment.and_then(|d| d.error.as_ref().map(|e| e.code.clone())),
            };
            ApiError::NotCancellable { id, state }
        }
        CancelError::Ledger(error) => ApiError::Ledger(error),
    }
}
