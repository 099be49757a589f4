//! The simulator's own routes beside Dokploy's: the control API (`GET /__sim/state`,
//! `POST /__sim/faults`, `DELETE /__sim/faults`, `POST /__sim/restart`), which answers
//! loopback peers only and asks for no key, and the deployed apps' health
//! (`GET /__sim/apps/NAME/health`), which answers through the world's routes and services.
//!
//! It never serves a Dokploy procedure, and never lets a peer that is not on loopback read the
//! state or change the faults.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Shared;
use super::fault::Fault;
use super::world::Health;

/// Proof that the peer is on loopback; any other peer is refused with 403 before the handler
/// runs.
pub(super) struct LoopbackPeer;

impl<S: Send + Sync> FromRequestParts<S> for LoopbackPeer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if peer.ip().is_loopback() {
            return Ok(Self);
        }
        let body = json!({"message": "the simulator's control API answers loopback peers only"});
        Err((StatusCode::FORBIDDEN, Json(body)).into_response())
    }
}

/// `GET /__sim/state`: everything the world holds.
pub(super) async fn state(State(shared): State<Arc<Shared>>, _: LoopbackPeer) -> Response {
    Json(shared.world().state()).into_response()
}

/// `POST /__sim/faults`: arms one fault (201), or says why the body is not one (400).
pub(super) async fn add_fault(
    State(shared): State<Arc<Shared>>,
    _: LoopbackPeer,
    body: Bytes,
) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            shared.faults().add(fault);
            (StatusCode::CREATED, Json(json!({"ok": true}))).into_response()
        }
        Err(error) => {
            let body = json!({"message": format!("not a fault: {error}")});
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
    }
}

/// `DELETE /__sim/faults`: disarms every fault.
pub(super) async fn clear_faults(State(shared): State<Arc<Shared>>, _: LoopbackPeer) -> Response {
    shared.faults().clear();
    Json(json!({"ok": true})).into_response()
}

/// `POST /__sim/restart`: Dokploy restarts (its queue is lost, running deployments cancelled).
pub(super) async fn restart(State(shared): State<Arc<Shared>>, _: LoopbackPeer) -> Response {
    shared.world().restart();
    Json(json!({"ok": true})).into_response()
}

/// `GET /__sim/apps/NAME/health`: 200 when a route for NAME leads to a running service (an
/// `unhealthy` fault makes it 503), 502 when its routes lead to no running service, 503 for
/// an app with a row but no route, 404 for a name the world does not know.
pub(super) async fn app_health(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    // A statement of its own, so that the world's lock is let go before the fault plan's.
    let health = shared.world().app_health(&name);
    let (status, word) = match health {
        Health::Unknown => (StatusCode::NOT_FOUND, "unknown app"),
        Health::NotDeployed => (StatusCode::SERVICE_UNAVAILABLE, "not deployed"),
        Health::BadGateway => (StatusCode::BAD_GATEWAY, "bad gateway"),
        Health::Up if shared.faults().take_unhealthy(&name) => {
            (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
        }
        Health::Up => (StatusCode::OK, "ok"),
    };
    (status, Json(json!({"status": word}))).into_response()
}
