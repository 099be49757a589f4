//! A damaged log refuses to open and names the first bad seq; nothing is repaired. A live
//! ledger's verify finds the same damage the open would.

use std::path::Path;

use stackledger::ids::Seq;
use stackledger::ledger::error::{Damage, LedgerError};
use stackledger::ledger::{LedgerOptions, Store, StoredRecord};

use crate::support::{
    close, open_ledger, scenario, scenario_in_memory, try_open_ledger, try_open_ledger_on,
    wait_released,
};

/// Writes the golden scenario into `dir` and returns its last seq.
async fn write_scenario(dir: &Path) -> u64 {
    let test = open_ledger(dir);
    scenario::write(&test).await;
    let head = test.ledger.head().seq.0;
    close(test.ledger).await;
    head
}

/// Changes the stored sled trees directly, as a disk fault or a tamperer would.
fn tamper(dir: &Path, change: impl FnOnce(&sled::Tree)) {
    // Format 2 keeps records grouped; the damage is made in the format-1 layout.
    stackledger::ledger::SledStore::rewrite_as_format_1(dir).expect("rewrites");
    let db = sled::open(dir).expect("sled opens");
    let events = db.open_tree("events").expect("the events tree");
    change(&events);
    db.flush().expect("flushes");
    drop((events, db));
    wait_released(dir);
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Flips the lowest bit of the byte at `offset` (or the last byte) of event `seq`'s record.
fn flip(dir: &Path, seq: u64, offset: usize) {
    tamper(dir, |events| {
        let mut value = events
            .get(key(seq))
            .expect("reads")
            .expect("exists")
            .to_vec();
        let at = offset.min(value.len() - 1);
        value[at] ^= 0x01;
        events.insert(key(seq), value).expect("writes");
    });
}

fn open_error(dir: &Path) -> Damage {
    match try_open_ledger(dir, LedgerOptions::default()) {
        Err(LedgerError::Refused(refusal)) => refusal.damage,
        Err(other) => panic!("expected damage, got {other}"),
        Ok(_) => panic!("a damaged ledger opened"),
    }
}

#[tokio::test]
async fn a_flipped_byte_in_an_event_names_that_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_scenario(dir.path()).await;
    for (seq, offset) in [(5u64, 0usize), (9, 20), (12, usize::MAX)] {
        flip(dir.path(), seq, offset);
        let damage = open_error(dir.path());
        assert_eq!(damage.first_bad_seq(), Seq(seq), "{damage}");
        assert!(matches!(damage, Damage::HashMismatch { .. }), "{damage:?}");
        flip(dir.path(), seq, offset);
    }
    open_ledger(dir.path());
}

#[tokio::test]
async fn a_deleted_event_names_the_missing_seq() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_scenario(dir.path()).await;
    tamper(dir.path(), |events| {
        events.remove(key(7)).expect("removes");
    });
    let damage = open_error(dir.path());
    assert_eq!(
        damage,
        Damage::SeqGap {
            expected: Seq(7),
            found: Seq(8)
        }
    );
}

#[tokio::test]
async fn a_cut_off_tail_below_the_saved_head_names_the_first_missing_seq() {
    let dir = tempfile::tempdir().expect("temp dir");
    let head = write_scenario(dir.path()).await;
    tamper(dir.path(), |events| {
        for seq in head - 2..=head {
            events.remove(key(seq)).expect("removes");
        }
    });
    let damage = open_error(dir.path());
    assert_eq!(
        damage,
        Damage::TailMissing {
            last: Seq(head - 3),
            head: Seq(head)
        }
    );
    assert_eq!(damage.first_bad_seq(), Seq(head - 2));
}

#[tokio::test]
async fn swapped_events_and_a_replaced_record_are_caught() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_scenario(dir.path()).await;
    tamper(dir.path(), |events| {
        let four = events.get(key(4)).expect("reads").expect("exists");
        let five = events.get(key(5)).expect("reads").expect("exists");
        events.insert(key(4), five).expect("writes");
        events.insert(key(5), four).expect("writes");
    });
    let damage = open_error(dir.path());
    assert_eq!(damage.first_bad_seq(), Seq(4), "{damage:?}");
}

#[tokio::test]
async fn a_damaged_ledger_is_left_as_it_was() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_scenario(dir.path()).await;
    tamper(dir.path(), |events| {
        events.remove(key(3)).expect("removes");
    });
    open_error(dir.path());
    open_error(dir.path());
    wait_released(dir.path());
    // Format 2 keeps records grouped; the damage is made in the format-1 layout.
    stackledger::ledger::SledStore::rewrite_as_format_1(dir.path()).expect("rewrites");
    let db = sled::open(dir.path()).expect("sled opens");
    let events = db.open_tree("events").expect("the events tree");
    assert!(
        events.get(key(3)).expect("reads").is_none(),
        "nothing was rewritten"
    );
    assert!(
        events.get(key(4)).expect("reads").is_some(),
        "nothing was dropped"
    );
}

#[tokio::test]
async fn a_live_ledger_verifies_to_its_head_and_names_a_record_altered_under_it() {
    let (store, test) = scenario_in_memory().await;
    let head = test.ledger.head();
    let clean = test.ledger.verify().expect("reads");
    assert_eq!(clean.events(), head.seq.0);
    assert_eq!((clean.last, clean.damage), (head, None));

    let mut altered = store.get(Seq(6)).expect("reads").expect("exists");
    altered[3] ^= 0x01;
    let record = StoredRecord {
        seq: Seq(6),
        bytes: altered,
    };
    store.write(&[record], &head).expect("writes");
    let damaged = test.ledger.verify().expect("reads");
    assert_eq!(damaged.first_bad_seq(), Some(Seq(6)), "{damaged:?}");
    assert_eq!(damaged.last.seq, Seq(5), "everything before it verified");
    close(test.ledger).await;
    match try_open_ledger_on(store, LedgerOptions::default()) {
        Err(LedgerError::Refused(refusal)) => {
            assert_eq!(refusal.damage, damaged.damage.expect("damage"))
        }
        other => panic!("the open and the live verify disagree: {:?}", other.err()),
    }
}
