//! The web user's API: check a name, deploy, and read a deployment (DESIGN §5).

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::ids::DeploymentId;
use crate::projection::DeploymentView;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/check/{name}", get(check))
        .route("/api/deploy", post(deploy))
        .route("/api/deployment/{id}", get(deployment))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployRequest {
    name: String,
}

async fn check(State(state): State<AppState>, Path(raw): Path<String>) -> Json<Value> {
    let name = raw.trim().to_ascii_lowercase();
    match crate::names::validate(&raw) {
        Err(reason) => Json(json!({
            "name": name, "valid": false, "available": false,
            "reason": reason.code(), "message": reason.to_string(),
        })),
        Ok(name) => {
            let held = state.read_model.read().holder(&name).is_some();
            let mut answer = json!({"name": name, "valid": true, "available": !held});
            if held {
                answer["reason"] = json!("taken");
                answer["message"] = json!("this name is in use by another deployment");
            }
            Json(answer)
        }
    }
}

async fn deploy(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<DeployRequest>, JsonRejection>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let Json(request) = body.map_err(rejection)?;
    let client = client_hash(&state.client_key, peer);
    let started = state.orchestrator.deploy(&request.name, &client).await?;
    let id = started.id.to_string();
    let name = started.name;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(json!({
            "success": true, "deploymentId": id, "name": name, "url": started.url,
            "statusUrl": format!("/api/status/{id}"),
        })),
    ))
}

async fn deployment(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: DeploymentId = id.parse().map_err(|_| ApiError::NotFound)?;
    let view = {
        let model = state.read_model.read();
        model.get(id).map(DeploymentView::of)
    };
    let view = view.ok_or(ApiError::NotFound)?;
    Ok(Json(json!({"success": true, "deployment": view})))
}

/// A keyed hash of the requester's address: the ledger cannot forget, so it never holds the
/// address itself.
fn client_hash(key: &str, peer: SocketAddr) -> String {
    let mut hasher = Sha256::new();
    hasher.update(key.as_bytes());
    hasher.update(peer.ip().to_string().as_bytes());
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
