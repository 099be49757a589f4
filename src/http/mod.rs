//! The HTTP surface. Handlers are thin: they read the projection or the ledger, or hand a
//! request to the orchestrator, and map the result to a typed body; they never change
//! deployment state themselves.
//!
//! Layers, outermost first: request id (set when absent), trace span, request id echoed,
//! error logging, head limits, body deadline, body size limit; per route, the request timeout
//! (not on the SSE stream). Below the router, `server` bounds connections and heads.

mod admin;
mod assets;
mod cancel;
mod client;
mod connection;
mod deploy;
mod edge;
pub mod error;
mod error_read;
mod extract;
mod health;
mod limits;
mod metrics;
pub mod openapi;
mod operator;
mod ops;
pub mod refusal;
pub mod route;
pub mod server;
mod status_sse;
mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use tower::ServiceBuilder;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::dokploy::DokployMode;
use crate::dokploy::client::DokployClient;
use crate::ledger::Ledger;
use crate::orchestrator::Orchestrator;
use crate::projection::LiveReadModel;
use crate::secret::ApiKey;
pub use limits::Limits;

/// The largest request body accepted (a deploy request is a few dozen bytes).
pub const BODY_BYTES_MAX: usize = 4 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The event log.
    pub ledger: Ledger,
    /// The projection.
    pub read_model: LiveReadModel,
    /// Deployments.
    pub orchestrator: Orchestrator<DokployClient>,
    /// Which Dokploy is used.
    pub mode: DokployMode,
    /// The ops API's bearer token (the token named `admin`).
    admin_token: ApiKey,
    /// The key of the client hash (random per process).
    client_key: Arc<str>,
    /// Refused authentications being counted, and the lock of token changes.
    operator_log: Arc<operator::OperatorLog>,
    /// Rate limits, idempotency answers and the SSE count.
    guards: Arc<limits::Guards>,
    /// Rendered deployment views.
    views: Arc<limits::ViewCache>,
    /// Rendered SSE messages.
    rendered: Arc<status_sse::Rendered>,
    /// Turns true when the server shuts down: open SSE streams end.
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// Time (rate limits).
    clock: Arc<dyn crate::clock::Clock>,
}

/// What the HTTP layer is built from.
pub struct HttpParts {
    /// The event log.
    pub ledger: Ledger,
    /// The projection.
    pub read_model: LiveReadModel,
    /// Deployments.
    pub orchestrator: Orchestrator<DokployClient>,
    /// Which Dokploy is used.
    pub mode: DokployMode,
    /// The ops API's bearer token.
    pub admin_token: ApiKey,
    /// Abuse limits.
    pub limits: Limits,
    /// Time.
    pub clock: Arc<dyn crate::clock::Clock>,
}

impl AppState {
    /// The state of a router; open SSE streams end when `shutdown` turns true.
    pub fn new(parts: HttpParts, shutdown: tokio::sync::watch::Receiver<bool>) -> Self {
        let operator_log = Arc::new(operator::OperatorLog::default());
        operator::spawn_flush(
            parts.ledger.clone(),
            Arc::clone(&parts.clock),
            Arc::clone(&operator_log),
            shutdown.clone(),
        );
        Self {
            ledger: parts.ledger,
            read_model: parts.read_model,
            orchestrator: parts.orchestrator,
            mode: parts.mode,
            admin_token: parts.admin_token,
            client_key: Arc::from(crate::ids::random_token()),
            operator_log,
            guards: Arc::new(limits::Guards::new(parts.limits)),
            views: Arc::new(limits::ViewCache::default()),
            rendered: Arc::new(status_sse::Rendered::default()),
            shutdown,
            clock: parts.clock,
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("mode", &self.mode)
            .finish()
    }
}

/// Every route of the catalog.
fn catalog() -> Vec<route::Route> {
    let mut routes = Vec::new();
    routes.extend(assets::routes());
    routes.extend(health::routes());
    routes.extend(deploy::routes());
    routes.extend(status_sse::routes());
    routes.extend(ops::routes());
    routes.extend(cancel::routes());
    routes.extend(tokens::routes());
    routes.extend(operator::routes());
    routes.extend(metrics::routes());
    routes.push(route::Route::new(
        "GET",
        "/api/openapi.json",
        "This document",
        &[(200, "the OpenAPI document")],
        axum::routing::get(|| async { axum::Json(openapi()) }),
    ));
    routes
}

/// The OpenAPI document of every route the router serves, generated from the catalog.
pub fn openapi() -> openapi::Document {
    let docs: Vec<route::RouteDoc> = catalog().into_iter().map(|route| route.doc).collect();
    openapi::document(&docs)
}

/// Every route, with its state and its layers.
pub fn router(state: AppState) -> Router {
    let limits = state.guards.limits;
    let routes = catalog()
        .into_iter()
        .fold(Router::new(), |router, route| {
            let handler = if route.doc.streams() {
                route.handler
            } else {
                route
                    .handler
                    .layer(from_fn_with_state(limits, edge::request_timeout))
            };
            router.route(route.doc.path, handler)
        })
        .fallback(edge::unknown_route)
        .method_not_allowed_fallback(edge::method_not_allowed);
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(
            axum::http::HeaderName::from_static(edge::REQUEST_ID),
            edge::RequestIds::new(),
        ))
        .layer(TraceLayer::new_for_http().make_span_with(edge::request_span))
        .layer(PropagateRequestIdLayer::new(
            axum::http::HeaderName::from_static(edge::REQUEST_ID),
        ))
        .layer(from_fn(edge::log_errors))
        .layer(from_fn_with_state(limits, edge::head_limits))
        .layer(from_fn_with_state(limits, edge::body_deadline))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX));
    routes.layer(layers).with_state(state)
}
