//! The deploy and health waits as given(events) / when(the step just executed, at a time) /
//! then(the next step).

use crate::deployment::plan::fixtures::*;
use crate::deployment::plan::{Executed, Settings, Step, next};
use crate::deployment::saga::SagaState;
use crate::deployment::{Event, Phase};

/// The step `state` decides at `now_ms` after `executed`, with the default settings.
fn at(state: &SagaState, now_ms: i64, executed: Executed) -> Step {
    next(state, &settings(), now_ms, &executed)
}

#[test]
fn a_finished_deploy_decides_between_health_and_failure() {
    let finished = |status: &str| {
        let event = Event::DeployFinished {
            dokploy_status: status.into(),
        };
        given(queued()).then(0, [event]).live()
    };
    let reported = |status: &str| {
        let message = format!("Dokploy reported the deploy as {status}");
        failure(Phase::Deploying, "deploy_failed", &message)
    };
    let health = record(phase(Phase::VerifyingHealth));
    assert_eq!(at(&finished("done"), T0, Executed::Recorded), health);
    for status in ["error", "cancelled", "exploded"] {
        let step = at(&finished(status), T0, Executed::Recorded);
        assert_eq!(step, reported(status), "{status}");
    }
}

/// A deployment in `verifying_health` (entered at T0), then `extra`.
fn verifying(extra: Vec<Event>) -> History {
    let mut events = queued();
    events.push(Event::DeployFinished {
        dokploy_status: "done".into(),
    });
    events.push(phase(Phase::VerifyingHealth));
    events.extend(extra);
    given(events)
}

fn attempt(n: u32, status: Option<u16>) -> Event {
    Event::HealthCheckAttempt {
        n,
        status,
        error: None,
        duration_ms: 4,
    }
}

fn probe() -> Step {
    Step::Probe {
        url: "http://sim/shop/health".to_owned(),
    }
}

#[test]
fn health_is_probed_and_each_poll_recorded_with_its_number() {
    let refused_poll = Event::HealthCheckAttempt {
        n: 1,
        status: None,
        error: Some("connection refused".into()),
        duration_ms: 4,
    };
    after(
        &verifying(vec![]).live(),
        T0,
        vec![
            (Executed::Recorded, probe(), "probe"),
            (
                probed(None),
                record(refused_poll),
                "a failed poll is recorded",
            ),
        ],
    );
    let polled = verifying(vec![attempt(1, Some(503))]).live();
    after(
        &polled,
        T0 + 5_000,
        vec![
            (
                probed(Some(503)),
                record(attempt(2, Some(503))),
                "the number goes on",
            ),
            (
                Executed::Recorded,
                Step::Wait(secs(5)),
                "503: wait an interval",
            ),
            (Executed::Waited, probe(), "after the wait, probe again"),
        ],
    );
}

#[test]
fn health_that_is_not_200_within_the_timeout_fails_the_deployment() {
    let polled = verifying(vec![attempt(1, Some(503))]);
    let last = T0 + 55_000;
    let step = at(&polled.live(), last, Executed::Recorded);
    assert_eq!(step, Step::Wait(secs(5)), "the last poll that fits");
    let message = "http://sim/shop/health did not answer 200 within 1m";
    let expected = failure(Phase::VerifyingHealth, "health_timeout", message);
    assert_eq!(at(&polled.live(), last + 1, Executed::Recorded), expected);
    let resumed = polled.resumed(T0 + 90_000);
    let step = at(&resumed, T0 + 90_000 + 55_000, Executed::Recorded);
    assert_eq!(step, Step::Wait(secs(5)), "a resumed run waits afresh");
}

#[test]
fn a_200_is_verified_then_success_recorded_and_a_resumed_run_probes_again() {
    let polled = verifying(vec![attempt(1, Some(200))]).live();
    let verified = record(Event::HealthVerified { after_ms: 15_000 });
    assert_eq!(at(&polled, T0 + 15_000, Executed::Recorded), verified);
    let healthy = verifying(vec![
        attempt(1, Some(200)),
        Event::HealthVerified { after_ms: 0 },
    ]);
    let succeeded = Event::DeploymentSucceeded {
        url: "https://shop.ai.flexinit.nl".into(),
    };
    assert_eq!(
        at(&healthy.live(), T0, Executed::Recorded),
        record(succeeded)
    );
    let resumed = healthy.resumed(T0 + 90_000);
    assert_eq!(
        at(&resumed, T0 + 90_000, Executed::Nothing),
        probe(),
        "even after a 200"
    );
}

#[test]
fn a_zero_health_timeout_lets_the_first_poll_decide() {
    let settings = Settings {
        health_timeout: std::time::Duration::ZERO,
        ..settings()
    };
    let state = verifying(vec![attempt(1, Some(503))]).live();
    let step = next(&state, &settings, T0, &Executed::Recorded);
    let expected = Some((Phase::VerifyingHealth, "health_timeout"));
    assert_eq!(failure_code(&step), expected);
    let state = verifying(vec![attempt(1, Some(200))]).live();
    let step = next(&state, &settings, T0, &Executed::Recorded);
    assert_eq!(step, record(Event::HealthVerified { after_ms: 0 }));
}
