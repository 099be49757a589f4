//! The deploy phase's build slot and Dokploy's build queue as given(events) / when(the step
//! just executed, at a time) / then(the next step): the place in line, the queue and build
//! limits, the build started once, and a lost deploy queued again once.

use crate::deployment::plan::fixtures::*;
use crate::deployment::plan::{Executed, Step, holds_build_slot, next};
use crate::deployment::saga::SagaState;
use crate::deployment::{ApiAnswer, DeploymentRow, Event, Phase};

/// The step `state` decides at `now_ms` after `executed`, with the default settings.
fn at(state: &SagaState, now_ms: i64, executed: Executed) -> Step {
    next(state, &settings(), now_ms, &executed)
}

fn deploy_timeout_ms() -> i64 {
    settings().deploy_timeout.as_millis() as i64
}

fn queue_timeout_ms() -> i64 {
    settings().deploy_queue_timeout.as_millis() as i64
}

/// `deployment.all` answered these rows.
fn listed(rows: Vec<DeploymentRow>) -> Executed {
    answered(list(), ApiAnswer::Deployments(rows))
}

/// Dokploy started the build of the current deploy (its row appeared).
fn build_started(queued_ms: u64) -> Event {
    Event::DeployStarted {
        deployment_id: rid("row1"),
        queued_ms,
    }
}

fn requeued(reason: &str) -> Event {
    Event::DeployRequeued {
        reason: reason.to_owned(),
    }
}

const QUEUE_LOST: &str = "no build started within 10m; a Dokploy restart drops queued builds";

#[test]
fn the_deploy_phase_waits_in_line_for_a_build_slot_recording_each_new_place() {
    let in_line = given(deploying()).live();
    after(
        &in_line,
        T0,
        vec![
            (
                Executed::Recorded,
                Step::AcquireBuildSlot,
                "take a place in line",
            ),
            (
                Executed::InLine { ahead: 2 },
                record(Event::BuildSlotWaiting { ahead: 2 }),
                "its place is recorded",
            ),
            (
                Executed::InLine { ahead: 0 },
                record(Event::BuildSlotWaiting { ahead: 0 }),
                "and each new one",
            ),
            (
                Executed::SlotAcquired { waited_ms: 5_000 },
                record(slot(5_000)),
                "then the slot",
            ),
        ],
    );
    let waiting = given(deploying())
        .then(0, [Event::BuildSlotWaiting { ahead: 2 }])
        .live();
    let step = at(&waiting, T0, Executed::Recorded);
    assert_eq!(step, Step::AcquireBuildSlot, "recorded: keep the place");
    assert!(!holds_build_slot(&waiting), "no slot while in line");
}

#[test]
fn the_deploy_is_sent_with_the_slot_then_queued_under_a_title_unique_to_the_deployment() {
    let in_slot = given(deploying()).then(0, [slot(0)]).live();
    assert!(holds_build_slot(&in_slot));
    after(
        &in_slot,
        T0,
        vec![
            (Executed::Recorded, call_step(deploy()), "send the deploy"),
            (
                answered(deploy(), ApiAnswer::Empty),
                record(Event::DeployQueued { title: title() }),
                "then record it queued",
            ),
        ],
    );
}

#[test]
fn a_deploy_without_a_row_is_in_dokploys_queue_and_its_first_row_starts_the_build_once() {
    let queued = given(queued_in_slot()).live();
    let wait = Step::Wait(secs(2));
    after(
        &queued,
        T0 + 4_000,
        vec![
            (Executed::Recorded, call_step(list()), "poll"),
            (listed(vec![]), wait.clone(), "no row: in Dokploy's queue"),
            (
                listed(vec![row("other", "another", "running")]),
                wait.clone(),
                "another deploy's row is not ours",
            ),
            (
                listed(vec![row("row1", &title(), "running")]),
                record(build_started(4_000)),
                "our row: the build started, after 4s in the queue",
            ),
        ],
    );
}

#[test]
fn a_started_build_is_polled_until_its_row_is_final_and_a_null_status_is_not() {
    let wait = Step::Wait(secs(2));
    let started = given(queued_in_slot())
        .then(4_000, [build_started(4_000)])
        .live();
    let finished = |status: &str| {
        record(Event::DeployFinished {
            dokploy_status: status.into(),
        })
    };
    after(
        &started,
        T0 + 6_000,
        vec![
            (Executed::Recorded, call_step(list()), "poll at once"),
            (
                listed(vec![row("row1", &title(), "running")]),
                wait.clone(),
                "running: wait, started once",
            ),
            (
                listed(vec![row("row1", &title(), "")]),
                wait.clone(),
                "a null status is not final",
            ),
            (
                listed(vec![row("row1", &title(), "queued")]),
                wait.clone(),
                "nor an unknown one",
            ),
            (
                listed(vec![]),
                wait.clone(),
                "a row gone after the start: the build limit goes on",
            ),
            (
                Executed::Waited,
                call_step(list()),
                "after the wait, poll again",
            ),
            (
                listed(vec![row("row1", &title(), "done")]),
                finished("done"),
                "done",
            ),
            (
                listed(vec![row("row1", &title(), "error")]),
                finished("error"),
                "an error is final at once",
            ),
        ],
    );
}

#[test]
fn the_queue_and_the_build_have_their_own_limits_and_a_resumed_run_waits_afresh() {
    let history = given(queued_in_slot());
    let last = T0 + queue_timeout_ms() - 2_000;
    let none = || listed(vec![]);
    assert_eq!(
        at(&history.live(), last, none()),
        Step::Wait(secs(2)),
        "the last queue poll that fits"
    );
    assert_eq!(
        at(&history.live(), last + 1, none()),
        record(requeued(QUEUE_LOST)),
        "past it: lost"
    );
    let resumed = resumed_in_slot(&history, last + 1);
    assert_eq!(
        at(&resumed, last + 2, none()),
        Step::Wait(secs(2)),
        "a resumed run waits afresh"
    );

    let started = history.then(60_000, [build_started(60_000)]);
    let running = || listed(vec![row("row1", &title(), "running")]);
    let past_queueing = T0 + deploy_timeout_ms() + 1;
    let step = at(&started.live(), past_queueing, running());
    assert_eq!(
        step,
        Step::Wait(secs(2)),
        "the build limit counts from the start, not the queueing"
    );
    let last = T0 + 60_000 + deploy_timeout_ms() - 2_000;
    assert_eq!(
        at(&started.live(), last, running()),
        Step::Wait(secs(2)),
        "the last build poll that fits"
    );
    let message = "Dokploy did not finish the deploy within 10m";
    let expected = failure(Phase::Deploying, "deploy_timeout", message);
    assert_eq!(
        at(&started.live(), last + 1, running()),
        expected,
        "past it"
    );
    let resumed = resumed_in_slot(&started, last + 1);
    assert_eq!(
        at(&resumed, last + 2, running()),
        Step::Wait(secs(2)),
        "a resumed run waits afresh"
    );
}

#[test]
fn a_cancelled_build_is_queued_again_once_under_a_new_title_then_fails() {
    let started = given(queued_in_slot()).then(4_000, [build_started(4_000)]);
    let cancelled = listed(vec![row("row1", &title(), "cancelled")]);
    let lost = requeued("Dokploy restarted and cancelled the build");
    assert_eq!(
        at(&started.live(), T0 + 6_000, cancelled),
        record(lost.clone())
    );
    let requeue = started.then(2_000, [lost]);
    let state = requeue.live();
    assert!(holds_build_slot(&state), "a re-queue keeps the slot");
    after(
        &state,
        T0 + 6_000,
        vec![
            (
                Executed::Recorded,
                call_step(second_deploy()),
                "the deploy again",
            ),
            (
                answered(second_deploy(), ApiAnswer::Empty),
                record(Event::DeployQueued {
                    title: second_title(),
                }),
                "under a new title",
            ),
        ],
    );
}

#[test]
fn the_second_attempt_polls_for_its_own_title_and_a_second_loss_fails_the_deployment() {
    let requeue = given(queued_in_slot())
        .then(4_000, [build_started(4_000)])
        .then(
            2_000,
            [requeued("Dokploy restarted and cancelled the build")],
        );
    let second = requeue.then(
        0,
        [Event::DeployQueued {
            title: second_title(),
        }],
    );
    let old_row = listed(vec![row("row1", &title(), "cancelled")]);
    let step = at(&second.live(), T0 + 7_000, old_row);
    assert_eq!(
        step,
        Step::Wait(secs(2)),
        "the lost attempt's row is not the new one's"
    );
    let rows = listed(vec![
        row("row2", &second_title(), "running"),
        row("row1", &title(), "cancelled"),
    ]);
    let step = at(&second.live(), T0 + 7_000, rows);
    let expected = Event::DeployStarted {
        deployment_id: rid("row2"),
        queued_ms: 1_000,
    };
    assert_eq!(
        step,
        record(expected.clone()),
        "the new row starts the build"
    );
    let again = second.then(1_000, [expected]);
    let cancelled = listed(vec![row("row2", &second_title(), "cancelled")]);
    let finished = Event::DeployFinished {
        dokploy_status: "cancelled".into(),
    };
    assert_eq!(
        at(&again.live(), T0 + 8_000, cancelled),
        record(finished.clone()),
        "a second loss"
    );
    let ended = again.then(0, [finished]).live();
    assert!(
        !holds_build_slot(&ended),
        "a final deploy gives the slot back"
    );
    let message = "Dokploy reported the deploy as cancelled";
    let expected = failure(Phase::Deploying, "deploy_failed", message);
    assert_eq!(at(&ended, T0 + 8_000, Executed::Recorded), expected);
}

#[test]
fn a_deploy_lost_in_the_queue_twice_fails_with_deploy_queue_timeout() {
    let second = given(queued_in_slot())
        .then(queue_timeout_ms(), [requeued(QUEUE_LOST)])
        .then(
            0,
            [Event::DeployQueued {
                title: second_title(),
            }],
        );
    let last = T0 + 2 * queue_timeout_ms() - 2_000;
    let none = || listed(vec![]);
    assert_eq!(
        at(&second.live(), last, none()),
        Step::Wait(secs(2)),
        "the second wait counts anew"
    );
    let message = "Dokploy did not start the build within 10m, also after queueing it again";
    let expected = failure(Phase::Deploying, "deploy_queue_timeout", message);
    assert_eq!(at(&second.live(), last + 1, none()), expected);
    let failed = second.then(
        0,
        [crate::deployment::plan::tests_rollback::failed(
            Phase::Deploying,
            "deploy_queue_timeout",
        )],
    );
    assert!(
        holds_build_slot(&failed.live()),
        "the rollback may still wait out the build: the slot stays taken"
    );
    let undone = failed.then(
        0,
        [Event::RollbackStepSucceeded {
            kind: crate::deployment::ResourceKind::Application,
            id: rid("app1"),
        }],
    );
    assert!(
        !holds_build_slot(&undone.live()),
        "once the application is dealt with, the slot goes back"
    );
}

#[test]
fn a_resumed_run_takes_a_build_slot_again_before_it_polls() {
    let history = given(queued_in_slot());
    let resumed = history.resumed(T0 + 1_000);
    assert!(!holds_build_slot(&resumed), "a slot never outlives its run");
    assert_eq!(
        at(&resumed, T0 + 1_000, Executed::Nothing),
        Step::AcquireBuildSlot
    );
    let in_slot = resumed_in_slot(&history, T0 + 1_000);
    assert_eq!(
        at(&in_slot, T0 + 1_000, Executed::Recorded),
        call_step(list())
    );
}
