//! A Dokploy call that hangs past the deployment's deadline: the call is bounded by its own
//! timeout, and at the next step boundary the deployment fails `deadline_exceeded` and rolls
//! back everything it made, also when the portal is stopped during the hang and restarted.

use std::collections::BTreeSet;

use stackledger::simulator::Fault;

use super::{count, ended};
use crate::build_queue::Live;
use crate::support::test_app::spawn_app;
use crate::support::{assert_simulator_holds, simulator};

/// The deadline is shorter than one hung request, so the step after the hang is past it.
const FLAGS: [&str; 4] = [
    "--deployment-deadline=1s",
    "--dokploy-timeout=1500ms",
    "--retry-base=1ms",
    "--retry-delay-max=2ms",
];

fn hang(path: &str, times: u32) -> Fault {
    Fault {
        hang: true,
        ..Fault::on(path).times(times)
    }
}

#[tokio::test]
async fn a_call_hanging_past_the_deadline_ends_deadline_exceeded_and_everything_is_rolled_back() {
    let simulator = simulator().await;
    simulator.add_fault(hang("domain.create", 1));
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app(dir.path(), &simulator, &FLAGS).await;
    let id = app.deploy("slowpoke").await;
    let last = ended(&mut Live::open(&app, &id).await).await;
    assert_eq!(last.event, "error", "{last:?}");
    assert_eq!(last.data["code"], "deadline_exceeded", "{last:?}");
    assert_eq!(last.data["rollback"], "complete", "{last:?}");
    assert_eq!(
        count(&app, &id, "DeploymentAccepted"),
        1,
        "the deadline is on the record"
    );
    let creates = simulator
        .requests()
        .iter()
        .filter(|request| request.procedure == "domain.create")
        .count();
    assert_eq!(
        creates, 1,
        "past the deadline the hung create is not tried again"
    );
    assert_simulator_holds(&simulator, &BTreeSet::new(), "after the deadline");
    app.shutdown().await;
}

#[tokio::test]
async fn the_recorded_deadline_still_holds_when_the_portal_stops_during_the_hang_and_restarts() {
    let simulator = simulator().await;
    // The first hang is cut short by the stop; the second, after the restart, outlasts the
    // deadline recorded at the request.
    simulator.add_fault(hang("domain.create", 2));
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app(dir.path(), &simulator, &FLAGS).await;
    let id = app.deploy("sleepy").await;
    let mut live = Live::open(&app, &id).await;
    let hung = live
        .until(|m| m.data["message"] == "Calling domain.create")
        .await;
    assert!(hung, "the deployment reached the hung call");
    drop(live);
    app.shutdown().await;
    let app = spawn_app(dir.path(), &simulator, &FLAGS).await;
    let last = ended(&mut Live::open(&app, &id).await).await;
    assert_eq!(last.event, "error", "{last:?}");
    assert_eq!(last.data["code"], "deadline_exceeded", "{last:?}");
    assert_eq!(last.data["rollback"], "complete", "{last:?}");
    assert_eq!(count(&app, &id, "RecoveryStarted"), 1);
    assert_eq!(
        count(&app, &id, "DeploymentAccepted"),
        1,
        "one deadline, kept"
    );
    assert_simulator_holds(&simulator, &BTreeSet::new(), "after the restart");
    app.shutdown().await;
}
