//! Refused appends write nothing and say why; a storage failure stops the writer for good.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use stackledger::clock::ManualClock;
use stackledger::deployment::{Event, EventKind, Phase};
use stackledger::ids::{DeploymentId, IdGen, Seq, SequentialIds, StreamVersion};
use stackledger::ledger::error::{LedgerError, StoreError};
use stackledger::ledger::{
    ExpectedVersion, Head, IndexVisitor, IndexWrite, Ledger, LedgerOptions, NewEvent, ScanOrder,
    SledStore, Store, StoredRecord,
};
use stackledger::projection::LiveReadModel;

use crate::support::{T0, append, close, open_ledger, phase, requested};

fn exact(version: u32) -> ExpectedVersion {
    ExpectedVersion::Exact(StreamVersion(version))
}

#[tokio::test]
async fn an_append_at_a_stale_version_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let stream = SequentialIds::default().deployment_id();
    append(&test.ledger, stream, vec![requested("shop")]).await;
    let stale = test
        .ledger
        .append(
            stream,
            exact(0),
            vec![NewEvent::new(phase(Phase::Deploying))],
        )
        .await;
    match stale {
        Err(LedgerError::VersionConflict {
            expected, actual, ..
        }) => {
            assert_eq!((expected, actual), (StreamVersion(0), StreamVersion(1)));
        }
        other => panic!("expected a version conflict, got {other:?}"),
    }
    assert_eq!(test.ledger.head().seq, Seq(1));
    assert_eq!(test.read_model.snapshot().summary().events, 1);
}

#[tokio::test]
async fn an_oversized_event_is_refused_with_its_size_and_nothing_of_its_append_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let stream = SequentialIds::default().deployment_id();
    let huge = Event::DeploymentFailed {
        phase: Phase::Deploying,
        code: "deploy_failed".into(),
        message: "x".repeat(10_000),
    };
    let events = vec![NewEvent::new(requested("shop")), NewEvent::new(huge)];
    match test.ledger.append(stream, exact(0), events).await {
        Err(LedgerError::PayloadTooLarge { kind, size, max }) => {
            assert_eq!(kind, EventKind::DeploymentFailed);
            assert!(size > 10_000 && max == 4096, "size {size}, max {max}");
        }
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    assert_eq!(
        test.ledger.head().seq,
        Seq::ZERO,
        "the request was all or nothing"
    );
    assert_eq!(test.ledger.stream_version(stream), StreamVersion(0));
    let clipped = Event::DeploymentFailed {
        phase: Phase::Deploying,
        code: "deploy_failed".into(),
        message: stackledger::deployment::clip(&"x".repeat(10_000), 1024),
    };
    append(&test.ledger, stream, vec![requested("shop"), clipped]).await;
    assert_eq!(test.ledger.head().seq, Seq(2));
}

#[tokio::test]
async fn events_in_the_wrong_stream_or_with_a_future_cause_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let stream = SequentialIds::default().deployment_id();
    let cases = [
        (
            DeploymentId::SYSTEM,
            ExpectedVersion::Any,
            NewEvent::new(requested("shop")),
        ),
        (stream, exact(0), NewEvent::new(phase(Phase::Deploying))),
        (stream, exact(0), NewEvent::new(Event::CircuitOpened)),
        (
            stream,
            exact(0),
            NewEvent::caused_by(requested("shop"), Seq(1)),
        ),
        (
            stream,
            exact(0),
            NewEvent::caused_by(requested("shop"), Seq(0)),
        ),
    ];
    for (stream, expected, event) in cases {
        let answer = test
            .ledger
            .append(stream, expected, vec![event.clone()])
            .await;
        assert!(
            matches!(
                answer,
                Err(LedgerError::WrongStream { .. } | LedgerError::InvalidCause { .. })
            ),
            "{event:?} on {stream}: {answer:?}"
        );
    }
    let empty = test.ledger.append(stream, exact(0), Vec::new()).await;
    assert!(matches!(empty, Err(LedgerError::EmptyAppend)), "{empty:?}");
    assert_eq!(test.ledger.head().seq, Seq::ZERO);
    append(&test.ledger, stream, vec![requested("shop")]).await;
    let twice = test
        .ledger
        .append(stream, exact(1), vec![NewEvent::new(requested("shop"))])
        .await;
    assert!(
        matches!(twice, Err(LedgerError::WrongStream { .. })),
        "{twice:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_racing_requests_for_one_name_exactly_one_wins_also_across_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let ids = Arc::new(SequentialIds::default());
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let ledger = test.ledger.clone();
            let stream = ids.deployment_id();
            tokio::spawn(async move {
                let event = NewEvent::new(requested("shop"));
                (stream, ledger.append(stream, exact(0), vec![event]).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut holders = Vec::new();
    for racer in racers {
        let (stream, answer) = racer.await.expect("the racer finishes");
        match answer {
            Ok(_) => winners.push(stream),
            Err(LedgerError::NameTaken { name, holder }) => {
                assert_eq!(name, "shop");
                holders.push(holder);
            }
            Err(other) => panic!("unexpected refusal: {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one request wins");
    assert!(
        holders.iter().all(|holder| *holder == winners[0]),
        "losers name the winner"
    );
    assert_eq!(test.ledger.head().seq, Seq(1));
    close(test.ledger).await;

    let reopened = open_ledger(dir.path());
    let late = ids.deployment_id();
    let answer = reopened
        .ledger
        .append(late, exact(0), vec![NewEvent::new(requested("shop"))])
        .await;
    assert!(
        matches!(answer, Err(LedgerError::NameTaken { holder, .. }) if holder == winners[0]),
        "{answer:?}"
    );
    let released = vec![
        phase(Phase::Deploying),
        Event::RollbackStarted,
        Event::RollbackFinished { complete: true },
    ];
    append(&reopened.ledger, winners[0], released).await;
    append(&reopened.ledger, late, vec![requested("shop")]).await;
    let model = reopened.read_model.snapshot();
    assert_eq!(
        model.holder("shop").expect("reads").map(|state| state.id),
        Some(late)
    );
}

#[tokio::test]
async fn a_failed_deployment_keeps_its_name_until_its_rollback_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let ids = SequentialIds::default();
    let first = ids.deployment_id();
    let failed = Event::DeploymentFailed {
        phase: Phase::Deploying,
        code: "deploy_failed".into(),
        message: "boom".into(),
    };
    append(
        &test.ledger,
        first,
        vec![requested("shop"), failed, Event::RollbackStarted],
    )
    .await;
    let second = ids.deployment_id();
    let early = test
        .ledger
        .append(second, exact(0), vec![NewEvent::new(requested("shop"))])
        .await;
    assert!(
        matches!(early, Err(LedgerError::NameTaken { .. })),
        "{early:?}"
    );
    append(
        &test.ledger,
        first,
        vec![Event::RollbackFinished { complete: true }],
    )
    .await;
    append(&test.ledger, second, vec![requested("shop")]).await;
}

#[tokio::test]
async fn the_unfinished_deployments_requests_are_read_in_request_order_also_after_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let ids = SequentialIds::default();
    let (first, second, third) = (
        ids.deployment_id(),
        ids.deployment_id(),
        ids.deployment_id(),
    );
    append(&test.ledger, first, vec![requested("shop")]).await;
    append(&test.ledger, second, vec![requested("cafe")]).await;
    append(&test.ledger, third, vec![requested("mill")]).await;
    let succeeded = Event::DeploymentSucceeded {
        url: "https://shop.example.com".into(),
    };
    append(
        &test.ledger,
        first,
        vec![phase(Phase::CreatingProject), succeeded],
    )
    .await;
    append(&test.ledger, second, vec![phase(Phase::CreatingProject)]).await;
    let unfinished = |ledger: &Ledger| -> Vec<(DeploymentId, Event)> {
        let events = ledger
            .unfinished()
            .expect("the unfinished deployments read");
        events.into_iter().map(|e| (e.stream, e.event)).collect()
    };
    let expected = vec![(second, requested("cafe")), (third, requested("mill"))];
    assert_eq!(unfinished(&test.ledger), expected);
    close(test.ledger).await;
    let reopened = open_ledger(dir.path());
    assert_eq!(
        unfinished(&reopened.ledger),
        expected,
        "the unfinished set is rebuilt at open"
    );
}

/// A store that fails on demand. While `failing_sync` is set, writes are lost and syncs fail,
/// as when Linux drops the dirty pages of a failed fsync; while `failing_write` is set, writes
/// fail outright.
struct FailingStore {
    inner: SledStore,
    failing_sync: AtomicBool,
    failing_write: AtomicBool,
}

fn injected(operation: &'static str) -> StoreError {
    StoreError::Io {
        operation,
        source: Arc::new(std::io::Error::other("injected failure")),
    }
}

impl Store for FailingStore {
    fn write(&self, records: &[StoredRecord], head: &Head) -> Result<(), StoreError> {
        if self.failing_write.load(Ordering::SeqCst) {
            return Err(injected("write"));
        }
        if self.failing_sync.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.write(records, head)
    }
    fn sync(&self) -> Result<(), StoreError> {
        if self.failing_sync.load(Ordering::SeqCst) {
            return Err(injected("flush"));
        }
        self.inner.sync()
    }
    fn scan(
        &self,
        after: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.inner.scan(after, visit)
    }
    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(seq)
    }
    fn head(&self) -> Result<Option<Head>, StoreError> {
        self.inner.head()
    }
    fn format_version(&self) -> Result<Option<u32>, StoreError> {
        self.inner.format_version()
    }
    fn set_format_version(&self, version: u32) -> Result<(), StoreError> {
        self.inner.set_format_version(version)
    }
    fn write_index(&self, writes: &[IndexWrite]) -> Result<(), StoreError> {
        if self.failing_write.load(Ordering::SeqCst) {
            return Err(injected("write index"));
        }
        self.inner.write_index(writes)
    }
    fn get_index(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_index(key)
    }
    fn scan_index(
        &self,
        from: &[u8],
        to: &[u8],
        order: ScanOrder,
        visit: &mut IndexVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.inner.scan_index(from, to, order, visit)
    }
}

fn failing_ledger(dir: &std::path::Path) -> (Arc<FailingStore>, Ledger, LiveReadModel) {
    let store = Arc::new(FailingStore {
        inner: SledStore::open(dir).expect("opens"),
        failing_sync: AtomicBool::new(false),
        failing_write: AtomicBool::new(false),
    });
    let read_model = LiveReadModel::new();
    let ledger = Ledger::open_with(
        store.clone(),
        Arc::new(ManualClock::new(T0)),
        Arc::new(read_model.clone()),
        LedgerOptions::default(),
    )
    .expect("opens");
    (store, ledger, read_model)
}

/// Eight concurrent appends while storage fails: each gets an error, at least one of them the
/// storage error itself, and none is acknowledged.
async fn append_during_failure(ledger: &Ledger, ids: &SequentialIds) {
    let attempts: Vec<_> = (0..8)
        .map(|n| {
            let ledger = ledger.clone();
            let stream = ids.deployment_id();
            tokio::spawn(async move {
                let event = NewEvent::new(requested(&format!("lost{n}")));
                ledger.append(stream, exact(0), vec![event]).await
            })
        })
        .collect();
    let mut storage_errors = 0;
    for attempt in attempts {
        match attempt.await.expect("finishes") {
            Err(LedgerError::Storage(_)) => storage_errors += 1,
            Err(LedgerError::Stopped) => {}
            other => panic!("an append was not refused during a storage failure: {other:?}"),
        }
    }
    assert!(
        storage_errors >= 1,
        "the failing batch reports the storage error"
    );
}

async fn assert_stopped_with_only_the_first_event(
    store: Arc<FailingStore>,
    ledger: Ledger,
    read_model: LiveReadModel,
    ids: &SequentialIds,
    dir: &std::path::Path,
) {
    let later = ledger
        .append(
            ids.deployment_id(),
            exact(0),
            vec![NewEvent::new(requested("later"))],
        )
        .await;
    assert!(matches!(later, Err(LedgerError::Stopped)), "{later:?}");
    assert!(!ledger.is_writable());
    assert_eq!(
        ledger.head().seq,
        Seq(1),
        "nothing unacknowledged is visible"
    );
    assert_eq!(read_model.snapshot().summary().events, 1);
    let mut watcher = ledger.subscribe(None, Seq(1));
    assert!(
        watcher.next().await.is_none(),
        "subscribers see the end, not phantom events"
    );
    ledger.shutdown().await;
    drop((ledger, watcher, store));
    let reopened = open_ledger(dir);
    assert_eq!(reopened.ledger.head().seq, Seq(1));
}

/// One event appended, then a failure of the part of storage `failing` picks: the batches
/// during it fail, and the writer stays stopped once storage works again.
async fn fail_then_check(failing: fn(&FailingStore) -> &AtomicBool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, ledger, read_model) = failing_ledger(dir.path());
    let ids = SequentialIds::default();
    append(&ledger, ids.deployment_id(), vec![requested("kept")]).await;
    failing(&store).store(true, Ordering::SeqCst);
    append_during_failure(&ledger, &ids).await;
    failing(&store).store(false, Ordering::SeqCst);
    assert_stopped_with_only_the_first_event(store, ledger, read_model, &ids, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_failure_fails_its_batch_stops_the_writer_and_acknowledges_nothing_more() {
    fail_then_check(|store| &store.failing_sync).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_failure_fails_its_batch_and_stops_the_writer() {
    fail_then_check(|store| &store.failing_write).await;
}
