//! The HTTP surface. Handlers are thin: they read the projection or the ledger and map the
//! result to JSON; they never change deployment state themselves.

mod health;

use axum::Router;

use crate::ledger::Ledger;
use crate::projection::LiveReadModel;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The event log.
    pub ledger: Ledger,
    /// The projection.
    pub read_model: LiveReadModel,
}

/// Every route, with its state.
pub fn router(state: AppState) -> Router {
    Router::new().merge(health::routes()).with_state(state)
}
