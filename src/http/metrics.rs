//! `GET /metrics`: Prometheus text, folded from the read model (the deployments in flight and
//! the age of the oldest among it, measured on the injected clock at answer time), the breaker,
//! the ledger's counters (its mirror's too), the build slots and the open status streams.
//! Reads only; never changes what it reports on.

use std::fmt::Display;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::dokploy::breaker::BreakerState;
use crate::http::AppState;
use crate::http::route::Route;
use crate::projection::in_flight::InFlightFigures;
use crate::projection::metrics::Figures;

pub(super) fn routes() -> Vec<Route> {
    vec![
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

/// Prometheus text exposition, one family at a time.
#[derive(Debug, Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        self.text
            .push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        self
    }

    /// One sample; `label` is `key="value"` or empty.
    fn sample(&mut self, name: &str, label: &str, value: impl Display) -> &mut Self {
        let labels = if label.is_empty() {
            String::new()
        } else {
            format!("{{{label}}}")
        };
        self.text.push_str(&format!("{name}{labels} {value}\n"));
        self
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = Exposition::default();
    let (figures, in_flight) = {
        let model = state.read_model.read();
        (model.figures(), model.in_flight())
    };
    deployment_families(&mut out, &figures);
    in_flight_families(&mut out, in_flight, state.clock.now_ms());
    for (name, kind, help, value) in runtime_samples(&state) {
        out.family(name, kind, help).sample(name, "", value);
    }
    mirror_families(&mut out, &state);
    let content_type = [(header::CONTENT_TYPE, "text/plain; version=0.0.4")];
    (content_type, out.text).into_response()
}

/// Deployments by status and the time spent in each phase.
fn deployment_families(out: &mut Exposition, figures: &Figures) {
    out.family("stackledger_deployments", "gauge", "Deployments by status.");
    for (status, count) in figures.by_status {
        let label = format!("status=\"{}\"", status.as_str());
        out.sample("stackledger_deployments", &label, count);
    }
    let help = "Time deployments spent in each finished phase.";
    out.family("stackledger_phase_duration_seconds", "summary", help);
    for (phase, total) in &figures.phases {
        let label = format!("phase=\"{}\"", phase.as_str());
        let seconds = total.spent_ms as f64 / 1000.0;
        out.sample("stackledger_phase_duration_seconds_sum", &label, seconds)
            .sample(
                "stackledger_phase_duration_seconds_count",
                &label,
                total.count,
            );
    }
    let help = "Dokploy call attempts that were retried.";
    out.family("stackledger_dokploy_retries_total", "counter", help)
        .sample("stackledger_dokploy_retries_total", "", figures.retries);
}

/// The deployments in progress and how long the oldest has been going (0 when none is).
fn in_flight_families(out: &mut Exposition, in_flight: InFlightFigures, now_ms: i64) {
    let help = "Deployments in progress (requested, not yet succeeded or rolled back).";
    out.family("stackledger_deployments_in_flight", "gauge", help)
        .sample("stackledger_deployments_in_flight", "", in_flight.count);
    let oldest = in_flight.oldest_age(now_ms).unwrap_or_default();
    let help = "Seconds since the oldest deployment in progress was requested (0 when none is).";
    out.family("stackledger_deployment_oldest_age_seconds", "gauge", help)
        .sample(
            "stackledger_deployment_oldest_age_seconds",
            "",
            oldest.as_secs_f64(),
        );
}

/// The mirror's figures, when there is one. It is synchronous: an event is acknowledged only
/// once the mirror holds it, so the lag is zero by construction while it is in sync.
fn mirror_families(out: &mut Exposition, state: &AppState) {
    let Some(mirror) = state.ledger.mirror() else {
        return;
    };
    let acknowledged = state.ledger.head().seq.0;
    let help = "Acknowledged events the mirror lacks (0 by construction: it is synchronous).";
    out.family("stackledger_mirror_lag_events", "gauge", help)
        .sample(
            "stackledger_mirror_lag_events",
            "",
            acknowledged.saturating_sub(mirror.head.0),
        );
    let help = "1 while the mirror holds every acknowledged event.";
    out.family("stackledger_mirror_in_sync", "gauge", help)
        .sample("stackledger_mirror_in_sync", "", u8::from(mirror.in_sync));
}

/// The one-sample families: name, type, help, value.
fn runtime_samples(state: &AppState) -> [(&'static str, &'static str, &'static str, String); 9] {
    let (breaker, failures) = state.orchestrator.caller().breaker().snapshot();
    let slots = state.orchestrator.build_slots();
    let open = u8::from(!matches!(breaker, BreakerState::Closed));
    let stats = state.ledger.stats();
    [
        (
            "stackledger_breaker_open",
            "gauge",
            "1 while the Dokploy circuit breaker is open or half-open.",
            open.to_string(),
        ),
        (
            "stackledger_breaker_consecutive_failures",
            "gauge",
            "Consecutive Dokploy failures the breaker counts.",
            failures.to_string(),
        ),
        (
            "stackledger_ledger_appends_total",
            "counter",
            "Events made durable since start.",
            stats.events.to_string(),
        ),
        (
            "stackledger_ledger_syncs_total",
            "counter",
            "Batches made durable since start.",
            stats.batches.to_string(),
        ),
        (
            "stackledger_ledger_sync_seconds_total",
            "counter",
            "Time spent making batches durable.",
            stats.flush_total.as_secs_f64().to_string(),
        ),
        (
            "stackledger_ledger_last_sync_seconds",
            "gauge",
            "How long the last batch took to become durable.",
            stats.flush_last.as_secs_f64().to_string(),
        ),
        (
            "stackledger_sse_subscribers",
            "gauge",
            "Open status streams.",
            state.guards.sse_open().to_string(),
        ),
        (
            "stackledger_build_slots_waiting",
            "gauge",
            "Deployments waiting in the portal's line for one of Dokploy's build slots.",
            slots.waiting.to_string(),
        ),
        (
            "stackledger_builds_running",
            "gauge",
            "Build slots in use: deploys handed to Dokploy and not final yet.",
            slots.building.to_string(),
        ),
    ]
}
