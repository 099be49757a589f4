//! Rollback as given(events) / when(the step just executed) / then(the next step).

use crate::deployment::plan::fixtures::*;
use crate::deployment::plan::rollback::fake::RollbackDokploy;
use crate::deployment::plan::{CallFailure, Executed, FailureClass, Outcome, Step, next};
use crate::deployment::saga::SagaState;
use crate::deployment::{ApiAnswer, Event, EventKind, Phase, Request, ResourceKind};
use crate::ids::Seq;

use ResourceKind::{Application, Domain, Environment, Project};

pub(super) fn failed(phase: Phase, code: &str) -> Event {
    Event::DeploymentFailed {
        phase,
        code: code.into(),
        message: "m".into(),
    }
}

pub(super) fn recovery() -> Event {
    Event::RecoveryStarted {
        reason: "restart".into(),
    }
}

pub(super) fn delete(kind: ResourceKind, id: &str) -> Request {
    let id = rid(id);
    match kind {
        Domain => Request::DeleteDomain { domain_id: id },
        Application => Request::DeleteApplication { application_id: id },
        _ => Request::RemoveProject { project_id: id },
    }
}

pub(super) fn undo_step(kind: ResourceKind, id: &str) -> Step {
    Step::Call {
        request: delete(kind, id),
        rollback_step: true,
    }
}

pub(super) fn failure_seq(state: &SagaState) -> u64 {
    state.failure.expect("a recorded failure").seq.0
}

/// One rollback event: its kind, and the kind of resource it deals with, if any.
type Undone = (EventKind, Option<ResourceKind>);

/// The rollback events of a run to the end, as (kind, resource) where they have one.
pub(super) fn undone(
    state: SagaState,
    dokploy: impl FnMut(Option<&Request>) -> Result<ApiAnswer, CallFailure>,
) -> (Vec<Undone>, Step) {
    let (events, end) = run_to_end(state, &settings(), dokploy);
    let rollback = events
        .iter()
        .filter_map(|event| match event {
            Event::RollbackStepSucceeded { kind, .. }
            | Event::RollbackStepFailed { kind, .. }
            | Event::RollbackStepSkipped { kind, .. } => Some((event.kind(), Some(*kind))),
            Event::ResourceCreated { kind, .. } => Some((event.kind(), Some(*kind))),
            Event::RollbackStarted
            | Event::RollbackVerified { .. }
            | Event::RollbackFinished { .. } => Some((event.kind(), None)),
            _ => None,
        })
        .collect();
    (rollback, end)
}

/// A Dokploy that holds what [`queued`] made and deletes it (see [`RollbackDokploy`]).
pub(super) fn deletes_work() -> impl FnMut(Option<&Request>) -> Result<ApiAnswer, CallFailure> {
    deletes_work_holding(&["app1"])
}

/// The same, with a project that holds these applications.
pub(super) fn deletes_work_holding(
    holds: &[&'static str],
) -> impl FnMut(Option<&Request>) -> Result<ApiAnswer, CallFailure> {
    let mut dokploy = RollbackDokploy::holding(holds);
    move |request| dokploy.answer(request)
}

/// Deployments that failed having created everything, all but a project they found, only
/// the project, and nothing.
fn histories_to_undo() -> (History, History, History, History) {
    let all = given(queued()).then(0, [failed(Phase::Deploying, "deploy_failed")]);
    let mut found = vec![
        phase(Phase::CreatingProject),
        found(Project, "prj0"),
        found(Environment, "env1"),
    ];
    found.extend([
        created(Application, "app1"),
        created(Domain, "dom1"),
        failed(Phase::Deploying, "deploy_failed"),
    ]);
    let only_project = given([
        created(Project, "prj1"),
        failed(Phase::GettingEnvironment, "no_environment"),
    ]);
    let nothing = given([failed(Phase::CreatingProject, "dokploy_error")]);
    (all, given(found), only_project, nothing)
}

#[test]
fn a_rollback_undoes_only_what_was_created_in_reverse_order_of_creation() {
    use EventKind::{
        RollbackFinished, RollbackStarted, RollbackStepSucceeded as Deleted, RollbackVerified,
    };
    let (all, found_project, only_project, nothing) = histories_to_undo();
    let cases: Vec<(&str, SagaState, Vec<Undone>)> = vec![
        (
            "project, application, domain",
            all.live(),
            vec![
                (RollbackStarted, None),
                (Deleted, Some(Domain)),
                (Deleted, Some(Application)),
                (Deleted, Some(Project)),
                (RollbackVerified, None),
                (RollbackFinished, None),
            ],
        ),
        (
            "a project found is never deleted",
            found_project.live(),
            vec![
                (RollbackStarted, None),
                (Deleted, Some(Domain)),
                (Deleted, Some(Application)),
                (RollbackVerified, None),
                (RollbackFinished, None),
            ],
        ),
        (
            "only the project",
            only_project.live(),
            vec![
                (RollbackStarted, None),
                (Deleted, Some(Project)),
                (RollbackVerified, None),
                (RollbackFinished, None),
            ],
        ),
        (
            "nothing created",
            nothing.live(),
            vec![
                (RollbackStarted, None),
                (RollbackVerified, None),
                (RollbackFinished, None),
            ],
        ),
    ];
    for (name, state, expected) in cases {
        let holds: &[&'static str] = if name == "only the project" {
            &[]
        } else {
            &["app1"]
        };
        let (rollback, end) = undone(state, deletes_work_holding(holds));
        assert_eq!(rollback, expected, "{name}");
        assert_eq!(
            end,
            Step::Finish(Outcome::RolledBack { complete: true }),
            "{name}"
        );
    }
}

#[test]
fn every_rollback_step_points_to_the_failure_and_a_404_counts_as_gone() {
    let state = given(queued())
        .then(0, [failed(Phase::Deploying, "deploy_failed")])
        .live();
    let cause = failure_seq(&state);
    let step = next(&state, &settings(), T0, &Executed::Recorded);
    assert_eq!(step, record_caused(Event::RollbackStarted, cause));
    let started = given(queued())
        .then(
            0,
            [
                failed(Phase::Deploying, "deploy_failed"),
                Event::RollbackStarted,
            ],
        )
        .live();
    let gone = refused(delete(Domain, "dom1"), FailureClass::Status { status: 404 });
    let deleted = Event::RollbackStepSucceeded {
        kind: Domain,
        id: rid("dom1"),
    };
    let failed_step = Event::RollbackStepFailed {
        kind: Domain,
        id: rid("dom1"),
        // Our words: the step's error is shown in the public log.
        error: "domain.delete failed with 400".into(),
    };
    let cases = [
        (
            "the newest resource first",
            Executed::Recorded,
            undo_step(Domain, "dom1"),
        ),
        (
            "deleted",
            answered(delete(Domain, "dom1"), ApiAnswer::Empty),
            record_caused(deleted.clone(), cause),
        ),
        ("404: already gone", gone, record_caused(deleted, cause)),
        (
            "any other failure is recorded",
            refused(delete(Domain, "dom1"), FailureClass::Status { status: 400 }),
            record_caused(failed_step, cause),
        ),
    ];
    for (name, executed, expected) in cases {
        assert_eq!(
            next(&started, &settings(), T0, &executed),
            expected,
            "{name}"
        );
    }
}

#[test]
fn a_failed_step_is_recorded_and_the_rollback_goes_on_to_a_partial_end() {
    let state = given(queued())
        .then(0, [failed(Phase::Deploying, "deploy_failed")])
        .live();
    let mut dokploy = deletes_work();
    let (rollback, end) = undone(state, |request| match request {
        Some(Request::DeleteApplication { .. }) => Err(CallFailure {
            class: FailureClass::Status { status: 500 },
            message: "Dokploy answered 500: boom".into(),
        }),
        other => dokploy(other),
    });
    use EventKind::*;
    let kinds: Vec<EventKind> = rollback.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(
        kinds,
        vec![
            RollbackStarted,
            RollbackStepSucceeded,
            RollbackStepFailed,
            RollbackStepSkipped,
            RollbackVerified,
            RollbackFinished
        ],
        "the project stays: removing it would orphan the application's service"
    );
    assert_eq!(end, Step::Finish(Outcome::RolledBack { complete: false }));
}

#[test]
fn an_open_breaker_is_waited_out_and_the_same_step_sent_again() {
    let started = given(queued())
        .then(
            0,
            [
                failed(Phase::Deploying, "deploy_failed"),
                Event::RollbackStarted,
            ],
        )
        .live();
    let open = |retry_ms| {
        refused(
            delete(Domain, "dom1"),
            FailureClass::Unavailable {
                retry_in: std::time::Duration::from_millis(retry_ms),
            },
        )
    };
    let again = Step::Call {
        request: delete(Domain, "dom1"),
        rollback_step: false,
    };
    let cases = [
        ("a long wait is kept", open(30_000), Step::Wait(secs(30))),
        (
            "a short one is at least a second",
            open(10),
            Step::Wait(secs(1)),
        ),
        ("then the same step, not a new one", Executed::Waited, again),
    ];
    for (name, executed, expected) in cases {
        assert_eq!(
            next(&started, &settings(), T0, &executed),
            expected,
            "{name}"
        );
    }
}

/// A deployment that failed at `phase` after sending `lost` without an answer.
pub(super) fn lost_create(before: Vec<Event>, lost: &Request, phase: Phase) -> History {
    let mut events = before;
    events.push(started(20, lost));
    events.push(failed(phase, "dokploy_unreachable"));
    given(events)
}

pub(super) fn project_and_environment() -> Vec<Event> {
    vec![
        phase(Phase::CreatingProject),
        created(Project, "prj1"),
        found(Environment, "env1"),
        phase(Phase::CreatingApplication),
    ]
}

fn lost_application() -> History {
    let lost = create_application();
    lost_create(project_and_environment(), &lost, Phase::CreatingApplication)
}

fn lost_domain() -> History {
    let mut events = project_and_environment();
    events.extend([created(Application, "app1"), phase(Phase::CreatingDomain)]);
    lost_create(events, &create_domain(), Phase::CreatingDomain)
}

#[test]
fn a_create_whose_answer_was_lost_is_looked_up_and_rolled_back_when_it_happened() {
    use EventKind::RollbackStepSucceeded as Deleted;
    use EventKind::{ResourceCreated, RollbackFinished, RollbackStarted, RollbackVerified};
    let state = lost_application().live();
    let step = next(&state, &settings(), T0, &Executed::Recorded);
    assert_eq!(step, call_step(find_application()), "look it up first");
    let mut dokploy = deletes_work_holding(&["app9"]);
    let it_happened = |request: Option<&Request>| match request {
        Some(Request::FindApplication { .. }) => Ok(application("app9")),
        other => dokploy(other),
    };
    let (rollback, end) = undone(state.clone(), it_happened);
    let expected = vec![
        (ResourceCreated, Some(Application)),
        (RollbackStarted, None),
        (Deleted, Some(Application)),
        (Deleted, Some(Project)),
        (RollbackVerified, None),
        (RollbackFinished, None),
    ];
    assert_eq!(rollback, expected, "found: ours, so deleted, newest first");
    assert_eq!(end, Step::Finish(Outcome::RolledBack { complete: true }));
    let mut dokploy = deletes_work_holding(&[]);
    let not_found = |request: Option<&Request>| match request {
        Some(Request::FindApplication { .. }) => Ok(ApiAnswer::Application(None)),
        other => dokploy(other),
    };
    let (rollback, _) = undone(state, not_found);
    let expected = vec![
        (RollbackStarted, None),
        (Deleted, Some(Project)),
        (RollbackVerified, None),
        (RollbackFinished, None),
    ];
    assert_eq!(rollback, expected, "not found: nothing more to undo");
}

#[test]
fn a_failed_lookup_is_not_repeated_but_the_rollback_cannot_be_complete() {
    let history = lost_application();
    let boom = || CallFailure {
        class: FailureClass::Status { status: 500 },
        message: "boom".into(),
    };
    let lookup_fails = |request: Option<&Request>| match request {
        Some(Request::FindApplication { .. }) => Err(boom()),
        other => empty_dokploy(other),
    };
    let (events, end) = run_to_end(history.live(), &settings(), lookup_fails);
    assert!(
        events
            .iter()
            .all(|e| e.kind() != EventKind::RollbackStepFailed)
    );
    assert_eq!(end, Step::Finish(Outcome::RolledBack { complete: false }));
    let mut state = history.live();
    state.apply(Seq(100), T0, &started(21, &find_application()));
    let gave_up = Event::ApiCallFailed {
        call: 21,
        attempt: 1,
        status: Some(500),
        error: "boom".into(),
        duration_ms: 3,
        retry_in_ms: None,
    };
    state.apply(Seq(101), T0, &gave_up);
    let failed = Executed::Called {
        request: find_application(),
        result: Err(boom()),
    };
    let started = record_caused(Event::RollbackStarted, failure_seq(&state));
    assert_eq!(
        next(&state, &settings(), T0, &failed),
        started,
        "on to the rollback"
    );
}

#[test]
fn each_lost_create_is_looked_up_when_its_parent_is_known() {
    let lost_project = lost_create(
        vec![phase(Phase::CreatingProject)],
        &create_project(),
        Phase::CreatingProject,
    );
    after(
        &lost_project.live(),
        T0,
        vec![(
            Executed::Recorded,
            call_step(find_project()),
            "a lost project create",
        )],
    );
    let open = FailureClass::Unavailable { retry_in: secs(5) };
    after(
        &lost_domain().live(),
        T0,
        vec![
            (
                Executed::Recorded,
                call_step(find_domain()),
                "a lost domain create",
            ),
            (
                answered(find_domain(), domain("dom9")),
                record(created(Domain, "dom9")),
                "ours",
            ),
            (
                refused(find_domain(), open),
                Step::Wait(secs(5)),
                "the breaker refused it: wait",
            ),
            (
                Executed::Waited,
                call_step(find_domain()),
                "then look it up again",
            ),
        ],
    );
    let no_environment = lost_create(
        vec![created(Project, "prj1")],
        &create_application(),
        Phase::CreatingApplication,
    );
    after(
        &no_environment.live(),
        T0,
        vec![(
            Executed::Recorded,
            record_caused(Event::RollbackStarted, 4),
            "without an environment an application cannot be looked up",
        )],
    );
}

#[test]
fn a_lookup_is_made_once_per_run_and_again_after_a_restart() {
    let mut state = lost_domain().live();
    state.apply(Seq(50), T0, &started(21, &find_domain()));
    let [_, answer] = call(21, &find_domain(), ApiAnswer::Domain(None));
    state.apply(Seq(51), T0, &answer);
    let not_found = answered(find_domain(), ApiAnswer::Domain(None));
    let started = record_caused(Event::RollbackStarted, failure_seq(&state));
    assert_eq!(
        next(&state, &settings(), T0, &not_found),
        started,
        "looked up this run"
    );
    state.begin_run(T0 + 1);
    state.run.admitted_ms = Some(T0 + 1); // the new run holds its running slot
    let step = next(&state, &settings(), T0 + 1, &Executed::Nothing);
    assert_eq!(step, call_step(find_domain()), "a new run looks again");
}
