//! The HTTP surface. Handlers are thin: they read the projection or the ledger and map the
//! result to JSON; they never change deployment state themselves.

mod deploy;
pub mod error;
mod health;
mod status_sse;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::app::DokployMode;
use crate::dokploy::client::DokployClient;
use crate::ledger::Ledger;
use crate::orchestrator::Orchestrator;
use crate::projection::LiveReadModel;

/// The largest request body accepted (a deploy request is a few dozen bytes).
pub const BODY_BYTES_MAX: usize = 4 * 1024;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The event log.
    pub ledger: Ledger,
    /// The projection.
    pub read_model: LiveReadModel,
    /// Deployments.
    pub orchestrator: Orchestrator<DokployClient>,
    /// Which Dokploy is used.
    pub mode: DokployMode,
    /// The key of the client hash (random per process).
    pub client_key: Arc<str>,
    /// Turns true when the server shuts down: open SSE streams end.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Every route, with its state.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(deploy::routes())
        .merge(status_sse::routes())
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(state)
}
