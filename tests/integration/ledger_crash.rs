//! A process killed with SIGKILL mid-stream, or aborting between a group's write and its sync,
//! loses nothing it acknowledged.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::{open_ledger, read_verified};

/// Starts the appender child, waits for `kill_after` acknowledged seqs, kills it with SIGKILL,
/// and returns every seq it printed.
fn run_and_kill(dir: &std::path::Path, kill_after: usize) -> BTreeSet<u64> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stackledger-bench"))
        .args(["append", "--appenders", "4", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the appender starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let mut printed = BTreeSet::new();
    while printed.len() < kill_after {
        let line = lines
            .next()
            .expect("the appender prints until killed")
            .expect("stdout reads");
        printed.insert(line.parse::<u64>().expect("a seq per line"));
    }
    child.kill().expect("SIGKILL is delivered");
    // Lines already in the pipe were acknowledged before the kill: they count too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Ok(seq) = line.parse::<u64>() {
            printed.insert(seq);
        }
    }
    let status = child.wait().expect("the child is reaped");
    assert!(!status.success(), "the appender was killed, not finished");
    printed
}

#[tokio::test]
async fn every_seq_acknowledged_before_a_sigkill_survives_and_the_chain_verifies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut acknowledged = BTreeSet::new();
    for kill_after in [1, 37, 400, 1500] {
        acknowledged.extend(run_and_kill(dir.path(), kill_after));
        let test = open_ledger(dir.path());
        let head = test.ledger.head().seq.0;
        let last_printed = acknowledged.last().copied().unwrap_or(0);
        assert!(
            head >= last_printed,
            "head {head} is behind acknowledged {last_printed}"
        );
        let log = read_verified(&test.ledger);
        let stored: BTreeSet<u64> = log.iter().map(|e| e.seq.0).collect();
        let lost: Vec<_> = acknowledged.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "acknowledged but lost after kill at {kill_after}: {lost:?}"
        );
        test.ledger.shutdown().await;
    }
}

/// Runs the appender child until it aborts at the `occurrence`th group written to the store
/// and not yet synced; every seq it printed.
fn run_until_crash_after_store_write(dir: &std::path::Path, occurrence: usize) -> BTreeSet<u64> {
    let output = Command::new(env!("CARGO_BIN_EXE_stackledger-bench"))
        .args(["append", "--appenders", "4", "--data-dir"])
        .arg(dir)
        .arg(format!("--crash-at=after_store_write:{occurrence}"))
        .stderr(Stdio::null())
        .output()
        .expect("the appender runs");
    assert!(
        !output.status.success(),
        "the appender aborted at its crash point"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.parse::<u64>().ok())
        .collect()
}

#[tokio::test]
async fn a_crash_between_a_groups_write_and_its_sync_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut acknowledged = BTreeSet::new();
    for occurrence in [1, 7, 60] {
        acknowledged.extend(run_until_crash_after_store_write(dir.path(), occurrence));
        let test = open_ledger(dir.path());
        let log = read_verified(&test.ledger);
        let stored: BTreeSet<u64> = log.iter().map(|e| e.seq.0).collect();
        let lost: Vec<_> = acknowledged.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "acknowledged but lost after a crash at group {occurrence}: {lost:?}"
        );
        assert!(
            test.ledger.head().seq.0 >= acknowledged.last().copied().unwrap_or(0),
            "the head is behind what was acknowledged"
        );
        test.ledger.shutdown().await;
    }
    assert!(
        !acknowledged.is_empty(),
        "groups before the crash were acknowledged"
    );
}
