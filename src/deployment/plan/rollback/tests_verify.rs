//! The rollback's verification as given(events) / when(the step just executed, or a scripted
//! Dokploy to the end) / then(the leftovers recorded and how the rollback ends), and a rollback
//! resumed in the middle of it.

use std::time::Duration;

use crate::deployment::plan::fixtures::*;
use crate::deployment::plan::rollback::fake::{RollbackDokploy, not_found};
use crate::deployment::plan::rollback::tests::{
    all_deleted, boom, call, deploy_failed, is_remove, leftovers, no_route, running, succeeded,
    timed_out_at_the_application,
};
use crate::deployment::plan::tests_rollback::{failure_seq, recovery};
use crate::deployment::plan::{CallFailure, Executed, FailureClass, Outcome, Step, next};
use crate::deployment::{ApiAnswer, Event, Leftover, LeftoverKind, Procedure, Request};
use crate::deployment::{ResourceKind, ServiceRef};
use crate::ids::Seq;

use ResourceKind::{Application, Domain, Project};

/// A Dokploy that answers every delete but keeps what `keeps` says, and answers health with
/// `health`.
fn keeping(
    keeps: fn(&Request) -> Option<Result<ApiAnswer, CallFailure>>,
    health: bool,
) -> impl FnMut(Option<&Request>) -> Result<ApiAnswer, CallFailure> {
    let mut dokploy = RollbackDokploy::default();
    move |request| match request {
        None if health => Ok(ApiAnswer::Empty),
        None => Err(not_found()),
        Some(request) => keeps(request).unwrap_or_else(|| dokploy.answer(Some(request))),
    }
}

#[test]
fn the_verification_records_each_kind_left_and_only_nothing_left_is_complete() {
    type Keeps = fn(&Request) -> Option<Result<ApiAnswer, CallFailure>>;
    let cases: [(&str, Keeps, bool, Vec<LeftoverKind>, &str); 5] = [
        ("nothing left", |_| None, false, vec![], ""),
        (
            "the domain is still there",
            |r| matches!(r, Request::InspectDomain { .. }).then(|| Ok(domain("dom1"))),
            false,
            vec![LeftoverKind::Domain],
            "is still on Dokploy: delete it there",
        ),
        (
            "the application is still there",
            |r| matches!(r, Request::InspectApplication { .. }).then(|| Ok(application("app1"))),
            false,
            vec![LeftoverKind::Application],
            "the application shop (app1) is still on Dokploy",
        ),
        (
            "the domain could not be checked",
            |r| matches!(r, Request::InspectDomain { .. }).then(|| Err(boom(500))),
            false,
            vec![LeftoverKind::Domain],
            "could not be checked (domain.one failed with 500;",
        ),
        (
            "the stack still answers",
            |_| None,
            true,
            vec![LeftoverKind::Route],
            "https://shop.ai.flexinit.nl still answers 200: a service is still running",
        ),
    ];
    for (name, keeps, health, expected, detail) in cases {
        let (events, end) = run_to_end(deploy_failed().live(), &settings(), keeping(keeps, health));
        let left = leftovers(&events);
        assert_eq!(
            left.iter().map(|l| l.kind).collect::<Vec<_>>(),
            expected,
            "{name}"
        );
        if let Some(first) = left.first() {
            assert!(first.detail.contains(detail), "{name}: {}", first.detail);
        }
        let complete = expected.is_empty();
        assert_eq!(
            end,
            Step::Finish(Outcome::RolledBack { complete }),
            "{name}"
        );
    }
}

#[test]
fn a_project_left_after_its_removal_is_a_leftover_naming_what_it_holds() {
    let held = ApiAnswer::ProjectServices(vec![ServiceRef {
        kind: "compose".into(),
        id: rid("cmp1"),
        name: "db".into(),
    }]);
    let verifying = deploy_failed()
        .then(
            0,
            [
                Event::RollbackStarted,
                succeeded(Domain, "dom1"),
                succeeded(Application, "app1"),
                succeeded(Project, "prj1"),
            ],
        )
        .live();
    let inspect = |request: Request| call(request);
    after(
        &verifying,
        T0,
        vec![
            (
                Executed::Recorded,
                inspect(Request::InspectDomain {
                    domain_id: rid("dom1"),
                }),
                "newest first",
            ),
            (
                refused(
                    Request::InspectDomain {
                        domain_id: rid("dom1"),
                    },
                    FailureClass::Unavailable { retry_in: secs(5) },
                ),
                Step::Wait(secs(5)),
                "an open breaker is waited out",
            ),
        ],
    );
    let mut dokploy = all_deleted();
    let (events, _) = run_to_end(verifying, &settings(), |request| match request {
        Some(Request::InspectProject { .. }) => Ok(held.clone()),
        other => dokploy.answer(other),
    });
    let left = leftovers(&events);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].id, Some(rid("prj1")));
    assert!(
        left[0].detail.contains("holds compose db (cmp1)"),
        "{}",
        left[0].detail
    );
}

#[test]
fn a_route_404_during_the_verification_ends_it_with_what_is_unchecked_left() {
    let (events, end) = run_to_end(
        deploy_failed().live(),
        &settings(),
        keeping(
            |r| matches!(r, Request::InspectApplication { .. }).then(|| Err(no_route())),
            false,
        ),
    );
    let left = leftovers(&events);
    let ids: Vec<_> = left.iter().map(|l| (l.kind, l.id.clone())).collect();
    assert_eq!(
        ids,
        vec![
            (LeftoverKind::Application, Some(rid("app1"))),
            (LeftoverKind::Project, Some(rid("prj1")))
        ],
        "the domain was checked (gone); the rest could not be"
    );
    assert!(
        left[0].detail.contains(Procedure::ApplicationOne.name()),
        "{}",
        left[0].detail
    );
    assert_eq!(end, Step::Finish(Outcome::RolledBack { complete: false }));
}

#[test]
fn a_rollback_resumed_in_the_middle_of_its_verification_verifies_afresh_and_deletes_nothing_again()
{
    let mut events = vec![
        Event::RollbackStarted,
        succeeded(Domain, "dom1"),
        succeeded(Application, "app1"),
        succeeded(Project, "prj1"),
    ];
    let inspect_domain = Request::InspectDomain {
        domain_id: rid("dom1"),
    };
    events.push(started(30, &inspect_domain));
    let crashed = deploy_failed().then(0, events).then(1_000, [recovery()]);
    let state = crashed.resumed(T0 + 1_000);
    assert_eq!(
        next(&state, &settings(), T0 + 1_000, &Executed::Nothing),
        call(inspect_domain),
        "the verification begins again"
    );
    let mut dokploy = all_deleted();
    let (appended, end) = run_to_end(state, &settings(), |r| dokploy.answer(r));
    let deletes = dokploy
        .received
        .iter()
        .filter(|r| {
            matches!(
                r,
                Request::DeleteDomain { .. } | Request::DeleteApplication { .. }
            ) || is_remove(r)
        })
        .count();
    assert_eq!(deletes, 0, "no step is taken twice");
    assert_eq!(leftovers(&appended), vec![]);
    assert_eq!(end, Step::Finish(Outcome::RolledBack { complete: true }));
    let verified = |leftovers: Vec<Leftover>| {
        let history = deploy_failed().then(
            0,
            [
                Event::RollbackStarted,
                succeeded(Domain, "dom1"),
                succeeded(Application, "app1"),
                succeeded(Project, "prj1"),
                Event::RollbackVerified { leftovers },
            ],
        );
        let state = history.then(1_000, [recovery()]).resumed(T0);
        next(&state, &settings(), T0, &Executed::Nothing)
    };
    let left = Leftover {
        kind: LeftoverKind::Route,
        id: None,
        detail: "d".into(),
    };
    for (leftovers, complete) in [(vec![], true), (vec![left], false)] {
        let Step::Record { event, .. } = verified(leftovers) else {
            panic!("a recorded verification is not made again");
        };
        assert_eq!(event, Event::RollbackFinished { complete });
    }
}

#[test]
fn every_new_rollback_event_points_to_the_failure() {
    let state = timed_out_at_the_application().live();
    let cause = Some(Seq(failure_seq(&state)));
    let late = T0 + i64::try_from(Duration::from_secs(3_600).as_millis()).expect("short");
    let mut waiting = state.clone();
    waiting.apply(Seq(300), T0, &started(40, &list()));
    let steps = [
        next(&waiting, &settings(), late, &answered(list(), running())),
        next(
            &state,
            &settings(),
            T0,
            &answered(list(), rows(&title(), "error")),
        ),
    ];
    for step in steps {
        let Step::Record { cause: got, event } = step else {
            panic!("a recorded event: {step:?}");
        };
        assert_eq!(got, cause, "{event:?}");
    }
}
