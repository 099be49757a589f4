//! Rollback as decisions: undo what this deployment created, in reverse order of creation,
//! and nothing it found; then verify what is left. First, every create whose answer was lost is
//! looked up, so that what it made is rolled back too. Then each created resource is deleted
//! under the guards of `undo.rs` (only Dokploy's resource 404 counts as gone; a running build
//! is waited out before its application is deleted; a project is removed only when verified
//! empty), and `verify.rs` looks everything up again and records the leftovers. A step that
//! fails or is skipped is recorded and the rollback goes on; while the breaker is open the
//! rollback waits for it, and is never dropped. The rollback is complete only when no step
//! failed or was skipped, no lookup failed and nothing is left. Every rollback event's `cause`
//! is the failure it undoes.
//!
//! Like the rest of the core this must never do I/O or read a clock; a step recorded in an
//! earlier run is never taken again.

#[cfg(test)]
pub(super) mod fake;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_verify;
mod undo;
mod verify;

use std::time::Duration;

use crate::deployment::plan::{
    CallFailure, Executed, FailureClass, MESSAGE_BYTES_MAX, Settings, Step,
};
use crate::deployment::request::AnswerExt;
use crate::deployment::saga::{SagaState, UNDONE, create_of};
use crate::deployment::{ApiAnswer, Event, Procedure, Request, ResourceId, ResourceKind, clip};
use crate::ids::Seq;

/// The shortest wait before asking an open breaker again.
pub(super) const BREAKER_WAIT_MIN: Duration = Duration::from_secs(1);

/// The kinds a deployment creates, in the order it creates them.
const CREATED: [ResourceKind; 3] = UNDONE;

/// The next rollback step after the failure recorded at `failure`, at `now_ms`.
pub(super) fn next(
    state: &SagaState,
    settings: &Settings,
    now_ms: i64,
    failure: Seq,
    executed: &Executed,
) -> Step {
    if let Some(step) = reconcile(state, settings, executed) {
        return step;
    }
    let Some(rollback) = state.rollback else {
        return caused(Event::RollbackStarted, failure);
    };
    if let Some(step) = undo::next(state, settings, now_ms, failure, executed) {
        return step;
    }
    if rollback.leftovers.is_none() {
        return verify::next(state, settings, failure, executed);
    }
    let complete = !state.run.lookup_failed
        && rollback.steps_failed == 0
        && rollback.steps_skipped == 0
        && rollback.leftovers == Some(0);
    caused(Event::RollbackFinished { complete }, failure)
}

/// Looks up, once per run, each kind whose create was sent but never answered, and records
/// what the lookup finds as created by this deployment. None when nothing is left to look up.
fn reconcile(state: &SagaState, settings: &Settings, executed: &Executed) -> Option<Step> {
    if let Executed::Called { request, result } = executed
        && let Some(kind) = looked_up(request)
    {
        match result {
            Ok(answer) => {
                if let Some(id) = found_id(kind, answer) {
                    return Some(Step::record(Event::ResourceCreated { kind, id }));
                }
            }
            Err(failure) => {
                if let Some(wait) = breaker_wait(failure) {
                    return Some(Step::Wait(wait));
                }
                // A failed lookup is in the ledger; the rollback goes on, not known complete.
            }
        }
    }
    CREATED
        .into_iter()
        .filter(|kind| {
            !state.looked_up(*kind)
                && !state.has(*kind)
                && create_of(*kind).is_some_and(|create| state.attempted(create))
        })
        .find_map(|kind| lookup(state, settings, kind))
        .map(Step::call)
}

/// The lookup that finds what the create of `kind` would have made, when the parent it needs
/// is known.
fn lookup(state: &SagaState, settings: &Settings, kind: ResourceKind) -> Option<Request> {
    let name = state.name.clone();
    match kind {
        ResourceKind::Project => Some(Request::FindProject { name }),
        ResourceKind::Application => {
            let environment_id = state.resources.environment.clone()?;
            Some(Request::FindApplication {
                environment_id,
                name,
            })
        }
        ResourceKind::Domain => {
            let application_id = state.resources.application.clone()?;
            let host = settings.host(&name);
            Some(Request::FindDomain {
                application_id,
                host,
            })
        }
        ResourceKind::Environment | ResourceKind::Deployment => None,
    }
}

/// The kind a reconciling lookup looks for.
fn looked_up(request: &Request) -> Option<ResourceKind> {
    match request {
        Request::FindProject { .. } => Some(ResourceKind::Project),
        Request::FindApplication { .. } => Some(ResourceKind::Application),
        Request::FindDomain { .. } => Some(ResourceKind::Domain),
        _ => None,
    }
}

fn found_id(kind: ResourceKind, answer: &ApiAnswer) -> Option<ResourceId> {
    let answer = answer.clone();
    match kind {
        ResourceKind::Project => answer
            .project(Procedure::ProjectAll)
            .ok()
            .flatten()
            .map(|project| project.project_id),
        ResourceKind::Application => answer
            .application(Procedure::EnvironmentOne)
            .ok()
            .flatten()
            .map(|application| application.application_id),
        ResourceKind::Domain => answer
            .domain(Procedure::DomainByApplicationId)
            .ok()
            .flatten(),
        ResourceKind::Environment | ResourceKind::Deployment => None,
    }
}

/// How long to wait before asking again, when the breaker refused the call.
fn breaker_wait(failure: &CallFailure) -> Option<Duration> {
    match failure.class {
        FailureClass::Unavailable { retry_in } => Some(retry_in.max(BREAKER_WAIT_MIN)),
        _ => None,
    }
}

/// The error a failed rollback step records: Dokploy's message, but a route 404 says in our
/// words why it is not "gone".
fn call_error(request: &Request, failure: &CallFailure) -> String {
    // Our words only: the step's error is shown in the public log; Dokploy's own (scrubbed)
    // text stays in the call's events, for the ops API and the audit page.
    clip(
        &why_failed(request.procedure(), failure.class),
        MESSAGE_BYTES_MAX,
    )
}

/// Why a call failed, in our words only (what reasons and leftovers say; Dokploy's own text is
/// in the call's events, for the ops API and the audit page).
fn why_failed(procedure: Procedure, class: FailureClass) -> String {
    match class {
        FailureClass::NoRoute => format!(
            "Dokploy answered 404 for {procedure} without naming it: the route is missing (a \
             wrong DOKPLOY_URL, a proxy in front of Dokploy, or a Dokploy version without \
             {procedure}), so nothing is counted as gone"
        ),
        FailureClass::Status { status } => format!("{procedure} failed with {status}"),
        FailureClass::Unauthorized => format!("Dokploy refused the API key for {procedure}"),
        FailureClass::Unreachable => format!("Dokploy did not answer {procedure}"),
        FailureClass::BadAnswer => format!("{procedure} answered what StackLedger cannot read"),
        FailureClass::Unavailable { .. } => {
            format!("{procedure} was not sent (circuit breaker open)")
        }
    }
}

/// The first step of a rollback step (the crash point between steps comes before it).
fn begin(request: Request) -> Step {
    Step::Call {
        request,
        rollback_step: true,
    }
}

fn caused(event: Event, failure: Seq) -> Step {
    Step::Record {
        event,
        cause: Some(failure),
    }
}
