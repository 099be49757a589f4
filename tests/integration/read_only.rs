//! `--read-only`, as the portal serves it: a ledger an ordinary start refuses is served up to
//! its first damage, for an audit. The damage shows in `/health` (and the verify endpoint),
//! the views of what is intact are served, deploys get 503 `read_only`, and the data directory
//! is left byte for byte as it was (sled's own writes at open land in a private copy), the
//! admin token too. An intact ledger opened read-only is served whole and still refuses
//! deploys. `ledger_read_only.rs` covers each kind of damage below the HTTP layer.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use stackledger::ids::Seq;
use stackledger::ledger::envelope::Envelope;
use stackledger::ledger::error::LedgerError;
use stackledger::ledger::{ExpectedVersion, NewEvent, verify_envelopes};

use crate::support::portal::{Portal, command, follow};
use crate::support::test_app::spawn_app;
use crate::support::{
    close, fingerprint, http, open_ledger, requested, scenario, tamper, wait_released,
};

/// Flips one bit of event `seq`'s stored record.
fn flip_event(ledger_dir: &Path, seq: u64) {
    tamper(ledger_dir, |events, _| {
        let key = seq.to_be_bytes();
        let mut value = events.get(key).expect("reads").expect("exists").to_vec();
        value[3] ^= 0x01;
        events.insert(key, value).expect("writes");
    });
}

async fn get_json(url: String, token: Option<&str>) -> (u16, Value) {
    let mut request = http().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn post_deploy(url: String, name: &str) -> (u16, Option<String>, Value) {
    let response = http()
        .post(url)
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().expect("ascii").to_owned());
    (status, retry_after, response.json().await.expect("json"))
}

/// Starts the binary in `dir` (the built-in simulator, fast polls) and waits until `names` have
/// each been deployed to the end; returns their ids, in order.
async fn deploy_with_the_binary(dir: &Path, names: &[&str]) -> Vec<String> {
    let path = dir.to_path_buf();
    // Without checkpoints, as every data dir written before them, so that an ordinary start
    // finds damage at its open (damage before a checkpoint: checkpoint_damage.rs).
    let flags = [
        "--health-interval=1ms",
        "--deploy-poll-interval=1ms",
        "--checkpoint-events=0",
    ]
    .map(str::to_owned);
    let portal = tokio::task::spawn_blocking(move || Portal::start(&path, &flags))
        .await
        .expect("starts");
    let mut ids = Vec::new();
    for name in names {
        let (status, _, accepted) = post_deploy(portal.url("/api/deploy"), name).await;
        assert_eq!(status, 202, "{accepted}");
        let id = accepted["deploymentId"].as_str().expect("an id").to_owned();
        let stream = http().get(portal.url(&format!("/api/status/{id}"))).send();
        stream.await.expect("opens").text().await.expect("ends");
        ids.push(id);
    }
    let (status, _) = portal.terminate();
    assert!(status.success(), "{status:?}");
    ids
}

/// The seq of the first event of deployment `id` in the ledger at `ledger_dir`.
async fn first_seq_of(ledger_dir: &Path, id: &str) -> u64 {
    let test = open_ledger(ledger_dir);
    let id = id.parse().expect("an id");
    let seq = test.ledger.read_stream(id, Seq::ZERO, 1).expect("reads")[0].seq;
    close(test.ledger).await;
    wait_released(ledger_dir);
    seq.0
}

/// Checks what `/health` says of a ledger served read-only up to `bad - 1`; returns the damage.
async fn assert_health_names(portal: &Portal, bad: u64, ledger_dir: &Path) -> String {
    let (status, health) = get_json(portal.url("/health"), None).await;
    assert_eq!(status, 200, "it serves what it was started to serve");
    let figures = &health["ledger"];
    assert_eq!(
        (&figures["readOnly"], &figures["writable"]),
        (&json!(true), &json!(false))
    );
    let damage = figures["damage"].as_str().expect("the damage is named");
    assert!(
        damage.contains(&format!("damaged at event {bad}")),
        "{damage}"
    );
    assert!(
        damage.contains(&ledger_dir.display().to_string()),
        "{damage}"
    );
    assert_eq!(figures["intactTo"], bad - 1);
    assert_eq!(figures["lastSeq"], bad - 1, "no start recorded");
    assert_eq!(figures["deployments"], 2);
    damage.to_owned()
}

/// Checks the ops API of a ledger served read-only up to `bad - 1` with `damage`.
async fn assert_ops_serve_the_prefix(portal: &Portal, token: &str, bad: u64, damage: &str) {
    let (_, verdict) = get_json(portal.url("/api/ledger/verify"), Some(token)).await;
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert_eq!(verdict["firstBadSeq"], bad);
    assert_eq!(verdict["damage"], damage);
    let (_, page) = get_json(portal.url("/api/deployments"), Some(token)).await;
    assert_eq!(page["deployments"].as_array().expect("a list").len(), 2);
    let export = portal.export(token, 0, 10_000).await;
    let envelopes: Vec<Envelope> = export
        .lines()
        .map(|line| serde_json::from_str(line).expect("an envelope"))
        .collect();
    let exported = verify_envelopes(&envelopes);
    assert!(exported.is_intact(), "{exported:?}");
    assert_eq!(exported.last.seq, Seq(bad - 1));
}

/// Checks that `POST /api/deploy` is refused with 503 `read_only`; returns the message.
async fn assert_deploy_refused(url: String) -> String {
    let (status, retry_after, refused) = post_deploy(url, "not-now").await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"]["code"], "read_only");
    assert_eq!(retry_after, None, "only a restart changes it");
    let message = refused["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains("read-only") && message.contains("refuses deploys"),
        "{message}"
    );
    message.to_owned()
}

/// The log of an ordinary start of `data_dir`, which must refuse it.
fn refused_start(data_dir: &Path) -> Vec<String> {
    let mut child = command(data_dir, &[]).spawn().expect("starts");
    let lines = follow(&mut child);
    let exited = child.wait().expect("exits");
    assert!(!exited.success(), "an ordinary start refuses it");
    lines.iter().collect()
}

#[tokio::test]
async fn a_ledger_damaged_at_event_n_is_served_read_only_up_to_n_and_left_unchanged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = deploy_with_the_binary(dir.path(), &["first-one", "second-one", "third-one"]).await;
    let token = std::fs::read_to_string(dir.path().join("admin-token")).expect("the token");
    let ledger_dir = dir.path().join("ledger");
    let bad = first_seq_of(&ledger_dir, &ids[2]).await;
    flip_event(&ledger_dir, bad);
    let before = fingerprint(dir.path());

    let path = dir.path().to_path_buf();
    let flags = ["--read-only".to_owned()];
    let portal = tokio::task::spawn_blocking(move || Portal::start(&path, &flags))
        .await
        .expect("starts");
    let loud = portal.startup.iter().any(|line| {
        line.contains("READ-ONLY") && line.contains("DAMAGED") && line.contains("\"ERROR\"")
    });
    assert!(
        loud,
        "it says loudly that it is read-only: {:?}",
        portal.startup
    );
    let damage = assert_health_names(&portal, bad, &ledger_dir).await;
    for id in &ids[..2] {
        let (status, view) = get_json(portal.url(&format!("/api/deployment/{id}")), None).await;
        assert_eq!(
            (status, &view["deployment"]["status"]),
            (200, &json!("success"))
        );
    }
    let (status, _) = get_json(portal.url(&format!("/api/deployment/{}", ids[2])), None).await;
    assert_eq!(
        status, 404,
        "a deployment that begins at the damage is not served"
    );
    let message = assert_deploy_refused(portal.url("/api/deploy")).await;
    assert!(
        message.contains(&format!("damaged at event {bad}")),
        "{message}"
    );
    assert_ops_serve_the_prefix(&portal, &token, bad, &damage).await;
    let (status, _) = portal.terminate();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        fingerprint(dir.path()),
        before,
        "nothing in the data dir changed"
    );

    let lines = refused_start(dir.path());
    let named = lines.iter().any(|line| {
        line.contains(&format!("damaged at event {bad}")) && line.contains("--read-only")
    });
    assert!(named, "{lines:?}");
}

#[tokio::test]
async fn an_intact_ledger_opened_read_only_is_served_whole_and_refuses_deploys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = crate::support::simulator().await;
    let writing = spawn_app(dir.path(), &simulator, &[]).await;
    let shop = writing.deploy_and_wait("shop-intact").await;
    let blog = writing.deploy_and_wait("blog-intact").await;
    let head = writing.app.ledger.head();
    writing.shutdown().await;
    wait_released(&dir.path().join("ledger"));
    let before = fingerprint(dir.path());

    let reading = spawn_app(dir.path(), &simulator, &["--read-only"]).await;
    let (_, health) = get_json(reading.url("/health"), None).await;
    assert_eq!(health["ledger"]["readOnly"], true, "{health}");
    assert_eq!(health["ledger"]["damage"], Value::Null);
    assert_eq!(health["ledger"]["intactTo"], head.seq.0);
    assert_eq!(health["ledger"]["lastSeq"], head.seq.0, "no start recorded");
    for id in [&shop, &blog] {
        let (status, view) = get_json(reading.url(&format!("/api/deployment/{id}")), None).await;
        assert_eq!(
            (status, &view["deployment"]["status"]),
            (200, &json!("success"))
        );
    }
    let message = assert_deploy_refused(reading.url("/api/deploy")).await;
    assert!(message.contains("verified whole"), "{message}");
    let (status, _) = get_json(reading.url("/ready"), None).await;
    assert_eq!(status, 503, "not ready to take deployments");
    let appended = reading
        .app
        .ledger
        .append_one(
            stackledger::ids::DeploymentId::SYSTEM,
            ExpectedVersion::Any,
            NewEvent::new(requested("direct")),
        )
        .await;
    assert!(
        matches!(appended, Err(LedgerError::ReadOnly)),
        "{appended:?}"
    );
    assert_eq!(reading.app.ledger.head(), head);
    reading.shutdown().await;
    wait_released(&dir.path().join("ledger"));
    assert_eq!(
        fingerprint(dir.path()),
        before,
        "nothing in the data dir changed"
    );
}

#[tokio::test]
async fn a_read_only_start_never_writes_an_admin_token() {
    use clap::Parser;
    let dir = tempfile::tempdir().expect("temp dir");
    let writing = open_ledger(&dir.path().join("ledger"));
    scenario::write(&writing).await;
    close(writing.ledger).await;
    wait_released(&dir.path().join("ledger"));
    let before = fingerprint(dir.path());
    let build = |extra: &[&str]| {
        let data_dir = format!("--data-dir={}", dir.path().display());
        let mut flags = vec!["stackledger", "--read-only", data_dir.as_str()];
        flags.extend(extra);
        let config = stackledger::config::Cli::try_parse_from(flags)
            .expect("valid flags")
            .serve;
        async move {
            stackledger::app::App::build(
                &config,
                Arc::new(stackledger::clock::SystemClock),
                Arc::new(stackledger::ids::RandomIds),
            )
            .await
        }
    };
    let refused = build(&[])
        .await
        .map(|_| ())
        .expect_err("no token to serve the ops API with");
    assert!(refused.to_string().contains("--admin-token"), "{refused}");
    assert_eq!(fingerprint(dir.path()), before, "no token file was written");
    let app = build(&["--admin-token=read-only-audit-token"])
        .await
        .expect("builds");
    assert!(
        app.ledger
            .read_only()
            .is_some_and(|report| report.damage.is_empty())
    );
    app.shutdown().await;
    drop(app);
    wait_released(&dir.path().join("ledger"));
    assert_eq!(fingerprint(dir.path()), before);
}
