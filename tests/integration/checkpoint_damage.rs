//! Damage to a format-2 data dir with checkpoints, as the portal binary meets it. A byte
//! flipped in an event before the last checkpoint: the tail-only open does not read that far
//! back and passes, then the background verification finds it and writes stop with the bad
//! seq: the portal serves, `/health` names it, `/ready` answers 503 and a deploy 503
//! `ledger_damaged`, whether the verification ended before the start was recorded or after. A
//! damaged checkpoint refuses the start, saying which checkpoint and why.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use stackledger::clock::ManualClock;
use stackledger::deployment::{Event, EventKind};
use stackledger::ids::Seq;
use stackledger::ledger::error::{Damage, LedgerError};
use stackledger::ledger::{DiskOptions, Ledger, LedgerOptions, SledStore};

use crate::support::portal::{Launch, Portal, command};
use crate::support::{T0, close, http, open_ledger, wait_released};

/// A checkpoint every this many events: several are taken while four stacks deploy.
const CHECKPOINT_EVENTS: &str = "--checkpoint-events=50";

/// How many times `/health` is asked before the background verification must have ended.
const HEALTH_POLLS_MAX: usize = 5_000;

fn flags() -> Vec<String> {
    [
        "--health-interval=1ms",
        "--deploy-poll-interval=1ms",
        CHECKPOINT_EVENTS,
    ]
    .map(str::to_owned)
    .to_vec()
}

async fn launch(data_dir: &Path) -> Launch {
    let command = command(data_dir, &flags());
    tokio::task::spawn_blocking(move || Portal::launch(command))
        .await
        .expect("the start finishes")
}

async fn serving(data_dir: &Path) -> Portal {
    match launch(data_dir).await {
        Launch::Serving(portal) => portal,
        Launch::Exited { status, logs } => panic!("the portal exited ({status}): {logs:?}"),
    }
}

/// Deploys `names` with the binary (the built-in simulator), waits for each verdict, and
/// stops it with SIGTERM (a clean stop: it takes its shutdown checkpoint).
async fn deploy_and_stop(data_dir: &Path, names: &[&str]) {
    let portal = serving(data_dir).await;
    for name in names {
        let id = portal.deploy(name).await.expect("accepted");
        let body = tokio::time::timeout(Duration::from_secs(60), portal.status_to_end(&id))
            .await
            .unwrap_or_else(|_| panic!("{name} did not finish"));
        assert!(body.contains("event: complete"), "{name}: {body}");
    }
    let (status, _) = tokio::task::spawn_blocking(move || portal.terminate())
        .await
        .expect("the stop finishes");
    assert!(status.success(), "{status:?}");
}

/// The `through_seq` of every `CheckpointTaken` in the (fully verified) log, in order, and
/// the seq of the first deployment request.
async fn checkpoints_and_first_request(ledger_dir: &Path) -> (Vec<u64>, u64) {
    let test = open_ledger(ledger_dir);
    let log = crate::support::read_verified(&test.ledger);
    let throughs = log
        .iter()
        .filter_map(|envelope| match envelope.event {
            Event::CheckpointTaken { through_seq, .. } => Some(through_seq),
            _ => None,
        })
        .collect();
    let first_request = log
        .iter()
        .find(|envelope| envelope.event.kind() == EventKind::DeploymentRequested)
        .expect("a deployment was requested")
        .seq
        .0;
    close(test.ledger).await;
    wait_released(ledger_dir);
    (throughs, first_request)
}

async fn get_health(portal: &Portal) -> Value {
    http()
        .get(portal.url("/health"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json")
}

/// Asks `/health` until the background verification is no longer running (at most
/// [`HEALTH_POLLS_MAX`] times); the last answer.
async fn health_once_verified(portal: &Portal) -> Value {
    for _ in 0..HEALTH_POLLS_MAX {
        let health = get_health(portal).await;
        if health["ledger"]["verification"]["state"] != "running" {
            return health;
        }
    }
    panic!("the background verification still runs after {HEALTH_POLLS_MAX} polls of /health");
}

/// A data dir whose log is damaged at an event before its first checkpoint (several were
/// taken, the last at a clean stop), and that event's seq.
async fn damaged_before_the_checkpoints(data_dir: &Path) -> u64 {
    let ledger_dir = data_dir.join("ledger");
    deploy_and_stop(
        data_dir,
        &["first-one", "second-one", "third-one", "fourth-one"],
    )
    .await;
    let (throughs, bad) = checkpoints_and_first_request(&ledger_dir).await;
    assert!(
        throughs.len() >= 2,
        "checkpoints were taken while it served, then at the stop: {throughs:?}"
    );
    assert!(
        bad <= throughs[0],
        "event {bad} is before every checkpoint: {throughs:?}"
    );
    assert!(
        SledStore::flip_record_bit(&ledger_dir, Seq(bad), 9).expect("flips"),
        "event {bad} is stored"
    );
    bad
}

/// A portal serving a ledger whose background verification found damage at `bad`: `/health`
/// names it, `/ready` answers 503, a deploy 503 `ledger_damaged` naming it.
async fn assert_serves_damaged_at(portal: &Portal, bad: u64) {
    let health = health_once_verified(portal).await;
    let verification = &health["ledger"]["verification"];
    assert_eq!(verification["state"], "damaged", "{health}");
    assert_eq!(verification["firstBadSeq"], bad, "{health}");
    assert_eq!(verification["verifiedSeq"], bad - 1, "{health}");
    let message = verification["message"]
        .as_str()
        .expect("says what it found");
    assert!(
        message.contains(&format!("damaged at event {bad}")),
        "{message}"
    );
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["ledger"]["writable"], false, "{health}");
    let ready = http()
        .get(portal.url("/ready"))
        .send()
        .await
        .expect("answers");
    assert_eq!(ready.status(), 503);
    let deploy = http()
        .post(portal.url("/api/deploy"))
        .json(&json!({ "name": "fifth-one" }))
        .send()
        .await
        .expect("answers");
    assert_eq!(deploy.status(), 503);
    let body: Value = deploy.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ledger_damaged", "{body}");
    let message = body["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains(&format!("damaged at event {bad}")),
        "{message}"
    );
    let after = get_health(portal).await;
    assert_eq!(
        after["ledger"]["lastSeq"], health["ledger"]["lastSeq"],
        "nothing was appended"
    );
    assert_eq!(health["ledger"]["readOnly"], false, "{health}");
}

/// The damage is real: an open that verifies the whole log (its projector restores no
/// checkpoint) refuses it at `bad`.
fn assert_refused_at(ledger_dir: &Path, bad: u64) {
    let disk = DiskOptions {
        dir: ledger_dir.to_path_buf(),
        limits: LedgerOptions::default(),
        mirror: None,
    };
    let clock = Arc::new(ManualClock::new(T0));
    match Ledger::open_on_disk(&disk, clock, Arc::new(())) {
        Err(LedgerError::Refused(refusal)) => {
            assert_eq!(refusal.damage, Damage::HashMismatch { seq: Seq(bad) });
        }
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("a damaged ledger opened"),
    }
}

fn stored_head(ledger_dir: &Path) -> Seq {
    let store = SledStore::open_existing(ledger_dir).expect("the store opens");
    let head = stackledger::ledger::Store::head(&store)
        .expect("reads")
        .expect("a head");
    drop(store);
    head.seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_before_the_last_checkpoint_is_found_after_the_open_and_stops_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger_dir = dir.path().join("ledger");
    let bad = damaged_before_the_checkpoints(dir.path()).await;
    let head = stored_head(&ledger_dir);
    // The open starts from the last checkpoint and passes; the background verification then
    // reads the whole chain. Whether it ends before the start is recorded or after, the portal
    // serves what the ledger holds and refuses writes.
    let portal = serving(dir.path()).await;
    assert_serves_damaged_at(&portal, bad).await;
    tokio::task::spawn_blocking(move || portal.kill())
        .await
        .expect("the kill finishes");
    assert_eq!(stored_head(&ledger_dir), head, "nothing was appended");
    assert_refused_at(&ledger_dir, bad);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_checkpoint_refuses_the_start_and_names_its_seq() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger_dir = dir.path().join("ledger");
    deploy_and_stop(dir.path(), &["first-one", "second-one"]).await;
    let last_taken_at = {
        let test = open_ledger(&ledger_dir);
        let log = crate::support::read_verified(&test.ledger);
        let taken = log
            .iter()
            .rev()
            .find(|envelope| envelope.event.kind() == EventKind::CheckpointTaken)
            .expect("the stop took a checkpoint")
            .seq;
        close(test.ledger).await;
        wait_released(&ledger_dir);
        taken
    };
    // The pointer's last byte (inside what its digest covers) changed, as a disk fault would.
    let db = sled::open(&ledger_dir).expect("sled opens");
    let index = db.open_tree("index").expect("the index tree");
    let mut pointer = index
        .get(b"lc")
        .expect("reads")
        .expect("a checkpoint pointer is stored")
        .to_vec();
    let last = pointer.len() - 1;
    pointer[last] ^= 0x01;
    index.insert(b"lc", pointer).expect("writes");
    db.flush().expect("flushes");
    drop((index, db));
    wait_released(&ledger_dir);

    let Launch::Exited { status, logs } = launch(dir.path()).await else {
        panic!("a portal served from a damaged checkpoint");
    };
    assert!(!status.success(), "{status:?}");
    let said = logs.join("\n");
    assert!(
        said.contains(&format!(
            "the checkpoint recorded at event {}",
            last_taken_at.0
        )),
        "{said}"
    );
    assert!(said.contains("digest"), "{said}");
}
