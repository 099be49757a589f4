//! The rules that come before the forward phases and the rollback (issue 13): a recorded
//! cancel, a passed deadline and the recovery policy stop a deployment (it fails, and the
//! rollback undoes what it made); the admission queue holds a run until a running slot is its
//! own; an outage (the open breaker) makes a deployment wait at its step boundary instead of
//! failing, until its deadline.
//!
//! A stop takes effect at a step boundary: what the step just executed answered is recorded
//! first (a resource a call created is then undone by the rollback, no lookup needed), but no
//! new phase is entered and no new call is sent. Pure like the rest of the core: it must never
//! read a clock; the time is an argument.

use std::time::Duration;

use crate::deployment::plan::rollback::BREAKER_WAIT_MIN;
use crate::deployment::plan::{
    CallFailure, Executed, FailureClass, FailureCode, MESSAGE_BYTES_MAX, OutagePolicy,
    RecoveryPolicy, Settings, Step, elapsed, forward,
};
use crate::deployment::saga::{Cancel, SagaState};
use crate::deployment::{Event, EventKind, clip};
use crate::ids::Seq;

/// When the deployment's deadline passes (unix ms): as recorded when it was accepted, or, for
/// a deployment recorded before deadlines existed, the configured length from this run's start.
pub fn deadline_ms(state: &SagaState, settings: &Settings) -> i64 {
    state.deadline_at_ms.unwrap_or_else(|| {
        let length = i64::try_from(settings.deployment_deadline.as_millis()).unwrap_or(i64::MAX);
        state.run.started_ms.saturating_add(length)
    })
}

/// The failure that stops a deployment not yet failed (a cancel, the recovery policy, the
/// deadline), once the step just executed is recorded; None when it goes on.
pub(super) fn stop(
    state: &SagaState,
    settings: &Settings,
    now_ms: i64,
    executed: &Executed,
) -> Option<Step> {
    let (code, message, cause) = stop_reason(state, settings, now_ms)?;
    if let Some(step) = outcome_of(state, settings, now_ms, executed) {
        return Some(step);
    }
    Some(Step::Record {
        event: Event::DeploymentFailed {
            phase: state.phase,
            code: code.as_str().to_owned(),
            message: clip(&message, MESSAGE_BYTES_MAX),
        },
        cause,
    })
}

fn stop_reason(
    state: &SagaState,
    settings: &Settings,
    now_ms: i64,
) -> Option<(FailureCode, String, Option<Seq>)> {
    if let Some(cancel) = &state.cancel {
        return Some((FailureCode::Cancelled, cancelled(cancel), Some(cancel.seq)));
    }
    let recovering = state.last_event == EventKind::RecoveryStarted;
    if recovering && settings.recovery == RecoveryPolicy::Rollback {
        let message =
            "the server restarted during the deployment; the recovery policy rolls it back";
        return Some((FailureCode::Interrupted, message.to_owned(), None));
    }
    let deadline = deadline_ms(state, settings);
    (now_ms >= deadline).then(|| {
        let length = humantime::format_duration(settings.deployment_deadline);
        let length = match state.deadline_at_ms {
            Some(_) => "its deadline".to_owned(),
            None => format!("its deadline of {length} (counted from this run's start)"),
        };
        let at = crate::clock::rfc3339(deadline);
        let message = format!("the deployment passed {length}, at {at}; it is rolled back");
        (FailureCode::DeadlineExceeded, message, None)
    })
}

/// Who cancelled, in a sentence.
fn cancelled(cancel: &Cancel) -> String {
    let who = match cancel.by.strip_prefix("operator:") {
        Some(name) => format!("operator {name}"),
        None => "the person who started it".to_owned(),
    };
    match cancel.reason.trim() {
        "" => format!("cancelled by {who}"),
        reason => format!("cancelled by {who}: {reason}"),
    }
}

/// What the forward phases record of the step just executed (an answer, a probe), when that
/// is all they would do: never a new phase, a new call, a failure or the success.
fn outcome_of(
    state: &SagaState,
    settings: &Settings,
    now_ms: i64,
    executed: &Executed,
) -> Option<Step> {
    if let Executed::Admitted { waited_ms } = executed {
        // The running slot is the run's: it is recorded, so the rollback keeps it.
        return Some(Step::record(Event::AdmissionGranted {
            waited_ms: *waited_ms,
        }));
    }
    let answered = matches!(
        executed,
        Executed::Called { result: Ok(_), .. } | Executed::Probed(_)
    );
    if !answered || needs_admission(state) {
        return None;
    }
    match forward::next(state, settings, now_ms, executed) {
        step @ Step::Record { .. } => {
            let Step::Record { event, .. } = &step else {
                unreachable!("matched as a record");
            };
            let kept = !matches!(
                event,
                Event::PhaseEntered { .. }
                    | Event::DeploymentFailed { .. }
                    | Event::DeploymentSucceeded { .. }
                    | Event::HealthVerified { .. }
            );
            kept.then_some(step)
        }
        _ => None,
    }
}

/// Whether the run must hold a running slot before it goes on: every run does, except the
/// rollback of a deployment that never called Dokploy (it has nothing to undo, so a cancelled
/// deployment still in the queue ends at once).
pub(super) fn needs_admission(state: &SagaState) -> bool {
    state.run.admitted_ms.is_none() && (state.failure.is_none() || state.last_call > 0)
}

/// The way to a running slot: every new place in the queue is recorded, then the slot.
pub(super) fn admission(executed: &Executed) -> Step {
    match executed {
        Executed::Queued { ahead } => Step::record(Event::AdmissionWaiting { ahead: *ahead }),
        Executed::Admitted { waited_ms } => Step::record(Event::AdmissionGranted {
            waited_ms: *waited_ms,
        }),
        _ => Step::Admit,
    }
}

/// While the breaker is open (`--on-outage wait`): the first refused call of an outage records
/// `OutageWaiting`, then the run waits for the breaker (never past the deadline) and the
/// forward phase sends the call again. None when the step is not a refused call, or the policy
/// is to fail.
pub(super) fn outage(
    state: &SagaState,
    settings: &Settings,
    now_ms: i64,
    executed: &Executed,
) -> Option<Step> {
    let Executed::Called {
        result:
            Err(CallFailure {
                class: FailureClass::Unavailable { retry_in },
                ..
            }),
        ..
    } = executed
    else {
        return None;
    };
    if settings.on_outage == OutagePolicy::Fail {
        return None;
    }
    let deadline = deadline_ms(state, settings);
    if !state.run.outage_waiting {
        return Some(Step::record(Event::OutageWaiting {
            retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
            gives_up_at_ms: deadline,
        }));
    }
    let left = elapsed(now_ms, deadline);
    let wait: Duration = (*retry_in).max(BREAKER_WAIT_MIN).min(left);
    Some(Step::Wait(wait))
}
