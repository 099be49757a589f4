//! The admission queue, cancel, the deadline and the outage wait as given(events) / when(the
//! step just executed) / then(the next step).

use std::time::Duration;

use crate::deployment::plan::fixtures::*;
use crate::deployment::plan::tests_rollback::recovery;
use crate::deployment::plan::{Executed, FailureClass, OutagePolicy, Settings, Step, next};
use crate::deployment::{ApiAnswer, Event, Phase, ResourceKind};

/// The deadline every deployment here was accepted with: 30 minutes after [`T0`].
const DEADLINE: i64 = T0 + 30 * 60 * 1_000;

fn accepted() -> Event {
    Event::DeploymentAccepted {
        deadline_ms: 30 * 60 * 1_000,
        deadline_at_ms: DEADLINE,
        cancel_hash: "ab".repeat(32),
    }
}

fn cancel(by: &str, reason: &str) -> Event {
    Event::CancelRequested {
        by: by.to_owned(),
        client: "c0ffee".to_owned(),
        reason: reason.to_owned(),
    }
}

fn cancelled_in(phase: Phase, message: &str, cancel_seq: u64) -> Step {
    record_caused(
        Event::DeploymentFailed {
            phase,
            code: "cancelled".to_owned(),
            message: message.to_owned(),
        },
        cancel_seq,
    )
}

/// `events` after the request and its terms (the first event of `events` is seq 3).
fn history(events: impl IntoIterator<Item = Event>) -> History {
    let mut all = vec![accepted()];
    all.extend(events);
    given(all)
}

#[test]
fn a_run_waits_in_the_admission_queue_recording_each_new_place_then_its_slot() {
    let state = history([]).unadmitted(T0);
    let settings = settings();
    assert_eq!(next(&state, &settings, T0, &Executed::Nothing), Step::Admit);
    let place = next(&state, &settings, T0, &Executed::Queued { ahead: 3 });
    assert_eq!(place, record(Event::AdmissionWaiting { ahead: 3 }));
    assert_eq!(
        next(&state, &settings, T0, &Executed::Recorded),
        Step::Admit
    );
    let granted = next(
        &state,
        &settings,
        T0,
        &Executed::Admitted { waited_ms: 900 },
    );
    assert_eq!(granted, record(Event::AdmissionGranted { waited_ms: 900 }));
    let mut admitted = state.clone();
    admitted.apply(
        crate::ids::Seq(3),
        T0 + 900,
        &Event::AdmissionGranted { waited_ms: 900 },
    );
    let first = next(&admitted, &settings, T0 + 900, &Executed::Recorded);
    assert_eq!(
        first,
        record(phase(Phase::CreatingProject)),
        "then the first phase"
    );
}

#[test]
fn a_cancel_fails_the_deployment_in_its_phase_caused_by_the_cancel() {
    let mut events = configured();
    events.push(cancel("operator:alice", "maintenance window"));
    let cancel_seq = events.len() as u64 + 2;
    let state = history(events).live();
    let step = next(&state, &settings(), T0, &Executed::Recorded);
    let message = "cancelled by operator alice: maintenance window";
    assert_eq!(
        step,
        cancelled_in(Phase::ConfiguringApplication, message, cancel_seq)
    );
    let state = history([cancel("requester", "")]).live();
    let step = next(&state, &settings(), T0, &Executed::Recorded);
    let message = "cancelled by the person who started it";
    assert_eq!(step, cancelled_in(Phase::Initializing, message, 3));
}

#[test]
fn a_cancel_lets_the_answered_call_be_recorded_but_never_a_new_phase_or_call() {
    let mut events = configured()[..12].to_vec(); // up to the application's create intent
    events.push(cancel("requester", ""));
    let state = history(events).live();
    let created = answered(create_application(), application("app1"));
    let step = next(&state, &settings(), T0, &created);
    assert_eq!(
        step,
        record(Event::ResourceCreated {
            kind: ResourceKind::Application,
            id: rid("app1")
        }),
        "what the create made is recorded, so the rollback undoes it"
    );
    let nothing_found = answered(find_application(), ApiAnswer::Application(None));
    let step = next(&state, &settings(), T0, &nothing_found);
    assert_eq!(
        failure_code(&step),
        Some((Phase::CreatingApplication, "cancelled")),
        "no create is sent after the cancel"
    );
    let mut configured_cancelled = configured();
    configured_cancelled.push(cancel("requester", ""));
    let state = history(configured_cancelled).live();
    let saved = answered(save(), ApiAnswer::Empty);
    let step = next(&state, &settings(), T0, &saved);
    assert_eq!(
        failure_code(&step),
        Some((Phase::ConfiguringApplication, "cancelled")),
        "the next phase is not entered"
    );
}

#[test]
fn a_deployment_cancelled_in_the_queue_ends_without_a_running_slot() {
    let state = history([cancel("operator:admin", "")]).unadmitted(T0);
    let step = next(&state, &settings(), T0, &Executed::Woken);
    assert_eq!(
        failure_code(&step),
        Some((Phase::Initializing, "cancelled"))
    );
    let failed = Event::DeploymentFailed {
        phase: Phase::Initializing,
        code: "cancelled".into(),
        message: "cancelled by operator admin".into(),
    };
    let state = history([cancel("operator:admin", ""), failed]).unadmitted(T0);
    let step = next(&state, &settings(), T0, &Executed::Recorded);
    assert_eq!(
        step,
        record_caused(Event::RollbackStarted, 4),
        "nothing to undo: no slot needed"
    );
}

#[test]
fn a_slot_granted_as_the_cancel_arrives_is_recorded_before_the_failure() {
    let state = history([cancel("requester", "")]).unadmitted(T0);
    let granted = Executed::Admitted { waited_ms: 40 };
    let step = next(&state, &settings(), T0, &granted);
    assert_eq!(
        step,
        record(Event::AdmissionGranted { waited_ms: 40 }),
        "the run holds the slot: it is on the record, so the rollback never asks for a second"
    );
}

#[test]
fn a_failed_deployment_that_called_dokploy_waits_for_a_slot_before_its_rollback() {
    let mut events = configured();
    events.push(Event::DeploymentFailed {
        phase: Phase::ConfiguringApplication,
        code: "cancelled".into(),
        message: "cancelled by the person who started it".into(),
    });
    let state = history(events)
        .then(1_000, [recovery()])
        .unadmitted(T0 + 1_000);
    assert_eq!(
        next(&state, &settings(), T0 + 1_000, &Executed::Nothing),
        Step::Admit
    );
}

#[test]
fn past_its_deadline_a_deployment_fails_deadline_exceeded_also_after_a_restart() {
    let state = history(configured()).live();
    let before = next(&state, &settings(), DEADLINE - 1, &Executed::Recorded);
    assert_eq!(failure_code(&before), None, "not yet");
    let step = next(&state, &settings(), DEADLINE, &Executed::Recorded);
    assert_eq!(
        failure_code(&step),
        Some((Phase::ConfiguringApplication, "deadline_exceeded"))
    );
    let restarted = history(configured())
        .then(40 * 60 * 1_000, [recovery()])
        .resumed(DEADLINE + 10 * 60 * 1_000);
    let step = next(
        &restarted,
        &settings(),
        DEADLINE + 600_000,
        &Executed::Nothing,
    );
    assert_eq!(
        failure_code(&step),
        Some((Phase::ConfiguringApplication, "deadline_exceeded")),
        "the recorded deadline holds across the restart"
    );
}

#[test]
fn a_deployment_recorded_without_a_deadline_counts_one_from_its_run() {
    // A 0.1.0 deployment: no DeploymentAccepted.
    let resumed_at = T0 + 24 * 3_600 * 1_000;
    let state = given(configured())
        .then(1_000, [recovery()])
        .resumed(resumed_at);
    let step = next(&state, &settings(), resumed_at, &Executed::Nothing);
    assert_eq!(failure_code(&step), None, "resumed, not failed at once");
    let later = resumed_at + 30 * 60 * 1_000;
    let step = next(&state, &settings(), later, &Executed::Recorded);
    assert_eq!(
        failure_code(&step),
        Some((Phase::ConfiguringApplication, "deadline_exceeded"))
    );
}

#[test]
fn an_open_breaker_makes_the_deployment_wait_until_its_deadline_instead_of_failing() {
    let events = configured();
    let state = history(events.clone()).live();
    let open = FailureClass::Unavailable {
        retry_in: Duration::from_secs(30),
    };
    let refused_call = refused(find_domain(), open);
    let step = next(&state, &settings(), T0, &refused_call);
    assert_eq!(
        step,
        record(Event::OutageWaiting {
            retry_in_ms: 30_000,
            gives_up_at_ms: DEADLINE
        })
    );
    let mut waiting = events;
    waiting.push(Event::OutageWaiting {
        retry_in_ms: 30_000,
        gives_up_at_ms: DEADLINE,
    });
    let state = history(waiting).live();
    let step = next(&state, &settings(), T0, &refused_call);
    assert_eq!(
        step,
        Step::Wait(Duration::from_secs(30)),
        "it waits for the breaker"
    );
    let step = next(&state, &settings(), DEADLINE - 5_000, &refused_call);
    assert_eq!(
        step,
        Step::Wait(Duration::from_secs(5)),
        "never past the deadline"
    );
    let step = next(&state, &settings(), DEADLINE, &refused_call);
    assert_eq!(
        failure_code(&step),
        Some((Phase::ConfiguringApplication, "deadline_exceeded"))
    );
    let failing = Settings {
        on_outage: OutagePolicy::Fail,
        ..settings()
    };
    let step = next(&state, &failing, T0, &refused_call);
    assert_eq!(
        failure_code(&step),
        Some((Phase::ConfiguringApplication, "dokploy_unavailable")),
        "--on-outage fail fails at once"
    );
}
