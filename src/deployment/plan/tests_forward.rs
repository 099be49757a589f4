//! The forward phases as given(events) / when(the step just executed) / then(the next step).

use crate::deployment::plan::fixtures::*;
use crate::deployment::plan::{Executed, FailureClass, Outcome, Settings, Step, next};
use crate::deployment::{ApiAnswer, EventKind, Phase, ResourceKind};

use ResourceKind::{Application, Domain, Environment, Project};

#[test]
fn a_new_deployment_enters_creating_project_and_looks_the_project_up_first() {
    after(
        &given([]).live(),
        T0,
        vec![(
            Executed::Nothing,
            record(phase(Phase::CreatingProject)),
            "enter the first phase",
        )],
    );
    let in_project = given([phase(Phase::CreatingProject)]).live();
    after(
        &in_project,
        T0,
        vec![
            (Executed::Recorded, call_step(find_project()), "look up"),
            (
                answered(find_project(), ApiAnswer::Project(None)),
                call_step(create_project()),
                "nothing found: create it",
            ),
            (
                answered(find_project(), project("prj0", Some("env0"))),
                record(found(Project, "prj0")),
                "found, never attempted: someone else's",
            ),
            (
                answered(create_project(), project("prj1", Some("env1"))),
                record(created(Project, "prj1")),
                "created",
            ),
        ],
    );
}

#[test]
fn the_application_is_found_or_created_in_the_environment() {
    let in_application = given([
        phase(Phase::CreatingProject),
        created(Project, "prj1"),
        phase(Phase::GettingEnvironment),
        found(Environment, "env1"),
        phase(Phase::CreatingApplication),
    ])
    .live();
    after(
        &in_application,
        T0,
        vec![
            (Executed::Recorded, call_step(find_application()), "look up"),
            (
                answered(find_application(), ApiAnswer::Application(None)),
                call_step(create_application()),
                "nothing found: create it",
            ),
            (
                answered(find_application(), application("app0")),
                record(found(Application, "app0")),
                "found: not ours",
            ),
            (
                answered(create_application(), application("app1")),
                record(created(Application, "app1")),
                "created",
            ),
        ],
    );
}

#[test]
fn the_image_is_saved_then_the_domain_is_found_or_created_with_the_port() {
    after(
        &given(configured()).live(),
        T0,
        vec![(
            answered(save(), ApiAnswer::Empty),
            record(phase(Phase::CreatingDomain)),
            "configured: the domain is next",
        )],
    );
    let in_domain = given(configured())
        .then(0, [phase(Phase::CreatingDomain)])
        .live();
    after(
        &in_domain,
        T0,
        vec![
            (
                Executed::Recorded,
                call_step(find_domain()),
                "look up by host",
            ),
            (
                answered(find_domain(), ApiAnswer::Domain(None)),
                call_step(create_domain()),
                "nothing found: create it",
            ),
            (
                answered(create_domain(), domain("dom1")),
                record(created(Domain, "dom1")),
                "created",
            ),
        ],
    );
}

#[test]
fn the_environment_comes_from_this_runs_project_answer_else_from_a_new_lookup() {
    let mut events = vec![phase(Phase::CreatingProject)];
    events.extend(call(1, &find_project(), ApiAnswer::Project(None)));
    events.extend(call(2, &create_project(), project("prj1", Some("env1"))));
    events.extend([created(Project, "prj1"), phase(Phase::GettingEnvironment)]);
    let history = given(events);
    let env = record(found(Environment, "env1"));
    after(
        &history.live(),
        T0,
        vec![(Executed::Recorded, env.clone(), "named by the answer")],
    );
    let resumed = history.resumed(T0);
    after(
        &resumed,
        T0,
        vec![
            (
                Executed::Nothing,
                call_step(find_project()),
                "after a restart: look again",
            ),
            (
                answered(find_project(), project("prj1", Some("env1"))),
                env,
                "the lookup names it",
            ),
            (
                answered(find_project(), project("prj1", None)),
                failure(
                    Phase::GettingEnvironment,
                    "no_environment",
                    "the project has no default environment",
                ),
                "a project without one",
            ),
        ],
    );
}

#[test]
fn a_lookup_that_finds_what_this_deployment_tried_to_create_records_it_as_created() {
    let lost = |request| given([phase(Phase::CreatingProject), started(1, &request)]);
    let found_it = answered(find_project(), project("prj1", None));
    let created_step = record(created(Project, "prj1"));
    after(
        &lost(create_project()).resumed(T0),
        T0,
        vec![(found_it.clone(), created_step, "a lost create is ours")],
    );
    after(
        &lost(find_project()).resumed(T0),
        T0,
        vec![(
            found_it,
            record(found(Project, "prj1")),
            "a lost lookup proves nothing",
        )],
    );
}

#[test]
fn every_failed_call_fails_its_phase_with_a_stable_code() {
    let in_project = given([phase(Phase::CreatingProject)]).live();
    let codes = [
        (
            FailureClass::Unavailable { retry_in: secs(60) },
            "dokploy_unavailable",
        ),
        (FailureClass::Unauthorized, "dokploy_unauthorized"),
        (FailureClass::Unreachable, "dokploy_unreachable"),
        (FailureClass::BadAnswer, "dokploy_bad_answer"),
        (FailureClass::Status { status: 400 }, "dokploy_error"),
        (FailureClass::Status { status: 404 }, "dokploy_error"),
    ];
    // With --on-outage wait (the default) an open breaker is waited out instead
    // (tests_control); failing is the other policy.
    let failing = Settings {
        on_outage: crate::deployment::plan::OutagePolicy::Fail,
        ..settings()
    };
    for (class, code) in codes {
        let step = next(&in_project, &failing, T0, &refused(find_project(), class));
        assert_eq!(
            failure_code(&step),
            Some((Phase::CreatingProject, code)),
            "{class:?}"
        );
    }
    let configuring = given(configured()).live();
    let failed = refused(save(), FailureClass::Status { status: 500 });
    let step = next(&configuring, &settings(), T0, &failed);
    let expected = Some((Phase::ConfiguringApplication, "dokploy_error"));
    assert_eq!(failure_code(&step), expected);
}

#[test]
fn an_answer_of_the_wrong_kind_or_a_create_that_made_nothing_is_a_bad_answer() {
    let in_project = given([phase(Phase::CreatingProject)]).live();
    let wrong_kind = answered(find_project(), ApiAnswer::Domain(None));
    let step = next(&in_project, &settings(), T0, &wrong_kind);
    let expected = Some((Phase::CreatingProject, "dokploy_bad_answer"));
    assert_eq!(failure_code(&step), expected);
    let nothing = answered(create_project(), ApiAnswer::Project(None));
    let message = "project.create answered no project";
    let expected = failure(Phase::CreatingProject, "dokploy_bad_answer", message);
    assert_eq!(next(&in_project, &settings(), T0, &nothing), expected);
    let queued = given(queued_in_slot()).live();
    let step = next(
        &queued,
        &settings(),
        T0,
        &answered(list(), ApiAnswer::Empty),
    );
    let expected = Some((Phase::Deploying, "dokploy_bad_answer"));
    assert_eq!(failure_code(&step), expected);
}

#[test]
fn a_whole_deployment_against_an_empty_dokploy_records_every_phase_in_order() {
    let (events, end) = run_to_end(given([]).live(), &settings(), empty_dokploy);
    let url = "https://shop.ai.flexinit.nl".to_owned();
    assert_eq!(end, Step::Finish(Outcome::Succeeded(url)));
    use EventKind::*;
    let call = [ApiCallStarted, ApiCallSucceeded];
    let expected: Vec<EventKind> = [
        &[PhaseEntered][..],
        &call,
        &call,
        &[ResourceCreated, PhaseEntered, ResourceFound, PhaseEntered],
        &call,
        &call,
        &[ResourceCreated, PhaseEntered],
        &call,
        &[PhaseEntered],
        &call,
        &call,
        &[ResourceCreated, PhaseEntered, BuildSlotAcquired],
        &call,
        &[DeployQueued],
        &call,
        &[DeployStarted],
        &call,
        &[
            DeployFinished,
            PhaseEntered,
            HealthCheckAttempt,
            HealthVerified,
        ],
        &[DeploymentSucceeded],
    ]
    .concat();
    assert_eq!(kinds(&events), expected);
}
