//! The rollback's verification: after its steps, every resource this deployment created is
//! looked up again (`domain.one`, `application.one`, `project.one`), and, when it created the
//! application, the stack's public health URL is probed once. What is still there is a
//! [`Leftover`] in words an operator can act on: a resource found, a lookup that failed (it
//! could not be checked), or a URL that still answers 2xx (a service still runs behind its
//! route). `RollbackVerified` records them all at once.
//!
//! What the lookups found is the run's memory (`RunMemory::verified`, folded from the call
//! events); a run that resumes verifies afresh. The events cannot tell Dokploy's resource 404
//! from a route 404, so a route 404 ends the verification at once, with what it has not
//! checked counted as left. A lookup here never deletes anything and is never a rollback step.

use crate::deployment::plan::rollback::{breaker_wait, caused, why_failed};
use crate::deployment::plan::{
    CallFailure, Executed, FailureClass, MESSAGE_BYTES_MAX, Settings, Step,
};
use crate::deployment::saga::{SagaState, Verdict};
use crate::deployment::{
    ApiAnswer, Event, Leftover, LeftoverKind, Request, ResourceId, ResourceKind, clip,
};
use crate::ids::Seq;

/// The next verification step, or the `RollbackVerified` that ends it.
pub(super) fn next(
    state: &SagaState,
    settings: &Settings,
    failure: Seq,
    executed: &Executed,
) -> Step {
    if let Executed::Called {
        request,
        result: Err(failed),
    } = executed
        && inspected(request).is_some()
    {
        if let Some(wait) = breaker_wait(failed) {
            return Step::Wait(wait);
        }
        if failed.class == FailureClass::NoRoute {
            return verified(ended_by_route_404(state, request, failed), failure);
        }
    }
    if let Some(request) = unverified(state).next().map(|(kind, id)| inspect(kind, id)) {
        return Step::call(request);
    }
    let mut leftovers = found(state, None);
    if created_application(state) {
        match executed {
            Executed::Probed(probe) => leftovers.extend(route(settings, &state.name, probe.status)),
            _ => {
                let url = settings.health_url_of(&state.name);
                return Step::Probe { url };
            }
        }
    }
    verified(leftovers, failure)
}

fn verified(leftovers: Vec<Leftover>, failure: Seq) -> Step {
    caused(Event::RollbackVerified { leftovers }, failure)
}

/// The created resources this run has not looked at yet, newest first.
fn unverified(state: &SagaState) -> impl Iterator<Item = (ResourceKind, ResourceId)> + '_ {
    state
        .created_to_undo()
        .rev()
        .filter(|(kind, _)| !state.run.verified.iter().any(|(seen, _)| seen == kind))
        .cloned()
}

fn inspect(kind: ResourceKind, id: ResourceId) -> Request {
    match kind {
        ResourceKind::Domain => Request::InspectDomain { domain_id: id },
        ResourceKind::Application => Request::InspectApplication { application_id: id },
        _ => Request::InspectProject { project_id: id },
    }
}

/// The kind a verification lookup looks at.
fn inspected(request: &Request) -> Option<ResourceKind> {
    match request {
        Request::InspectDomain { .. } => Some(ResourceKind::Domain),
        Request::InspectApplication { .. } => Some(ResourceKind::Application),
        Request::InspectProject { .. } => Some(ResourceKind::Project),
        _ => None,
    }
}

/// What the lookups of this run found (but for the kind `except`), in the order they were
/// made.
fn found(state: &SagaState, except: Option<ResourceKind>) -> Vec<Leftover> {
    state
        .run
        .verified
        .iter()
        .filter(|(kind, _)| Some(*kind) != except)
        .filter_map(|(kind, verdict)| {
            let (_, id) = state.created_to_undo().find(|(k, _)| k == kind)?;
            leftover(state, *kind, id, verdict)
        })
        .collect()
}

/// The leftovers when the lookup `request` met a route 404: what was checked before it, the
/// resource it looked at, and every one not checked yet.
fn ended_by_route_404(state: &SagaState, request: &Request, failed: &CallFailure) -> Vec<Leftover> {
    let kind = inspected(request);
    let mut leftovers = found(state, kind);
    let error = why_failed(request.procedure(), failed.class);
    leftovers.extend(state.created_to_undo().rev().filter_map(|(k, id)| {
        let checked = state.run.verified.iter().any(|(seen, _)| seen == k);
        let this = Some(*k) == kind;
        (this || !checked).then(|| unchecked(*k, id, &error))
    }));
    leftovers
}

/// A resource's leftover, if the lookup found it or could not tell.
fn leftover(
    state: &SagaState,
    kind: ResourceKind,
    id: &ResourceId,
    verdict: &Verdict,
) -> Option<Leftover> {
    let detail = match verdict {
        Verdict::Gone => return None,
        Verdict::Unchecked(status) => {
            let procedure = inspect(kind, id.clone()).procedure();
            let error = match status {
                Some(status) => format!("{procedure} failed with {status}"),
                None => format!("{procedure} got no answer"),
            };
            return Some(unchecked(kind, id, &error));
        }
        Verdict::Found(answer) => found_detail(state, kind, id, answer),
    };
    Some(Leftover {
        kind: leftover_kind(kind),
        id: Some(id.clone()),
        detail: clip(&detail, MESSAGE_BYTES_MAX),
    })
}

fn found_detail(
    state: &SagaState,
    kind: ResourceKind,
    id: &ResourceId,
    answer: &ApiAnswer,
) -> String {
    match answer {
        ApiAnswer::Application(Some(application)) => {
            let name = application.app_name.as_deref().unwrap_or(&state.name);
            format!("the application {name} ({id}) is still on Dokploy: delete it there")
        }
        ApiAnswer::ProjectServices(services) if !services.is_empty() => {
            let held: Vec<String> = services
                .iter()
                .map(|service| format!("{} {} ({})", service.kind, service.name, service.id))
                .collect();
            format!(
                "the project {} ({id}) is still on Dokploy and holds {}: remove it there once \
                 it holds nothing",
                state.name,
                held.join(", ")
            )
        }
        ApiAnswer::ProjectServices(_) => format!(
            "the project {} ({id}) is still on Dokploy (empty): remove it there",
            state.name
        ),
        _ => format!("the {kind} {id} is still on Dokploy: delete it there"),
    }
}

fn unchecked(kind: ResourceKind, id: &ResourceId, error: &str) -> Leftover {
    let detail = format!(
        "the {kind} {id} could not be checked ({error}; the details are in the audit log): look \
         it up in Dokploy and delete it if it is there"
    );
    Leftover {
        kind: leftover_kind(kind),
        id: Some(id.clone()),
        detail: clip(&detail, MESSAGE_BYTES_MAX),
    }
}

/// A public URL that still answers 2xx: a service still runs behind its route.
fn route(settings: &Settings, name: &str, status: Option<u16>) -> Option<Leftover> {
    let status = status.filter(|status| (200..300).contains(status))?;
    let detail = format!(
        "https://{} still answers {status}: a service is still running behind its route; find \
         it on the Dokploy server and remove it (it may have no row left in Dokploy)",
        settings.host(name)
    );
    Some(Leftover {
        kind: LeftoverKind::Route,
        id: None,
        detail,
    })
}

fn created_application(state: &SagaState) -> bool {
    state
        .created_to_undo()
        .any(|(kind, _)| *kind == ResourceKind::Application)
}

fn leftover_kind(kind: ResourceKind) -> LeftoverKind {
    match kind {
        ResourceKind::Project => LeftoverKind::Project,
        ResourceKind::Domain => LeftoverKind::Domain,
        _ => LeftoverKind::Application,
    }
}
