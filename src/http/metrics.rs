//! `GET /metrics`: Prometheus text, folded from the read model, the breaker, the ledger's
//! counters and the open status streams. Reads only; never changes what it reports on.

use std::collections::BTreeMap;
use std::fmt::Display;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::dokploy::breaker::BreakerState;
use crate::http::AppState;
use crate::http::route::Route;
use crate::projection::ListQuery;

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

/// Deployments by status, retries, and per phase the time spent and how often it finished.
struct Folded {
    by_status: [u64; 3],
    retries: u64,
    phases: BTreeMap<&'static str, (u64, u64)>,
}

fn fold(state: &AppState) -> Folded {
    let model = state.read_model.read();
    let all = ListQuery {
        limit: usize::MAX,
        ..ListQuery::default()
    };
    let mut folded = Folded {
        by_status: [0; 3],
        retries: 0,
        phases: BTreeMap::new(),
    };
    for deployment in model.list(&all) {
        folded.by_status[deployment.status as usize] += 1;
        folded.retries += u64::from(deployment.retries);
        for (phase, spent_ms) in &deployment.phase_durations {
            let entry = folded.phases.entry(phase.as_str()).or_default();
            entry.0 += spent_ms;
            entry.1 += 1;
        }
    }
    folded
}

async fn metrics(State(state): State<AppState>) -> Response {
    let folded = fold(&state);
    let mut out = Exposition::default();
    out.family("stackledger_deployments", "gauge", "Deployments by status.");
    for (status, count) in ["in_progress", "success", "failure"]
        .iter()
        .zip(folded.by_status)
    {
        out.sample(
            "stackledger_deployments",
            &format!("status=\"{status}\""),
            count,
        );
    }
    let phase_help = "Time deployments spent in each finished phase.";
    out.family("stackledger_phase_duration_seconds", "summary", phase_help);
    for (phase, (spent_ms, count)) in &folded.phases {
        let label = format!("phase=\"{phase}\"");
        out.sample(
            "stackledger_phase_duration_seconds_sum",
            &label,
            *spent_ms as f64 / 1000.0,
        )
        .sample("stackledger_phase_duration_seconds_count", &label, count);
    }
    let retries_help = "Dokploy call attempts that were retried.";
    out.family("stackledger_dokploy_retries_total", "counter", retries_help)
        .sample("stackledger_dokploy_retries_total", "", folded.retries);
    let (breaker, failures) = state.orchestrator.caller().breaker().snapshot();
    let open = u8::from(!matches!(breaker, BreakerState::Closed));
    let breaker_help = "1 while the Dokploy circuit breaker is open or half-open.";
    out.family("stackledger_breaker_open", "gauge", breaker_help)
        .sample("stackledger_breaker_open", "", open);
    let failures_help = "Consecutive Dokploy failures the breaker counts.";
    out.family(
        "stackledger_breaker_consecutive_failures",
        "gauge",
        failures_help,
    )
    .sample("stackledger_breaker_consecutive_failures", "", failures);
    let stats = state.ledger.stats();
    out.family(
        "stackledger_ledger_appends_total",
        "counter",
        "Events made durable since start.",
    )
    .sample("stackledger_ledger_appends_total", "", stats.events);
    out.family(
        "stackledger_ledger_syncs_total",
        "counter",
        "Batches made durable since start.",
    )
    .sample("stackledger_ledger_syncs_total", "", stats.batches);
    let sync_help = "Time spent making batches durable.";
    out.family(
        "stackledger_ledger_sync_seconds_total",
        "counter",
        sync_help,
    )
    .sample(
        "stackledger_ledger_sync_seconds_total",
        "",
        stats.flush_total.as_secs_f64(),
    );
    let last_help = "How long the last batch took to become durable.";
    out.family("stackledger_ledger_last_sync_seconds", "gauge", last_help)
        .sample(
            "stackledger_ledger_last_sync_seconds",
            "",
            stats.flush_last.as_secs_f64(),
        );
    out.family(
        "stackledger_sse_subscribers",
        "gauge",
        "Open status streams.",
    )
    .sample("stackledger_sse_subscribers", "", state.guards.sse_open());
    let content_type = [(header::CONTENT_TYPE, "text/plain; version=0.0.4")];
    (content_type, out.text).into_response()
}
