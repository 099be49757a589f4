//! Catch-up subscriptions: the log up to the head, then live events; no gap, no duplicate,
//! however slow the reader, and the writer never waits for one.

use stackledger::deployment::Phase;
use stackledger::ids::{DeploymentId, IdGen, Seq, SequentialIds};
use stackledger::ledger::LedgerOptions;
use stackledger::ledger::subscription::Subscription;

use crate::support::{append, open_ledger, open_ledger_with, phase, requested};

async fn take(subscription: &mut Subscription, count: usize) -> Vec<u64> {
    let mut seqs = Vec::with_capacity(count);
    for _ in 0..count {
        let envelope = subscription
            .next()
            .await
            .expect("the ledger is open")
            .expect("the log reads");
        seqs.push(envelope.seq.0);
    }
    seqs
}

#[tokio::test]
async fn a_subscription_reads_the_log_after_its_seq_then_follows_live_appends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let stream = SequentialIds::default().deployment_id();
    append(&test.ledger, stream, vec![requested("shop")]).await;
    for _ in 0..9 {
        append(&test.ledger, stream, vec![phase(Phase::Deploying)]).await;
    }
    let mut subscription = test.ledger.subscribe(None, Seq(3));
    assert_eq!(
        take(&mut subscription, 7).await,
        (4..=10).collect::<Vec<_>>()
    );
    for _ in 0..5 {
        append(&test.ledger, stream, vec![phase(Phase::Deploying)]).await;
    }
    assert_eq!(
        take(&mut subscription, 5).await,
        (11..=15).collect::<Vec<_>>()
    );
    assert_eq!(subscription.last_seq(), Seq(15));
}

#[tokio::test]
async fn a_stream_subscription_sees_only_its_stream() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let ids = SequentialIds::default();
    let (shop, blog) = (ids.deployment_id(), ids.deployment_id());
    append(&test.ledger, shop, vec![requested("shop")]).await;
    append(&test.ledger, blog, vec![requested("blog")]).await;
    append(&test.ledger, shop, vec![phase(Phase::Deploying)]).await;
    let mut subscription = test.ledger.subscribe(Some(shop), Seq::ZERO);
    assert_eq!(take(&mut subscription, 2).await, vec![1, 3]);
    append(&test.ledger, blog, vec![phase(Phase::Deploying)]).await;
    append(&test.ledger, shop, vec![phase(Phase::Completed)]).await;
    assert_eq!(take(&mut subscription, 1).await, vec![5]);
    let mut after = test.ledger.subscribe(Some(shop), Seq(3));
    assert_eq!(take(&mut after, 1).await, vec![5]);
}

#[tokio::test]
async fn a_slow_subscriber_falls_behind_rereads_the_log_and_misses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = LedgerOptions {
        live_buffer_max: std::num::NonZeroUsize::new(4).expect("4 is not zero"),
        ..LedgerOptions::default()
    };
    let test = open_ledger_with(dir.path(), options);
    let stream = SequentialIds::default().deployment_id();
    append(&test.ledger, stream, vec![requested("shop")]).await;
    let mut slow = test.ledger.subscribe(None, Seq::ZERO);
    assert_eq!(take(&mut slow, 1).await, vec![1]);
    // The slow reader reads nothing while 300 events are appended: the writer never waits.
    for _ in 0..300 {
        append(&test.ledger, stream, vec![phase(Phase::Deploying)]).await;
    }
    assert_eq!(test.ledger.head().seq, Seq(301));
    let rest = take(&mut slow, 300).await;
    assert_eq!(rest, (2..=301).collect::<Vec<_>>(), "no gap, no duplicate");
    append(&test.ledger, stream, vec![phase(Phase::Completed)]).await;
    assert_eq!(take(&mut slow, 1).await, vec![302]);
}

#[tokio::test]
async fn a_subscription_ends_after_everything_durable_once_the_ledger_shuts_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let stream = SequentialIds::default().deployment_id();
    let mut live = test.ledger.subscribe(Some(stream), Seq::ZERO);
    append(
        &test.ledger,
        stream,
        vec![requested("shop"), phase(Phase::Deploying)],
    )
    .await;
    test.ledger.shutdown().await;
    assert_eq!(take(&mut live, 2).await, vec![1, 2]);
    assert!(live.next().await.is_none());
    let mut late = test.ledger.subscribe(Some(DeploymentId::SYSTEM), Seq::ZERO);
    assert!(
        late.next().await.is_none(),
        "nothing on the system stream, and no writer"
    );
}
