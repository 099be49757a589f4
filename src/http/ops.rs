//! The ops API (DESIGN §5), behind `Authorization: Bearer <admin token>` (the scheme in any
//! case, the token compared in constant time): deployments newest first with filters and
//! paging, a deployment's events, the NDJSON export of the log, and a verification of the
//! whole chain. Reading the log is blocking work and runs off the async workers.
//!
//! It never changes a deployment, and no handler runs before the token is checked (each takes
//! the `Admin` proof as its first extractor). An export and a verification are operator actions:
//! each is recorded on the ops stream (`LedgerExported`, `LedgerVerified`) before it is
//! answered, and on a writable ledger it is not answered (503) if it could not be recorded.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::deployment::{DeploymentStatus, Event, Leftover, Phase, ResourceKind, RollbackOutcome};
use crate::http::AppState;
use crate::http::admin::Admin;
use crate::http::error::{ApiError, json};
use crate::http::extract::{DeploymentPath, Query};
use crate::http::operator::record;
use crate::http::route::{Param, Route, Schema};
use crate::ids::{DeploymentId, Seq};
use crate::ledger::envelope::Envelope;
use crate::projection::view::{NarratedEvent, narrate};
use crate::projection::{DeploymentState, ListQuery};

/// Page size bounds.
const LIST_LIMIT_DEFAULT: usize = 20;
const LIST_LIMIT_MAX: usize = 200;
const EXPORT_LIMIT_DEFAULT: usize = 1_000;
const EXPORT_LIMIT_MAX: usize = 10_000;

/// `GET /api/deployments`' filters.
const LIST_PARAMS: &[Param] = &[
    Param::query("status", "only this status", Schema::Enum(STATUSES)),
    Param::query("name", "only names containing this", Schema::String),
    Param::query("limit", "page size (1 to 200, default 20)", Schema::Integer),
    Param::query("before", "the previous page's next id", Schema::String),
];

/// `GET /api/ledger/events`' range.
const EXPORT_PARAMS: &[Param] = &[
    Param::query(
        "after",
        "the seq to start after (default 0)",
        Schema::Integer,
    ),
    Param::query(
        "limit",
        "events at most (1 to 10000, default 1000)",
        Schema::Integer,
    ),
];

pub(super) fn routes() -> Vec<Route> {
    const AUDIT: &[(u16, &str)] = &[
        (200, "the answer"),
        (400, "bad query"),
        (401, "no or wrong token"),
        (503, "the ledger cannot be read (Retry-After)"),
    ];
    vec![
        Route::new(
            "GET",
            "/api/deployments",
            "Deployments newest first: status, name, limit, before",
            AUDIT,
            get(list),
        )
        .admin()
        .params(LIST_PARAMS),
        Route::new(
            "GET",
            "/api/deployments/{id}/events",
            "A deployment's events, in order",
            &[
                (200, "the events"),
                (400, "the path does not decode"),
                (401, "no or wrong token"),
                (404, "unknown id"),
                (503, "the ledger cannot be read (Retry-After)"),
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
        .content("application/x-ndjson")
        .params(EXPORT_PARAMS),
        Route::new(
            "GET",
            "/api/ledger/verify",
            "Re-verify the whole hash chain",
            &[
                (200, "the verdict"),
                (401, "no or wrong token"),
                (503, "the ledger cannot be read (Retry-After)"),
            ],
            get(verify),
        )
        .admin(),
    ]
}

/// The values of the `status` filter.
const STATUSES: &[&str] = &["in_progress", "success", "failure"];

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

/// One deployment of the list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    id: String,
    stack_name: &'a str,
    status: DeploymentStatus,
    phase: Phase,
    progress: u8,
    url: &'a str,
    started: String,
    completed: Option<String>,
    error: Option<FailureSummary<'a>>,
    rollback: Option<RollbackOutcome>,
    /// What the rollback's verification found left on Dokploy.
    leftovers: &'a [Leftover],
    /// The rollback steps not taken, and why.
    skipped_steps: Vec<SkippedSummary<'a>>,
    retries: u32,
    last_seq: u64,
    head_hash: String,
}

/// A rollback step not taken.
#[derive(Debug, Serialize)]
struct SkippedSummary<'a> {
    kind: ResourceKind,
    id: &'a str,
    reason: &'a str,
}

#[derive(Debug, Serialize)]
struct FailureSummary<'a> {
    phase: Phase,
    code: &'a str,
    message: &'a str,
}

impl<'a> Summary<'a> {
    fn of(state: &'a DeploymentState) -> Self {
        Self {
            id: state.id.to_string(),
            stack_name: &state.name,
            status: state.status,
            phase: state.phase,
            progress: state.progress,
            url: &state.url,
            started: rfc3339(state.started_at),
            completed: state.completed_at.map(rfc3339),
            error: state.error.as_ref().map(|failure| FailureSummary {
                phase: failure.phase,
                code: &failure.code,
                message: &failure.message,
            }),
            rollback: state.rollback_outcome(),
            leftovers: state.leftovers(),
            skipped_steps: state
                .rollback
                .iter()
                .flat_map(|rollback| &rollback.skipped)
                .map(|step| SkippedSummary {
                    kind: step.kind,
                    id: &step.id.0,
                    reason: &step.reason,
                })
                .collect(),
            retries: state.retries,
            last_seq: state.last_seq.0,
            head_hash: state.head_hash.to_string(),
        }
    }
}

/// `GET /api/deployments`.
#[derive(Debug, Serialize)]
struct Page<'a> {
    success: bool,
    deployments: Vec<Summary<'a>>,
    /// The last id of a full page: pass it as `before` for the next.
    next: Option<String>,
}

/// `GET /api/deployments/:id/events`: each envelope with the sentence the log shows for it.
#[derive(Debug, Serialize)]
struct Events<'a> {
    success: bool,
    events: Vec<NarratedEvent<'a>>,
}

/// `GET /api/ledger/verify`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Verdict {
    ok: bool,
    events: u64,
    last_seq: u64,
    head_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_bad_seq: Option<u64>,
    /// The damage in words (with a read-only ledger's, found at open, past what it serves).
    #[serde(skip_serializing_if = "Option::is_none")]
    damage: Option<String>,
}

fn list_query(params: ListParams) -> Result<ListQuery, ApiError> {
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
    Ok(ListQuery {
        status,
        name: params
            .name
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty()),
        limit: params
            .limit
            .unwrap_or(LIST_LIMIT_DEFAULT)
            .clamp(1, LIST_LIMIT_MAX),
        before,
    })
}

async fn list(
    _: Admin,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    let query = list_query(params)?;
    let model = state.read_model.read();
    let found = model.list(&query)?;
    let deployments: Vec<Summary<'_>> = found.iter().map(|state| Summary::of(state)).collect();
    let next = (deployments.len() == query.limit)
        .then(|| deployments.last().map(|last| last.id.clone()))
        .flatten();
    let page = Page {
        success: true,
        deployments,
        next,
    };
    Ok(json(StatusCode::OK, page))
}

async fn events(
    _: Admin,
    State(state): State<AppState>,
    DeploymentPath(id): DeploymentPath,
) -> Result<Response, ApiError> {
    if state.read_model.read().get(id)?.is_none() {
        return Err(ApiError::NotFound { what: "deployment" });
    }
    let ledger = state.ledger.clone();
    let events = tokio::task::spawn_blocking(move || ledger.read_stream(id, Seq::ZERO, usize::MAX))
        .await??;
    let events = Events {
        success: true,
        events: narrate(&events),
    };
    Ok(json(StatusCode::OK, events))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    after: Option<u64>,
    limit: Option<usize>,
}

/// NDJSON: one envelope per line, in seq order.
/// Recorded as `LedgerExported` (which range) once the export is read, before it is sent.
async fn export(
    admin: Admin,
    State(state): State<AppState>,
    Query(params): Query<ExportParams>,
) -> Result<Response, ApiError> {
    let limit = params
        .limit
        .unwrap_or(EXPORT_LIMIT_DEFAULT)
        .clamp(1, EXPORT_LIMIT_MAX);
    let after = Seq(params.after.unwrap_or(0));
    let ledger = state.ledger.clone();
    let (body, through) = tokio::task::spawn_blocking(move || {
        let events = ledger.read_after(after, limit)?;
        let through = events.last().map_or(after, |last| last.seq);
        ndjson(&events).map(|body| (body, through))
    })
    .await??;
    let exported = Event::LedgerExported {
        by: admin.name,
        client: admin.client,
        after: after.0,
        through: through.0,
    };
    record(&state, exported).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

fn ndjson(events: &[Envelope]) -> Result<String, ApiError> {
    let mut body = String::new();
    for envelope in events {
        let line = serde_json::to_string(envelope).map_err(|error| ApiError::Internal {
            detail: format!("event {} did not serialize: {error}", envelope.seq),
        })?;
        body.push_str(&line);
        body.push('\n');
    }
    Ok(body)
}

/// Re-checks the whole chain from the stored bytes up to the durable head; recorded as
/// `LedgerVerified` before it is answered.
async fn verify(admin: Admin, State(state): State<AppState>) -> Result<Response, ApiError> {
    let ledger = state.ledger.clone();
    let verification = tokio::task::spawn_blocking(move || ledger.verify()).await??;
    let damage = match state.ledger.read_only() {
        Some(report) => report.damage_text(),
        None => verification.damage.as_ref().map(ToString::to_string),
    };
    let verdict = Verdict {
        ok: verification.is_intact() && damage.is_none(),
        events: verification.events(),
        last_seq: verification.last.seq.0,
        head_hash: verification.last.hash.to_string(),
        first_bad_seq: verification.first_bad_seq().map(|seq| seq.0),
        damage,
    };
    let verified = Event::LedgerVerified {
        by: admin.name,
        client: admin.client,
        ok: verdict.ok,
        last_seq: verdict.last_seq,
    };
    record(&state, verified).await?;
    Ok(json(StatusCode::OK, verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_query_is_bounded_and_its_filters_are_checked() {
        let params = |status: Option<&str>, limit: Option<usize>| ListParams {
            status: status.map(str::to_owned),
            name: Some("  ShOp ".to_owned()),
            limit,
            before: None,
        };
        let query = list_query(params(Some("success"), Some(10_000))).expect("valid");
        assert_eq!(query.limit, LIST_LIMIT_MAX);
        assert_eq!(query.name.as_deref(), Some("shop"));
        assert_eq!(query.status, Some(DeploymentStatus::Success));
        assert_eq!(list_query(params(None, Some(0))).expect("valid").limit, 1);
        let refused = list_query(params(Some("weird"), None)).expect_err("unknown status");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    }
}
