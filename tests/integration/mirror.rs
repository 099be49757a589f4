//! The second copy (issue 11): `--mirror DIR` holds every acknowledged event before it is
//! acknowledged, is filled, caught up or refused at open, and `stackledger restore` rebuilds a
//! data directory from it (or from an NDJSON export) so that every acknowledged event and every
//! receipt still verifies, and never from a source that holds less than was acknowledged.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::{Value, json};
use stackledger::clock::ManualClock;
use stackledger::ids::{DeploymentId, Seq};
use stackledger::ledger::error::{LedgerError, MirrorError};
use stackledger::ledger::{
    DiskOptions, Ledger, MIRROR_FILE, RestoreError, RestoreSource, WITNESS_FILE, restore,
};
use stackledger::projection::LiveReadModel;

use crate::support::portal::Portal;
use crate::support::{
    SIM_KEY, T0, TestLedger, append, close, http, phase, read_verified, requested, scenario,
    simulator,
};

const ADMIN_TOKEN: &str = "mirror-test-admin-token";

/// The ledger of `data_dir` (in `data_dir/ledger`), mirrored to `mirror` if given.
fn try_open(data_dir: &Path, mirror: Option<&Path>) -> Result<TestLedger, LedgerError> {
    let read_model = LiveReadModel::new();
    let clock = ManualClock::new(T0);
    let mut disk = DiskOptions::new(&data_dir.join("ledger"));
    disk.mirror = mirror.map(Path::to_path_buf);
    let ledger =
        Ledger::open_on_disk(&disk, Arc::new(clock.clone()), Arc::new(read_model.clone()))?;
    Ok(TestLedger {
        ledger,
        read_model,
        clock,
    })
}

fn open(data_dir: &Path, mirror: Option<&Path>) -> TestLedger {
    try_open(data_dir, mirror).expect("the ledger opens")
}

/// A deployment stream numbered `n`, opened with a request for `name` and two phases.
async fn deploy(test: &TestLedger, n: u128, name: &str) {
    let id = DeploymentId::from_uuid(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + n,
    ));
    let events = vec![
        requested(name),
        phase(stackledger::deployment::Phase::CreatingProject),
        phase(stackledger::deployment::Phase::Deploying),
    ];
    append(&test.ledger, id, events).await;
}

fn restore_from(
    data_dir: &Path,
    source: RestoreSource,
) -> Result<stackledger::ledger::Restored, RestoreError> {
    restore(
        data_dir,
        &source,
        &std::env::temp_dir(),
        &ManualClock::new(T0),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creates");
    for entry in std::fs::read_dir(from).expect("reads") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copies");
        }
    }
}

fn mirror_refusal(opened: Result<TestLedger, LedgerError>) -> (MirrorError, String) {
    match opened {
        Err(LedgerError::Mirror(error)) => {
            let message = LedgerError::Mirror(error.clone()).to_string();
            (*error, message)
        }
        Err(other) => panic!("not a mirror refusal: {other}"),
        Ok(_) => panic!("the ledger opened"),
    }
}

#[tokio::test]
async fn a_mirror_that_holds_more_than_the_ledger_or_other_events_is_refused_at_open() {
    let root = tempfile::tempdir().expect("temp dir");
    let (data, mirror) = (root.path().join("data"), root.path().join("mirror"));
    let test = open(&data, Some(&mirror));
    scenario::write(&test).await;
    let written = test.ledger.head();
    close(test.ledger).await;
    let forked = root.path().join("forked");
    copy_dir(&data, &forked);
    let test = open(&data, Some(&mirror));
    deploy(&test, 10, "left").await;
    close(test.ledger).await;
    let test = open(&forked, None);
    deploy(&test, 10, "right").await;
    close(test.ledger).await;
    let mirrored = std::fs::read(mirror.join(MIRROR_FILE)).expect("reads");

    let (diverged, message) = mirror_refusal(try_open(&forked, Some(&mirror)));
    let first_other = written.seq.next();
    assert!(
        matches!(diverged, MirrorError::Diverged { seq, .. } if seq == first_other),
        "{message}"
    );
    let mirror_path = mirror.join(MIRROR_FILE).display().to_string();
    let forked_ledger = forked.join("ledger").display().to_string();
    for named in [&mirror_path, &forked_ledger] {
        assert!(message.contains(named.as_str()), "{message}");
    }
    assert!(message.contains("stackledger restore"), "{message}");

    // The data directory lost (a new one): the mirror holds what it lacks.
    let empty = root.path().join("empty");
    let (ahead, message) = mirror_refusal(try_open(&empty, Some(&mirror)));
    assert!(
        matches!(
            ahead,
            MirrorError::Ahead {
                store_head: Seq::ZERO,
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains(&format!("events 1-{}", written.seq.0 + 3)),
        "{message}"
    );
    assert_eq!(
        std::fs::read(mirror.join(MIRROR_FILE)).expect("reads"),
        mirrored,
        "a refused open changes nothing in the mirror"
    );
}

#[tokio::test]
async fn a_new_mirror_on_an_existing_ledger_is_filled_and_then_takes_every_append() {
    let root = tempfile::tempdir().expect("temp dir");
    let (data, mirror) = (root.path().join("data"), root.path().join("mirror"));
    let test = open(&data, None);
    scenario::write(&test).await;
    close(test.ledger).await;
    assert!(!mirror.exists());

    let test = open(&data, Some(&mirror));
    let status = test.ledger.mirror().expect("a mirror");
    assert_eq!(status.head, test.ledger.head().seq, "filled at open");
    assert!(status.in_sync);
    deploy(&test, 20, "later").await;
    let status = test.ledger.mirror().expect("a mirror");
    assert_eq!(
        (status.head, status.in_sync),
        (test.ledger.head().seq, true)
    );
    let events = read_verified(&test.ledger);
    close(test.ledger).await;

    let elsewhere = root.path().join("elsewhere");
    let restored =
        restore_from(&elsewhere, RestoreSource::Mirror(mirror.clone())).expect("restores");
    assert_eq!(restored.head.seq.0, events.len() as u64);
    let test = open(&elsewhere, None);
    assert_eq!(
        read_verified(&test.ledger),
        events,
        "the mirror held every event"
    );
    close(test.ledger).await;
}

#[tokio::test]
async fn restore_refuses_a_source_that_holds_less_than_was_acknowledged() {
    let root = tempfile::tempdir().expect("temp dir");
    let (data, mirror) = (root.path().join("data"), root.path().join("mirror"));
    let test = open(&data, Some(&mirror));
    scenario::write(&test).await;
    let early = test.ledger.head();
    close(test.ledger).await;
    let stale = root.path().join("stale");
    copy_dir(&mirror, &stale);
    let test = open(&data, Some(&mirror));
    deploy(&test, 30, "after").await;
    let acknowledged = test.ledger.head();
    close(test.ledger).await;
    // The store is lost, its witness stays.
    std::fs::remove_file(data.join("ledger").join("db")).expect("removes");

    let by_hand = binary(
        "stackledger",
        &[
            "restore",
            "--data-dir",
            path_arg(&data),
            "--mirror",
            path_arg(&stale),
        ],
    );
    let said = String::from_utf8_lossy(&by_hand.stderr);
    assert!(!by_hand.status.success(), "{said}");
    assert!(
        said.contains("would be lost and their seqs reused"),
        "{said}"
    );
    let refused = restore_from(&data, RestoreSource::Mirror(stale)).expect_err("short");
    let message = refused.to_string();
    assert!(matches!(refused, RestoreError::Short { .. }), "{message}");
    let lost = format!("events {}-{}", early.seq.0 + 1, acknowledged.seq.0);
    assert!(message.contains(&lost), "{message}");
    assert!(message.contains(WITNESS_FILE), "{message}");
    let entries: Vec<_> = std::fs::read_dir(&data)
        .expect("reads")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        entries,
        vec![std::ffi::OsString::from("ledger")],
        "nothing was changed"
    );

    let restored =
        restore_from(&data, RestoreSource::Mirror(mirror)).expect("the full mirror restores");
    assert_eq!(restored.head, acknowledged);
    assert_eq!(restored.acknowledged, Some(acknowledged.seq));
    let aside = restored
        .moved_aside
        .expect("the damaged ledger was moved aside");
    assert!(aside.join(WITNESS_FILE).exists(), "nothing was deleted");
}

#[tokio::test]
async fn restore_from_an_export_rebuilds_the_same_log_with_the_same_head_hash() {
    let root = tempfile::tempdir().expect("temp dir");
    let data = root.path().join("data");
    let test = open(&data, None);
    scenario::write(&test).await;
    deploy(&test, 40, "exported").await;
    let events = read_verified(&test.ledger);
    let head = test.ledger.head();
    close(test.ledger).await;
    let export = root.path().join("export.ndjson");
    let lines: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).expect("json"))
        .collect();
    std::fs::write(&export, lines.join("\n") + "\n").expect("writes");

    let refused = restore_from(&data, RestoreSource::Export(export.clone())).expect_err("intact");
    assert!(matches!(refused, RestoreError::Intact { .. }), "{refused}");
    std::fs::remove_dir_all(data.join("ledger")).expect("the ledger is lost");
    let restored = restore_from(&data, RestoreSource::Export(export.clone())).expect("restores");
    assert_eq!(restored.head, head, "the same head seq and hash");
    let report = restored.to_string();
    assert!(report.contains(&head.hash.to_string()), "{report}");
    let test = open(&data, None);
    assert_eq!(read_verified(&test.ledger), events);
    close(test.ledger).await;

    let mut altered: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    altered[2]["at"] = json!(altered[2]["at"].as_i64().expect("a time") + 1);
    let altered_file = root.path().join("altered.ndjson");
    let text: Vec<String> = altered.iter().map(Value::to_string).collect();
    std::fs::write(&altered_file, text.join("\n")).expect("writes");
    let elsewhere = root.path().join("elsewhere");
    let refused =
        restore_from(&elsewhere, RestoreSource::Export(altered_file)).expect_err("altered");
    assert!(
        matches!(refused, RestoreError::ExportDamaged { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("event 3"), "{refused}");
    assert!(!elsewhere.join("ledger").exists(), "nothing was written");
}

// ---- the test: the primary's ledger deleted during live deployments ----

fn binary(name: &str, args: &[&str]) -> Output {
    let path = match name {
        "stackledger" => env!("CARGO_BIN_EXE_stackledger"),
        _ => env!("CARGO_BIN_EXE_stackledger-replay"),
    };
    Command::new(path)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("runs")
}

async fn start(data: &Path, flags: &[String]) -> Portal {
    let (data, flags) = (data.to_path_buf(), flags.to_vec());
    tokio::task::spawn_blocking(move || Portal::start(&data, &flags))
        .await
        .expect("the start finishes")
}

/// Every event the portal serves, as exported (one JSON value per event).
async fn exported(portal: &Portal) -> Vec<Value> {
    let text = portal.export(ADMIN_TOKEN, 0, 10_000).await;
    text.lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect()
}

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    client
        .get(url)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json")
}

/// Waits (on the status stream) until deployment `id` has a verdict.
async fn finished(portal: &Portal, id: &str) {
    let body = portal.status_to_end(id).await;
    assert!(
        body.contains("event: complete") || body.contains("event: error"),
        "{id}: {body}"
    );
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("a utf-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_11_a_ledger_deleted_during_live_deployments_is_restored_from_its_mirror() {
    let simulator = simulator().await;
    let root = tempfile::tempdir().expect("temp dir");
    let (data, mirror): (PathBuf, PathBuf) = (root.path().join("data"), root.path().join("mirror"));
    let flags = vec![
        format!("--dokploy-url={}", simulator.origin()),
        format!("--dokploy-api-key={SIM_KEY}"),
        format!("--health-url={}", simulator.health_url_template()),
        "--health-interval=1ms".to_owned(),
        "--deploy-poll-interval=1ms".to_owned(),
        format!("--admin-token={ADMIN_TOKEN}"),
        format!("--mirror={}", mirror.display()),
    ];
    let client = http();
    let portal = start(&data, &flags).await;
    assert!(
        portal
            .startup
            .iter()
            .any(|line| line.contains("the mirror is on the ledger's own disk")),
        "a mirror beside the ledger is warned about: {:?}",
        portal.startup
    );
    let mut ids = Vec::new();
    for name in ["m-one", "m-two", "m-three"] {
        ids.push(portal.deploy(name).await.expect("accepted"));
    }
    for id in &ids {
        finished(&portal, id).await;
    }
    for name in ["m-four", "m-five", "m-six"] {
        ids.push(portal.deploy(name).await.expect("accepted"));
    }
    // The receipts handed out, then everything acknowledged, then the disk content is gone.
    let mut receipts = Vec::new();
    for id in &ids {
        let view = get_json(&client, portal.url(&format!("/api/deployment/{id}"))).await;
        receipts.push(view["deployment"].clone());
    }
    let acknowledged = exported(&portal).await;
    std::fs::remove_dir_all(data.join("ledger")).expect("the primary's ledger is deleted");
    let live = receipts
        .iter()
        .filter(|r| r["status"] == "in_progress")
        .count();
    assert!(
        live > 0,
        "deployments were live when the ledger was deleted: {receipts:?}"
    );
    let health = get_json(&client, portal.url("/health")).await;
    assert_eq!(
        health["ledger"]["mirror"]["synchronous"],
        json!(true),
        "{health}"
    );
    let _ = portal.deploy("m-seven").await;
    let acknowledged_at_kill = exported(&portal).await;
    tokio::task::spawn_blocking(move || portal.kill())
        .await
        .expect("killed");

    let restored = binary(
        "stackledger",
        &[
            "restore",
            "--data-dir",
            path_arg(&data),
            "--mirror",
            path_arg(&mirror),
        ],
    );
    let report = String::from_utf8_lossy(&restored.stdout);
    assert!(
        restored.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert!(
        report.contains("restored ") && report.contains("head: seq "),
        "{report}"
    );

    for receipt in receipts.iter().filter(|r| r["status"] != "in_progress") {
        let (id, head) = (
            receipt["id"].as_str().expect("an id"),
            receipt["headHash"].as_str().expect("a receipt"),
        );
        let verified = binary(
            "stackledger-replay",
            &["--data-dir", path_arg(&data), "verify", id, "--head", head],
        );
        assert!(
            verified.status.success(),
            "the receipt of {id}: {}",
            String::from_utf8_lossy(&verified.stdout)
        );
    }
    let verified = binary(
        "stackledger-replay",
        &["--data-dir", path_arg(&data), "verify"],
    );
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );

    let portal = start(&data, &flags).await;
    let served = exported(&portal).await;
    assert!(served.len() >= acknowledged_at_kill.len());
    assert!(acknowledged_at_kill.len() >= acknowledged.len());
    for (index, event) in acknowledged_at_kill.iter().enumerate() {
        assert_eq!(
            &served[index],
            event,
            "event {} is served identically",
            index + 1
        );
    }
    for receipt in &receipts {
        let seq = receipt["lastSeq"].as_u64().expect("a seq") as usize;
        assert_eq!(
            served[seq - 1]["hash"],
            receipt["headHash"],
            "the receipt at seq {seq}"
        );
    }
    let health = get_json(&client, portal.url("/health")).await;
    assert_eq!(
        health["ledger"]["mirror"]["inSync"],
        json!(true),
        "{health}"
    );
    assert_eq!(
        health["ledger"]["mirror"]["lagEvents"],
        json!(0),
        "{health}"
    );
    let metrics = client
        .get(portal.url("/metrics"))
        .send()
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("stackledger_mirror_lag_events 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("stackledger_mirror_in_sync 1"),
        "{metrics}"
    );
    for id in &ids {
        finished(&portal, id).await;
    }
    let verify: Value = client
        .get(portal.url("/api/ledger/verify"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(verify["ok"], json!(true), "{verify}");
    let (status, _) = tokio::task::spawn_blocking(move || portal.terminate())
        .await
        .expect("stops");
    assert!(status.success());
}

#[tokio::test]
async fn restore_refuses_a_ledger_or_a_mirror_a_running_server_holds() {
    let root = tempfile::tempdir().expect("temp dir");
    let (data, mirror) = (root.path().join("data"), root.path().join("mirror"));
    let test = open(&data, Some(&mirror));
    scenario::write(&test).await;
    let refused = restore_from(&data, RestoreSource::Mirror(mirror.clone())).expect_err("in use");
    assert!(matches!(refused, RestoreError::InUse(_)), "{refused}");
    let elsewhere = root.path().join("elsewhere");
    let refused =
        restore_from(&elsewhere, RestoreSource::Mirror(mirror.clone())).expect_err("in use");
    assert!(matches!(refused, RestoreError::InUse(_)), "{refused}");
    assert!(refused.to_string().contains("stop the server"), "{refused}");
    assert!(!elsewhere.exists(), "nothing was written");
    let second = try_open(&elsewhere, Some(&mirror));
    assert!(
        matches!(&second, Err(LedgerError::Mirror(error)) if matches!(**error, MirrorError::Locked { .. })),
        "two ledgers never share a mirror"
    );
    close(test.ledger).await;
}

#[tokio::test]
async fn without_a_witness_restore_checks_the_source_against_what_the_old_ledger_still_holds() {
    let root = tempfile::tempdir().expect("temp dir");
    let (data, mirror) = (root.path().join("data"), root.path().join("mirror"));
    let test = open(&data, Some(&mirror));
    scenario::write(&test).await;
    close(test.ledger).await;
    let stale = root.path().join("stale");
    copy_dir(&mirror, &stale);
    let test = open(&data, Some(&mirror));
    deploy(&test, 31, "later").await;
    let acknowledged = test.ledger.head();
    close(test.ledger).await;
    // One fault: the witness is gone. The start is refused and says to restore; a stale source
    // must not then give the seqs the old ledger still holds to new events.
    std::fs::remove_file(data.join("ledger").join(WITNESS_FILE)).expect("removes");
    let before = crate::support::fingerprint(&data);
    let refused = restore_from(&data, RestoreSource::Mirror(stale))
        .expect_err("a source shorter than the old ledger is refused");
    let message = refused.to_string();
    assert!(matches!(refused, RestoreError::Short { .. }), "{message}");
    assert!(
        message.contains(&format!("events 1-{} still verify", acknowledged.seq)),
        "{message}"
    );
    assert_eq!(
        crate::support::fingerprint(&data),
        before,
        "the refused restore left the old ledger exactly as it was (examined through a copy)"
    );
    let restored =
        restore_from(&data, RestoreSource::Mirror(mirror)).expect("the full mirror restores");
    assert_eq!(restored.head, acknowledged);
}
