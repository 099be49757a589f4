//! `GET /health` (liveness and the ledger figures of DESIGN §5, the mirror's among them, and the
//! deployments in flight with the age of the oldest, measured on the injected clock at answer
//! time) and `GET /ready` (whether
//! this instance can take deployments now). Both only read: they never append, call Dokploy or
//! move the breaker (they take a snapshot of it).
//!
//! A read-only portal (`--read-only`) answers `/health` with 200 and `"degraded"`: it serves
//! what it was started to serve, and its `ledger` says so (`readOnly`, the `damage` found,
//! `intactTo`). `/ready` answers 503 there, as the ledger takes no appends.
//!
//! `ledger.verification` is the background verification of the whole chain (`state`,
//! `verifiedSeq`, `targetSeq`, and `firstBadSeq` and `message` once known). Damage it finds
//! stops the writer, so `/health` says `"degraded"` and `/ready` answers 503.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;

use crate::dokploy::breaker::BreakerState;
use crate::http::AppState;
use crate::http::error::{ApiError, json};
use crate::http::route::Route;
use crate::ledger::MirrorStatus;
use crate::ledger::ReadOnlyReport;
use crate::ledger::VerificationStatus;

/// Which capabilities this build has (DESIGN §5). Each turns true in the release that
/// delivers it, never before.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Features {
    production_client: bool,
    retry_logic: bool,
    circuit_breaker: bool,
    auto_rollback: bool,
    health_verification: bool,
    event_ledger: bool,
    replay: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LedgerFigures {
    events: u64,
    last_seq: u64,
    deployments: u64,
    head_hash: String,
    writable: bool,
    /// The mirror (`--mirror`), or null without one.
    mirror: Option<MirrorFigures>,
    /// Started with `--read-only`: the ledger is served for an audit, deploys are refused.
    read_only: bool,
    /// What a read-only open found, as an ordinary open would have refused it (null: nothing).
    damage: Option<String>,
    /// The last event of the intact prefix that is served.
    intact_to: u64,
    /// The background verification of the whole chain.
    verification: VerificationFigures,
}

/// Where the background verification stands (`ledger.verification`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct VerificationFigures {
    state: &'static str,
    verified_seq: u64,
    target_seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_bad_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl VerificationFigures {
    fn of(status: VerificationStatus) -> Self {
        Self {
            state: status.state.as_str(),
            verified_seq: status.verified_seq.0,
            target_seq: status.target_seq.0,
            first_bad_seq: status.first_bad_seq.map(|seq| seq.0),
            message: status.message,
        }
    }
}

/// The synchronous mirror: every acknowledged event is in it before it is acknowledged, so its
/// lag is zero by construction while it is in sync (a failure to write it stops the writer).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MirrorFigures {
    path: String,
    head_seq: u64,
    in_sync: bool,
    synchronous: bool,
    lag_events: u64,
}

impl MirrorFigures {
    fn of(status: MirrorStatus, acknowledged: u64) -> Self {
        Self {
            path: status.path.display().to_string(),
            head_seq: status.head.0,
            in_sync: status.in_sync,
            synchronous: true,
            lag_events: acknowledged.saturating_sub(status.head.0),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Breaker {
    state: &'static str,
    consecutive_failures: u32,
}

#[derive(Debug, Serialize)]
struct Dokploy {
    mode: &'static str,
}

/// The deployments in progress (issue 13: one that sits in "running" for hours must show).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Deployments {
    in_flight: u64,
    /// Whole seconds since the oldest in-flight deployment was requested; null when none is.
    oldest_age_seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    status: &'static str,
    version: &'static str,
    features: Features,
    circuit_breaker: Breaker,
    ledger: LedgerFigures,
    dokploy: Dokploy,
    deployments: Deployments,
}

/// `GET /ready` when ready.
#[derive(Debug, Serialize)]
struct Ready {
    ready: bool,
    ledger: bool,
    dokploy: bool,
}

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            "GET",
            "/health",
            "Liveness, features, breaker, ledger figures, Dokploy mode, deployments in flight",
            &[(200, "the figures")],
            get(health),
        ),
        Route::new(
            "GET",
            "/ready",
            "Ready when the ledger is writable and Dokploy is not failing",
            &[(200, "ready"), (503, "not ready (Retry-After)")],
            get(ready),
        ),
    ]
}

/// `GET /ready`: 200 when the ledger takes appends and Dokploy is not known to be failing.
async fn ready(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ledger = state.ledger.is_writable();
    let (breaker, _) = state.orchestrator.caller().breaker().snapshot();
    let dokploy = !matches!(breaker, BreakerState::Open { .. });
    if !(ledger && dokploy) {
        return Err(ApiError::NotReady { ledger, dokploy });
    }
    let body = Ready {
        ready: true,
        ledger,
        dokploy,
    };
    Ok(json(StatusCode::OK, body))
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    let (summary, in_flight) = {
        let model = state.read_model.read();
        (model.summary(), model.in_flight())
    };
    let writable = state.ledger.is_writable();
    let read_only = state.ledger.read_only();
    let (breaker, consecutive_failures) = state.orchestrator.caller().breaker().snapshot();
    let degraded = !writable || !matches!(breaker, BreakerState::Closed);
    Json(Health {
        status: if degraded { "degraded" } else { "healthy" },
        version: env!("CARGO_PKG_VERSION"),
        features: Features {
            production_client: true,
            retry_logic: true,
            circuit_breaker: true,
            auto_rollback: true,
            health_verification: true,
            event_ledger: true,
            replay: true,
        },
        circuit_breaker: Breaker {
            state: breaker.as_str(),
            consecutive_failures,
        },
        dokploy: Dokploy {
            mode: state.mode.as_str(),
        },
        deployments: Deployments {
            in_flight: in_flight.count,
            oldest_age_seconds: in_flight
                .oldest_age(state.clock.now_ms())
                .map(|age| age.as_secs()),
        },
        ledger: LedgerFigures {
            events: summary.events,
            last_seq: summary.last_seq.0,
            deployments: summary.deployments,
            head_hash: summary.head_hash.to_string(),
            writable,
            mirror: state
                .ledger
                .mirror()
                .map(|status| MirrorFigures::of(status, summary.last_seq.0)),
            read_only: read_only.is_some(),
            damage: read_only.and_then(ReadOnlyReport::damage_text),
            intact_to: read_only.map_or(summary.last_seq.0, |report| report.intact_to.0),
            verification: VerificationFigures::of(state.ledger.verification()),
        },
    })
}
