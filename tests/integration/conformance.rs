//! The conformance suite: every request/answer fact of §7 of `../shared/dokploy-behaviour.md`
//! (checks 1-50, as Dokploy v0.30.2 answers them) run against the simulator, in-process and as
//! its own process (`stackledger simulate`), so that the simulator cannot drift from Dokploy
//! again. The table is `conformance/table.rs` (one row per check: its requests, earlier ones
//! setting it up, each with the assertions on its status and body); the runner,
//! `conformance/runner.rs`, sends them over HTTP and names the number of every check that
//! fails. A fact the simulator does not reproduce is a defect of the simulator, not the table.

mod check;
mod deploys;
mod resources;
mod runner;
mod table;
mod transport;

use std::process::{Command, Stdio};

use crate::support::SIM_KEY;
use crate::support::portal::{Launch, Portal};

/// How many polls of `deployment.all` a build's row stays `running`: more than one, so that a
/// build is still running when a check restarts Dokploy or queues the next deploy (a real
/// build takes a while).
const DEPLOY_POLLS: u32 = 3;

#[tokio::test]
async fn the_in_process_simulator_answers_every_check_as_dokploy_does() {
    let key = stackledger::config::ApiKey::new(SIM_KEY).expect("a valid key");
    let options = stackledger::simulator::SimulatorOptions {
        deploy_polls: std::num::NonZeroU32::new(DEPLOY_POLLS).expect("not zero"),
        ..stackledger::simulator::SimulatorOptions::new(key, 7)
    };
    let simulator =
        stackledger::simulator::Simulator::start("127.0.0.1:0".parse().expect("addr"), options)
            .await
            .expect("the simulator starts");
    let failures = runner::run(&simulator.address().to_string(), table::CHECKS).await;
    assert!(failures.is_empty(), "{}", runner::report(&failures));
}

#[tokio::test]
async fn the_standalone_simulator_answers_every_check_as_dokploy_does() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stackledger"));
    command
        .args(["simulate", "--listen", "127.0.0.1:0", "--api-key", SIM_KEY])
        .args([
            "--log-format",
            "json",
            "--builds",
            "1",
            "--build-duration",
            "0s",
        ])
        .args(["--deploy-polls", &DEPLOY_POLLS.to_string()])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let simulator: Portal = match Portal::launch(command) {
        Launch::Serving(simulator) => simulator,
        Launch::Exited { status, logs } => {
            panic!("`stackledger simulate` did not start ({status}): {logs:#?}")
        }
    };
    let failures = runner::run(&simulator.address, table::CHECKS).await;
    assert!(failures.is_empty(), "{}", runner::report(&failures));
}

#[test]
fn the_table_has_every_check_of_the_facts_file_once_and_in_order() {
    let numbers: Vec<u8> = table::CHECKS.iter().map(|check| check.number).collect();
    assert_eq!(numbers, (1..=50).collect::<Vec<u8>>());
}
