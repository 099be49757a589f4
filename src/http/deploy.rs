//! The web user's API: check a name, deploy, and read a deployment (DESIGN §5).

use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::http::AppState;
use crate::http::error::{ApiError, JsonAnswer};
use crate::http::limits::IDEMPOTENCY_KEY_BYTES_MAX;
use crate::http::route::Route;
use crate::ids::DeploymentId;
use crate::projection::DeploymentView;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            "GET",
            "/api/check/{name}",
            "Whether a stack name is valid and available",
            &[(200, "the verdict")],
            get(check),
        ),
        Route::new(
            "POST",
            "/api/deploy",
            "Deploy a stack: {\"name\"}; Idempotency-Key optional",
            &[
                (202, "accepted; follow statusUrl"),
                (400, "invalid name or body"),
                (409, "the name is taken (the holder's deploymentId)"),
                (413, "body too large"),
                (415, "not JSON"),
                (429, "rate limited (Retry-After)"),
                (503, "too many running, or Dokploy failing (Retry-After)"),
            ],
            post(deploy),
        ),
        Route::new(
            "GET",
            "/api/deployment/{id}",
            "A deployment's state and its last 50 log lines",
            &[(200, "the deployment"), (404, "unknown id")],
            get(deployment),
        ),
    ]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployRequest {
    name: String,
}

async fn check(State(state): State<AppState>, Path(raw): Path<String>) -> Json<Value> {
    let name = raw.trim().to_ascii_lowercase();
    match crate::deployment::name::validate(&raw) {
        Err(reason) => Json(json!({
            "name": name, "valid": false, "available": false,
            "reason": reason.code(), "message": reason.to_string(),
        })),
        Ok(name) => {
            let held = state.read_model.read().holder(&name).is_some();
            let url = format!("https://{}", state.orchestrator.settings().host(&name));
            let mut answer = json!({"name": name, "valid": true, "available": !held, "url": url});
            if held {
                answer["reason"] = json!("taken");
                answer["message"] = json!("this name is in use by another deployment");
            }
            Json(answer)
        }
    }
}

/// `POST /api/deploy`: the first answer for a repeated `Idempotency-Key` (per client), else
/// the rate limit, then the deployment.
async fn deploy(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<DeployRequest>, JsonRejection>,
) -> Response {
    let client = state.guards.client(peer, &headers);
    let key = match idempotency_key(&headers) {
        Ok(key) => key.map(|key| format!("{client}|{key}")),
        Err(error) => return error.into_response(),
    };
    if let Some((status, body)) = key.as_deref().and_then(|key| state.guards.answer_for(key)) {
        return (status_code(status), Json(body)).into_response();
    }
    if let Err(retry_after) = state.guards.take_deploy(client, state.clock.now_ms()) {
        return ApiError::RateLimited { retry_after }.into_response();
    }
    let answer = match start(&state, client, body).await {
        Ok(accepted) => JsonAnswer {
            status: StatusCode::ACCEPTED,
            body: accepted,
            retry_after: None,
        },
        Err(error) => error.answer(),
    };
    // Remember final answers only; a 429 or 503 asks for a later retry.
    if let Some(key) = key
        && answer.retry_after.is_none()
    {
        let status = answer.status.as_u16();
        state.guards.remember(key, status, answer.body.clone());
    }
    answer.into_response()
}

/// Parses the request and starts the deployment; the 202 body, or why not.
async fn start(
    state: &AppState,
    client: std::net::IpAddr,
    body: Result<Json<DeployRequest>, JsonRejection>,
) -> Result<Value, ApiError> {
    let Json(request) = body.map_err(rejection)?;
    let client = client_hash(&state.client_key, client);
    let started = state.orchestrator.deploy(&request.name, &client).await?;
    let id = started.id.to_string();
    Ok(json!({
        "success": true, "deploymentId": id, "name": started.name,
        "url": started.url, "statusUrl": format!("/api/status/{id}"),
    }))
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| !key.is_empty() && key.len() <= IDEMPOTENCY_KEY_BYTES_MAX);
    match key {
        Some(key) => Ok(Some(key.to_owned())),
        None => Err(ApiError::BadRequest {
            code: "invalid_idempotency_key",
            message: format!(
                "Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_BYTES_MAX} visible ASCII characters"
            ),
        }),
    }
}

/// `GET /api/deployment/:id`. The rendered answer is kept per deployment with the seq it was
/// rendered at, and reused until the deployment has a newer event: a view is a pure function of
/// the events, so it can only change when one is added.
async fn deployment(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: DeploymentId = id.parse().map_err(|_| ApiError::NotFound)?;
    let last_seq = state
        .read_model
        .read()
        .get(id)
        .map(|deployment| deployment.last_seq)
        .ok_or(ApiError::NotFound)?;
    let body = match state.views.get(id, last_seq) {
        Some(body) => body,
        None => {
            let (seq, view) = {
                let model = state.read_model.read();
                let deployment = model.get(id).ok_or(ApiError::NotFound)?;
                (deployment.last_seq, DeploymentView::of(deployment))
            };
            let rendered = serde_json::to_vec(&json!({"success": true, "deployment": view}))
                .map_err(|_| ApiError::NotFound)?;
            let body = axum::body::Bytes::from(rendered);
            state.views.put(id, seq, body.clone());
            body
        }
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// A keyed hash of the requester's address: the ledger cannot forget, so it never holds the
/// address itself.
fn client_hash(key: &str, client: std::net::IpAddr) -> String {
    let mut hasher = Sha256::new();
    hasher.update(key.as_bytes());
    hasher.update(client.to_string().as_bytes());
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        JsonRejection::BytesRejection(_) => ApiError::PayloadTooLarge,
        other => ApiError::BadRequest {
            code: "invalid_body",
            message: format!(
                "the body must be JSON like {{\"name\": \"my-stack\"}}: {}",
                other.body_text()
            ),
        },
    }
}
