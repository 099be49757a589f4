//! The crash sweep: for every crash point and every occurrence of it in a run that deploys one
//! stack (three resources) and fails another (rolled back), abort there, crash once more inside
//! recovery, recover, and check that every deployment ended `success` or `failure` with a
//! complete rollback, and that Dokploy holds exactly the resources of the successful ones.
//! Every run takes a checkpoint every [`CHECKPOINT_EVENTS`] events (and at its clean end), so
//! every point is swept with checkpoints being taken. The ledger's own points (a group written
//! and not yet synced, a checkpoint being stored) are not in the driver's counts: each is swept
//! from its first occurrence until a run no longer reaches it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, ExitStatus};

use serde_json::Value;
use stackledger::deployment::{DeploymentStatus, EventKind, RollbackOutcome};
use stackledger::ids::Seq;
use stackledger::simulator::{Fault, Simulator};

use crate::support::{SIM_KEY, close, open_ledger, simulator, wait_released};

/// A checkpoint every this many events: several in each run of the two deployments.
const CHECKPOINT_EVENTS: u64 = 10;

/// The ledger's crash points: its crash counter is its own, so the driver's counts (the
/// orchestrator's) never include them.
const LEDGER_POINTS: [&str; 2] = ["after_store_write", "in_checkpoint"];

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

/// The events of the log in `dir` and how many of them are `CheckpointTaken`.
async fn log_figures(dir: &Path) -> (usize, usize) {
    let ledger_dir = dir.join("ledger");
    let test = open_ledger(&ledger_dir);
    let log = test
        .ledger
        .read_after(Seq::ZERO, usize::MAX)
        .expect("reads");
    close(test.ledger).await;
    wait_released(&ledger_dir);
    let checkpoints = log
        .iter()
        .filter(|envelope| envelope.event.kind() == EventKind::CheckpointTaken)
        .count();
    (log.len(), checkpoints)
}

/// One round: a run that aborts at `point:occurrence` (or ends, if it never gets there), one
/// more crash inside recovery, a recovery run, and the check; whether the first run crashed.
async fn round(point: &str, occurrence: u64) -> bool {
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
    // Crash once more, inside recovery (a no-op when nothing is left to recover).
    let recovery_crash = Some("in_recovery:1".to_owned());
    drive(&simulator, dir.path(), &[], recovery_crash, false).await;
    let (recovered, out) = drive(&simulator, dir.path(), &[], None, false).await;
    assert!(
        recovered.success(),
        "{round}: the recovery run failed: {out}"
    );
    check_outcome(dir.path(), &simulator, &round);
    !status.success()
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
    let (events, checkpoints) = log_figures(dry_dir.path()).await;
    check_outcome(dry_dir.path(), &dry, "dry run");
    assert!(
        checkpoints >= 2,
        "the dry run takes checkpoints while it deploys ({checkpoints} in {events} events)"
    );
    let mut rounds = 0;
    let mut crashed = 0;
    for (point, count) in counts.as_object().expect("an object") {
        if LEDGER_POINTS.contains(&point.as_str()) {
            continue;
        }
        for occurrence in 1..=count.as_u64().expect("a count") {
            crashed += usize::from(round(point, occurrence).await);
            rounds += 1;
        }
    }
    assert!(rounds > 100, "the sweep covered {rounds} rounds");
    assert_eq!(crashed, rounds, "every round crashed where it was told to");

    // The ledger's points are not in the driver's counts: each is swept from its first
    // occurrence until a run no longer reaches it (a group commit or a checkpoint per event
    // at most, so within the dry run's events and as many again).
    for point in LEDGER_POINTS {
        let bound = 2 * events as u64;
        let mut occurrence = 1;
        while round(point, occurrence).await {
            occurrence += 1;
            assert!(
                occurrence <= bound,
                "{point} is still reached at {occurrence}"
            );
        }
        let reached = occurrence - 1;
        eprintln!("crash sweep: {point} swept at {reached} occurrences");
        let least = if point == "in_checkpoint" { 2 } else { 1 };
        assert!(reached >= least, "{point} was reached {reached} times");
        rounds += occurrence as usize;
    }
    eprintln!(
        "crash sweep: {rounds} rounds, {checkpoints} checkpoints in the dry run's {events} events"
    );
}
