//! The web user's API: check a name, deploy, and read a deployment (DESIGN §5).
//!
//! A read-only portal (`--read-only`) refuses every deploy first, with 503 `read_only`.
//! A deploy, once its request is read, runs to its answer in a task of its own: the name claim
//! and the start of the run must never be separated by a client that leaves or a request that
//! times out. An `Idempotency-Key` is pinned only by an accepted deploy, to the SHA-256 of the
//! body it came with.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::http::AppState;
use crate::http::client::client_hash;
use crate::http::edge::is_body_timeout;
use crate::http::error::{ApiError, json};
use crate::http::extract::{DeploymentPath, Path};
use crate::http::limits::{Fingerprint, IDEMPOTENCY_KEY_BYTES_MAX, Recall};
use crate::http::route::{Param, Route, Schema};
use crate::ids::DeploymentId;
use crate::orchestrator::CancelCapability;
use crate::projection::DeploymentView;

/// `POST /api/deploy`'s header.
const DEPLOY_PARAMS: &[Param] = &[Param::header(
    "Idempotency-Key",
    "repeats of one request get its first accepted answer",
    Schema::String,
)];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            "GET",
            "/api/check/{name}",
            "Whether a stack name is valid and available",
            &[(200, "the verdict"), (400, "the path does not decode")],
            get(check),
        ),
        Route::new(
            "POST",
            "/api/deploy",
            "Deploy a stack: {\"name\"}; Idempotency-Key optional",
            &[
                (
                    202,
                    "accepted; follow statusUrl; cancel.url with cancel.token cancels it",
                ),
                (400, "invalid name, body or Idempotency-Key"),
                (408, "the body did not arrive within the body timeout"),
                (409, "the name is taken (the holder's deploymentId)"),
                (413, "body too large"),
                (415, "not JSON"),
                (422, "the Idempotency-Key was first used with another body"),
                (429, "rate limited (Retry-After)"),
                (
                    503,
                    "too many running, Dokploy failing, or the ledger failing (Retry-After); \
                     the portal is read-only (read_only)",
                ),
            ],
            post(deploy),
        )
        .params(DEPLOY_PARAMS)
        .body(&[("name", Schema::String)]),
        Route::new(
            "GET",
            "/api/deployment/{id}",
            "A deployment's state and its last 50 log lines",
            &[
                (200, "the deployment"),
                (400, "the path does not decode"),
                (404, "unknown id"),
            ],
            get(deployment),
        ),
    ]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployRequest {
    name: String,
}

/// `GET /api/check/:name`.
#[derive(Debug, Serialize)]
struct Verdict {
    name: String,
    valid: bool,
    available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

/// The 202 of `POST /api/deploy`, kept for `Idempotency-Key` repeats (in memory only: the
/// capability inside is never written anywhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Accepted {
    success: bool,
    deployment_id: String,
    name: String,
    url: String,
    status_url: String,
    cancel: CancelLink,
}

/// How the requester cancels: POST to `url` with `Authorization: Bearer <token>`.
#[derive(Clone, PartialEq, Eq, Serialize)]
struct CancelLink {
    url: String,
    token: String,
}

impl std::fmt::Debug for CancelLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelLink")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Accepted {
    /// The answer for a started deployment, with the requester's cancel capability.
    pub(crate) fn new(
        id: DeploymentId,
        name: String,
        url: String,
        cancel: &CancelCapability,
    ) -> Self {
        Self {
            success: true,
            deployment_id: id.to_string(),
            status_url: format!("/api/status/{id}"),
            name,
            url,
            cancel: CancelLink {
                url: format!("/api/deployments/{id}/cancel"),
                token: cancel.expose().to_owned(),
            },
        }
    }
}

/// `GET /api/deployment/:id`.
#[derive(Debug, Serialize)]
struct DeploymentAnswer {
    success: bool,
    deployment: DeploymentView,
}

async fn check(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let verdict = match crate::deployment::name::validate(&raw) {
        Err(reason) => Verdict {
            name: raw.trim().to_ascii_lowercase(),
            valid: false,
            available: false,
            reason: Some(reason.code()),
            message: Some(reason.to_string()),
            url: None,
        },
        Ok(name) => {
            let held = match state.read_model.read().holder(&name) {
                Ok(holder) => holder.is_some(),
                Err(error) => return ApiError::from(error).into_response(),
            };
            let url = format!("https://{}", state.orchestrator.settings().host(&name));
            Verdict {
                valid: true,
                available: !held,
                reason: held.then_some("taken"),
                message: held.then(|| "this name is in use by another deployment".to_owned()),
                url: Some(url),
                name,
            }
        }
    };
    json(StatusCode::OK, verdict)
}

/// `POST /api/deploy`: the first answer for a repeated `Idempotency-Key` (per client, same
/// body), else the rate limit, then the deployment.
async fn deploy(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if let Some(report) = state.ledger.read_only() {
        let found = Some(report.summary());
        return Err(ApiError::ReadOnly { found });
    }
    let client = state.guards.client(peer, &headers);
    let key = idempotency_key(&headers)?.map(|key| format!("{client}|{key}"));
    if !is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = body.map_err(|rejection| body_rejection(&rejection, &state))?;
    let fingerprint: Fingerprint = Sha256::digest(&body).into();
    if let Some(key) = &key {
        match state.guards.recall(key, &fingerprint) {
            Recall::Replay(first) => return Ok(json(StatusCode::ACCEPTED, first)),
            Recall::Conflict => return Err(ApiError::IdempotencyKeyReused),
            Recall::New => {}
        }
    }
    if let Err(retry_after) = state.guards.take_deploy(client, state.clock.now_ms()) {
        return Err(ApiError::RateLimited { retry_after });
    }
    let request: DeployRequest =
        serde_json::from_slice(&body).map_err(|error| ApiError::BadRequest {
            code: "invalid_body",
            message: format!("the body must be JSON like {{\"name\": \"my-stack\"}}: {error}"),
        })?;
    let started = tokio::spawn(start(state, client, request.name, key, fingerprint));
    Ok(json(StatusCode::ACCEPTED, started.await??))
}

/// Starts the deployment and keeps its answer for the key. Runs in its own task, so that a
/// client who leaves (or the request timeout) after the claim still leaves its key pinned to
/// the accepted answer; the orchestrator itself starts the run regardless.
async fn start(
    state: AppState,
    client: IpAddr,
    name: String,
    key: Option<String>,
    fingerprint: Fingerprint,
) -> Result<Accepted, ApiError> {
    let client = client_hash(&state.client_key, client);
    let started = state.orchestrator.deploy(&name, &client).await?;
    let accepted = Accepted::new(started.id, started.name, started.url, &started.cancel);
    if let Some(key) = key {
        state.guards.remember(key, fingerprint, accepted.clone());
    }
    Ok(accepted)
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

/// Whether the body is declared JSON: `application/json` or `application/*+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let subtype = subtype.to_ascii_lowercase();
    kind.eq_ignore_ascii_case("application") && (subtype == "json" || subtype.ends_with("+json"))
}

fn body_rejection(rejection: &BytesRejection, state: &AppState) -> ApiError {
    if is_body_timeout(rejection) {
        ApiError::BodyTimeout {
            after: state.guards.limits.body_timeout,
        }
    } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest {
            code: "invalid_body",
            message: "the request body could not be read".to_owned(),
        }
    }
}

/// `GET /api/deployment/:id`. The rendered answer is kept per deployment with the seq it was
/// rendered at, and reused until the deployment has a newer event: a view is a pure function of
/// the events, so it can only change when one is added.
async fn deployment(
    State(state): State<AppState>,
    DeploymentPath(id): DeploymentPath,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::NotFound { what: "deployment" };
    let last_seq = state
        .read_model
        .read()
        .get(id)?
        .map(|deployment| deployment.last_seq)
        .ok_or_else(unknown)?;
    let body = match state.views.get(id, last_seq) {
        Some(body) => body,
        None => {
            let (seq, view) = {
                let model = state.read_model.read();
                let deployment = model.get(id)?.ok_or_else(unknown)?;
                (deployment.last_seq, DeploymentView::of(&deployment))
            };
            let answer = DeploymentAnswer {
                success: true,
                deployment: view,
            };
            let rendered = serde_json::to_vec(&answer).map_err(|error| ApiError::Internal {
                detail: format!("a deployment view did not serialize: {error}"),
            })?;
            let body = Bytes::from(rendered);
            state.views.put(id, seq, body.clone());
            body
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_recognized_with_parameters_and_suffixes() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().expect("a value"));
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonp"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
