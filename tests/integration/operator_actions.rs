//! Named admin tokens and operator actions on the record (issue 13), over real HTTP: each
//! kind of action lands on the ops stream with the token's name; a named token works until it
//! is revoked; names and weak tokens are refused by rule (through the API and the
//! configuration); a flood of wrong tokens adds a bounded number of events; a read-only portal
//! answers without recording; the `tokens` CLI against the binary. No token added or generated
//! appears in the export, the operator actions, the token list, the replay tool or the logs.

use std::process::Command;

use serde_json::{Value, json};
use stackledger::deployment::Event;
use stackledger::http::refusal::EVENTS_PER_WINDOW_MAX;
use stackledger::ids::{DeploymentId, Seq};
use stackledger::ledger::envelope::Envelope;

use crate::support::portal::Portal;
use crate::support::test_app::{TestApp, build_app, spawn_app};
use crate::support::{http, simulator};

/// The configured token of these tests.
const ADMIN: &str = "ops-actions-admin-token";

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut request = http()
        .request(method, app.url(path))
        .header("authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    call(app, reqwest::Method::GET, path, token, None).await
}

async fn add(app: &TestApp, by: &str, body: Value) -> (u16, Value) {
    let (status, text) = call(
        app,
        reqwest::Method::POST,
        "/api/admin/tokens",
        by,
        Some(body),
    )
    .await;
    (status, serde_json::from_str(&text).expect("JSON"))
}

async fn revoke(app: &TestApp, by: &str, name: &str) -> (u16, Value) {
    let path = format!("/api/admin/tokens/{name}");
    let (status, text) = call(app, reqwest::Method::DELETE, &path, by, None).await;
    (status, serde_json::from_str(&text).expect("JSON"))
}

/// The ops stream as the ledger holds it.
fn ops_events(app: &TestApp) -> Vec<Envelope> {
    app.app
        .ledger
        .read_stream(DeploymentId::OPS, Seq::ZERO, usize::MAX)
        .expect("the ops stream reads")
}

fn refusal_events(app: &TestApp) -> Vec<(String, u32)> {
    ops_events(app)
        .into_iter()
        .filter_map(|envelope| match envelope.event {
            Event::AuthenticationRefused {
                client, refused, ..
            } => Some((client, refused)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operator_action_is_recorded_with_the_name_of_the_token_that_acted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let flag = format!("--admin-token={ADMIN}");
    let app = spawn_app(dir.path(), &simulator, &[&flag]).await;
    let (status, added) = add(&app, ADMIN, json!({"name": "alice"})).await;
    assert_eq!(status, 201, "{added}");
    let alice = added["token"].as_str().expect("generated").to_owned();
    assert_eq!(alice.len(), 64, "a generated token is 64 hex digits");
    assert_eq!(get(&app, "/api/ledger/events?after=0", &alice).await.0, 200);
    assert_eq!(get(&app, "/api/ledger/verify", &alice).await.0, 200);
    let bob = "bob-OwnToken-Zq8wX3";
    let (status, added) = add(&app, &alice, json!({"name": "bob", "token": bob})).await;
    assert_eq!((status, added["token"].as_str()), (201, Some(bob)));
    assert_eq!(
        get(&app, "/api/ledger/verify", bob).await.0,
        200,
        "bob's token works"
    );
    assert_eq!(revoke(&app, &alice, "bob").await.0, 200);
    assert_eq!(get(&app, "/api/ledger/verify", bob).await.0, 401, "revoked");
    assert_eq!(
        get(&app, "/api/admin/tokens", bob).await.0,
        401,
        "everywhere"
    );
    let (_, actions) = get(&app, "/api/operator-actions", ADMIN).await;
    let actions: Value = serde_json::from_str(&actions).expect("JSON");
    let seen: Vec<(&str, &str)> = actions["actions"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|action| {
            let by = action["by"].as_str().unwrap_or("-");
            (action["kind"].as_str().expect("a kind"), by)
        })
        .collect();
    let expected = [
        ("authentication_refused", "-"),
        ("admin_token_revoked", "alice"),
        ("ledger_verified", "bob"),
        ("admin_token_added", "alice"),
        ("ledger_verified", "alice"),
        ("ledger_exported", "alice"),
        ("admin_token_added", "admin"),
    ];
    assert_eq!(seen, expected, "newest first, each with its token's name");
    let newest = &actions["actions"][0];
    assert_eq!(
        newest["refused"], 1,
        "the first refusal is recorded at once"
    );
    assert!(
        newest["text"]
            .as_str()
            .expect("a sentence")
            .contains("refused")
    );
    assert_eq!(actions["actions"][5]["after"], 0);
    let clients: Vec<&Value> = actions["actions"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| &a["client"])
        .collect();
    assert!(
        clients.iter().all(|client| *client == clients[0]),
        "one client, one keyed hash"
    );
    let (_, list) = get(&app, "/api/admin/tokens", ADMIN).await;
    let list: Value = serde_json::from_str(&list).expect("JSON");
    assert_eq!(list["tokens"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(
        (
            list["tokens"][0]["name"].as_str(),
            list["tokens"][0]["addedBy"].as_str()
        ),
        (Some("alice"), Some("admin"))
    );
    let export = get(&app, "/api/ledger/events?after=0", ADMIN).await.1;
    let surfaces = [
        ("export", export),
        ("actions", actions.to_string()),
        ("list", list.to_string()),
    ];
    for (surface, text) in &surfaces {
        for secret in [alice.as_str(), bob, ADMIN] {
            assert!(!text.contains(secret), "{surface} holds a token: {text}");
        }
    }
    assert!(
        !surfaces[1].1.contains("\"hash\""),
        "no hash in the actions"
    );
    assert!(!surfaces[2].1.contains("hash"), "no hash in the list");
    app.shutdown().await;
    let replayed = replay(&["--data-dir", dir.path().to_str().expect("utf-8"), "ops"]);
    assert!(
        replayed.contains("Admin token \"alice\" added by admin"),
        "{replayed}"
    );
    assert!(replayed.contains("alice exported events 1-"), "{replayed}");
    for secret in [alice.as_str(), bob, ADMIN] {
        assert!(!replayed.contains(secret), "the replay tool shows a token");
    }
}

fn replay(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_stackledger-replay"))
        .args(args)
        .env_remove("ADMIN_TOKEN")
        .output()
        .expect("the replay tool runs");
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_names_and_weak_tokens_are_refused_by_rule_and_a_revoked_name_comes_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let flag = format!("--admin-token={ADMIN}");
    let app = spawn_app(dir.path(), &simulator, &[&flag]).await;
    let refused = [
        (json!({"name": "Alice"}), 400, "invalid_token_name"),
        (json!({"name": "admin"}), 400, "reserved_token_name"),
        (
            json!({"name": "carol", "token": "0123456789abcdef"}),
            400,
            "weak_token",
        ),
        (
            json!({"name": "carol", "token": "changeme-2024-07-15"}),
            400,
            "weak_token",
        ),
        (
            json!({"name": "carol", "token": ADMIN}),
            409,
            "token_in_use",
        ),
        (json!({"nom": "carol"}), 400, "invalid_body"),
    ];
    for (body, status, code) in refused {
        let (answered, answer) = add(&app, ADMIN, body.clone()).await;
        assert_eq!(
            (answered, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
    }
    let (_, weak) = add(
        &app,
        ADMIN,
        json!({"name": "carol", "token": "0123456789abcdef"}),
    )
    .await;
    let message = weak["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains("consecutive"),
        "the rule is named: {message}"
    );
    assert!(
        !message.contains("0123456789abcdef"),
        "the token is not: {message}"
    );
    assert_eq!(add(&app, ADMIN, json!({"name": "carol"})).await.0, 201);
    let (status, taken) = add(&app, ADMIN, json!({"name": "carol"})).await;
    assert_eq!(
        (status, taken["error"]["code"].as_str()),
        (409, Some("token_name_taken"))
    );
    assert_eq!(
        revoke(&app, ADMIN, "admin").await.0,
        400,
        "the configured token is config"
    );
    assert_eq!(revoke(&app, ADMIN, "nobody").await.0, 404);
    assert_eq!(revoke(&app, ADMIN, "carol").await.0, 200);
    assert_eq!(revoke(&app, ADMIN, "carol").await.0, 404, "once");
    let (status, again) = add(&app, ADMIN, json!({"name": "carol"})).await;
    assert_eq!(status, 201, "a revoked name may be used again: {again}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weak_configured_or_kept_admin_token_is_refused_naming_the_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let refused = build_app(
        dir.path(),
        &simulator,
        &["--admin-token=canary-canary-canary"],
    )
    .await
    .expect_err("a guessable token is refused")
    .to_string();
    assert!(refused.contains("--admin-token"), "{refused}");
    assert!(refused.contains("8 different characters"), "{refused}");
    assert!(!refused.contains("canary"), "the token is shown: {refused}");
    let kept = "canary-0123456789abcdefghij";
    std::fs::write(dir.path().join("admin-token"), kept).expect("writes");
    let refused = build_app(dir.path(), &simulator, &[])
        .await
        .expect_err("a kept guessable token is refused")
        .to_string();
    assert!(refused.contains("admin-token"), "{refused}");
    assert!(refused.contains("consecutive characters"), "{refused}");
    assert!(!refused.contains("canary"), "the token is shown: {refused}");
}

/// Sends `count` requests with a wrong token, `parallel` at a time, from the addresses
/// `forwarded` gives for each request (None: the loopback peer).
async fn flood(app: &TestApp, count: usize, forwarded: impl Fn(usize) -> Option<String>) {
    use futures_util::stream::{self, StreamExt};
    let client = http();
    stream::iter(0..count)
        .map(|index| {
            let mut request = client
                .get(app.url("/api/ledger/verify"))
                .bearer_auth("not-the-token");
            if let Some(address) = forwarded(index) {
                request = request.header("x-forwarded-for", address);
            }
            async move { request.send().await.expect("answers").status().as_u16() }
        })
        .buffer_unordered(8)
        .for_each(|status| async move { assert_eq!(status, 401) })
        .await;
}

/// The minute windows the clock crossed between `from_ms` and now (1 when it stayed in one).
fn windows_since(from_ms: i64) -> usize {
    let now_ms = stackledger::clock::Clock::now_ms(&stackledger::clock::SystemClock);
    usize::try_from(now_ms / 60_000 - from_ms / 60_000 + 1).expect("forward")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_tokens_adds_a_bounded_number_of_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let flags = [
        format!("--admin-token={ADMIN}"),
        "--trust-forwarded-for".to_owned(),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = spawn_app(dir.path(), &simulator, &flags).await;
    let started = stackledger::clock::Clock::now_ms(&stackledger::clock::SystemClock);
    flood(&app, 10_000, |_| None).await;
    let one_client = refusal_events(&app);
    // One client: its first refusal of each window, and the count of the rest of each window
    // that closed while the flood went on.
    assert!(!one_client.is_empty(), "refusals are recorded");
    assert!(
        one_client.len() <= 2 * windows_since(started),
        "{one_client:?}"
    );
    let started = stackledger::clock::Clock::now_ms(&stackledger::clock::SystemClock);
    flood(&app, 4_000, |index| {
        Some(format!("10.0.{}.{}", index % 200 / 100, index % 100))
    })
    .await;
    let many_clients = refusal_events(&app);
    let added = many_clients.len() - one_client.len();
    assert!(
        added <= EVENTS_PER_WINDOW_MAX * windows_since(started),
        "{added} events"
    );
    assert!(
        many_clients.iter().any(|(client, _)| client == "*"),
        "clients past the cap are counted together"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_portal_answers_exports_and_verifications_without_recording_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let admin = std::fs::read_to_string(dir.path().join("admin-token")).expect("generated");
    let (_, added) = add(&app, &admin, json!({"name": "auditor"})).await;
    let auditor = added["token"].as_str().expect("a token").to_owned();
    app.shutdown().await;
    let app = spawn_app(dir.path(), &simulator, &["--read-only"]).await;
    let recorded = ops_events(&app).len();
    assert_eq!(
        get(&app, "/api/ledger/events", &auditor).await.0,
        200,
        "the named token works"
    );
    assert_eq!(get(&app, "/api/ledger/verify", &auditor).await.0, 200);
    assert_eq!(get(&app, "/api/ledger/verify", "wrong-token").await.0, 401);
    assert_eq!(ops_events(&app).len(), recorded, "nothing is appended");
    let (status, refused) = add(&app, &auditor, json!({"name": "another"})).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (503, Some("read_only"))
    );
    app.shutdown().await;
}

fn tokens_cli(portal: &Portal, args: &[&str], admin: Option<&str>) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stackledger"));
    command
        .arg("tokens")
        .args(args)
        .arg("--url")
        .arg(portal.url(""));
    command.env_remove("ADMIN_TOKEN");
    if let Some(admin) = admin {
        command.env("ADMIN_TOKEN", admin);
    }
    let output = command.output().expect("the CLI runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.code().expect("an exit code"),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tokens_cli_adds_lists_and_revokes_and_no_token_reaches_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let portal = Portal::start(dir.path(), &[format!("--admin-token={ADMIN}")]);
    let (code, out, err) = tokens_cli(&portal, &["add", "dana"], Some(ADMIN));
    assert_eq!(code, 0, "{err}");
    let dana = out
        .lines()
        .last()
        .expect("the token, on its own line")
        .to_owned();
    assert_eq!(dana.len(), 64, "{out}");
    let given = "erin-Given-Tok3n-x9";
    let (code, _, err) = tokens_cli(&portal, &["add", "erin", "--token", given], Some(&dana));
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = tokens_cli(&portal, &["list"], Some(given));
    assert_eq!(code, 0);
    assert!(
        out.contains("dana\tadded ") && out.contains("by admin"),
        "{out}"
    );
    assert!(
        out.contains("erin\tadded ") && out.contains("by dana"),
        "{out}"
    );
    let file = dir.path().join("dana-token");
    std::fs::write(&file, format!("{dana}\n")).expect("writes");
    let file = file.to_str().expect("utf-8");
    let (code, out, _) = tokens_cli(&portal, &["revoke", "erin", "--token-file", file], None);
    assert_eq!((code, out.as_str()), (0, "revoked token erin\n"));
    let (code, _, err) = tokens_cli(&portal, &["revoke", "erin"], Some(ADMIN));
    assert_eq!(code, 1, "the portal refused: {err}");
    assert!(
        err.contains("404") && err.contains("no such admin token"),
        "{err}"
    );
    let (code, _, err) = tokens_cli(&portal, &["list"], Some(given));
    assert_eq!(code, 1, "a revoked token is refused: {err}");
    let (code, _, err) = tokens_cli(
        &portal,
        &["add", "weak", "--token", "aaaaaaaaaaaaaaaaaaaa"],
        Some(ADMIN),
    );
    assert!(code == 1 && err.contains("different characters"), "{err}");
    let (code, _, err) = tokens_cli(&portal, &["list"], None);
    assert_eq!(code, 2, "no admin token is a usage error: {err}");
    let (_, logs) = portal.terminate();
    let logs = logs.join("\n");
    for secret in [dana.as_str(), given, ADMIN] {
        assert!(!logs.contains(secret), "the server log holds a token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_or_verification_that_cannot_be_recorded_is_not_answered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let flag = format!("--admin-token={ADMIN}");
    let app = spawn_app(dir.path(), &simulator, &[&flag]).await;
    // The writer stops (as after a storage error); the log can still be read.
    app.app.ledger.shutdown().await;
    let readable = app.app.ledger.read_after(Seq::ZERO, 10).expect("reads");
    assert!(!readable.is_empty(), "the export itself could be read");
    for path in ["/api/ledger/events", "/api/ledger/verify"] {
        let (status, body) = get(&app, path, ADMIN).await;
        assert_eq!(
            status, 503,
            "{path}: an unrecorded export must not happen: {body}"
        );
        assert!(body.contains("ledger_unavailable"), "{body}");
        assert!(
            !body.contains("ServerStarted"),
            "{path} sent the log anyway"
        );
    }
    app.shutdown().await;
}
