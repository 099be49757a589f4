//! An outage is not a failure: when the circuit breaker opens in the middle of a deployment
//! (`--on-outage wait`, the default), the deployment says it waits, and goes on once the breaker
//! lets calls through again, instead of failing and rolling back.

use std::collections::BTreeSet;

use stackledger::simulator::Fault;

use super::{count, ended};
use crate::build_queue::Live;
use crate::support::test_app::spawn_app;
use crate::support::{assert_simulator_holds, simulator};

#[tokio::test]
async fn an_open_breaker_makes_a_deployment_wait_and_it_succeeds_when_dokploy_answers_again() {
    let simulator = simulator().await;
    // Exactly enough failures to open the breaker (5 in a row); its probe then succeeds.
    simulator.add_fault(Fault::on("project.search").status(503).times(5));
    let dir = tempfile::tempdir().expect("temp dir");
    let flags = [
        "--retry-base=1ms",
        "--retry-delay-max=2ms",
        "--breaker-open-for=100ms",
    ];
    let app = spawn_app(dir.path(), &simulator, &flags).await;
    let id = app.deploy("patient").await;
    let mut live = Live::open(&app, &id).await;
    let last = ended(&mut live).await;
    assert_eq!(last.event, "complete", "it waited out the outage: {last:?}");
    let waiting = live
        .with_action("outage_waiting")
        .next()
        .map(|m| m.data["message"].as_str().unwrap_or_default().to_owned());
    let waiting = waiting.expect("the stream said it waits");
    assert!(
        waiting.starts_with("Dokploy is not answering; waiting, will give up at "),
        "{waiting}"
    );
    assert_eq!(count(&app, &id, "OutageWaiting"), 1, "once per outage");
    assert_eq!(count(&app, &id, "DeploymentFailed"), 0);
    assert_simulator_holds(&simulator, &BTreeSet::from(["patient".to_owned()]), "after");
    app.shutdown().await;
}
