//! `redrive ID`: the current orchestrator against the deployment's recorded Dokploy answers
//! (never the network), in virtual time, and the first point where its calls or decisions
//! differ from the recorded ones.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;
use stackledger::clock::{Clock, ManualClock};
use stackledger::deployment::plan;
use stackledger::deployment::{Event, Procedure};
use stackledger::dokploy::recorded::RecordedDokploy;
use stackledger::ids::{DeploymentId, IdGen, Seq};
use stackledger::ledger::envelope::Envelope;
use stackledger::ledger::error::LedgerError;
use stackledger::ledger::{Ledger, LedgerOptions, MemoryStore};
use stackledger::orchestrator::{NonZeroDuration, Orchestrator, Outcome, Settings};
use stackledger::projection::LiveReadModel;

/// Always the same id: the redriven deployment keeps the recorded one (its deploy title too).
struct SameId(DeploymentId);

impl IdGen for SameId {
    fn deployment_id(&self) -> DeploymentId {
        self.0
    }
}

/// What to redrive with.
pub(crate) struct Redrive<'a> {
    pub(crate) events: &'a [Envelope],
    pub(crate) id: DeploymentId,
    pub(crate) overrides: &'a [String],
    pub(crate) health_timeout: Duration,
    pub(crate) health_interval: Duration,
}

/// The result: the new outcome, and the first difference (recorded index, recorded, redriven).
pub(crate) struct Redriven {
    pub(crate) outcome: Outcome,
    pub(crate) divergence: Option<(usize, Option<String>, Option<String>)>,
    pub(crate) events: usize,
}

pub(crate) fn run(redrive: &Redrive<'_>) -> anyhow::Result<Redriven> {
    let own = own_events(redrive.events, redrive.id);
    let Some(Event::DeploymentRequested {
        name,
        image,
        domain,
        port,
        client,
        ..
    }) = own.first().map(|e| e.event.clone())
    else {
        bail!("no deployment {} in this log", redrive.id);
    };
    let api = Arc::new(RecordedDokploy::from_events(&own));
    apply_overrides(&api, redrive.overrides)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let clock = ManualClock::new(own[0].at);
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let read_model = LiveReadModel::new();
        let ledger = scratch_ledger(&clock, &read_model)?;
        let suffix = domain
            .strip_prefix(&format!("{name}."))
            .unwrap_or(&domain)
            .to_owned();
        let plan = plan::Settings {
            image,
            domain_suffix: suffix,
            port,
            health_url: "recorded://{name}/health".to_owned(),
            health_timeout: redrive.health_timeout,
            health_interval: NonZeroDuration::new(redrive.health_interval)
                .context("--health-interval must be more than 0s")?,
            deployment_deadline: recorded_deadline(&own),
            ..plan::Settings::default()
        };
        let settings = Settings {
            plan,
            ..Settings::default()
        };
        let orchestrator = Orchestrator::builder(Arc::clone(&api), ledger.clone(), clock)
            .ids(Arc::new(SameId(redrive.id)))
            .settings(settings)
            .jitter_seed(1)
            .build();
        let started = orchestrator.deploy(&name, &client).await?;
        let outcome = started.task.await??;
        let new = ledger.read_stream(redrive.id, Seq::ZERO, usize::MAX)?;
        ledger.shutdown().await;
        anyhow::Ok((outcome, new))
    });
    let (outcome, new) = result?;
    Ok(Redriven {
        outcome,
        divergence: first_divergence(&own, &new),
        events: new.len(),
    })
}

/// The deadline the deployment was accepted with; a deployment recorded before deadlines
/// existed had none, so its redrive gets one it never reaches (a year of virtual time).
fn recorded_deadline(own: &[Envelope]) -> Duration {
    own.iter()
        .find_map(|envelope| match envelope.event {
            Event::DeploymentAccepted { deadline_ms, .. } => {
                Some(Duration::from_millis(deadline_ms))
            }
            _ => None,
        })
        .unwrap_or(Duration::from_secs(365 * 24 * 3_600))
}

/// The events of deployment `id`, in order.
fn own_events(events: &[Envelope], id: DeploymentId) -> Vec<Envelope> {
    events.iter().filter(|e| e.stream == id).cloned().collect()
}

/// A scratch ledger in memory: the redriven run is compared, never kept.
fn scratch_ledger(
    clock: &Arc<dyn Clock>,
    read_model: &LiveReadModel,
) -> Result<Ledger, LedgerError> {
    let store = Arc::new(MemoryStore::new());
    let projector = Arc::new(read_model.clone());
    Ledger::open_with(
        store,
        Arc::clone(clock),
        projector,
        LedgerOptions::default(),
    )
}

/// Answers the recorded calls named by `--override CALL=STATUS` with that status instead.
fn apply_overrides(api: &RecordedDokploy, overrides: &[String]) -> anyhow::Result<()> {
    for spec in overrides {
        let (call, status) = spec
            .split_once('=')
            .and_then(|(call, status)| {
                Some((call.parse::<u32>().ok()?, status.parse::<u16>().ok()?))
            })
            .with_context(|| {
                format!("--override takes CALL=STATUS (for example 7=503), not {spec:?}")
            })?;
        if !api.override_call(call, status) {
            bail!(
                "--override {spec}: the recording has no call {call}, or {status} is not an error status"
            );
        }
    }
    Ok(())
}

/// The first decision where the redriven run differs: (index, recorded, redriven).
fn first_divergence(
    recorded: &[Envelope],
    redriven: &[Envelope],
) -> Option<(usize, Option<String>, Option<String>)> {
    let recorded: Vec<String> = recorded.iter().filter_map(signature).collect();
    let redriven: Vec<String> = redriven.iter().filter_map(signature).collect();
    (0..recorded.len().max(redriven.len()))
        .find(|&i| recorded.get(i) != redriven.get(i))
        .map(|i| (i, recorded.get(i).cloned(), redriven.get(i).cloned()))
}

/// What a decision looks like, without times, durations and the jitter of retry delays.
fn signature(envelope: &Envelope) -> Option<String> {
    Some(match &envelope.event {
        Event::RecoveryStarted { .. } => return None,
        Event::ApiCallStarted {
            attempt,
            method,
            endpoint,
            ..
        } => {
            // The project lookup was recorded as `project.all` before it became
            // `project.search`: the same decision.
            let endpoint = if endpoint == Procedure::ProjectAll.name() {
                Procedure::ProjectSearch.name()
            } else {
                endpoint.as_str()
            };
            format!("call {} {endpoint} (attempt {attempt})", method.as_str())
        }
        Event::ApiCallSucceeded {
            attempt,
            status,
            answer,
            ..
        } => {
            format!("answered {status} (attempt {attempt}): {}", json!(answer))
        }
        Event::ApiCallFailed {
            attempt,
            status,
            retry_in_ms,
            ..
        } => {
            let then = if retry_in_ms.is_some() {
                "retry"
            } else {
                "give up"
            };
            format!("failed {status:?} (attempt {attempt}), {then}")
        }
        Event::HealthCheckAttempt { n, status, .. } => format!("health poll {n}: {status:?}"),
        Event::HealthVerified { .. } => "healthy".to_owned(),
        // The portal's line depends on the other deployments of the time, which a redrive of
        // one deployment does not have: only taking the slot is a decision of its own.
        Event::BuildSlotWaiting { .. } => return None,
        // The terms carry the time of the request and a fresh capability; the admission queue,
        // like the build line, depends on the other deployments of the time.
        Event::DeploymentAccepted { .. }
        | Event::AdmissionWaiting { .. }
        | Event::AdmissionGranted { .. }
        | Event::OutageWaiting { .. } => return None,
        Event::BuildSlotAcquired { .. } => "build slot acquired".to_owned(),
        Event::DeployStarted { deployment_id, .. } => format!("build started as {deployment_id}"),
        other => json!(other).to_string(),
    })
}

/// Prints the result; true when there is a divergence.
pub(crate) fn report(
    redriven: &Redriven,
    json_output: bool,
    out: &mut impl std::io::Write,
) -> anyhow::Result<bool> {
    let outcome = match &redriven.outcome {
        Outcome::Succeeded(url) => format!("succeeded at {url}"),
        Outcome::RolledBack { complete } => format!(
            "failed, rollback {}",
            if *complete { "complete" } else { "partial" }
        ),
    };
    if json_output {
        let divergence = redriven.divergence.as_ref().map(|(index, recorded, redriven)| {
            json!({"index": index, "recorded": recorded, "redriven": redriven})
        });
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(
                &json!({"outcome": outcome, "events": redriven.events, "divergence": divergence})
            )?
        )?;
    } else {
        writeln!(
            out,
            "redriven outcome: {outcome} ({} events)",
            redriven.events
        )?;
        match &redriven.divergence {
            None => writeln!(out, "no divergence")?,
            Some((index, recorded, new)) => {
                writeln!(out, "first divergence at event {}:", index + 1)?;
                writeln!(
                    out,
                    "  recorded: {}",
                    recorded.as_deref().unwrap_or("(nothing more)")
                )?;
                writeln!(
                    out,
                    "  redriven: {}",
                    new.as_deref().unwrap_or("(nothing more)")
                )?;
            }
        }
    }
    Ok(redriven.divergence.is_some())
}
