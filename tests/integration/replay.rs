//! `stackledger-replay` against real ledgers: the same state the server served, from every
//! source; verification that names the exact seq; a receipt that catches a cut tail; clear
//! errors for a locked directory and a bad source.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::test_app::{TestApp, spawn_app};
use crate::support::{http, simulator, wait_released};

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stackledger-replay"))
        .args(args)
        .env_remove("ADMIN_TOKEN")
        .output()
        .expect("the replay tool runs")
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

async fn deploy_and_wait(app: &TestApp, name: &str) -> (String, Value) {
    let id = app.deploy_and_wait(name).await;
    let view: Value = http()
        .get(app.url(&format!("/api/deployment/{id}")))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    (id, view["deployment"].clone())
}

/// A data directory with a succeeded, a retried and a rolled-back deployment; their ids and the
/// views the server served.
async fn recorded(dir: &Path) -> Vec<(String, Value)> {
    let simulator = simulator().await;
    simulator.add_fault(
        stackledger::simulator::Fault::on("domain.create")
            .status(503)
            .times(2),
    );
    simulator.add_fault(
        serde_json::from_str(r#"{"unhealthy": "failed", "polls": "forever"}"#).expect("fault"),
    );
    let flags = [
        "--retry-base=1ms",
        "--health-timeout=20ms",
        "--admin-token=replay-token-for-tests",
    ];
    let app = spawn_app(dir, &simulator, &flags).await;
    let mut served = Vec::new();
    for name in ["retried", "plain", "failed"] {
        if name == "failed" {
            simulator
                .add_fault(serde_json::from_str(r#"{"deployOutcome": "error"}"#).expect("fault"));
        }
        served.push(deploy_and_wait(&app, name).await);
    }
    app.shutdown().await;
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_rebuilds_what_the_server_served_from_every_source() {
    let dir = tempfile::tempdir().expect("temp dir");
    let served = recorded(dir.path()).await;
    let data_dir = dir.path().to_str().expect("utf-8");
    for (id, view) in &served {
        let shown = stdout_json(&replay(&["--data-dir", data_dir, "--json", "show", id]));
        assert_eq!(
            &shown, view,
            "{id}: replay equals the server's view, field for field"
        );
    }
    let retried = &served[0].1;
    assert!(
        retried["logs"]
            .as_array()
            .expect("logs")
            .iter()
            .any(|l| l["action"] == "api_call_failed"),
        "the retried deployment shows its retries"
    );
    let export = dir.path().join("export.ndjson");
    let export_path = export.to_str().expect("utf-8");
    let exported = replay(&["--data-dir", data_dir, "export", "--out", export_path]);
    assert!(exported.status.success());
    let from_dir = stdout_json(&replay(&["--data-dir", data_dir, "--json", "list"]));
    let from_file = stdout_json(&replay(&["--file", export_path, "--json", "list"]));
    assert_eq!(
        from_dir, from_file,
        "an export replays like the directory it came from"
    );
    assert_eq!(from_dir.as_array().map(Vec::len), Some(3));
    let failed = stdout_json(&replay(&[
        "--file",
        export_path,
        "--json",
        "list",
        "--status",
        "failure",
    ]));
    assert_eq!(failed[0]["stackName"], "failed");

    // As of an earlier seq: the state the server had then.
    let (id, view) = &served[1];
    let first_seq =
        stdout_json(&replay(&["--data-dir", data_dir, "--json", "timeline", id]))[0]["seq"]
            .as_u64()
            .expect("a seq");
    let early = stdout_json(&replay(&[
        "--data-dir",
        data_dir,
        "--json",
        "show",
        id,
        "--at",
        &(first_seq + 1).to_string(),
    ]));
    assert_eq!(early["lastSeq"], json!(first_seq + 1));
    assert_eq!(early["status"], "in_progress");
    assert_ne!(&early, view);

    let simulator = simulator().await;
    let app = spawn_app(
        dir.path(),
        &simulator,
        &["--admin-token=replay-token-for-tests"],
    )
    .await;
    let origin = format!("http://{}", app.address);
    let from_server = stdout_json(&replay(&[
        "--from",
        &origin,
        "--token",
        "replay-token-for-tests",
        "--json",
        "list",
    ]));
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("a list")
            .iter()
            .map(|d| d["stackName"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(names(&from_server), names(&from_dir));
    let verified = stdout_json(&replay(&[
        "--from",
        &origin,
        "--token",
        "replay-token-for-tests",
        "--json",
        "verify",
    ]));
    assert_eq!(
        verified["ok"], true,
        "the re-fold equals every view the server serves: {verified}"
    );
    let refused = replay(&["--from", &origin, "--token", "wrong", "list"]);
    assert_eq!(refused.status.code(), Some(2));
    let locked = replay(&["--data-dir", data_dir, "list"]);
    assert_eq!(locked.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&locked.stderr).contains("--from"),
        "the error suggests --from"
    );
    app.shutdown().await;
}

fn tamper(dir: &Path, change: impl FnOnce(&sled::Tree)) {
    let ledger = dir.join("ledger");
    {
        // Format 2 keeps records grouped; the damage is made in the format-1 layout.
        stackledger::ledger::SledStore::rewrite_as_format_1(&ledger).expect("rewrites");
        let db = sled::open(&ledger).expect("sled opens");
        let events = db.open_tree("events").expect("the events tree");
        change(&events);
        db.flush().expect("flushes");
    }
    wait_released(&ledger);
}

fn verify(args: &[&str]) -> (Option<i32>, Value) {
    let output = replay(args);
    let answer = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code(), answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_a_clean_log_and_names_the_seq_of_any_damage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let served = recorded(dir.path()).await;
    let data_dir = dir.path().to_str().expect("utf-8");
    let (code, clean) = verify(&["--data-dir", data_dir, "--json", "verify"]);
    assert_eq!((code, clean["ok"].clone()), (Some(0), json!(true)));
    let (id, view) = &served[2];
    let receipt = view["headHash"].as_str().expect("a receipt");
    let (code, held) = verify(&[
        "--data-dir",
        data_dir,
        "--json",
        "verify",
        id,
        "--head",
        receipt,
    ]);
    assert_eq!((code, held["ok"].clone()), (Some(0), json!(true)), "{held}");

    let export = dir.path().join("before-cut.ndjson");
    replay(&[
        "--data-dir",
        data_dir,
        "export",
        "--out",
        export.to_str().expect("utf-8"),
    ]);
    let text = std::fs::read_to_string(&export).expect("reads");
    let kept: Vec<&str> = text.lines().collect();
    let cut = dir.path().join("cut.ndjson");
    std::fs::write(&cut, kept[..kept.len() - 3].join("\n")).expect("writes");
    let cut = cut.to_str().expect("utf-8");
    let (code, caught) = verify(&["--file", cut, "--json", "verify", id, "--head", receipt]);
    assert_eq!(
        code,
        Some(1),
        "a cut tail is caught by the receipt: {caught}"
    );
    assert_eq!(caught["firstBadSeq"], json!(kept.len() - 2));
    let (code, _) = verify(&["--file", cut, "--json", "verify"]);
    assert_eq!(
        code,
        Some(0),
        "without the receipt a cut tail looks like a shorter log"
    );

    let key = |seq: u64| seq.to_be_bytes();
    tamper(dir.path(), |events| {
        let mut value = events.get(key(9)).expect("reads").expect("exists").to_vec();
        value[6] ^= 0x20;
        events.insert(key(9), value).expect("writes");
    });
    let (code, flipped) = verify(&["--data-dir", data_dir, "--json", "verify"]);
    assert_eq!(
        (code, flipped["firstBadSeq"].clone()),
        (Some(1), json!(9)),
        "{flipped}"
    );
    tamper(dir.path(), |events| {
        events.remove(key(5)).expect("removes");
    });
    let (code, missing) = verify(&["--data-dir", data_dir, "--json", "verify"]);
    assert_eq!(
        (code, missing["firstBadSeq"].clone()),
        (Some(1), json!(5)),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_reproduces_every_recorded_deployment_and_an_override_diverges() {
    let dir = tempfile::tempdir().expect("temp dir");
    let served = recorded(dir.path()).await;
    let data_dir = dir.path().to_str().expect("utf-8");
    // The runs were recorded with the portal's 1 ms health interval.
    let timing = ["--health-interval", "1ms"];
    for (id, view) in &served {
        let mut args = vec!["--data-dir", data_dir, "--json", "redrive", id.as_str()];
        args.extend(timing);
        let output = replay(&args);
        let answer: Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(output.status.code(), Some(0), "{id}: {answer}");
        assert!(answer["divergence"].is_null(), "{id}: {answer}");
        let expected = if view["status"] == "success" {
            "succeeded"
        } else {
            "failed"
        };
        assert!(
            answer["outcome"]
                .as_str()
                .expect("an outcome")
                .starts_with(expected),
            "{answer}"
        );
    }
    let (plain, _) = &served[1];
    let timeline = stdout_json(&replay(&[
        "--data-dir",
        data_dir,
        "--json",
        "timeline",
        plain,
    ]));
    let create_call = timeline
        .as_array()
        .expect("rows")
        .iter()
        .find_map(|row| {
            let detail = row["detail"].as_str()?;
            detail
                .contains("POST application.create")
                .then(|| detail.split_whitespace().nth(1).map(str::to_owned))?
        })
        .expect("the application.create call");
    let spec = format!("{create_call}=503");
    let mut args = vec![
        "--data-dir",
        data_dir,
        "--json",
        "redrive",
        plain.as_str(),
        "--override",
        spec.as_str(),
    ];
    args.extend(timing);
    let output = replay(&args);
    let answer: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(
        output.status.code(),
        Some(1),
        "a divergence exits 1: {answer}"
    );
    assert!(
        answer["outcome"]
            .as_str()
            .expect("outcome")
            .starts_with("succeeded"),
        "the retry path recovers"
    );
    let redriven = answer["divergence"]["redriven"]
        .as_str()
        .expect("a divergence");
    assert!(
        redriven.contains("503") && redriven.contains("retry"),
        "{answer}"
    );
    let bad = replay(&[
        "--data-dir",
        data_dir,
        "redrive",
        plain.as_str(),
        "--override",
        "nonsense",
    ]);
    assert_eq!(bad.status.code(), Some(2));
}
