//! The `stackledger` binary: verifies its ledger before serving, records its start, serves
//! `/health` with the ledger figures, refuses a damaged ledger, and shuts down cleanly.

use serde_json::Value;

use crate::support::portal::{Portal, command, follow};

async fn health_of(portal: &Portal) -> Value {
    crate::support::http()
        .get(portal.url("/health"))
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("health is JSON")
}

fn start(data_dir: &std::path::Path) -> Portal {
    Portal::start(data_dir, &[])
}

#[tokio::test]
async fn the_server_records_its_start_serves_ledger_figures_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = start(dir.path());
    let health = health_of(&first).await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(
        health["ledger"]["events"], 1,
        "ServerStarted is the only event"
    );
    assert_eq!(health["ledger"]["lastSeq"], 1);
    assert_eq!(health["ledger"]["deployments"], 0);
    assert_eq!(health["features"]["eventLedger"], true);
    let (status, logs) = first.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(
        logs.iter().any(|line| line.contains("ledger closed")),
        "{logs:?}"
    );

    let second = start(dir.path());
    let health = health_of(&second).await;
    assert_eq!(
        health["ledger"]["events"], 3,
        "both starts are durable, and the checkpoint the first stop took (--checkpoint-events)"
    );
    assert_eq!(health["ledger"]["lastSeq"], 3);
    let (status, _) = second.terminate();
    assert!(status.success());
}

#[tokio::test]
async fn the_server_refuses_a_damaged_ledger_naming_the_bad_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Without checkpoints, as every data dir written before them: the open verifies the whole
    // log. (Damage before a checkpoint is found after the open: checkpoint_damage.rs.)
    let flags = ["--checkpoint-events=0".to_owned()];
    for _ in 0..3 {
        let (status, _) = Portal::start(dir.path(), &flags).terminate();
        assert!(status.success());
    }
    {
        // Format 2 keeps records grouped; the damage is made in the format-1 layout.
        stackledger::ledger::SledStore::rewrite_as_format_1(&dir.path().join("ledger"))
            .expect("rewrites");
        let db = sled::open(dir.path().join("ledger")).expect("sled opens");
        let events = db.open_tree("events").expect("the events tree");
        let mut value = events
            .get(2u64.to_be_bytes())
            .expect("reads")
            .expect("exists")
            .to_vec();
        value[3] ^= 0x40;
        events.insert(2u64.to_be_bytes(), value).expect("writes");
        db.flush().expect("flushes");
    }
    crate::support::wait_released(&dir.path().join("ledger"));
    let mut child = command(dir.path(), &[]).spawn().expect("the server starts");
    let logs = follow(&mut child);
    let status = child.wait().expect("the server exits");
    let logs: Vec<String> = logs.iter().collect();
    assert!(!status.success(), "a damaged ledger must not be served");
    assert!(
        logs.iter().any(|line| line.contains("damaged at event 2")),
        "the log names the bad event: {logs:?}"
    );
}
