//! Golden logs: every `events/golden/*.log` written by any version still decodes, verifies,
//! re-encodes to the same bytes, and folds to its `*.expected.json`.
//!
//! A golden log is history: it is never regenerated. A new version adds a new one with
//! `STACKLEDGER_BLESS=<name> cargo test --test integration golden`, which writes
//! `events/golden/<name>.log` and its expected projection and refuses to overwrite a log that
//! exists (`scenario.log` is 0.1.0's).

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use stackledger::deployment::EventKind;
use stackledger::ids::Seq;
use stackledger::ledger::envelope::Envelope;
use stackledger::ledger::{SledStore, Store, Verifier, stored_bytes};
use stackledger::projection::{DeploymentView, ListQuery, ReadModel};

use crate::support::{close, open_ledger, scenario, scenario_control, scenario_queue};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events/golden")
}

/// Reads a golden log: one record per line, `<seq> <hex of the stored bytes>`.
fn read_log(path: &Path) -> Vec<(Seq, Vec<u8>)> {
    let text = std::fs::read_to_string(path).expect("the golden log reads");
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (seq, hex) = line.split_once(' ').expect("a line is `<seq> <hex>`");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex"))
                .collect();
            (Seq(seq.parse().expect("a seq")), bytes)
        })
        .collect()
}

fn write_log(path: &Path, records: &[(Seq, Vec<u8>)]) {
    let mut text = String::new();
    for (seq, bytes) in records {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        text.push_str(&format!("{} {hex}\n", seq.0));
    }
    std::fs::write(path, text).expect("the golden log writes");
}

/// The log's envelopes, each verified (through the ledger's one verification) as it is read.
fn verified(log: &Path, records: &[(Seq, Vec<u8>)]) -> Vec<Envelope> {
    let mut verifier = Verifier::new();
    let envelopes = records
        .iter()
        .map(|(seq, bytes)| {
            verifier
                .record(*seq, bytes)
                .unwrap_or_else(|damage| panic!("{}: {damage}", log.display()))
        })
        .collect();
    assert!(verifier.finish().is_intact());
    envelopes
}

/// What a log folds to, as reviewable JSON.
fn expected_of(envelopes: &[Envelope]) -> Value {
    let model = ReadModel::fold(envelopes);
    let summary = model.summary();
    let query = ListQuery {
        limit: usize::MAX,
        ..ListQuery::default()
    };
    let deployments: Vec<DeploymentView> = model
        .list(&query)
        .expect("an in-memory fold reads no index")
        .iter()
        .map(|state| DeploymentView::of(state))
        .collect();
    json!({
        "summary": {
            "events": summary.events,
            "lastSeq": summary.last_seq.0,
            "headHash": summary.head_hash.to_string(),
            "deployments": summary.deployments,
            "serverStarts": summary.server_starts,
            "circuit": format!("{:?}", summary.circuit),
        },
        "deployments": deployments,
        "events": envelopes,
    })
}

async fn bless(dir: &Path, name: &str) {
    let log = dir.join(format!("{name}.log"));
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !name.is_empty(),
        "STACKLEDGER_BLESS names the new log: letters, digits, - and _ only"
    );
    assert!(
        !log.exists(),
        "{} exists: a golden log is history and is never regenerated; bless a new name",
        log.display()
    );
    let data = tempfile::tempdir().expect("temp dir");
    let test = if name == "checkpoint" {
        // The scenario with a checkpoint every 16 events (and one at shutdown).
        let options = stackledger::ledger::LedgerOptions {
            checkpoint_events: std::num::NonZeroU64::new(16),
            ..Default::default()
        };
        crate::support::open_ledger_with(data.path(), options)
    } else {
        open_ledger(data.path())
    };
    match name {
        "build-queue" => scenario_queue::write(&test).await,
        "control" => scenario_control::write(&test).await,
        _ => scenario::write(&test).await,
    }
    close(test.ledger).await;
    let store = SledStore::open(data.path()).expect("the store reopens");
    let mut records = Vec::new();
    store
        .scan(Seq::ZERO, &mut |seq, bytes| {
            records.push((seq, bytes.to_vec()));
            ControlFlow::Continue(())
        })
        .expect("the scan succeeds");
    write_log(&log, &records);
    let envelopes = verified(&log, &records);
    let expected = serde_json::to_string_pretty(&expected_of(&envelopes)).expect("json");
    std::fs::write(dir.join(format!("{name}.expected.json")), expected + "\n").expect("writes");
}

fn golden_logs() -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("events/golden exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    logs.sort();
    logs
}

#[tokio::test]
async fn golden_logs_verify_reencode_identically_and_fold_to_their_expected_projection() {
    if let Ok(name) = std::env::var("STACKLEDGER_BLESS") {
        bless(&golden_dir(), &name).await;
    }
    let logs = golden_logs();
    assert!(!logs.is_empty(), "events/golden holds no log");
    for log in logs {
        let records = read_log(&log);
        let envelopes = verified(&log, &records);
        for (envelope, (seq, bytes)) in envelopes.iter().zip(&records) {
            assert_eq!(
                stored_bytes(envelope),
                *bytes,
                "{}: event {seq:?} re-encodes differently: the codec changed",
                log.display()
            );
        }
        let expected_path = log.with_extension("expected.json");
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path).expect("the expected projection reads"),
        )
        .expect("the expected projection is JSON");
        let actual = expected_of(&envelopes);
        if actual != expected {
            let actual = serde_json::to_string_pretty(&actual).expect("json");
            let expected = serde_json::to_string_pretty(&expected).expect("json");
            let first_difference = actual
                .lines()
                .zip(expected.lines())
                .enumerate()
                .find(|(_, (a, e))| a != e)
                .map(|(line, (a, e))| format!("line {}: actual {a:?}, expected {e:?}", line + 1));
            panic!(
                "{} folds differently from {}: {}",
                log.display(),
                expected_path.display(),
                first_difference.unwrap_or_else(|| "lengths differ".to_owned())
            );
        }
    }
}

#[test]
fn golden_logs_together_use_every_event_kind() {
    let mut seen = BTreeSet::new();
    for log in golden_logs() {
        let records = read_log(&log);
        seen.extend(verified(&log, &records).iter().map(|e| e.event.kind()));
    }
    let missing: Vec<_> = EventKind::ALL
        .iter()
        .filter(|kind| !seen.contains(kind))
        .collect();
    assert!(missing.is_empty(), "no golden log holds {missing:?}");
}
