//! A Dokploy restart in the middle of the portal's work, through the real HTTP surface: one
//! build runs on Dokploy while two deployments wait in the portal's line for the one build slot;
//! the restart cancels the running build (Dokploy's startup sweep), and every deployment must
//! still end well: the cancelled one queued again once, under a new title, the waiting ones
//! built in their turn, and on Dokploy exactly one running service and route for each.
//!
//! Builds take a minute on the simulator's own `ManualClock`, so nothing here depends on how fast
//! the machine is: the test moves that clock only when a build has started, as the status
//! streams show, and never sleeps.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use stackledger::clock::ManualClock;
use stackledger::config::ApiKey;
use stackledger::simulator::{Simulator, SimulatorOptions};

use crate::build_queue::Live;
use crate::support::SIM_KEY;
use crate::support::test_app::spawn_app;

const BUILD: Duration = Duration::from_secs(60);

fn started(message: &crate::support::test_app::Message) -> bool {
    message.event == "progress" && message.data["action"] == "deploy_started"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dokploy_restart_while_one_build_runs_and_two_wait_lets_each_deployment_recover() {
    let clock = Arc::new(ManualClock::new(1_767_225_600_000));
    let key = ApiKey::new(SIM_KEY).expect("a valid key");
    let options = SimulatorOptions {
        build_duration: BUILD,
        clock: Arc::clone(&clock) as Arc<dyn stackledger::clock::Clock>,
        ..SimulatorOptions::new(key, 7)
    };
    let any_port = "127.0.0.1:0".parse().expect("an address");
    let simulator = Simulator::start(any_port, options).await.expect("starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_app(dir.path(), &simulator, &["--dokploy-builds=1"]).await;
    let names = ["alpha", "beta", "gamma"];
    let mut streams = Vec::new();
    for name in names {
        let id = app.deploy(name).await;
        streams.push((id.clone(), Live::open(&app, &id).await));
    }
    // One build runs on Dokploy (its row is there), the other two wait in the portal's line.
    let (first, waiting) = streams.split_first_mut().expect("three streams");
    assert!(first.1.until(started).await, "the first build started");
    for (_, live) in waiting.iter_mut() {
        let in_line = |m: &crate::support::test_app::Message| {
            m.event == "progress" && m.data["action"] == "build_slot_waiting"
        };
        assert!(live.until(in_line).await, "the others wait for the slot");
    }
    simulator.restart();
    // The cancelled build is queued again and starts again; the others follow in their turn.
    for (position, (_, live)) in streams.iter_mut().enumerate() {
        // The restarted deployment builds a second time; the others build once.
        if position == 0 || live.with_action("deploy_started").count() == 0 {
            let seen = live.with_action("deploy_started").last().and_then(|m| m.id);
            let new_build = |m: &crate::support::test_app::Message| started(m) && m.id > seen;
            assert!(live.until(new_build).await, "stream {position} builds");
        }
        clock.advance(BUILD);
        let ended = live
            .until(|m| m.event == "complete" || m.event == "error")
            .await;
        assert!(ended, "stream {position} ended");
        let last = live.with_last();
        assert_eq!(last.event, "complete", "stream {position}: {:?}", last.data);
    }
    let requeues: Vec<usize> = streams
        .iter()
        .map(|(_, live)| live.with_action("deploy_requeued").count())
        .collect();
    assert_eq!(
        requeues,
        vec![1, 0, 0],
        "only the cancelled build is queued again"
    );
    let succeeded: BTreeSet<String> = names.iter().map(|name| (*name).to_owned()).collect();
    crate::support::assert_simulator_holds(&simulator, &succeeded, "after the restart");
    app.shutdown().await;
}
