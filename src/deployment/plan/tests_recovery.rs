//! Recovery after each kind of interruption as given(events) / when(the step just executed) /
//! then(the next step).

use crate::deployment::plan::fixtures::*;
use crate::deployment::plan::{Executed, Outcome, Step, next};
use crate::deployment::{Event, EventKind, Phase, ResourceKind};

use ResourceKind::{Domain, Project};

use crate::deployment::plan::tests_rollback::{
    delete, failed, failure_seq, project_and_environment, recovery, undo_step,
};

/// Checks a deployment interrupted after `events`, then recovered: resumed, its next step is
/// `resumed`; under the rollback policy it fails `interrupted` in the phase it was in.
fn recovered(events: Vec<Event>, phase_then: Phase, resumed: Step, why: &str) {
    let state = given(events).then(1_000, [recovery()]).resumed(T0 + 1_000);
    let step = next(&state, &settings(), T0 + 1_000, &Executed::Nothing);
    assert_eq!(step, resumed, "resume: {why}");
    let step = next(
        &state,
        &rolling_back_on_recovery(),
        T0 + 1_000,
        &Executed::Nothing,
    );
    let expected = Some((phase_then, "interrupted"));
    assert_eq!(failure_code(&step), expected, "rollback: {why}");
}

#[test]
fn recovery_before_any_call_starts_the_first_phase_or_rolls_back() {
    let first = record(phase(Phase::CreatingProject));
    recovered(vec![], Phase::Initializing, first, "before any call");
}

#[test]
fn recovery_with_an_intent_without_outcome_repeats_the_phase_from_its_lookup() {
    let in_project = |request| vec![phase(Phase::CreatingProject), started(1, &request)];
    let project = Phase::CreatingProject;
    recovered(
        in_project(find_project()),
        project,
        call_step(find_project()),
        "project lookup",
    );
    recovered(
        in_project(create_project()),
        project,
        call_step(find_project()),
        "project create",
    );
    let mut environment = vec![phase(project), created(Project, "prj1")];
    environment.extend([
        phase(Phase::GettingEnvironment),
        started(3, &find_project()),
    ]);
    let then = call_step(find_project());
    recovered(
        environment,
        Phase::GettingEnvironment,
        then,
        "environment lookup",
    );
    let mut application = project_and_environment();
    application.push(started(4, &create_application()));
    let then = call_step(find_application());
    recovered(
        application,
        Phase::CreatingApplication,
        then,
        "application create",
    );
}

#[test]
fn recovery_with_an_intent_without_outcome_repeats_the_save_the_domain_and_the_deploy() {
    let mut save_lost = configured();
    save_lost.pop();
    let then = call_step(save());
    recovered(
        save_lost,
        Phase::ConfiguringApplication,
        then,
        "the image being saved",
    );
    let mut domain = configured();
    domain.extend([phase(Phase::CreatingDomain), started(6, &create_domain())]);
    recovered(
        domain,
        Phase::CreatingDomain,
        call_step(find_domain()),
        "domain create",
    );
    let mut deploying = configured();
    deploying.extend([phase(Phase::CreatingDomain), created(Domain, "dom1")]);
    deploying.extend([phase(Phase::Deploying), started(8, &deploy())]);
    let slot_first = Step::AcquireBuildSlot;
    recovered(
        deploying.clone(),
        Phase::Deploying,
        slot_first.clone(),
        "a build slot, taken again by the new run",
    );
    let history = given(deploying).then(1_000, [recovery()]);
    let resumed = resumed_in_slot(&history, T0 + 1_000);
    let step = next(&resumed, &settings(), T0 + 1_000, &Executed::Recorded);
    assert_eq!(
        step,
        call_step(deploy()),
        "the deploy, again under the same title"
    );
    let mut polling = queued();
    polling.push(started(9, &list()));
    recovered(polling, Phase::Deploying, slot_first, "a slot, then a poll");
}

#[test]
fn recovery_while_verifying_health_probes_again() {
    let mut events = queued();
    let done = Event::DeployFinished {
        dokploy_status: "done".into(),
    };
    events.extend([done, phase(Phase::VerifyingHealth)]);
    let probe = Step::Probe {
        url: "http://sim/shop/health".into(),
    };
    recovered(events, Phase::VerifyingHealth, probe, "health");
}

#[test]
fn recovery_continues_a_failed_or_half_rolled_back_deployment_and_finishes_a_finished_one() {
    let all = given(queued()).then(0, [failed(Phase::Deploying, "deploy_failed")]);
    let failed_only = all.clone().then(1_000, [recovery()]).resumed(T0 + 1_000);
    let cause = failure_seq(&failed_only);
    let half = all
        .clone()
        .then(
            0,
            [
                Event::RollbackStarted,
                Event::RollbackStepSucceeded {
                    kind: Domain,
                    id: rid("dom1"),
                },
            ],
        )
        .then(1_000, [recovery()]);
    let in_flight = all
        .clone()
        .then(
            0,
            [Event::RollbackStarted, started(30, &delete(Domain, "dom1"))],
        )
        .then(1_000, [recovery()]);
    let policy = rolling_back_on_recovery();
    for settings in [settings(), policy] {
        assert_eq!(
            next(&failed_only, &settings, T0, &Executed::Nothing),
            record_caused(Event::RollbackStarted, cause),
            "after DeploymentFailed"
        );
        assert_eq!(
            next(&half.resumed(T0), &settings, T0, &Executed::Nothing),
            Step::Call {
                request: list(),
                rollback_step: true
            },
            "mid-rollback: the deploy's end is not recorded, so its build is looked at first"
        );
        assert_eq!(
            next(&in_flight.resumed(T0), &settings, T0, &Executed::Nothing),
            undo_step(Domain, "dom1"),
            "a delete in flight"
        );
    }
    let done = given(queued()).then(
        0,
        [Event::DeploymentSucceeded {
            url: "https://shop.ai.flexinit.nl".into(),
        }],
    );
    let step = next(&done.resumed(T0), &settings(), T0, &Executed::Nothing);
    assert_eq!(
        step,
        Step::Finish(Outcome::Succeeded("https://shop.ai.flexinit.nl".into()))
    );
    let partial = all.clone().then(
        0,
        [
            Event::RollbackStarted,
            Event::RollbackFinished { complete: false },
        ],
    );
    let step = next(&partial.resumed(T0), &settings(), T0, &Executed::Nothing);
    assert_eq!(step, Step::Finish(Outcome::RolledBack { complete: false }));
}

#[test]
fn a_deployment_interrupted_before_any_call_and_rolled_back_by_policy_ends_complete() {
    let state = given([]).then(1_000, [recovery()]).resumed(T0 + 1_000);
    let (events, end) = run_to_end(state, &rolling_back_on_recovery(), empty_dokploy);
    use EventKind::*;
    assert_eq!(
        kinds(&events),
        vec![
            DeploymentFailed,
            RollbackStarted,
            RollbackVerified,
            RollbackFinished
        ]
    );
    assert_eq!(end, Step::Finish(Outcome::RolledBack { complete: true }));
}
