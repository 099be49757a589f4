//! The `stackledger` binary: verifies its ledger before serving, records its start, serves
//! `/health` with the ledger figures, refuses a damaged ledger, and shuts down cleanly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use serde_json::Value;

/// A running server process and its log lines.
struct Server {
    child: Child,
    address: String,
    logs: mpsc::Receiver<String>,
}

fn command(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stackledger"));
    command
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Forwards the child's stderr lines to a channel.
fn follow(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

fn start(data_dir: &Path) -> Server {
    let mut child = command(data_dir).spawn().expect("the server starts");
    let logs = follow(&mut child);
    let address = loop {
        let line = logs
            .recv()
            .expect("the server logs its address before anything fails");
        let entry: Value = serde_json::from_str(&line).expect("json log lines");
        if let Some(address) = entry["fields"]["address"].as_str() {
            break address.to_owned();
        }
    };
    Server {
        child,
        address,
        logs,
    }
}

impl Server {
    async fn health(&self) -> Value {
        crate::support::http()
            .get(format!("http://{}/health", self.address))
            .send()
            .await
            .expect("the server answers")
            .json()
            .await
            .expect("health is JSON")
    }

    /// SIGTERM, then the exit status and the remaining log lines.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = self.child.wait().expect("the server exits");
        (status, self.logs.iter().collect())
    }
}

#[tokio::test]
async fn the_server_records_its_start_serves_ledger_figures_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = start(dir.path());
    let health = first.health().await;
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
    let health = second.health().await;
    assert_eq!(health["ledger"]["events"], 2, "both starts are durable");
    let (status, _) = second.terminate();
    assert!(status.success());
}

#[tokio::test]
async fn the_server_refuses_a_damaged_ledger_naming_the_bad_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    for _ in 0..3 {
        let (status, _) = start(dir.path()).terminate();
        assert!(status.success());
    }
    {
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
    let mut child = command(dir.path()).spawn().expect("the server starts");
    let logs = follow(&mut child);
    let status = child.wait().expect("the server exits");
    let logs: Vec<String> = logs.iter().collect();
    assert!(!status.success(), "a damaged ledger must not be served");
    assert!(
        logs.iter().any(|line| line.contains("damaged at event 2")),
        "the log names the bad event: {logs:?}"
    );
}
