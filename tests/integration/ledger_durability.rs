//! What is acknowledged is on disk, in order, chained, and comes back identically on reopen.

use std::collections::{HashMap, HashSet};

use stackledger::deployment::{Event, Phase};
use stackledger::ids::{DeploymentId, IdGen, Seq, SequentialIds, StreamVersion};
use stackledger::ledger::envelope::Envelope;
use stackledger::ledger::{ExpectedVersion, Head, NewEvent};
use stackledger::projection::answers::differences;
use stackledger::projection::{DeploymentView, ReadModel};

use crate::support::{
    TestLedger, append, close, open_ledger, open_ledger_in_memory, phase, read_verified, requested,
    scenario, scenario_in_memory,
};

/// What a ledger holds, to compare across a reopen (the projection by its answers).
#[derive(Debug)]
struct Contents {
    head: Head,
    events: Vec<Envelope>,
    versions: Vec<StreamVersion>,
    projection: ReadModel,
}

impl PartialEq for Contents {
    fn eq(&self, other: &Self) -> bool {
        (&self.head, &self.events, &self.versions) == (&other.head, &other.events, &other.versions)
            && differences(&self.projection, &other.projection).is_empty()
    }
}

fn contents(test: &TestLedger) -> Contents {
    let ledger = &test.ledger;
    Contents {
        head: ledger.head(),
        events: ledger.read_after(Seq::ZERO, usize::MAX).expect("reads"),
        versions: [scenario::SHOP, scenario::BLOG, scenario::API]
            .iter()
            .map(|id| ledger.stream_version(*id))
            .collect(),
        projection: test.read_model.snapshot(),
    }
}

#[tokio::test]
async fn reopen_restores_every_event_seq_version_head_and_projection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    scenario::write(&test).await;
    let before = contents(&test);
    close(test.ledger).await;

    let reopened = open_ledger(dir.path());
    let after = contents(&reopened);
    assert_eq!(after, before);
    let seqs: Vec<u64> = after.events.iter().map(|e| e.seq.0).collect();
    assert_eq!(seqs, (1..=before.head.seq.0).collect::<Vec<_>>());
    let projection = after.projection;
    let shop = projection
        .get(scenario::SHOP)
        .expect("reads")
        .expect("shop is known");
    let view = DeploymentView::of(&shop);
    assert_eq!(
        view.status,
        stackledger::deployment::DeploymentStatus::Success
    );
    assert_eq!(view.url, "https://shop.ai.flexinit.nl");
    assert_eq!(view.progress, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_appenders_get_contiguous_seqs_and_versions() {
    const APPENDERS: usize = 64;
    const EACH: usize = 200;
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let ids = SequentialIds::default();
    let mut tasks = Vec::new();
    for n in 0..APPENDERS {
        let ledger = test.ledger.clone();
        let stream = ids.deployment_id();
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::with_capacity(EACH);
            let first = NewEvent::new(requested(&format!("stack{n}")));
            let envelope = ledger
                .append_one(stream, ExpectedVersion::Exact(StreamVersion(0)), first)
                .await
                .expect("the request is accepted");
            acks.push((envelope.seq, envelope.hash, stream, envelope.version));
            for version in 1..EACH as u32 {
                let event = NewEvent::new(phase(Phase::Deploying));
                let envelope = ledger
                    .append_one(
                        stream,
                        ExpectedVersion::Exact(StreamVersion(version)),
                        event,
                    )
                    .await
                    .expect("the append is accepted");
                acks.push((envelope.seq, envelope.hash, stream, envelope.version));
            }
            acks
        }));
    }
    let mut acks = Vec::new();
    for task in tasks {
        acks.extend(task.await.expect("the appender finishes"));
    }
    let total = (APPENDERS * EACH) as u64;
    let seqs: HashSet<u64> = acks.iter().map(|(seq, ..)| seq.0).collect();
    assert_eq!(seqs.len() as u64, total, "no seq was given twice");
    assert_eq!(
        seqs,
        (1..=total).collect::<HashSet<_>>(),
        "no seq is missing"
    );
    let mut by_stream: HashMap<DeploymentId, Vec<(Seq, StreamVersion)>> = HashMap::new();
    for (seq, _, stream, version) in &acks {
        by_stream.entry(*stream).or_default().push((*seq, *version));
    }
    for versions in by_stream.values_mut() {
        versions.sort();
        let in_seq_order: Vec<u32> = versions.iter().map(|(_, v)| v.0).collect();
        assert_eq!(in_seq_order, (1..=EACH as u32).collect::<Vec<_>>());
    }
    let batches = test.ledger.stats().batches;
    assert!(
        batches < total,
        "appends were group-committed ({batches} batches)"
    );
    close(test.ledger).await;

    let reopened = open_ledger(dir.path());
    assert_eq!(reopened.ledger.head().seq, Seq(total));
    let stored = read_verified(&reopened.ledger);
    let stored_hashes: HashMap<Seq, _> = stored.iter().map(|e| (e.seq, e.hash)).collect();
    for (seq, hash, ..) in &acks {
        assert_eq!(
            stored_hashes.get(seq),
            Some(hash),
            "acknowledged {seq:?} is on disk"
        );
    }
    assert_eq!(
        reopened.read_model.snapshot().summary().deployments,
        APPENDERS as u64
    );
}

#[tokio::test]
async fn an_append_of_several_events_is_written_together_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let stream = SequentialIds::default().deployment_id();
    let seqs = append(
        &test.ledger,
        stream,
        vec![
            requested("shop"),
            phase(Phase::CreatingProject),
            Event::RollbackStarted,
        ],
    )
    .await;
    assert_eq!(seqs, vec![1, 2, 3]);
    let state = test.read_model.snapshot();
    let shop = state
        .get(stream)
        .expect("reads")
        .expect("folded before the append returned");
    assert_eq!(shop.last_seq, Seq(3));
    assert_eq!(shop.version, StreamVersion(3));
}

#[tokio::test]
async fn a_ledger_reopened_over_its_memory_store_restores_the_log_head_and_projection() {
    let (store, test) = scenario_in_memory().await;
    let before = contents(&test);
    close(test.ledger).await;

    let reopened = open_ledger_in_memory(&store);
    assert_eq!(contents(&reopened), before);
    let next = append(
        &reopened.ledger,
        scenario::API,
        vec![phase(Phase::Deploying)],
    )
    .await;
    assert_eq!(
        next,
        vec![before.head.seq.0 + 1],
        "appends go on after the reopened head"
    );
}
