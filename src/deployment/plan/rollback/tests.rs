//! The rollback's guards as given(events) / when(the step just executed, or a scripted Dokploy
//! to the end) / then(the next step, the events recorded, what was sent). The verification's
//! tests are in `tests_verify.rs`.

use crate::deployment::ResourceKind;
use crate::deployment::plan::fixtures::*;
use crate::deployment::plan::rollback::fake::RollbackDokploy;
use crate::deployment::plan::tests_rollback::{delete, failed, failure_seq, undo_step};
use crate::deployment::plan::{CallFailure, Executed, FailureClass, Outcome, Step, next};
use crate::deployment::{
    ApiAnswer, Event, EventKind, Leftover, LeftoverKind, Phase, Procedure, Request,
};
use crate::ids::Seq;

use ResourceKind::{Application, Domain, Project};

/// A deployment whose deploy timed out (its build's end unknown), rolled back up to its
/// application: the domain is deleted.
pub(super) fn timed_out_at_the_application() -> History {
    given(queued()).then(
        0,
        [
            failed(Phase::Deploying, "deploy_timeout"),
            Event::RollbackStarted,
            Event::RollbackStepSucceeded {
                kind: Domain,
                id: rid("dom1"),
            },
        ],
    )
}

/// A deployment whose deploy Dokploy reported as `error` (its build is over).
pub(super) fn deploy_failed() -> History {
    let mut events = queued();
    events.push(Event::DeployFinished {
        dokploy_status: "error".into(),
    });
    given(events).then(0, [failed(Phase::Deploying, "deploy_failed")])
}

pub(super) fn boom(status: u16) -> CallFailure {
    CallFailure {
        class: FailureClass::Status { status },
        message: format!("Dokploy answered {status}: boom"),
    }
}

pub(super) fn no_route() -> CallFailure {
    CallFailure {
        class: FailureClass::NoRoute,
        message: "404 Not found".into(),
    }
}

pub(super) fn skipped(events: &[Event]) -> Vec<(ResourceKind, String)> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::RollbackStepSkipped { kind, reason, .. } => Some((*kind, reason.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn leftovers(events: &[Event]) -> Vec<Leftover> {
    let verified: Vec<&Vec<Leftover>> = events
        .iter()
        .filter_map(|event| match event {
            Event::RollbackVerified { leftovers } => Some(leftovers),
            _ => None,
        })
        .collect();
    assert_eq!(verified.len(), 1, "one verification: {events:#?}");
    verified[0].clone()
}

pub(super) fn leftover_kinds(events: &[Event]) -> Vec<LeftoverKind> {
    leftovers(events).iter().map(|l| l.kind).collect()
}

pub(super) fn sent(received: &[Request], wanted: fn(&Request) -> bool) -> usize {
    received.iter().filter(|request| wanted(request)).count()
}

pub(super) fn is_remove(request: &Request) -> bool {
    matches!(request, Request::RemoveProject { .. })
}

pub(super) fn call(request: Request) -> Step {
    Step::Call {
        request,
        rollback_step: false,
    }
}

#[test]
fn a_failed_application_delete_keeps_the_project_and_leaves_the_rollback_incomplete() {
    let mut dokploy = RollbackDokploy::default();
    let (events, end) = run_to_end(
        deploy_failed().live(),
        &settings(),
        |request| match request {
            Some(Request::DeleteApplication { .. }) => Err(boom(500)),
            other => dokploy.answer(other),
        },
    );
    assert_eq!(
        sent(&dokploy.received, is_remove),
        0,
        "never project.remove"
    );
    let skips = skipped(&events);
    assert_eq!(skips.len(), 1, "{skips:?}");
    assert_eq!(skips[0].0, Project);
    assert!(
        skips[0].1.contains("application app1 was not deleted"),
        "{}",
        skips[0].1
    );
    assert_eq!(
        leftover_kinds(&events),
        vec![
            LeftoverKind::Application,
            LeftoverKind::Project,
            LeftoverKind::Route
        ],
        "the application and project rows, and the service still answering"
    );
    assert_eq!(end, Step::Finish(Outcome::RolledBack { complete: false }));
}

#[test]
fn a_project_is_removed_only_when_a_fresh_look_shows_it_empty() {
    let cases: [(&str, &[&'static str], usize, Option<&str>); 2] = [
        ("empty once ours is deleted", &["app1"], 1, None),
        (
            "it holds another service",
            &["app1", "app7"],
            0,
            Some("the project still holds application app7-name (app7)"),
        ),
    ];
    for (name, holds, removes, reason) in cases {
        let mut dokploy = RollbackDokploy::holding(holds);
        let (events, end) = run_to_end(deploy_failed().live(), &settings(), |r| dokploy.answer(r));
        let received = &dokploy.received;
        assert_eq!(sent(received, is_remove), removes, "{name}");
        let inspected = received
            .iter()
            .position(|r| matches!(r, Request::InspectProject { .. }));
        let deleted_app = received
            .iter()
            .position(|r| matches!(r, Request::DeleteApplication { .. }));
        assert!(inspected > deleted_app, "{name}: looked at after ours went");
        let skips = skipped(&events);
        match reason {
            None => assert_eq!(skips, vec![], "{name}"),
            Some(reason) => assert!(skips[0].1.starts_with(reason), "{name}: {skips:?}"),
        }
        let complete = reason.is_none();
        assert_eq!(
            end,
            Step::Finish(Outcome::RolledBack { complete }),
            "{name}"
        );
    }
}

#[test]
fn only_a_resource_404_counts_as_gone_and_a_route_404_names_its_likely_cause() {
    let started = deploy_failed().then(0, [Event::RollbackStarted]).live();
    let cause = failure_seq(&started);
    let step = next(
        &started,
        &settings(),
        T0,
        &refused(delete(Domain, "dom1"), FailureClass::NoRoute),
    );
    let Step::Record {
        event: Event::RollbackStepFailed { kind, error, .. },
        cause: Some(seq),
    } = step
    else {
        panic!("a route 404 is a failed step, not a deletion: {step:?}");
    };
    assert_eq!((kind, seq), (Domain, Seq(cause)));
    assert!(
        error.contains(Procedure::DomainDelete.name()) && error.contains("DOKPLOY_URL"),
        "{error}"
    );
    let gone = next(
        &started,
        &settings(),
        T0,
        &refused(delete(Domain, "dom1"), FailureClass::Status { status: 404 }),
    );
    let deleted = Event::RollbackStepSucceeded {
        kind: Domain,
        id: rid("dom1"),
    };
    assert_eq!(gone, record_caused(deleted, cause));
}

#[test]
fn a_route_404_never_lets_a_project_count_as_gone_or_be_removed_blind() {
    let at_project = deploy_failed()
        .then(
            0,
            [
                Event::RollbackStarted,
                succeeded(Domain, "dom1"),
                succeeded(Application, "app1"),
            ],
        )
        .live();
    let inspect = Request::InspectProject {
        project_id: rid("prj1"),
    };
    let cases = [
        (
            "a resource 404: the project is gone already",
            refused(inspect.clone(), FailureClass::Status { status: 404 }),
            Some(EventKind::RollbackStepSucceeded),
        ),
        (
            "a route 404: not gone, and not removed blind",
            refused(inspect.clone(), FailureClass::NoRoute),
            Some(EventKind::RollbackStepSkipped),
        ),
        (
            "a route 404 on the removal: failed",
            refused(delete(Project, "prj1"), FailureClass::NoRoute),
            Some(EventKind::RollbackStepFailed),
        ),
    ];
    for (name, executed, expected) in cases {
        let step = next(&at_project, &settings(), T0, &executed);
        let kind = match &step {
            Step::Record { event, .. } => Some(event.kind()),
            _ => None,
        };
        assert_eq!(kind, expected, "{name}: {step:?}");
    }
}

/// The Dokploy of [`RollbackDokploy`] after the rollback's three deletes.
pub(super) fn all_deleted() -> RollbackDokploy {
    RollbackDokploy {
        deleted: vec![
            delete(Domain, "dom1"),
            delete(Application, "app1"),
            delete(Project, "prj1"),
        ],
        ..RollbackDokploy::default()
    }
}

pub(super) fn succeeded(kind: ResourceKind, id: &str) -> Event {
    Event::RollbackStepSucceeded { kind, id: rid(id) }
}

pub(super) fn running() -> ApiAnswer {
    rows(&title(), "running")
}

#[test]
fn a_running_build_is_waited_out_before_its_application_is_deleted() {
    let state = timed_out_at_the_application().live();
    let cause = failure_seq(&state);
    let poll = Step::Call {
        request: list(),
        rollback_step: true,
    };
    let done = Event::DeployFinished {
        dokploy_status: "done".into(),
    };
    let queued_elsewhere = ApiAnswer::Deployments(vec![]);
    after(
        &state,
        T0,
        vec![
            (Executed::Recorded, poll, "look at the build first"),
            (
                answered(list(), running()),
                Step::Wait(secs(2)),
                "running: wait",
            ),
            (Executed::Waited, call(list()), "then look again"),
            (
                answered(list(), rows(&title(), "done")),
                record_caused(done, cause),
                "over: recorded",
            ),
            (
                answered(list(), queued_elsewhere),
                call(delete(Application, "app1")),
                "no row yet and none running: still queued, and the delete drops it",
            ),
            (
                answered(list(), rows("another title", "running")),
                Step::Wait(secs(2)),
                "another build of it runs: wait",
            ),
        ],
    );
    let mut finished = state.clone();
    let done = Event::DeployFinished {
        dokploy_status: "done".into(),
    };
    finished.apply(Seq(200), T0, &done);
    assert_eq!(
        next(&finished, &settings(), T0, &Executed::Recorded),
        undo_step(Application, "app1"),
        "the build is over: delete"
    );
}

#[test]
fn a_build_running_past_the_bound_keeps_the_application_and_the_project() {
    let mut polls = 0;
    let mut dokploy = RollbackDokploy::default();
    let (events, end) = run_to_end(
        timed_out_at_the_application().live(),
        &settings(),
        |request| match request {
            Some(Request::ListDeployments { .. }) => {
                polls += 1;
                Ok(running())
            }
            other => dokploy.answer(other),
        },
    );
    let wait = settings().rollback_build_wait;
    let interval = settings().deploy_poll_interval.get();
    assert_eq!(
        polls,
        (wait.as_secs() / interval.as_secs()) as usize + 1,
        "at 0, 2, …, 600 s: every poll interval until one more would pass the bound"
    );
    let deletes = dokploy
        .received
        .iter()
        .filter(|r| matches!(r, Request::DeleteApplication { .. }) || is_remove(r))
        .count();
    assert_eq!(deletes, 0, "neither the application nor the project");
    let skips = skipped(&events);
    let kinds: Vec<ResourceKind> = skips.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds, vec![Application, Project]);
    assert!(
        skips[0]
            .1
            .starts_with("its build was still running after 10m"),
        "{}",
        skips[0].1
    );
    assert!(skips[0].1.contains("once the build ends"), "{}", skips[0].1);
    assert_eq!(end, Step::Finish(Outcome::RolledBack { complete: false }));
}

#[test]
fn a_running_build_then_done_is_deleted_after_its_end_is_recorded() {
    let mut polls = 0;
    let mut dokploy = RollbackDokploy::default();
    let (events, end) = run_to_end(
        timed_out_at_the_application().live(),
        &settings(),
        |request| match request {
            Some(Request::ListDeployments { .. }) => {
                polls += 1;
                Ok(if polls < 4 {
                    running()
                } else {
                    rows(&title(), "done")
                })
            }
            other => dokploy.answer(other),
        },
    );
    let finished = events
        .iter()
        .position(|e| e.kind() == EventKind::DeployFinished);
    let deleted = events.iter().position(
        |e| matches!(e, Event::RollbackStepSucceeded { kind, .. } if *kind == Application),
    );
    assert!(finished.is_some() && finished < deleted, "{events:#?}");
    assert_eq!(polls, 4);
    assert_eq!(leftovers(&events), vec![]);
    assert_eq!(end, Step::Finish(Outcome::RolledBack { complete: true }));
}

#[test]
fn our_final_row_is_not_the_end_while_another_build_of_the_application_still_runs() {
    // A re-queued deploy whose answer was lost runs under a title the ledger may not hold.
    let mut polls = 0;
    let mut dokploy = RollbackDokploy::default();
    let other = |status: &str| crate::deployment::DeploymentRow {
        deployment_id: rid("row2"),
        title: "stackledger other".to_owned(),
        status: status.to_owned(),
    };
    let (events, end) = run_to_end(
        timed_out_at_the_application().live(),
        &settings(),
        |request| match request {
            Some(Request::ListDeployments { .. }) => {
                polls += 1;
                let mut listed = vec![other(if polls < 3 { "running" } else { "done" })];
                if let ApiAnswer::Deployments(ours) = rows(&title(), "cancelled") {
                    listed.extend(ours);
                }
                Ok(ApiAnswer::Deployments(listed))
            }
            other => dokploy.answer(other),
        },
    );
    assert_eq!(polls, 3, "waited until no build of the application runs");
    let finished = events
        .iter()
        .position(|e| e.kind() == EventKind::DeployFinished);
    let deleted = events.iter().position(
        |e| matches!(e, Event::RollbackStepSucceeded { kind, .. } if *kind == Application),
    );
    assert!(finished.is_some() && finished < deleted, "{events:#?}");
    assert_eq!(end, Step::Finish(Outcome::RolledBack { complete: true }));
}
