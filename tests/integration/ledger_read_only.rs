//! A read-only open of a damaged ledger, below the HTTP layer: each kind of damage an ordinary
//! open refuses (a lost tail, a damaged or missing witness) is kept in the report with the
//! ordinary open's words, what is intact is served, and the directory never changes. What
//! cannot be opened at all (a store sled refuses, a store that is gone, no ledger) is refused
//! read-only too, and a read-only ledger holds its directory against a writer.

use std::path::Path;
use std::sync::Arc;

use stackledger::ids::Seq;
use stackledger::ledger::error::{Damage, LedgerError};
use stackledger::ledger::{DiskOptions, Ledger, LedgerOptions, WITNESS_FILE};
use stackledger::projection::LiveReadModel;

use crate::support::{
    close, fingerprint, open_ledger, scenario, tamper, try_open_ledger, wait_released,
};

/// Opens the ledger in `dir` read-only with a read model, its copy made under `scratch`.
fn open_read_only(dir: &Path, scratch: &Path) -> Result<(Ledger, LiveReadModel), LedgerError> {
    let read_model = LiveReadModel::new();
    let ledger = Ledger::open_read_only(
        &DiskOptions::new(dir),
        scratch,
        Arc::new(read_model.clone()),
    )?;
    Ok((ledger, read_model))
}

/// The message an ordinary open refuses `dir` with.
fn refusal_of(dir: &Path) -> String {
    match try_open_ledger(dir, LedgerOptions::default()) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("a damaged ledger opened to write"),
    }
}

/// Writes the golden scenario into `dir`; returns its head seq.
async fn write_scenario(dir: &Path) -> Seq {
    let test = open_ledger(dir);
    scenario::write(&test).await;
    let head = test.ledger.head().seq;
    close(test.ledger).await;
    wait_released(dir);
    head
}

#[tokio::test]
async fn a_lost_tail_is_named_with_the_lost_range_and_the_rest_is_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scratch = tempfile::tempdir().expect("temp dir");
    let head = write_scenario(dir.path()).await.0;
    let held = head - 3;
    // What sled's recovery does to a damaged tail: the events and the head record after the
    // damaged spot are gone, and what is left is self-consistent.
    tamper(dir.path(), |events, meta| {
        for seq in held + 1..=head {
            events.remove(seq.to_be_bytes()).expect("removes");
        }
        let record = events
            .get(held.to_be_bytes())
            .expect("reads")
            .expect("exists");
        let mut head_record = held.to_be_bytes().to_vec();
        head_record.extend_from_slice(&record[record.len() - 32..]);
        meta.insert(b"head", head_record).expect("writes");
    });
    let refused = refusal_of(dir.path());
    assert!(
        refused.contains(&format!("events {}-{head} are lost", held + 1)),
        "{refused}"
    );
    let before = fingerprint(dir.path());
    let (ledger, read_model) = open_read_only(dir.path(), scratch.path()).expect("opens");
    let report = ledger.read_only().expect("a read-only ledger").clone();
    assert_eq!(report.damage_text().as_deref(), Some(refused.as_str()));
    assert_eq!(report.intact_to, Seq(held));
    assert_eq!(ledger.head().seq, Seq(held));
    assert_eq!(read_model.read().summary().last_seq, Seq(held));
    let verification = ledger.verify().expect("reads");
    assert!(
        matches!(verification.damage, Some(Damage::Lost { .. })),
        "{verification:?}"
    );
    assert_eq!(verification.acknowledged, Some(Seq(head)));
    close(ledger).await;
    wait_released(dir.path());
    assert_eq!(fingerprint(dir.path()), before);
    assert_eq!(
        std::fs::read_dir(scratch.path()).expect("reads").count(),
        0,
        "the private copy is removed"
    );
}

/// Opens `dir` read-only and checks that it reports `refused` (an ordinary open's refusal of a
/// bad witness), serves the whole log of `head` events and changes nothing.
async fn assert_served_whole_despite(dir: &Path, scratch: &Path, refused: &str, head: Seq) {
    let before = fingerprint(dir);
    let (ledger, _) = open_read_only(dir, scratch).expect("opens");
    let report = ledger.read_only().expect("a read-only ledger").clone();
    assert_eq!(report.damage_text().as_deref(), Some(refused));
    assert_eq!(report.first_bad_seq(), None);
    assert!(report.summary().contains("witness"), "{}", report.summary());
    assert_eq!(ledger.head().seq, head, "the whole log is served");
    let log = ledger.read_after(Seq::ZERO, usize::MAX).expect("reads");
    assert_eq!(log.len() as u64, head.0);
    close(ledger).await;
    wait_released(dir);
    assert_eq!(fingerprint(dir), before, "{refused}");
}

#[tokio::test]
async fn a_damaged_or_missing_witness_is_named_and_the_log_is_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scratch = tempfile::tempdir().expect("temp dir");
    let head = write_scenario(dir.path()).await;
    let witness = dir.path().join(WITNESS_FILE);
    let mut bytes = std::fs::read(&witness).expect("reads");
    bytes[20] ^= 0x01;
    std::fs::write(&witness, &bytes).expect("writes");
    let damaged = refusal_of(dir.path());
    assert!(damaged.contains("is damaged at offset 16"), "{damaged}");
    assert_served_whole_despite(dir.path(), scratch.path(), &damaged, head).await;

    std::fs::remove_file(&witness).expect("removes");
    let missing = refusal_of(dir.path());
    assert!(
        missing.contains(&format!("{} is missing", witness.display())),
        "{missing}"
    );
    assert_served_whole_despite(dir.path(), scratch.path(), &missing, head).await;
}

#[tokio::test]
async fn a_store_sled_refuses_or_no_store_at_all_is_refused_read_only_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scratch = tempfile::tempdir().expect("temp dir");
    write_scenario(dir.path()).await;
    let conf = dir.path().join("conf");
    let mut bytes = std::fs::read(&conf).expect("sled's configuration file");
    bytes[5] ^= 0x01;
    std::fs::write(&conf, &bytes).expect("writes");
    let refused = refusal_of(dir.path());
    assert!(refused.contains("sled refuses"), "{refused}");
    let before = fingerprint(dir.path());
    let opened = open_read_only(dir.path(), scratch.path()).map(|_| ());
    let error = opened.expect_err("nothing to serve");
    assert_eq!(
        error.to_string(),
        refused,
        "the same message, naming the ledger"
    );
    assert_eq!(fingerprint(dir.path()), before);

    for file in ["db", "conf"] {
        std::fs::remove_file(dir.path().join(file)).expect("removes");
    }
    let gone = open_read_only(dir.path(), scratch.path()).map(|_| ());
    assert!(
        gone.as_ref()
            .is_err_and(|error| error.to_string().contains("the store was lost")),
        "{gone:?}"
    );
    let empty = tempfile::tempdir().expect("temp dir");
    let none = open_read_only(empty.path(), scratch.path()).map(|_| ());
    assert!(
        none.as_ref()
            .is_err_and(|error| error.to_string().contains("holds no StackLedger ledger")),
        "{none:?}"
    );
    assert_eq!(
        std::fs::read_dir(empty.path()).expect("reads").count(),
        0,
        "nothing created"
    );
    assert_eq!(std::fs::read_dir(scratch.path()).expect("reads").count(), 0);
}

#[tokio::test]
async fn a_read_only_ledger_holds_its_directory_against_a_writer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scratch = tempfile::tempdir().expect("temp dir");
    write_scenario(dir.path()).await;
    let (ledger, _) = open_read_only(dir.path(), scratch.path()).expect("opens");
    let writer = try_open_ledger(dir.path(), LedgerOptions::default()).map(|_| ());
    assert!(
        writer
            .as_ref()
            .is_err_and(|error| error.to_string().contains("locked")),
        "{writer:?}"
    );
    close(ledger).await;
    let writing = open_ledger(dir.path());
    let again = open_read_only(dir.path(), scratch.path()).map(|_| ());
    assert!(
        again
            .as_ref()
            .is_err_and(|error| error.to_string().contains("locked")),
        "a running server's ledger is refused: {again:?}"
    );
    close(writing.ledger).await;
}
