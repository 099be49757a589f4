//! The waits of the forward phases as decisions. The deploy phase first takes one of the
//! portal's build slots (the portal never hands Dokploy more builds than it runs at once),
//! then queues the deploy under a title unique to the deployment and its attempt, and polls
//! `deployment.all` for that row. Dokploy shows no "queued" state: while the row is absent the
//! deploy waits in Dokploy's build queue, bounded by the queue timeout; once it appears
//! (`DeployStarted`) the build is bounded by the deploy timeout, until the row is final. A
//! deploy Dokploy lost (a restart cancels a running row and drops queued jobs) is queued again
//! once under a new title (`DeployRequeued`); a second loss fails the deployment. Then the
//! stack's health URL is polled until 200 or the health timeout. Every timeout counts from
//! when its wait began in this run (a resumed run waits afresh).
//!
//! A wait never runs past its timeout (when one more interval would, the phase fails or
//! re-queues instead), and a deploy row under another title is never taken for this
//! deployment's.

use std::time::Duration;

use crate::deployment::plan::forward::{bad_answer, enter, failed_call, missing};
use crate::deployment::plan::{
    Executed, FailureCode, MESSAGE_BYTES_MAX, Settings, Step, elapsed, fail, holds_build_slot,
};
use crate::deployment::request::AnswerExt;
use crate::deployment::saga::SagaState;
use crate::deployment::{
    ApiAnswer, DeployStatus, DeploymentRow, Event, EventKind, Phase, Procedure, Request,
    ResourceKind, clip,
};

/// Why a cancelled row is taken as lost: in Dokploy v0.30.2 only the startup sweep
/// (`utils/startup/cancel-deployments.ts`) marks a row `cancelled`.
pub(super) const CANCELLED_BY_RESTART: &str = "Dokploy restarted and cancelled the build";

/// Takes a build slot, queues the deploy under a title unique to this deployment and attempt,
/// then polls `deployment.all` for that row until it is final. None once the deploy is done.
pub(super) fn deploy(
    state: &SagaState,
    settings: &Settings,
    now_ms: i64,
    executed: &Executed,
) -> Option<Step> {
    let phase = Phase::Deploying;
    if let Some(finished) = &state.deploy_finished {
        let reported = match finished {
            Ok(DeployStatus::Done) => return None,
            Ok(status) => status.as_str(),
            Err(text) => text.as_str(),
        };
        let message = format!("Dokploy reported the deploy as {reported}");
        return Some(fail(phase, FailureCode::DeployFailed, message));
    }
    if let Some(step) = enter(state, phase) {
        return Some(step);
    }
    let Some(application_id) = state.resources.get(ResourceKind::Application).cloned() else {
        return Some(missing(phase, ResourceKind::Application));
    };
    if !holds_build_slot(state) {
        return Some(build_slot(executed));
    }
    let title = title_of(state);
    let queued = state
        .deploy_queued
        .as_ref()
        .filter(|(queued, _)| *queued == title);
    if queued.is_none() {
        // Sending the deploy again after a crash is safe: it redeploys the same image.
        return Some(match executed {
            Executed::Called {
                request: Request::Deploy { .. },
                result: Ok(_),
            } => Step::record(Event::DeployQueued { title }),
            Executed::Called {
                request,
                result: Err(f),
            } => failed_call(phase, request, f),
            _ => Step::call(Request::Deploy {
                application_id,
                title,
            }),
        });
    }
    Some(match executed {
        Executed::Called {
            request: Request::ListDeployments { .. },
            result: Ok(answer),
        } => polled(state, settings, &title, answer, now_ms),
        Executed::Called {
            request,
            result: Err(f),
        } => failed_call(phase, request, f),
        _ => Step::call(Request::ListDeployments { application_id }),
    })
}

/// The way to a build slot: every new place in line is recorded, then the slot.
fn build_slot(executed: &Executed) -> Step {
    match executed {
        Executed::InLine { ahead } => Step::record(Event::BuildSlotWaiting { ahead: *ahead }),
        Executed::SlotAcquired { waited_ms } => Step::record(Event::BuildSlotAcquired {
            waited_ms: *waited_ms,
        }),
        _ => Step::AcquireBuildSlot,
    }
}

/// The title of the current attempt: `stackledger <id>`, then `stackledger <id> (2)` after a
/// re-queue (a new title, so that the lost attempt's row is never taken for the new one).
pub(in crate::deployment::plan) fn title_of(state: &SagaState) -> String {
    match state.requeued {
        0 => format!("stackledger {}", state.id),
        n => format!("stackledger {} ({})", state.id, n + 1),
    }
}

/// What one answer of `deployment.all` decides for the deploy titled `title`.
fn polled(
    state: &SagaState,
    settings: &Settings,
    title: &str,
    answer: &ApiAnswer,
    now_ms: i64,
) -> Step {
    let rows = match answer.clone().deployments(Procedure::DeploymentAll) {
        Ok(rows) => rows,
        Err(mismatch) => return bad_answer(Phase::Deploying, &mismatch),
    };
    let row = rows.iter().find(|row| row.title == title);
    let queued_ms = state.deploy_queued.as_ref().map_or(now_ms, |(_, at)| *at);
    // A wait of this run counts from when it began in this run, at the earliest from the slot.
    let run_since = state.run.build_slot_ms.unwrap_or(state.run.started_ms);
    match (state.deploy_started, row) {
        (None, None) => in_queue(state, settings, elapsed(queued_ms.max(run_since), now_ms)),
        (None, Some(row)) => {
            let waited = elapsed(queued_ms, now_ms);
            Step::record(Event::DeployStarted {
                deployment_id: row.deployment_id.clone(),
                queued_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            })
        }
        (Some(started_ms), row) => {
            let status = row.and_then(DeploymentRow::deploy_status);
            let waited = elapsed(started_ms.max(run_since), now_ms);
            building(state, settings, status, waited)
        }
    }
}

/// The deploy has no row yet, `waited` into this run's wait: it is in Dokploy's build queue.
fn in_queue(state: &SagaState, settings: &Settings, waited: Duration) -> Step {
    let interval = settings.deploy_poll_interval.get();
    if waited + interval <= settings.deploy_queue_timeout {
        return Step::Wait(interval);
    }
    let limit = humantime::format_duration(settings.deploy_queue_timeout);
    if state.requeued == 0 {
        let reason =
            format!("no build started within {limit}; a Dokploy restart drops queued builds");
        return Step::record(Event::DeployRequeued { reason });
    }
    let message =
        format!("Dokploy did not start the build within {limit}, also after queueing it again");
    fail(Phase::Deploying, FailureCode::DeployQueueTimeout, message)
}

/// The build runs (its row appeared), `waited` into this run's wait; `status` is the row's.
fn building(
    state: &SagaState,
    settings: &Settings,
    status: Option<DeployStatus>,
    waited: Duration,
) -> Step {
    match status {
        Some(DeployStatus::Cancelled) if state.requeued == 0 => {
            return Step::record(Event::DeployRequeued {
                reason: CANCELLED_BY_RESTART.to_owned(),
            });
        }
        Some(status) if status.is_final() => {
            return Step::record(Event::DeployFinished {
                dokploy_status: status.as_str().to_owned(),
            });
        }
        _ => {}
    }
    let interval = settings.deploy_poll_interval.get();
    if waited + interval > settings.deploy_timeout {
        let message = format!(
            "Dokploy did not finish the deploy within {}",
            humantime::format_duration(settings.deploy_timeout)
        );
        return fail(Phase::Deploying, FailureCode::DeployTimeout, message);
    }
    Step::Wait(interval)
}

/// Polls the stack's health URL until 200 or the health timeout, then records success.
pub(super) fn health(
    state: &SagaState,
    settings: &Settings,
    now_ms: i64,
    executed: &Executed,
) -> Step {
    let phase = Phase::VerifyingHealth;
    if let Some(step) = enter(state, phase) {
        return step;
    }
    let url = settings.health_url_of(&state.name);
    let since = state
        .health_entered_ms
        .unwrap_or(state.run.started_ms)
        .max(state.run.started_ms);
    let waited = elapsed(since, now_ms);
    match (executed, state.last_event) {
        (Executed::Probed(probe), _) => Step::record(Event::HealthCheckAttempt {
            n: state.health_polls + 1,
            status: probe.status,
            error: probe.error.as_deref().map(|e| clip(e, MESSAGE_BYTES_MAX)),
            duration_ms: probe.duration_ms,
        }),
        (Executed::Recorded, EventKind::HealthCheckAttempt) => {
            if state.last_health == Some(200) {
                let after_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
                return Step::record(Event::HealthVerified { after_ms });
            }
            if waited + settings.health_interval.get() > settings.health_timeout {
                let message = format!(
                    "{url} did not answer 200 within {}",
                    humantime::format_duration(settings.health_timeout)
                );
                return fail(phase, FailureCode::HealthTimeout, message);
            }
            Step::Wait(settings.health_interval.get())
        }
        (Executed::Recorded, EventKind::HealthVerified) => {
            let url = format!("https://{}", settings.host(&state.name));
            Step::record(Event::DeploymentSucceeded { url })
        }
        _ => Step::Probe { url },
    }
}
