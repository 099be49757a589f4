//! The ops API (DESIGN §5), behind `Authorization: Bearer <admin token>` compared in constant
//! time: deployments newest first with filters and paging, a deployment's events, the NDJSON
//! export of the log, and a verification of the whole chain. Plus `/ready` and `/metrics`,
//! which need no token.

use std::fmt::Write as _;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::deployment::DeploymentStatus;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::route::Route;
use crate::ids::{DeploymentId, Seq};
use crate::projection::view::rfc3339;
use crate::projection::{DeploymentState, ListQuery};

/// Page size bounds.
const LIST_LIMIT_DEFAULT: usize = 20;
const LIST_LIMIT_MAX: usize = 200;
const EXPORT_LIMIT_DEFAULT: usize = 1_000;
const EXPORT_LIMIT_MAX: usize = 10_000;

pub(super) fn routes() -> Vec<Route> {
    const AUDIT: &[(u16, &str)] = &[
        (200, "the answer"),
        (400, "bad query"),
        (401, "no or wrong token"),
    ];
    vec![
        Route::new(
            "GET",
            "/api/deployments",
            "Deployments newest first: status, name, limit, before",
            AUDIT,
            get(list),
        )
        .admin(),
        Route::new(
            "GET",
            "/api/deployments/{id}/events",
            "A deployment's events, in order",
            &[
                (200, "the events"),
                (401, "no or wrong token"),
                (404, "unknown id"),
            ],
            get(events),
        )
        .admin(),
        Route::new(
            "GET",
            "/api/ledger/events",
            "NDJSON export of the log: after, limit",
            AUDIT,
            get(export),
        )
        .admin()
        .content("application/x-ndjson"),
        Route::new(
            "GET",
            "/api/ledger/verify",
            "Re-verify the whole hash chain",
            AUDIT,
            get(verify),
        )
        .admin(),
        Route::new(
            "GET",
            "/ready",
            "Ready when the ledger is writable and Dokploy is not failing",
            &[(200, "ready"), (503, "not ready")],
            get(ready),
        ),
        Route::new(
            "GET",
            "/metrics",
            "Prometheus text",
            &[(200, "the metrics")],
            get(metrics),
        )
        .content("text/plain"),
    ]
}

/// Proof that the request carried the admin token.
struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        if state.admin_token.matches(token.trim().as_bytes()) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    name: Option<String>,
    limit: Option<usize>,
    before: Option<String>,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        code,
        message: message.into(),
    }
}

fn summary(state: &DeploymentState) -> Value {
    json!({
        "id": state.id.to_string(),
        "stackName": state.name,
        "status": state.status,
        "phase": state.phase,
        "progress": state.progress,
        "url": state.url,
        "started": rfc3339(state.started_at),
        "completed": state.completed_at.map(rfc3339),
        "error": state.error.as_ref().map(|e| json!({"phase": e.phase, "code": e.code, "message": e.message})),
        "rollback": state.rollback_outcome(),
        "retries": state.retries,
        "lastSeq": state.last_seq.0,
        "headHash": state.head_hash.to_string(),
    })
}

async fn list(
    _: Admin,
    State(state): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| bad("invalid_query", e.body_text()))?;
    let status = match params.status.as_deref() {
        None | Some("") => None,
        Some("in_progress") => Some(DeploymentStatus::InProgress),
        Some("success") => Some(DeploymentStatus::Success),
        Some("failure") => Some(DeploymentStatus::Failure),
        Some(other) => return Err(bad("invalid_status", format!("unknown status {other:?}"))),
    };
    let before = match params.before.as_deref() {
        None | Some("") => None,
        Some(id) => Some(
            id.parse::<DeploymentId>()
                .map_err(|e| bad("invalid_before", e.to_string()))?,
        ),
    };
    let limit = params
        .limit
        .unwrap_or(LIST_LIMIT_DEFAULT)
        .clamp(1, LIST_LIMIT_MAX);
    let query = ListQuery {
        status,
        name: params
            .name
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty()),
        limit,
        before,
    };
    let model = state.read_model.read();
    let page: Vec<Value> = model.list(&query).into_iter().map(summary).collect();
    let next = (page.len() == limit)
        .then(|| page.last().map(|last| last["id"].clone()))
        .flatten();
    Ok(Json(
        json!({"success": true, "deployments": page, "next": next}),
    ))
}

async fn events(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: DeploymentId = id.parse().map_err(|_| ApiError::NotFound)?;
    if state.read_model.read().get(id).is_none() {
        return Err(ApiError::NotFound);
    }
    let events = state
        .ledger
        .read_stream(id, Seq::ZERO, usize::MAX)
        .map_err(|error| unavailable(&error))?;
    Ok(Json(json!({"success": true, "events": events})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    after: Option<u64>,
    limit: Option<usize>,
}

/// NDJSON: one envelope per line, in seq order.
async fn export(
    _: Admin,
    State(state): State<AppState>,
    params: Result<Query<ExportParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| bad("invalid_query", e.body_text()))?;
    let limit = params
        .limit
        .unwrap_or(EXPORT_LIMIT_DEFAULT)
        .clamp(1, EXPORT_LIMIT_MAX);
    let events = state
        .ledger
        .read_after(Seq(params.after.unwrap_or(0)), limit)
        .map_err(|error| unavailable(&error))?;
    let mut body = String::new();
    for envelope in &events {
        let line = serde_json::to_string(envelope).map_err(|error| unavailable(&error))?;
        body.push_str(&line);
        body.push('\n');
    }
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from(body),
    )
        .into_response())
}

/// Re-checks the whole chain from the stored bytes up to the durable head.
async fn verify(_: Admin, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let ledger = state.ledger.clone();
    let verification = tokio::task::spawn_blocking(move || ledger.verify())
        .await
        .map_err(|error| unavailable(&error))?
        .map_err(|error| unavailable(&error))?;
    let mut answer = json!({
        "ok": verification.is_intact(),
        "events": verification.events(),
        "lastSeq": verification.last.seq.0,
        "headHash": verification.last.hash.to_string(),
    });
    if let Some(seq) = verification.first_bad_seq() {
        answer["firstBadSeq"] = json!(seq.0);
    }
    Ok(Json(answer))
}

fn unavailable(error: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(%error, "an ops read failed");
    ApiError::Unavailable {
        code: "ledger_unavailable",
        message: "the ledger could not be read".to_owned(),
        retry_after: Duration::from_secs(5),
    }
}

/// `GET /ready`: 200 when the ledger takes appends and Dokploy is not known to be failing.
async fn ready(State(state): State<AppState>) -> Response {
    let writable = state.ledger.is_writable();
    let (breaker, _) = state.orchestrator.caller().breaker().snapshot();
    let dokploy_ok = !matches!(breaker, crate::dokploy::breaker::BreakerState::Open { .. });
    let body = json!({"ready": writable && dokploy_ok, "ledger": writable, "dokploy": dokploy_ok});
    let status = if writable && dokploy_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text.
async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = String::new();
    let (by_status, retries, phases) = {
        let model = state.read_model.read();
        let all = ListQuery {
            limit: usize::MAX,
            ..ListQuery::default()
        };
        let mut counts = [0u64; 3];
        let mut retries = 0u64;
        let mut phases: std::collections::BTreeMap<&'static str, (u64, u64)> = Default::default();
        for deployment in model.list(&all) {
            counts[deployment.status as usize] += 1;
            retries += u64::from(deployment.retries);
            for (phase, spent_ms) in &deployment.phase_durations {
                let entry = phases.entry(phase.as_str()).or_default();
                entry.0 += spent_ms;
                entry.1 += 1;
            }
        }
        (counts, retries, phases)
    };
    let _ = writeln!(
        text,
        "# HELP stackledger_deployments Deployments by status."
    );
    let _ = writeln!(text, "# TYPE stackledger_deployments gauge");
    for (status, count) in ["in_progress", "success", "failure"].iter().zip(by_status) {
        let _ = writeln!(
            text,
            "stackledger_deployments{{status=\"{status}\"}} {count}"
        );
    }
    let _ = writeln!(
        text,
        "# HELP stackledger_phase_duration_seconds Time deployments spent in each finished phase."
    );
    let _ = writeln!(text, "# TYPE stackledger_phase_duration_seconds summary");
    for (phase, (spent_ms, count)) in &phases {
        let seconds = *spent_ms as f64 / 1000.0;
        let _ = writeln!(
            text,
            "stackledger_phase_duration_seconds_sum{{phase=\"{phase}\"}} {seconds}"
        );
        let _ = writeln!(
            text,
            "stackledger_phase_duration_seconds_count{{phase=\"{phase}\"}} {count}"
        );
    }
    let _ = writeln!(
        text,
        "# HELP stackledger_dokploy_retries_total Dokploy call attempts that were retried."
    );
    let _ = writeln!(text, "# TYPE stackledger_dokploy_retries_total counter");
    let _ = writeln!(text, "stackledger_dokploy_retries_total {retries}");
    let (breaker, failures) = state.orchestrator.caller().breaker().snapshot();
    let _ = writeln!(
        text,
        "# HELP stackledger_breaker_open 1 while the Dokploy circuit breaker is open or half-open."
    );
    let _ = writeln!(text, "# TYPE stackledger_breaker_open gauge");
    let open = u8::from(!matches!(
        breaker,
        crate::dokploy::breaker::BreakerState::Closed
    ));
    let _ = writeln!(text, "stackledger_breaker_open {open}");
    let _ = writeln!(
        text,
        "# TYPE stackledger_breaker_consecutive_failures gauge"
    );
    let _ = writeln!(text, "stackledger_breaker_consecutive_failures {failures}");
    let stats = state.ledger.stats();
    let _ = writeln!(
        text,
        "# HELP stackledger_ledger_appends_total Events made durable since start."
    );
    let _ = writeln!(text, "# TYPE stackledger_ledger_appends_total counter");
    let _ = writeln!(text, "stackledger_ledger_appends_total {}", stats.events);
    let _ = writeln!(text, "# TYPE stackledger_ledger_syncs_total counter");
    let _ = writeln!(text, "stackledger_ledger_syncs_total {}", stats.batches);
    let _ = writeln!(
        text,
        "# HELP stackledger_ledger_sync_seconds_total Time spent making batches durable."
    );
    let _ = writeln!(text, "# TYPE stackledger_ledger_sync_seconds_total counter");
    let _ = writeln!(
        text,
        "stackledger_ledger_sync_seconds_total {}",
        stats.flush_total.as_secs_f64()
    );
    let _ = writeln!(text, "# TYPE stackledger_ledger_last_sync_seconds gauge");
    let _ = writeln!(
        text,
        "stackledger_ledger_last_sync_seconds {}",
        stats.flush_last.as_secs_f64()
    );
    let _ = writeln!(
        text,
        "# HELP stackledger_sse_subscribers Open status streams."
    );
    let _ = writeln!(text, "# TYPE stackledger_sse_subscribers gauge");
    let _ = writeln!(
        text,
        "stackledger_sse_subscribers {}",
        state.guards.sse_open()
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
