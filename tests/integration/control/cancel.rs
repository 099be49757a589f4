//! Cancel through the HTTP surface: in every phase with a Dokploy call the deployment stops at
//! its next step boundary, ends `cancelled` and leaves nothing on Dokploy; during the rollback
//! of a failure a cancel changes nothing (409 with the state); of two racing cancels exactly one
//! is recorded; the requester's capability works, another secret gets 403, none gets 401.

use std::collections::BTreeSet;

use serde_json::json;
use stackledger::simulator::Fault;
use stackledger::simulator::fault::{Forever, Polls};

use super::{admin, cancel, count, ended, events, hold_build_slot};
use crate::build_queue::Live;
use crate::support::test_app::{TestApp, spawn_app};
use crate::support::{assert_simulator_holds, http, simulator};

/// A hung request ends at this timeout: far more than a cancel takes on loopback.
const FLAGS: [&str; 3] = [
    "--dokploy-timeout=1s",
    "--retry-base=1ms",
    "--retry-delay-max=2ms",
];

fn hang(path: &str) -> Fault {
    Fault {
        hang: true,
        ..Fault::on(path).times(1)
    }
}

/// Deploys `name`, waits until its stream shows `reached`, cancels as an operator with a
/// reason, and returns the terminal message and the stream's failure phase.
async fn cancelled_when(
    app: &TestApp,
    name: &str,
    reached: impl Fn(&crate::support::test_app::Message) -> bool,
) -> (crate::support::test_app::Message, String) {
    let id = app.deploy(name).await;
    let mut live = Live::open(app, &id).await;
    assert!(
        live.until(reached).await,
        "{name} reached the point to cancel"
    );
    let (status, body) = cancel(
        app,
        &id,
        Some(&admin(app)),
        json!({"reason": "wrong stack"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let last = ended(&mut live).await;
    let failed = events(app, &id)
        .into_iter()
        .find_map(|e| match e.event {
            stackledger::deployment::Event::DeploymentFailed { phase, .. } => {
                Some(phase.as_str().to_owned())
            }
            _ => None,
        })
        .expect("the deployment failed");
    (last, failed)
}

#[tokio::test]
async fn a_cancel_in_each_phase_ends_cancelled_and_removes_everything_it_created() {
    let simulator = simulator().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app(dir.path(), &simulator, &FLAGS).await;
    let calls = [
        ("alpha", "project.create", "creating_project"),
        ("bravo", "application.create", "creating_application"),
        (
            "charlie",
            "application.saveDockerProvider",
            "configuring_application",
        ),
        ("delta", "domain.create", "creating_domain"),
    ];
    for (name, procedure, phase) in calls {
        simulator.add_fault(hang(procedure));
        let calling = format!("Calling {procedure}");
        let (last, failed) = cancelled_when(&app, name, |m| m.data["message"] == calling).await;
        assert_eq!(last.event, "error", "{name}: {last:?}");
        assert_eq!(last.data["code"], "cancelled", "{name}: {last:?}");
        assert_eq!(last.data["rollback"], "complete", "{name}: {last:?}");
        assert_eq!(
            failed, phase,
            "{name} stopped in the phase it was cancelled in"
        );
        assert_simulator_holds(&simulator, &BTreeSet::new(), name);
    }
    // Deploying: held in line for Dokploy's build slot.
    let held = hold_build_slot(&app).await;
    let (last, failed) =
        cancelled_when(&app, "echo", |m| m.data["action"] == "build_slot_waiting").await;
    drop(held);
    assert_eq!(last.data["code"], "cancelled", "{last:?}");
    assert_eq!(failed, "deploying");
    // Verifying health: the app never turns healthy.
    simulator.add_fault(Fault {
        unhealthy: Some("foxtrot".into()),
        polls: Some(Polls::Forever(Forever::Forever)),
        ..Fault::default()
    });
    let (last, failed) = cancelled_when(&app, "foxtrot", |m| {
        m.data["action"] == "health_check_attempt"
    })
    .await;
    assert_eq!(last.data["code"], "cancelled", "{last:?}");
    assert_eq!(last.data["rollback"], "complete", "{last:?}");
    assert_eq!(failed, "verifying_health");
    assert_simulator_holds(&simulator, &BTreeSet::new(), "after every cancel");
    app.shutdown().await;
}

#[tokio::test]
async fn a_cancel_during_the_rollback_of_a_failure_changes_nothing_and_says_why() {
    let simulator = simulator().await;
    simulator.add_fault(Fault {
        deploy_outcome: Some("error".into()),
        ..Fault::default().times(1)
    });
    simulator.add_fault(hang("application.delete"));
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app(dir.path(), &simulator, &FLAGS).await;
    let id = app.deploy("golf").await;
    let mut live = Live::open(&app, &id).await;
    let rolling_back = live
        .until(|m| m.data["message"] == "Calling application.delete")
        .await;
    assert!(rolling_back, "the failed deployment is rolling back");
    let (status, body) = cancel(&app, &id, Some(&admin(&app)), json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "not_cancellable", "{body}");
    assert_eq!(body["error"]["state"]["status"], "in_progress", "{body}");
    assert_eq!(body["error"]["state"]["code"], "deploy_failed", "{body}");
    let last = ended(&mut live).await;
    assert_eq!(
        last.data["code"], "deploy_failed",
        "the failure stands: {last:?}"
    );
    assert_eq!(
        count(&app, &id, "CancelRequested"),
        0,
        "nothing was recorded"
    );
    let (status, body) = cancel(&app, &id, Some(&admin(&app)), json!({})).await;
    assert_eq!(status, 409, "a finished deployment: {body}");
    assert_eq!(body["error"]["state"]["status"], "failure", "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn of_two_racing_cancels_exactly_one_is_recorded_and_the_other_gets_409() {
    let simulator = simulator().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let held = hold_build_slot(&app).await;
    let id = app.deploy("hotel").await;
    let mut live = Live::open(&app, &id).await;
    assert!(
        live.until(|m| m.data["action"] == "build_slot_waiting")
            .await
    );
    let token = admin(&app);
    let (first, second) = tokio::join!(
        cancel(&app, &id, Some(&token), json!({"reason": "one"})),
        cancel(&app, &id, Some(&token), json!({"reason": "two"})),
    );
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409], "{first:?} {second:?}");
    let refused = if first.0 == 409 { &first.1 } else { &second.1 };
    assert_eq!(refused["error"]["state"]["cancelled"], true, "{refused}");
    assert_eq!(ended(&mut live).await.data["code"], "cancelled");
    drop(held);
    assert_eq!(count(&app, &id, "CancelRequested"), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn the_requester_cancels_with_the_capability_it_was_handed_and_nothing_else_works() {
    let simulator = simulator().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let held = hold_build_slot(&app).await;
    let accepted: serde_json::Value = http()
        .post(app.url("/api/deploy"))
        .json(&json!({"name": "india"}))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    let id = accepted["deploymentId"].as_str().expect("an id").to_owned();
    let token = accepted["cancel"]["token"]
        .as_str()
        .expect("a capability")
        .to_owned();
    assert_eq!(
        accepted["cancel"]["url"],
        format!("/api/deployments/{id}/cancel")
    );
    let mut live = Live::open(&app, &id).await;
    assert!(
        live.until(|m| m.data["action"] == "build_slot_waiting")
            .await
    );
    let (status, body) = cancel(&app, &id, None, json!({})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized")),
        "{body}"
    );
    let wrong = "f".repeat(64);
    let (status, body) = cancel(&app, &id, Some(&wrong), json!({})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("forbidden")),
        "{body}"
    );
    assert_eq!(
        count(&app, &id, "CancelRequested"),
        0,
        "refusals record nothing"
    );
    let refusals = app
        .app
        .ledger
        .read_stream(
            stackledger::ids::DeploymentId::OPS,
            stackledger::ids::Seq::ZERO,
            usize::MAX,
        )
        .expect("the ops stream reads")
        .into_iter()
        .filter(|e| e.event.kind().name() == "AuthenticationRefused")
        .count();
    assert!(refusals >= 1, "a wrong secret is counted on the ops stream");
    let (status, body) = cancel(&app, &id, Some(&token), json!({"reason": "typo"})).await;
    assert_eq!(status, 202, "{body}");
    let last = ended(&mut live).await;
    drop(held);
    assert_eq!(last.data["code"], "cancelled", "{last:?}");
    let recorded = events(&app, &id);
    let by = recorded.iter().find_map(|e| match &e.event {
        stackledger::deployment::Event::CancelRequested { by, reason, .. } => {
            Some((by.clone(), reason.clone()))
        }
        _ => None,
    });
    assert_eq!(by, Some(("requester".to_owned(), "typo".to_owned())));
    let everything = serde_json::to_string(&recorded).expect("events serialize");
    assert!(
        !everything.contains(&token),
        "the capability is never recorded"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_cancel_recorded_before_a_crash_takes_effect_when_the_run_is_recovered() {
    use stackledger::deployment::{Event, Phase};
    use stackledger::ids::DeploymentId;
    let simulator = simulator().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger_dir = dir.path().join("ledger");
    // As a crash leaves it: the cancel is durable, the run that would have acted on it is gone.
    let id = DeploymentId::from_uuid(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0777,
    ));
    {
        let test = crate::support::open_ledger(&ledger_dir);
        let events = vec![
            crate::support::requested("juliet"),
            Event::DeploymentAccepted {
                deadline_ms: 3_600_000,
                deadline_at_ms: i64::MAX / 2,
                cancel_hash: String::new(),
            },
            Event::AdmissionGranted { waited_ms: 0 },
            crate::support::phase(Phase::CreatingProject),
        ];
        crate::support::append(&test.ledger, id, events).await;
        let cancel = Event::CancelRequested {
            by: "operator:admin".into(),
            client: "c0ffee".into(),
            reason: "before the crash".into(),
        };
        crate::support::append(&test.ledger, id, vec![cancel]).await;
        crate::support::close(test.ledger).await;
        crate::support::wait_released(&ledger_dir);
    }
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let last = ended(&mut Live::open(&app, &id.to_string()).await).await;
    assert_eq!(last.event, "error", "{last:?}");
    assert_eq!(last.data["code"], "cancelled", "{last:?}");
    assert_eq!(last.data["rollback"], "complete", "{last:?}");
    assert_simulator_holds(&simulator, &BTreeSet::new(), "after the recovered cancel");
    app.shutdown().await;
}
