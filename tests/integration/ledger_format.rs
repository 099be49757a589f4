//! The store's on-disk formats: a format-1 data dir (one sled value per event, every ledger
//! written before format 2) opens, verifies and serves as it is, and what is appended after it
//! lands in format 2 (one value per group commit); a broken group is refused with its seq; a
//! format this build does not know is refused.

use std::path::Path;
use std::sync::Arc;

use stackledger::deployment::Event;
use stackledger::ids::{DeploymentId, Seq};
use stackledger::ledger::envelope::Envelope;
use stackledger::ledger::error::{Damage, LedgerError};
use stackledger::ledger::{ExpectedVersion, LedgerOptions, NewEvent, SledStore, Store};

use crate::support::{
    close, open_ledger, scenario, try_open_ledger, try_open_ledger_on, wait_released,
};

/// Every event the ledger serves, in order.
fn served(test: &crate::support::TestLedger) -> Vec<Envelope> {
    test.ledger
        .read_after(Seq::ZERO, usize::MAX)
        .expect("reads")
}

/// How many entries sled's tree `name` holds in `dir`.
fn tree_len(dir: &Path, name: &str) -> usize {
    let db = sled::open(dir).expect("sled opens");
    let len = db.open_tree(name).expect("opens").len();
    drop(db);
    wait_released(dir);
    len
}

async fn append_circuit(test: &crate::support::TestLedger, count: usize) {
    for _ in 0..count {
        test.ledger
            .append_one(
                DeploymentId::SYSTEM,
                ExpectedVersion::Any,
                NewEvent::new(Event::CircuitOpened),
            )
            .await
            .expect("appends");
    }
}

#[tokio::test]
async fn a_format_1_data_dir_opens_as_it_is_and_continues_in_format_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::create_format_1(dir.path()).expect("creates");
    let old = try_open_ledger_on(Arc::new(store), LedgerOptions::default()).expect("opens");
    scenario::write(&old).await;
    let (old_head, old_events) = (old.ledger.head(), served(&old));
    close(old.ledger).await;
    let old_count = tree_len(dir.path(), "events");
    assert_eq!(
        old_count as u64, old_head.seq.0,
        "format 1: one value per event"
    );
    assert_eq!(tree_len(dir.path(), "groups"), 0);

    let test = open_ledger(dir.path());
    assert_eq!(test.ledger.head(), old_head, "the old receipt is the head");
    assert_eq!(served(&test), old_events, "served exactly as before");
    let verified = test.ledger.verify().expect("verifies");
    assert!(verified.is_intact(), "{:?}", verified.damage);
    assert_eq!(verified.last, old_head);
    append_circuit(&test, 5).await;
    let head = test.ledger.head();
    close(test.ledger).await;

    assert_eq!(
        tree_len(dir.path(), "events"),
        old_count,
        "format 1 is never rewritten"
    );
    assert!(
        tree_len(dir.path(), "groups") >= 1,
        "the appends are in groups"
    );
    let store = SledStore::open(dir.path()).expect("opens");
    assert_eq!(store.format_version().expect("reads"), Some(2));
    drop(store);
    wait_released(dir.path());

    let reopened = open_ledger(dir.path());
    assert_eq!(reopened.ledger.head(), head);
    let events = served(&reopened);
    assert_eq!(events.len() as u64, head.seq.0, "every seq served");
    assert_eq!(&events[..old_events.len()], &old_events[..]);
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event.seq, Seq(index as u64 + 1));
    }
    let verified = reopened.ledger.verify().expect("verifies");
    assert!(verified.is_intact(), "{:?}", verified.damage);
    assert_eq!(verified.last, head);
}

#[tokio::test]
async fn a_format_2_store_serves_every_seq_after_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    scenario::write(&test).await;
    append_circuit(&test, 3).await;
    let (head, events) = (test.ledger.head(), served(&test));
    close(test.ledger).await;
    assert_eq!(tree_len(dir.path(), "events"), 0, "a new store is format 2");
    let groups = tree_len(dir.path(), "groups");
    assert!(groups >= 1 && (groups as u64) <= head.seq.0);
    let store = SledStore::open(dir.path()).expect("opens");
    for event in &events {
        assert!(
            store.get(event.seq).expect("reads").is_some(),
            "seq {}",
            event.seq
        );
    }
    assert_eq!(store.get(head.seq.next()).expect("reads"), None);
    drop(store);
    wait_released(dir.path());
    let reopened = open_ledger(dir.path());
    assert_eq!(reopened.ledger.head(), head);
    assert_eq!(served(&reopened), events);
}

#[tokio::test]
async fn a_torn_group_is_refused_with_the_seq_it_cuts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    scenario::write(&test).await;
    close(test.ledger).await;
    let cut_at = {
        let db = sled::open(dir.path()).expect("sled opens");
        let groups = db.open_tree("groups").expect("opens");
        let (key, value) = groups.iter().nth(1).expect("two groups").expect("reads");
        let first = u64::from_be_bytes(key.as_ref().try_into().expect("8 bytes"));
        // Cut the group inside its first record.
        groups.insert(&key, &value[..10]).expect("writes");
        db.flush().expect("flushes");
        drop((groups, db));
        wait_released(dir.path());
        first
    };
    match try_open_ledger(dir.path(), LedgerOptions::default()) {
        Err(LedgerError::Refused(refusal)) => {
            assert_eq!(
                refusal.damage.first_bad_seq(),
                Seq(cut_at),
                "{}",
                refusal.damage
            );
            assert!(
                matches!(refusal.damage, Damage::SeqGap { .. }),
                "{:?}",
                refusal.damage
            );
            assert_eq!(refusal.intact, Seq(cut_at - 1));
        }
        Err(other) => panic!("expected damage, got {other}"),
        Ok(_) => panic!("a torn group opened"),
    }
}

#[tokio::test]
async fn a_format_above_2_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    scenario::write(&test).await;
    close(test.ledger).await;
    let store = SledStore::open(dir.path()).expect("opens");
    store.set_format_version(3).expect("writes");
    drop(store);
    wait_released(dir.path());
    match try_open_ledger(dir.path(), LedgerOptions::default()) {
        Err(LedgerError::UnsupportedFormat { found, supported }) => {
            assert_eq!((found, supported), (3, 2));
        }
        Err(other) => panic!("expected an unsupported format, got {other}"),
        Ok(_) => panic!("a format-3 store opened"),
    }
}
