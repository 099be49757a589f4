//! A process killed with SIGKILL mid-stream, or aborting between a group's write and its sync,
//! or while a checkpoint is stored, loses nothing it acknowledged; after a crash in a
//! checkpoint the reopen starts from an intact checkpoint and answers as a full fold does.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::num::NonZeroU64;
use std::process::{Command, Stdio};

use stackledger::deployment::Event;
use stackledger::ids::{DeploymentId, Seq};
use stackledger::ledger::LedgerOptions;
use stackledger::ledger::envelope::Envelope;
use stackledger::projection::ListQuery;

use crate::support::fault::copy_dir;
use crate::support::{
    TestLedger, close, open_ledger, open_ledger_with, read_verified, wait_released,
};

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

/// A checkpoint every this many events in the checkpoint crash test.
const CHECKPOINT_EVERY: u64 = 5;

/// Runs the appender child with a checkpoint every [`CHECKPOINT_EVERY`] events until it aborts
/// at its `occurrence`th checkpoint, after the checkpoint's index write and before it is
/// durable; every seq it printed.
fn run_until_crash_in_checkpoint(dir: &std::path::Path, occurrence: usize) -> BTreeSet<u64> {
    let output = Command::new(env!("CARGO_BIN_EXE_stackledger-bench"))
        .args(["append", "--appenders", "4", "--data-dir"])
        .arg(dir)
        .arg(format!("--checkpoint-events={CHECKPOINT_EVERY}"))
        .arg(format!("--crash-at=in_checkpoint:{occurrence}"))
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

/// What a user of the ledger and its read model sees of every stream in `log`: its events'
/// seqs, its version, its deployment; then the whole list, the summary and the unfinished.
fn answers(test: &TestLedger, log: &[Envelope]) -> Vec<String> {
    let streams: BTreeSet<DeploymentId> = log.iter().map(|envelope| envelope.stream).collect();
    let model = test.read_model.snapshot();
    let mut seen = Vec::new();
    for stream in streams {
        let seqs: Vec<u64> = test
            .ledger
            .read_stream(stream, Seq::ZERO, usize::MAX)
            .expect("the stream reads")
            .iter()
            .map(|envelope| envelope.seq.0)
            .collect();
        let version = test.ledger.stream_version(stream).0;
        let state = model.get(stream).expect("reads");
        seen.push(format!("{stream} v{version} {seqs:?} {state:?}"));
    }
    let query = ListQuery {
        limit: usize::MAX,
        ..Default::default()
    };
    seen.push(format!("{:?}", model.list(&query).expect("lists")));
    seen.push(format!("{:?}", model.summary()));
    let unfinished: Vec<u64> = test
        .ledger
        .unfinished()
        .expect("reads")
        .iter()
        .map(|envelope| envelope.seq.0)
        .collect();
    seen.push(format!("unfinished {unfinished:?}"));
    seen
}

/// A copy of the ledger in `dir` without its checkpoint pointer, so that it opens by a full
/// verify and fold.
fn without_checkpoint(dir: &std::path::Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("temp dir");
    copy_dir(dir, copy.path());
    let db = sled::open(copy.path()).expect("sled opens");
    let index = db.open_tree("index").expect("the index tree");
    index.remove(b"lc").expect("removes");
    db.flush().expect("flushes");
    drop((index, db));
    wait_released(copy.path());
    copy
}

fn checkpoint_throughs(log: &[Envelope]) -> Vec<u64> {
    log.iter()
        .filter_map(|envelope| match envelope.event {
            Event::CheckpointTaken { through_seq, .. } => Some(through_seq),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_crash_while_a_checkpoint_is_stored_loses_nothing_and_reopens_from_an_intact_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut acknowledged = BTreeSet::new();
    // A checkpoint known to be stored before the round: a crash never loses it.
    let mut stored_before: Option<u64> = None;
    for occurrence in [1, 2] {
        acknowledged.extend(run_until_crash_in_checkpoint(dir.path(), occurrence));
        let round = format!("a crash in checkpoint {occurrence}");

        // A full verify and fold (of a copy without the checkpoint pointer): nothing
        // acknowledged is lost, and what it answers.
        let copy = without_checkpoint(dir.path());
        let full = open_ledger(copy.path());
        let log = read_verified(&full.ledger);
        let stored: BTreeSet<u64> = log.iter().map(|e| e.seq.0).collect();
        let lost: Vec<_> = acknowledged.difference(&stored).collect();
        assert!(lost.is_empty(), "{round}: acknowledged but lost: {lost:?}");
        let head = full.ledger.head().seq.0;
        assert!(
            head >= acknowledged.last().copied().unwrap_or(0),
            "{round}: the head is behind what was acknowledged"
        );
        assert_eq!(full.ledger.opened_folding(), head, "{round}: a full fold");
        let expected = answers(&full, &log);
        close(full.ledger).await;
        wait_released(copy.path());

        // The reopen with checkpoints: from the crashed checkpoint if it was stored whole, else
        // from the one before it, else (none before it) by a full fold; it answers the same.
        let options = LedgerOptions {
            checkpoint_events: NonZeroU64::new(CHECKPOINT_EVERY),
            ..LedgerOptions::default()
        };
        let reopened = open_ledger_with(dir.path(), options);
        let throughs = checkpoint_throughs(&log);
        assert!(
            throughs.len() >= occurrence,
            "{round}: the crashed checkpoint's event is in the chain: {throughs:?}"
        );
        let folded = reopened.ledger.opened_folding();
        let restored = head - folded;
        let crashed = throughs[throughs.len() - 1];
        let before = throughs.len().checked_sub(2).map(|n| throughs[n]);
        let intact = restored == crashed || Some(restored) == before;
        let folded_fully = folded == head && stored_before.is_none() && before.is_none();
        assert!(
            intact || folded_fully,
            "{round}: reopened through {restored} (folding {folded} of {head}); checkpoints \
             through {throughs:?}, stored before the run through {stored_before:?}"
        );
        assert!(
            folded_fully || Some(restored) >= stored_before,
            "{round}: the checkpoint went back"
        );
        assert_eq!(answers(&reopened, &log), expected, "{round}");
        eprintln!(
            "{round}: {} acknowledged, head {head}, checkpoints through {throughs:?}, reopened \
             through {restored} (folding {folded})",
            acknowledged.len()
        );
        // At least the checkpoint it restored stays stored (its close may store a newer one).
        stored_before = Some(restored).filter(|_| !folded_fully).or(stored_before);
        close(reopened.ledger).await;
        wait_released(dir.path());
    }
    assert!(
        !acknowledged.is_empty(),
        "appends before the crashes were acknowledged"
    );
}
