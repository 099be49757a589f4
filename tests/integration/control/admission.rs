//! The admission queue: with `--running-max 2`, six deployments started together are all
//! accepted; the two running hold their slots (here: waiting for Dokploy's build slot, which
//! the test holds), the other four wait in order, each stream showing its place as the line
//! moves; all six succeed, admitted in the order they were requested, also when the portal is
//! restarted with the queue full.

use std::str::FromStr;

use stackledger::deployment::Event;
use stackledger::ids::{DeploymentId, Seq};

use super::{ended, events, hold_build_slot};
use crate::build_queue::Live;
use crate::support::simulator;
use crate::support::test_app::{TestApp, spawn_app};

const NAMES: [&str; 6] = ["one", "two", "three", "four", "five", "six"];

/// Starts the six with the build slot held: two wait for it, four in the admission queue.
async fn six_in_line(app: &TestApp) -> Vec<(String, Live)> {
    let mut started = Vec::new();
    for (position, name) in NAMES.into_iter().enumerate() {
        let id = app.deploy(name).await;
        let mut live = Live::open(app, &id).await;
        let wanted = if position < 2 {
            "build_slot_waiting"
        } else {
            "admission_waiting"
        };
        assert!(
            live.until(|m| m.data["action"] == wanted).await,
            "{name} reached {wanted}"
        );
        started.push((id, live));
    }
    started
}

/// The seq of the deployment's last `AdmissionGranted`.
fn granted(app: &TestApp, id: &str) -> Seq {
    events(app, id)
        .iter()
        .rev()
        .find(|e| matches!(e.event, Event::AdmissionGranted { .. }))
        .map(|e| e.seq)
        .expect("admitted")
}

#[tokio::test]
async fn six_deployments_with_two_running_all_succeed_in_order_each_stream_showing_its_place() {
    let simulator = simulator().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app(dir.path(), &simulator, &["--running-max=2"]).await;
    let held = hold_build_slot(&app).await;
    let mut started = six_in_line(&app).await;
    let firsts: Vec<String> = started[2..]
        .iter()
        .map(|(_, live)| {
            live.with_last().data["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        firsts,
        [
            "Queued: next in line",
            "Queued: 1 ahead of you",
            "Queued: 2 ahead of you",
            "Queued: 3 ahead of you"
        ]
    );
    let admission = app.app.orchestrator.admission();
    assert_eq!((admission.building, admission.waiting), (2, 4));
    drop(held);
    for (id, live) in &mut started {
        let last = ended(live).await;
        assert_eq!(last.event, "complete", "{id}: {last:?}");
    }
    let places: Vec<String> = started[5]
        .1
        .with_action("admission_waiting")
        .map(|m| m.data["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        places.first().map(String::as_str),
        Some("Queued: 3 ahead of you")
    );
    assert_eq!(
        places.last().map(String::as_str),
        Some("Queued: next in line"),
        "{places:?}"
    );
    let order: Vec<Seq> = started.iter().map(|(id, _)| granted(&app, id)).collect();
    assert!(
        order[2..].is_sorted(),
        "admitted in the order requested: {order:?}"
    );
    assert!(order[2] > order[0].max(order[1]), "{order:?}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_restart_with_deployments_in_the_queue_keeps_their_order() {
    let simulator = simulator().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app(dir.path(), &simulator, &["--running-max=2"]).await;
    let held = hold_build_slot(&app).await;
    let ids: Vec<String> = six_in_line(&app)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    app.shutdown().await;
    drop(held);
    let app = spawn_app(dir.path(), &simulator, &["--running-max=2"]).await;
    for id in &ids {
        let last = ended(&mut Live::open(&app, id).await).await;
        assert_eq!(last.event, "complete", "{id}: {last:?}");
    }
    let order: Vec<Seq> = ids.iter().map(|id| granted(&app, id)).collect();
    assert!(
        order[2..].is_sorted(),
        "the queue kept its order: {order:?}"
    );
    assert!(order[2] > order[0].max(order[1]), "{order:?}");
    for id in &ids {
        let id = DeploymentId::from_str(id).expect("an id");
        let recovered = app
            .app
            .ledger
            .read_stream(id, Seq::ZERO, usize::MAX)
            .expect("reads")
            .iter()
            .any(|e| matches!(e.event, Event::RecoveryStarted { .. }));
        assert!(recovered, "{id} went through recovery");
    }
    app.shutdown().await;
}
