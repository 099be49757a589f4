//! Checkpoints: a reopen after one verifies and folds only the tail and answers as a full fold
//! does; the stream index, versions and name claims survive it; a damaged checkpoint is
//! refused with its seq; a ledger without one (every older data dir) opens as before.

use std::num::NonZeroU64;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use stackledger::clock::ManualClock;
use stackledger::deployment::{Event, EventKind, Phase};
use stackledger::ids::{DeploymentId, IdGen, Seq, SequentialIds};
use stackledger::ledger::envelope::Envelope;
use stackledger::ledger::error::{Damage, LedgerError};
use stackledger::ledger::{
    DiskOptions, ExpectedVersion, Ledger, LedgerOptions, NewEvent, ProjectionCheckpoint, Projector,
};

use crate::support::{T0, append, close, phase, read_verified, requested, wait_released};

/// A projector with a snapshot: it counts the events it was given.
#[derive(Default)]
struct Counter {
    applied: AtomicU64,
}

impl Projector for Counter {
    fn apply(&self, envelopes: &[Arc<Envelope>]) {
        self.applied
            .fetch_add(envelopes.len() as u64, Ordering::SeqCst);
    }

    fn checkpoint_format(&self) -> Option<&'static str> {
        Some("counter/1")
    }

    fn checkpoint(&self) -> ProjectionCheckpoint {
        ProjectionCheckpoint {
            snapshot: self.applied.load(Ordering::SeqCst).to_be_bytes().to_vec(),
            writes: Vec::new(),
        }
    }

    fn restore(&self, snapshot: &[u8], _through: Seq) -> Result<(), String> {
        let bytes: [u8; 8] = snapshot.try_into().map_err(|_| "not a count".to_owned())?;
        self.applied
            .store(u64::from_be_bytes(bytes), Ordering::SeqCst);
        Ok(())
    }
}

fn options(every: u64) -> LedgerOptions {
    LedgerOptions {
        checkpoint_events: NonZeroU64::new(every),
        ..LedgerOptions::default()
    }
}

fn open(dir: &Path, every: u64) -> Result<(Ledger, Arc<Counter>), LedgerError> {
    let counter = Arc::new(Counter::default());
    let disk = DiskOptions {
        dir: dir.to_path_buf(),
        limits: options(every),
        mirror: None,
    };
    let clock = Arc::new(ManualClock::new(T0));
    let ledger = Ledger::open_on_disk(&disk, clock, Arc::clone(&counter) as Arc<dyn Projector>)?;
    Ok((ledger, counter))
}

/// Deploys `count` stacks of three events each, the even ones to success.
async fn deploy(ledger: &Ledger, ids: &SequentialIds, count: usize) -> Vec<DeploymentId> {
    let mut streams = Vec::new();
    for n in 0..count {
        let id = ids.deployment_id();
        append(ledger, id, vec![requested(&format!("stack-{n}"))]).await;
        append(ledger, id, vec![phase(Phase::CreatingProject)]).await;
        if n % 2 == 0 {
            let url = format!("https://stack-{n}.example.com");
            append(ledger, id, vec![Event::DeploymentSucceeded { url }]).await;
        }
        streams.push(id);
    }
    streams
}

/// What a user of the ledger sees of `streams`: each one's events and version, and who holds
/// each name (through a refused request).
async fn answers(ledger: &Ledger, streams: &[DeploymentId]) -> Vec<String> {
    let mut seen = Vec::new();
    for (n, stream) in streams.iter().enumerate() {
        let events = ledger
            .read_stream(*stream, Seq::ZERO, usize::MAX)
            .expect("the stream reads");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq.0).collect();
        let after_first = ledger
            .read_stream(*stream, events[0].seq, 1)
            .expect("the stream reads");
        seen.push(format!(
            "{stream} v{} {seqs:?} next {:?}",
            ledger.stream_version(*stream).0,
            after_first.iter().map(|e| e.seq.0).collect::<Vec<_>>()
        ));
        let retry = ledger
            .append_one(
                DeploymentId::from_uuid(uuid::Uuid::from_u128(9_000 + n as u128)),
                ExpectedVersion::Exact(Default::default()),
                NewEvent::new(requested(&format!("stack-{n}"))),
            )
            .await;
        seen.push(match retry {
            Err(LedgerError::NameTaken { holder, .. }) => format!("stack-{n} held by {holder}"),
            Ok(_) => format!("stack-{n} was free"),
            Err(other) => format!("stack-{n}: {other}"),
        });
    }
    seen
}

#[tokio::test]
async fn a_reopen_after_a_checkpoint_folds_only_the_tail_and_answers_as_a_full_fold() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = SequentialIds::default();
    let (ledger, _) = open(dir.path(), 10).expect("opens");
    let streams = deploy(&ledger, &ids, 12).await;
    let head = ledger.head();
    let unfinished: Vec<u64> = ledger
        .unfinished()
        .expect("reads")
        .iter()
        .map(|e| e.seq.0)
        .collect();
    close(ledger).await;
    wait_released(dir.path());

    let (reopened, counter) = open(dir.path(), 10).expect("reopens from its checkpoint");
    let log = read_verified(&reopened);
    assert!(
        log.iter()
            .any(|e| e.event.kind() == EventKind::CheckpointTaken),
        "checkpoints are in the chain"
    );
    assert_eq!(
        reopened.head().seq,
        head.seq.next(),
        "the shutdown checkpoint is the only event after the head"
    );
    assert!(
        reopened.opened_folding() <= 1,
        "only the tail after the shutdown checkpoint is folded: {}",
        reopened.opened_folding()
    );
    assert_eq!(
        counter.applied.load(Ordering::SeqCst),
        reopened.head().seq.0,
        "the projector restored its snapshot and folded the tail"
    );
    let after_checkpoint = answers(&reopened, &streams).await;
    let reopened_unfinished: Vec<u64> = reopened
        .unfinished()
        .expect("reads")
        .iter()
        .map(|e| e.seq.0)
        .collect();
    assert_eq!(
        reopened_unfinished, unfinished,
        "the unfinished deployments are the same"
    );
    close(reopened).await;
    wait_released(dir.path());

    // The same log folded whole: checkpoints off, a projector without a snapshot.
    let copy = tempfile::tempdir().expect("temp dir");
    let full = crate::support::open_ledger(dir.path());
    assert!(
        full.ledger.opened_folding() > 30,
        "a full fold folds the whole log"
    );
    drop(copy);
    let full_answers = answers(&full.ledger, &streams).await;
    // The retries above were refused, so both ledgers saw the same log.
    assert_eq!(after_checkpoint, full_answers);
    close(full.ledger).await;
}

#[tokio::test]
async fn a_ledger_with_no_checkpoint_opens_by_a_full_fold_and_takes_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = SequentialIds::default();
    let plain = crate::support::open_ledger(dir.path());
    let streams = deploy(&plain.ledger, &ids, 3).await;
    let before = answers(&plain.ledger, &streams).await;
    close(plain.ledger).await;
    wait_released(dir.path());
    let (ledger, counter) = open(dir.path(), 1_000).expect("an older data dir opens");
    let events = ledger.head().seq.0;
    assert_eq!(
        ledger.opened_folding(),
        events,
        "no checkpoint: the whole log is folded"
    );
    assert_eq!(counter.applied.load(Ordering::SeqCst), events);
    close(ledger).await;
    wait_released(dir.path());
    let (ledger, counter) = open(dir.path(), 1_000).expect("reopens from the shutdown checkpoint");
    assert_eq!(
        ledger.opened_folding(),
        1,
        "only the CheckpointTaken follows it"
    );
    assert_eq!(counter.applied.load(Ordering::SeqCst), events + 1);
    assert_eq!(answers(&ledger, &streams).await, before);
    close(ledger).await;
}

#[tokio::test]
async fn appenders_cannot_record_a_checkpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ledger, _) = open(dir.path(), 10).expect("opens");
    let forged = Event::CheckpointTaken {
        through_seq: 0,
        through_hash: [0; 32],
        digest: [0; 32],
    };
    let refused = ledger
        .append_one(
            DeploymentId::SYSTEM,
            ExpectedVersion::Any,
            NewEvent::new(forged),
        )
        .await;
    assert!(
        matches!(refused, Err(LedgerError::LedgerOnly { .. })),
        "{refused:?}"
    );
    close(ledger).await;
}

/// Changes the stored checkpoint pointer.
fn tamper_pointer(dir: &Path, change: impl FnOnce(&mut Vec<u8>)) {
    let db = sled::open(dir).expect("sled opens");
    let index = db.open_tree("index").expect("the index tree");
    let mut pointer = index
        .get(b"lc")
        .expect("reads")
        .expect("a checkpoint pointer is stored")
        .to_vec();
    change(&mut pointer);
    index.insert(b"lc", pointer).expect("writes");
    db.flush().expect("flushes");
    drop((index, db));
    wait_released(dir);
}

async fn checkpointed_ledger(dir: &Path) -> Seq {
    let (ledger, _) = open(dir, 1_000).expect("opens");
    deploy(&ledger, &SequentialIds::default(), 2).await;
    let taken_at = ledger.head().seq.next();
    close(ledger).await;
    wait_released(dir);
    taken_at
}

fn refused_checkpoint(dir: &Path) -> (Seq, String) {
    match open(dir, 1_000) {
        Err(LedgerError::Refused(refusal)) => match refusal.damage {
            Damage::Checkpoint { seq, reason } => (seq, reason.to_owned()),
            other => panic!("refused for another reason: {other}"),
        },
        Err(other) => panic!("refused otherwise: {other}"),
        Ok(_) => panic!("a damaged checkpoint was used"),
    }
}

#[tokio::test]
async fn a_checkpoint_whose_stored_state_was_altered_is_refused_with_its_seq() {
    let dir = tempfile::tempdir().expect("temp dir");
    let taken_at = checkpointed_ledger(dir.path()).await;
    tamper_pointer(dir.path(), |pointer| {
        let last = pointer.len() - 1;
        pointer[last] ^= 0x01;
    });
    let (seq, reason) = refused_checkpoint(dir.path());
    assert_eq!(seq, taken_at, "{reason}");
    assert!(reason.contains("digest"), "{reason}");
}

#[tokio::test]
async fn a_checkpoint_pointer_that_does_not_decode_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    checkpointed_ledger(dir.path()).await;
    tamper_pointer(dir.path(), |pointer| pointer.truncate(3));
    let (_, reason) = refused_checkpoint(dir.path());
    assert!(reason.contains("does not decode"), "{reason}");
}

/// Asks for each stack's name again with a new stream: the holder that refuses it, or free.
async fn who_holds(ledger: &Ledger, count: usize, first_id: u128) -> Vec<Option<DeploymentId>> {
    let mut holders = Vec::new();
    for n in 0..count {
        let retry = ledger
            .append_one(
                DeploymentId::from_uuid(uuid::Uuid::from_u128(first_id + n as u128)),
                ExpectedVersion::Exact(Default::default()),
                NewEvent::new(requested(&format!("stack-{n}"))),
            )
            .await;
        holders.push(match retry {
            Err(LedgerError::NameTaken { holder, .. }) => Some(holder),
            Ok(_) => None,
            Err(other) => panic!("stack-{n}: {other}"),
        });
    }
    holders
}

#[tokio::test]
async fn name_claims_a_checkpoint_stored_leave_memory_and_still_decide_before_and_after_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = SequentialIds::default();
    let (ledger, _) = open(dir.path(), 0).expect("opens");
    let mut streams = Vec::new();
    for n in 0..20 {
        let id = ids.deployment_id();
        append(&ledger, id, vec![requested(&format!("stack-{n}"))]).await;
        let end = if n % 2 == 0 {
            let url = format!("https://stack-{n}.example.com");
            vec![Event::DeploymentSucceeded { url }]
        } else {
            let failed = Event::DeploymentFailed {
                phase: Phase::CreatingProject,
                code: "project_create_failed".into(),
                message: "boom".into(),
            };
            vec![failed, Event::RollbackFinished { complete: true }]
        };
        append(&ledger, id, end).await;
        streams.push(id);
    }
    assert_eq!(
        ledger.claims_in_memory(),
        (20, 20),
        "before a checkpoint: ten holders, ten releases and twenty streams' names"
    );
    ledger.checkpoint().await;
    assert_eq!(
        ledger.claims_in_memory(),
        (0, 0),
        "every finished claim a checkpoint covers is on disk, not in memory"
    );
    let expected: Vec<Option<DeploymentId>> = (0..20)
        .map(|n| (n % 2 == 0).then_some(streams[n]))
        .collect();
    assert_eq!(
        who_holds(&ledger, 20, 1_000).await,
        expected,
        "succeeded stacks still hold their names, released ones are free"
    );
    close(ledger).await;
    wait_released(dir.path());

    let (reopened, _) = open(dir.path(), 0).expect("reopens from its checkpoint");
    assert!(
        reopened.claims_in_memory().0 <= 10,
        "only the retries' claims, made after the last checkpoint, are in memory: {:?}",
        reopened.claims_in_memory()
    );
    let retried: Vec<Option<DeploymentId>> = (0..20u128)
        .map(|n| {
            Some(match n % 2 {
                0 => streams[n as usize],
                _ => DeploymentId::from_uuid(uuid::Uuid::from_u128(1_000 + n)),
            })
        })
        .collect();
    assert_eq!(
        who_holds(&reopened, 20, 2_000).await,
        retried,
        "after a reopen: the succeeded stacks and the retries that claimed a free name hold them"
    );
    close(reopened).await;
}
