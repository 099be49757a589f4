//! The witness of acknowledged heads: a store that returns less than was acknowledged (as sled
//! does when it recovers the prefix of its log before a damaged spot, head record included) is
//! refused with the lost range, never opened as a shorter intact log; a lost witness or a lost
//! store is named, never silently recreated; a ledger written before witnesses existed gets one
//! from its verified head.

use std::path::Path;

use stackledger::ids::Seq;
use stackledger::ledger::WITNESS_FILE;
use stackledger::ledger::error::{Damage, LedgerError, WitnessError};
use stackledger::ledger::{LedgerOptions, SledStore};

use crate::support::{close, open_ledger, scenario, try_open_ledger, wait_released};

/// Writes the golden scenario into `dir` and returns its last seq.
async fn write_scenario(dir: &Path) -> u64 {
    let test = open_ledger(dir);
    scenario::write(&test).await;
    let head = test.ledger.head().seq.0;
    close(test.ledger).await;
    head
}

/// Cuts the log after `keep` and records `keep` as its head, exactly as sled's recovery leaves
/// a log whose tail was damaged: shorter, and self-consistent.
fn cut_as_sled_recovers(dir: &Path, keep: u64) {
    // Format 2 keeps records grouped; the damage is made in the format-1 layout.
    stackledger::ledger::SledStore::rewrite_as_format_1(dir).expect("rewrites");
    let db = sled::open(dir).expect("sled opens");
    let events = db.open_tree("events").expect("the events tree");
    let meta = db.open_tree("meta").expect("the meta tree");
    let kept = events
        .get(keep.to_be_bytes())
        .expect("reads")
        .expect("the kept last event exists");
    let mut head = keep.to_be_bytes().to_vec();
    head.extend_from_slice(&kept[kept.len() - 32..]);
    while let Some((key, _)) = events.last().expect("reads") {
        if u64::from_be_bytes(key.as_ref().try_into().expect("a seq key")) <= keep {
            break;
        }
        events.remove(key).expect("removes");
    }
    meta.insert("head", head).expect("writes the head");
    db.flush().expect("flushes");
    drop((events, meta, db));
    wait_released(dir);
}

fn refusal(dir: &Path) -> LedgerError {
    match try_open_ledger(dir, LedgerOptions::default()) {
        Err(error) => error,
        Ok(_) => panic!("a ledger that lost acknowledged events opened"),
    }
}

fn witness_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(WITNESS_FILE)).expect("the witness is there")
}

#[tokio::test]
async fn a_store_cut_short_with_its_head_is_refused_naming_the_lost_range_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("temp dir");
    let head = write_scenario(dir.path()).await;
    let keep = head - 4;
    cut_as_sled_recovers(dir.path(), keep);
    let witness = witness_bytes(dir.path());
    for _ in 0..2 {
        let LedgerError::Refused(refused) = refusal(dir.path()) else {
            panic!("expected a refusal naming the loss");
        };
        assert_eq!(
            refused.damage,
            Damage::Lost {
                held: Seq(keep),
                acknowledged: Seq(head)
            }
        );
        let message = refused.to_string();
        let range = format!("events {}-{head} are lost", keep + 1);
        assert!(message.contains(&range), "{message}");
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(message.contains("stackledger restore"), "{message}");
        assert!(message.contains("--read-only"), "{message}");
        assert_eq!(
            witness_bytes(dir.path()),
            witness,
            "the witness is unchanged"
        );
    }
    wait_released(dir.path());
    // Format 2 keeps records grouped; the damage is made in the format-1 layout.
    stackledger::ledger::SledStore::rewrite_as_format_1(dir.path()).expect("rewrites");
    let db = sled::open(dir.path()).expect("sled opens");
    let events = db.open_tree("events").expect("the events tree");
    assert_eq!(
        events.len(),
        keep as usize,
        "nothing was appended in the lost seqs"
    );
}

#[tokio::test]
async fn a_deleted_store_beside_its_witness_is_refused_and_no_empty_store_is_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let head = write_scenario(dir.path()).await;
    for entry in std::fs::read_dir(dir.path()).expect("lists") {
        let path = entry.expect("an entry").path();
        if path.file_name().is_some_and(|name| name != WITNESS_FILE) {
            if path.is_dir() {
                std::fs::remove_dir_all(&path).expect("removes");
            } else {
                std::fs::remove_file(&path).expect("removes");
            }
        }
    }
    let refused = refusal(dir.path());
    assert!(
        matches!(
            &refused,
            LedgerError::Witness(WitnessError::StoreGone { acknowledged, .. })
                if *acknowledged == Seq(head)
        ),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains(&format!("events 1-{head}")),
        "{refused}"
    );
    assert!(
        !SledStore::exists_in(dir.path()),
        "no empty store was created"
    );
}

#[tokio::test]
async fn a_deleted_witness_is_refused_and_never_recreated() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_scenario(dir.path()).await;
    std::fs::remove_file(dir.path().join(WITNESS_FILE)).expect("removes");
    let refused = refusal(dir.path());
    assert!(
        matches!(&refused, LedgerError::Witness(WitnessError::Missing { .. })),
        "{refused:?}"
    );
    assert!(refused.to_string().contains(WITNESS_FILE), "{refused}");
    assert!(!dir.path().join(WITNESS_FILE).exists(), "not recreated");
}

#[tokio::test]
async fn a_ledger_from_before_witnesses_gets_one_from_its_verified_head_and_is_then_protected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let head = write_scenario(dir.path()).await;
    // What 0.1.0 left: the same store, with no witness file and no witness mark.
    std::fs::remove_file(dir.path().join(WITNESS_FILE)).expect("removes");
    {
        let db = sled::open(dir.path()).expect("sled opens");
        let meta = db.open_tree("meta").expect("the meta tree");
        meta.remove("witness").expect("removes the mark");
        db.flush().expect("flushes");
    }
    wait_released(dir.path());
    let test = open_ledger(dir.path());
    assert_eq!(
        test.ledger.head().seq,
        Seq(head),
        "served exactly as before"
    );
    close(test.ledger).await;
    assert!(
        dir.path().join(WITNESS_FILE).exists(),
        "the witness started"
    );
    cut_as_sled_recovers(dir.path(), head - 1);
    assert!(
        matches!(refusal(dir.path()), LedgerError::Refused(refused) if refused.damage == Damage::Lost { held: Seq(head - 1), acknowledged: Seq(head) }),
        "the upgraded ledger is protected from then on"
    );
}

#[tokio::test]
async fn the_witness_of_another_ledger_is_refused() {
    let mine = tempfile::tempdir().expect("temp dir");
    let other = tempfile::tempdir().expect("temp dir");
    write_scenario(mine.path()).await;
    let test = open_ledger(other.path());
    test.clock.advance(std::time::Duration::from_secs(1));
    scenario::write(&test).await;
    close(test.ledger).await;
    std::fs::copy(
        mine.path().join(WITNESS_FILE),
        other.path().join(WITNESS_FILE),
    )
    .expect("copies");
    let refused = refusal(other.path());
    assert!(
        matches!(&refused, LedgerError::Refused(refused) if matches!(refused.damage, Damage::NotWitnessed { .. })),
        "{refused:?}"
    );
}

fn replay_verify(dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stackledger-replay"))
        .args(["--data-dir", &dir.display().to_string(), "verify"])
        .env_remove("ADMIN_TOKEN")
        .output()
        .expect("the replay tool runs")
}

#[tokio::test]
async fn replay_verify_exits_1_naming_the_lost_range_and_the_lost_witness() {
    let dir = tempfile::tempdir().expect("temp dir");
    let head = write_scenario(dir.path()).await;
    let intact = replay_verify(dir.path());
    assert_eq!(intact.status.code(), Some(0), "{intact:?}");
    cut_as_sled_recovers(dir.path(), head - 2);
    let before = crate::support::fingerprint(dir.path());
    let lost = replay_verify(dir.path());
    assert_eq!(
        crate::support::fingerprint(dir.path()),
        before,
        "verify leaves a damaged ledger as it found it (sled opens a private copy)"
    );
    assert_eq!(lost.status.code(), Some(1), "{lost:?}");
    let said = String::from_utf8_lossy(&lost.stdout);
    assert!(
        said.contains(&format!("events {}-{head} are lost", head - 1)),
        "{said}"
    );
    std::fs::remove_file(dir.path().join(WITNESS_FILE)).expect("removes");
    let missing = replay_verify(dir.path());
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        said.contains("witness file") && said.contains("missing"),
        "{said}"
    );
}
