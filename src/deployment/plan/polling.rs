//! The waits of the forward phases as decisions: the deploy is queued under a title unique
//! to the deployment and `deployment.all` polled for that row until it is final or the deploy
//! timeout passes; then the stack's health URL is polled until 200 or the health timeout. Both
//! timeouts count from when the wait began in this run (a resumed run waits afresh).
//!
//! A wait never runs past its timeout (when one more interval would, the phase fails instead),
//! and a deploy row under another title is never taken for this deployment's.

use std::time::Duration;

use crate::deployment::plan::forward::{bad_answer, enter, failed_call, missing};
use crate::deployment::plan::{
    Executed, FailureCode, MESSAGE_BYTES_MAX, Settings, Step, elapsed, fail,
};
use crate::deployment::request::AnswerExt;
use crate::deployment::saga::SagaState;
use crate::deployment::{
    ApiAnswer, DeployStatus, DeploymentRow, Event, EventKind, Phase, Procedure, Request,
    ResourceKind, clip,
};

/// Queues a deploy under a title unique to this deployment, then polls `deployment.all` for
/// that row until it is final or the deploy timeout passes. None once the deploy is done.
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
    let Some((title, queued_ms)) = &state.deploy_queued else {
        // Sending the deploy again after a crash is safe: it redeploys the same image.
        let title = format!("stackledger {}", state.id);
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
    };
    Some(match executed {
        Executed::Called {
            request: Request::ListDeployments { .. },
            result: Ok(answer),
        } => {
            let since = (*queued_ms).max(state.run.started_ms);
            polled(settings, title, answer, elapsed(since, now_ms))
        }
        Executed::Called {
            request,
            result: Err(f),
        } => failed_call(phase, request, f),
        _ => Step::call(Request::ListDeployments { application_id }),
    })
}

/// What one answer of `deployment.all` decides, `waited` into the wait.
fn polled(settings: &Settings, title: &str, answer: &ApiAnswer, waited: Duration) -> Step {
    let phase = Phase::Deploying;
    let rows = match answer.clone().deployments(Procedure::DeploymentAll) {
        Ok(rows) => rows,
        Err(mismatch) => return bad_answer(phase, &mismatch),
    };
    let status = rows
        .iter()
        .find(|row| row.title == title)
        .and_then(DeploymentRow::deploy_status);
    if let Some(status) = status.filter(|status| status.is_final()) {
        return Step::record(Event::DeployFinished {
            dokploy_status: status.as_str().to_owned(),
        });
    }
    let interval = settings.deploy_poll_interval.get();
    if waited + interval > settings.deploy_timeout {
        let message = format!(
            "Dokploy did not finish the deploy within {}",
            humantime::format_duration(settings.deploy_timeout)
        );
        return fail(phase, FailureCode::DeployTimeout, message);
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
