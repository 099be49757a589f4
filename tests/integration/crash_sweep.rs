//! The crash sweep: for every crash point and every occurrence of it in a run that deploys one
//! stack (three resources) and fails another (rolled back), abort there, crash once more inside
//! recovery, recover, and check that every deployment ended `success` or `failure` with a
//! complete rollback, and that Dokploy holds exactly the resources of the successful ones.
//! Every run takes a checkpoint every [`CHECKPOINT_EVENTS`] events (and at its clean end), so
//! every point is swept with checkpoints being taken, a crash inside one (`in_checkpoint`)
//! included.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, ExitStatus};

use serde_json::Value;
use stackledger::deployment::{DeploymentStatus, RollbackOutcome};
use stackledger::simulator::{Fault, Simulator};

use crate::support::{SIM_KEY, open_ledger, simulator};

/// A checkpoint every this many events: several in each run of the two deployments.
const CHECKPOINT_EVENTS: u64 = 10;

/// Runs `stackledger-bench drive` and returns its status and stdout.
async fn drive(
    simulator: &Simulator,
    dir: &Path,
    names: &[&str],
    crash_at: Option<String>,
    print_counts: bool,
) -> (ExitStatus, String) {
    let mut args = vec![
        "drive".to_owned(),
        format!("--data-dir={}", dir.display()),
        format!("--dokploy-url={}", simulator.origin()),
        format!("--api-key={SIM_KEY}"),
        format!("--health-url={}", simulator.health_url_template()),
        format!("--checkpoint-events={CHECKPOINT_EVENTS}"),
    ];
    if !names.is_empty() {
        args.push(format!("--names={}", names.join(",")));
    }
    if let Some(crash_at) = crash_at {
        args.push(format!("--crash-at={crash_at}"));
    }
    if print_counts {
        args.push("--print-counts".to_owned());
    }
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_stackledger-bench"))
            .args(args)
            .env("RUST_LOG", "error")
            .output()
    })
    .await
    .expect("the child's waiter ends")
    .expect("the driver runs");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

async fn fresh_simulator() -> Simulator {
    let simulator = simulator().await;
    let unhealthy = r#"{"unhealthy": "bad", "polls": "forever"}"#;
    simulator.add_fault(serde_json::from_str::<Fault>(unhealthy).expect("a fault"));
    simulator
}

/// Every deployment is over, failures rolled back completely, and Dokploy holds exactly the
/// successful stacks.
fn check_outcome(dir: &Path, simulator: &Simulator, round: &str) {
    let test = open_ledger(&dir.join("ledger"));
    let model = test.read_model.snapshot();
    let query = stackledger::projection::ListQuery {
        limit: usize::MAX,
        ..Default::default()
    };
    let mut succeeded = BTreeSet::new();
    for state in model.list(&query).expect("reads") {
        match state.status {
            DeploymentStatus::Success => {
                succeeded.insert(state.name.clone());
            }
            DeploymentStatus::Failure => {
                assert_eq!(
                    state.rollback_outcome(),
                    Some(RollbackOutcome::Complete),
                    "{round}: {}",
                    state.name
                );
            }
            DeploymentStatus::InProgress => panic!("{round}: {} is still in progress", state.name),
        }
    }
    crate::support::assert_simulator_holds(simulator, &succeeded, round);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_and_occurrence_recovers_to_a_clean_end() {
    let dry_dir = tempfile::tempdir().expect("temp dir");
    let dry = fresh_simulator().await;
    let (status, out) = drive(&dry, dry_dir.path(), &["good", "bad"], None, true).await;
    assert!(status.success(), "the dry run works: {out}");
    let counts: Value = out
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|line| line.get("counts").cloned())
        .expect("the dry run prints its counts");
    check_outcome(dry_dir.path(), &dry, "dry run");
    let checkpoints = counts["in_checkpoint"].as_u64().unwrap_or(0);
    assert!(
        checkpoints >= 2,
        "the dry run takes checkpoints while it deploys: {counts}"
    );
    let mut rounds = 0;
    let mut crashed = 0;
    for (point, count) in counts.as_object().expect("an object") {
        let count = count.as_u64().expect("a count");
        for occurrence in 1..=count {
            let round = format!("{point}:{occurrence}");
            let dir = tempfile::tempdir().expect("temp dir");
            let simulator = fresh_simulator().await;
            let (status, _) = drive(
                &simulator,
                dir.path(),
                &["good", "bad"],
                Some(round.clone()),
                false,
            )
            .await;
            crashed += usize::from(!status.success());
            // Crash once more, inside recovery (a no-op when nothing is left to recover).
            let recovery_crash = Some("in_recovery:1".to_owned());
            drive(&simulator, dir.path(), &[], recovery_crash, false).await;
            let (status, out) = drive(&simulator, dir.path(), &[], None, false).await;
            assert!(status.success(), "{round}: the recovery run failed: {out}");
            check_outcome(dir.path(), &simulator, &round);
            rounds += 1;
        }
    }
    assert!(rounds > 100, "the sweep covered {rounds} rounds");
    assert_eq!(crashed, rounds, "every round crashed where it was told to");
}
