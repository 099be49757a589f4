//! Operator actions on the record (issue 13): [`record`] appends one to the ops stream, the
//! refused authentications are counted and recorded in bounded numbers, and
//! `GET /api/operator-actions` reads them back, newest first, worded by the one renderer.
//!
//! On a writable ledger an action that cannot be recorded must not happen: [`record`] fails and
//! the handler answers 503 before it acts or answers. A read-only portal records nothing
//! (its ledger takes no appends) and still answers. No answer here ever holds a token or a
//! token's hash.

use std::sync::{Mutex, PoisonError};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::Clock;
use crate::deployment::Event;
use crate::http::AppState;
use crate::http::admin::Admin;
use crate::http::error::{ApiError, json};
use crate::http::extract::Query;
use crate::http::refusal::{RefusalCounter, WINDOW_MS};
use crate::http::route::{Param, Route, Schema};
use crate::ids::{DeploymentId, Seq};
use crate::ledger::{ExpectedVersion, Ledger, NewEvent};
use crate::projection::operator::described;

/// Page size bounds of `GET /api/operator-actions`.
const ACTIONS_LIMIT_DEFAULT: usize = 50;
const ACTIONS_LIMIT_MAX: usize = 200;

/// `GET /api/operator-actions`' paging.
const ACTIONS_PARAMS: &[Param] = &[
    Param::query("limit", "page size (1 to 200, default 50)", Schema::Integer),
    Param::query("before", "the previous page's next seq", Schema::Integer),
];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            "GET",
            "/api/operator-actions",
            "Operator actions newest first (tokens, exports, verifies, cancels, refusals)",
            &[
                (200, "the actions"),
                (400, "bad query"),
                (401, "no or wrong token"),
                (503, "the ledger cannot be read (Retry-After)"),
            ],
            get(actions),
        )
        .admin()
        .params(ACTIONS_PARAMS),
    ]
}

/// What the HTTP layer keeps to record operator actions.
#[derive(Debug, Default)]
pub(crate) struct OperatorLog {
    /// Refused authentications of the current window.
    refusals: Mutex<RefusalCounter>,
    /// Held across a token change's check and append, so that two adds of one name cannot
    /// both pass the check (one portal process owns the ledger).
    pub(crate) token_changes: tokio::sync::Mutex<()>,
}

/// Records `event` on the ops stream, durably, before the action it records is answered: the
/// function the cancel endpoint calls for `CancelAsked`. A read-only portal records nothing
/// and answers Ok; on a writable ledger a failure is an error (503) and the action must not
/// go on.
pub(crate) async fn record(state: &AppState, event: Event) -> Result<(), ApiError> {
    if state.ledger.read_only().is_some() {
        return Ok(());
    }
    append(&state.ledger, vec![event])
        .await
        .map_err(ApiError::from)
}

async fn append(
    ledger: &Ledger,
    events: Vec<Event>,
) -> Result<(), crate::ledger::error::LedgerError> {
    if events.is_empty() {
        return Ok(());
    }
    let events = events.into_iter().map(NewEvent::new).collect();
    ledger
        .append(DeploymentId::OPS, ExpectedVersion::Any, events)
        .await
        .map(|_| ())
}

/// Counts a refused authentication of `client` and records what is due. The refusal is
/// answered 401 whatever happens here, so a failure is only logged.
pub(crate) async fn count_refusal(state: &AppState, client: &str, now_ms: i64) {
    let due = lock(&state.operator_log.refusals).refuse(client, now_ms);
    record_refusals(&state.ledger, due).await;
}

/// Records the counts of a refusal window that is over (on every admin request, and from the
/// periodic flush), so that the tail of a flood is not left uncounted.
pub(crate) async fn close_refusal_window(state: &AppState, now_ms: i64) {
    let due = lock(&state.operator_log.refusals).close_if_over(now_ms);
    record_refusals(&state.ledger, due).await;
}

async fn record_refusals(ledger: &Ledger, due: Vec<Event>) {
    if due.is_empty() || ledger.read_only().is_some() {
        return;
    }
    if let Err(error) = append(ledger, due).await {
        tracing::warn!(%error, "refused authentications could not be recorded");
    }
}

fn lock(counter: &Mutex<RefusalCounter>) -> std::sync::MutexGuard<'_, RefusalCounter> {
    counter.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every window length of real time, records the counts of a refusal window that is over (by
/// the portal's clock), until `shutdown` turns true; then once more.
pub(crate) fn spawn_flush(
    ledger: Ledger,
    clock: std::sync::Arc<dyn Clock>,
    log: std::sync::Arc<OperatorLog>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let period = std::time::Duration::from_millis(WINDOW_MS.unsigned_abs());
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(period);
        loop {
            let stopping = tokio::select! {
                _ = ticks.tick() => false,
                _ = shutdown.wait_for(|stop| *stop) => true,
            };
            let due = lock(&log.refusals).close_if_over(clock.now_ms());
            record_refusals(&ledger, due).await;
            if stopping {
                break;
            }
        }
    });
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionsParams {
    limit: Option<usize>,
    before: Option<u64>,
}

/// `GET /api/operator-actions`.
#[derive(Debug, Serialize)]
struct Actions {
    success: bool,
    actions: Vec<Value>,
    /// The oldest seq of a full page: pass it as `before` for the next.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<u64>,
}

async fn actions(
    _: Admin,
    State(state): State<AppState>,
    Query(params): Query<ActionsParams>,
) -> Result<Response, ApiError> {
    let limit = params
        .limit
        .unwrap_or(ACTIONS_LIMIT_DEFAULT)
        .clamp(1, ACTIONS_LIMIT_MAX);
    let page = state
        .read_model
        .read()
        .operators()
        .actions(params.before.map(Seq), limit);
    let Some(oldest) = page.last().copied() else {
        return Ok(json(
            StatusCode::OK,
            Actions {
                success: true,
                actions: Vec::new(),
                next: None,
            },
        ));
    };
    let ledger = state.ledger.clone();
    let count = page.len();
    let after = Seq(oldest.0 - 1);
    let events =
        tokio::task::spawn_blocking(move || ledger.read_stream(DeploymentId::OPS, after, count))
            .await??;
    let answer = Actions {
        success: true,
        actions: events.iter().rev().map(described).collect(),
        next: (count == limit).then_some(oldest.0),
    };
    Ok(json(StatusCode::OK, answer))
}
