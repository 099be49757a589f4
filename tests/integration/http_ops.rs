//! The ops API and the abuse limits over real HTTP: the admin token (generated, kept, mode
//! 0600, compared exactly), listing with filters and paging, a deployment's events, the NDJSON
//! export, verify, `/ready`, `/metrics`, the deploy rate limit, `Idempotency-Key`, and the cap
//! on SSE streams.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};
use stackledger::ledger::envelope::Envelope;
use stackledger::ledger::verify_envelopes;

use crate::support::test_app::{TestApp, spawn_app};
use crate::support::{http, simulator};

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = http().get(app.url(path));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ops_api_needs_the_generated_token_and_serves_the_audit_views() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let token_file = dir.path().join("admin-token");
    let token = std::fs::read_to_string(&token_file).expect("the token was written");
    let mode = std::fs::metadata(&token_file)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "only the server's user may read the token");
    for (name, _) in [("alpha", 0), ("beta", 1), ("gamma", 2)] {
        app.deploy_and_wait(name).await;
    }
    for path in [
        "/api/deployments",
        "/api/ledger/events",
        "/api/ledger/verify",
    ] {
        assert_eq!(get(&app, path, None).await.0, 401, "{path} without a token");
        assert_eq!(
            get(&app, path, Some("wrong")).await.0,
            401,
            "{path} with a wrong token"
        );
        let almost = &token[..token.len() - 1];
        assert_eq!(
            get(&app, path, Some(almost)).await.0,
            401,
            "{path} with a prefix of it"
        );
    }
    let (status, body) = get(&app, "/api/deployments?limit=2", Some(&token)).await;
    assert_eq!(status, 200);
    let page: Value = serde_json::from_str(&body).expect("json");
    let names: Vec<&str> = page["deployments"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|d| d["stackName"].as_str())
        .collect();
    assert_eq!(names, vec!["gamma", "beta"], "newest first");
    let next = page["next"].as_str().expect("a next page");
    let (_, body) = get(
        &app,
        &format!("/api/deployments?limit=2&before={next}"),
        Some(&token),
    )
    .await;
    let rest: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(rest["deployments"][0]["stackName"], "alpha");
    assert!(rest["next"].is_null());
    let (_, body) = get(
        &app,
        "/api/deployments?status=success&name=ET",
        Some(&token),
    )
    .await;
    let filtered: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        filtered["deployments"].as_array().map(Vec::len),
        Some(1),
        "only beta: {filtered}"
    );
    assert_eq!(
        get(&app, "/api/deployments?status=weird", Some(&token))
            .await
            .0,
        400
    );

    let id = page["deployments"][0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let (status, body) = get(&app, &format!("/api/deployments/{id}/events"), Some(&token)).await;
    assert_eq!(status, 200);
    let events: Value = serde_json::from_str(&body).expect("json");
    let first = &events["events"][0];
    assert!(first["event"]["DeploymentRequested"].is_object(), "{first}");
    // Each event carries the sentence the deployment's own log shows for it (one renderer).
    let (_, view) = get(&app, &format!("/api/deployment/{id}"), None).await;
    let view: Value = serde_json::from_str(&view).expect("json");
    let logged: Vec<&Value> = view["deployment"]["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|entry| &entry["message"])
        .collect();
    let told: Vec<&Value> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| &event["text"])
        .collect();
    assert!(told.iter().all(|text| text.is_string()), "{events}");
    assert_eq!(
        told[told.len() - logged.len()..],
        logged[..],
        "the last events are the log's lines"
    );

    let (status, export) = get(&app, "/api/ledger/events?after=0&limit=10000", Some(&token)).await;
    assert_eq!(status, 200);
    let envelopes: Vec<Envelope> = export
        .lines()
        .map(|line| serde_json::from_str(line).expect("an envelope per line"))
        .collect();
    let check = verify_envelopes(&envelopes);
    assert_eq!(check.damage, None, "the exported chain verifies");
    let (_, verify) = get(&app, "/api/ledger/verify", Some(&token)).await;
    let verify: Value = serde_json::from_str(&verify).expect("json");
    assert_eq!(verify["ok"], true);
    // The export itself was recorded (the ops stream) right after the events it exported.
    let exported_through = check.last.seq.0;
    assert_eq!(verify["lastSeq"], json!(exported_through + 1));
    let (_, again) = get(&app, "/api/ledger/events?after=0&limit=10000", Some(&token)).await;
    let again: Vec<Envelope> = again
        .lines()
        .map(|line| serde_json::from_str(line).expect("an envelope per line"))
        .collect();
    let recorded = &again[usize::try_from(exported_through).expect("small")];
    assert!(
        matches!(recorded.event, stackledger::deployment::Event::LedgerExported { through, .. } if through == exported_through),
        "{recorded:?}"
    );
    assert_eq!(verify["headHash"], json!(recorded.hash.to_string()));

    let (status, ready) = get(&app, "/ready", None).await;
    assert_eq!((status, ready.contains("\"ready\":true")), (200, true));
    let (_, metrics) = get(&app, "/metrics", None).await;
    for line in [
        "stackledger_deployments{status=\"success\"} 3",
        "stackledger_breaker_open 0",
        "stackledger_sse_subscribers 0",
        "stackledger_phase_duration_seconds_count{phase=\"deploying\"} 3",
        "stackledger_phase_duration_seconds_count{phase=\"creating_project\"} 3",
    ] {
        assert!(metrics.contains(line), "metrics lack {line:?}:\n{metrics}");
    }
    assert!(metrics.contains("stackledger_ledger_appends_total "));
    app.shutdown().await;

    let again = spawn_app(dir.path(), &simulator, &[]).await;
    assert_eq!(
        get(&again, "/api/deployments", Some(&token)).await.0,
        200,
        "the token is kept"
    );
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_are_rate_limited_per_client_and_a_repeated_idempotency_key_gets_the_first_answer()
{
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(
        dir.path(),
        &simulator,
        &["--deploy-rate=3", "--admin-token=ops-token-1-for-limits"],
    )
    .await;
    let post = |name: &str, key: Option<&str>| {
        let mut request = http()
            .post(app.url("/api/deploy"))
            .json(&json!({ "name": name }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send()
    };
    let first = post("idem", Some("key-1")).await.expect("answers");
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.expect("json");
    let repeat = post("idem", Some("key-1")).await.expect("answers");
    assert_eq!(
        repeat.status(),
        202,
        "the repeat gets the first answer, not a 409"
    );
    assert_eq!(repeat.json::<Value>().await.expect("json"), first);
    assert_eq!(post("other-a", None).await.expect("answers").status(), 202);
    assert_eq!(post("other-b", None).await.expect("answers").status(), 202);
    let limited = post("other-c", None).await.expect("answers");
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    let replay = post("idem", Some("key-1")).await.expect("answers");
    assert_eq!(replay.status(), 202, "a kept answer needs no token");
    let bad_key = post("idem", Some(&"k".repeat(200))).await.expect("answers");
    assert_eq!(bad_key.status(), 400);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_streams_beyond_the_cap_are_refused_with_503() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    simulator.add_fault(stackledger::simulator::Fault {
        delay_ms: Some(2_000),
        ..stackledger::simulator::Fault::on("project.search")
    });
    let app = spawn_app(dir.path(), &simulator, &["--sse-max=1"]).await;
    let id = app.deploy("slow").await;
    let open = http()
        .get(app.url(&format!("/api/status/{id}")))
        .send()
        .await
        .expect("opens");
    assert_eq!(open.status(), 200);
    let refused = http()
        .get(app.url(&format!("/api/status/{id}")))
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().get("retry-after").is_some());
    let (_, metrics) = get(&app, "/metrics", None).await;
    assert!(
        metrics.contains("stackledger_sse_subscribers 1"),
        "{metrics}"
    );
    drop(open);
    app.shutdown().await;
}

/// The JSON error of `response`, checked for its shape, status and code.
async fn assert_json_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.expect("errors are JSON");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holding_its_share_of_status_streams_is_refused_with_429() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    simulator.add_fault(stackledger::simulator::Fault {
        delay_ms: Some(2_000),
        ..stackledger::simulator::Fault::on("project.search")
    });
    let flags = ["--sse-client-max=2", "--trust-forwarded-for"];
    let app = spawn_app(dir.path(), &simulator, &flags).await;
    let path = format!("/api/status/{}", app.deploy("watched").await);
    let open = |forwarded: Option<&str>| {
        let mut request = http().get(app.url(&path));
        if let Some(client) = forwarded {
            request = request.header("x-forwarded-for", client);
        }
        request.send()
    };
    let first = open(None).await.expect("opens");
    let second = open(None).await.expect("opens");
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = open(None).await.expect("answers");
    assert!(third.headers().get("retry-after").is_some());
    assert_json_error(third, 429, "too_many_streams_for_client").await;
    let elsewhere = open(Some("203.0.113.7")).await.expect("opens");
    assert_eq!(elsewhere.status(), 200, "another client has its own share");
    let (_, metrics) = get(&app, "/metrics", None).await;
    assert!(
        metrics.contains("stackledger_sse_subscribers 3"),
        "{metrics}"
    );
    drop((first, second, elsewhere));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_matched_in_any_case_and_the_token_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(
        dir.path(),
        &simulator,
        &["--admin-token=ops-case-test-token"],
    )
    .await;
    let verify = |authorization: &'static str| {
        http()
            .get(app.url("/api/ledger/verify"))
            .header("authorization", authorization)
            .send()
    };
    for accepted in [
        "Bearer ops-case-test-token",
        "bearer ops-case-test-token",
        "BEARER ops-case-test-token",
        "bEaReR   ops-case-test-token",
    ] {
        let response = verify(accepted).await.expect("answers");
        assert_eq!(response.status(), 200, "{accepted}");
    }
    for refused in [
        "Basic ops-case-test-token",
        "Bearerops-case-test-token",
        "Bearer OPS-CASE-TEST-TOKEN",
        "ops-case-test-token",
    ] {
        let response = verify(refused).await.expect("answers");
        assert_json_error(response, 401, "unauthorized").await;
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_is_pinned_only_by_an_acceptance_and_only_to_its_body() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let post = |key: &'static str, body: String, content_type: &'static str| {
        http()
            .post(app.url("/api/deploy"))
            .header("Idempotency-Key", key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let named = |name: &str| json!({ "name": name }).to_string();
    const JSON: &str = "application/json";
    let first = post("k1", named("first-one"), JSON).await.expect("answers");
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.expect("json");
    let repeat = post("k1", named("first-one"), JSON).await.expect("answers");
    assert_eq!(repeat.status(), 202);
    assert_eq!(
        repeat.json::<Value>().await.expect("json"),
        first,
        "the first answer"
    );
    let other = post("k1", named("second-one"), JSON)
        .await
        .expect("answers");
    assert_json_error(other, 422, "idempotency_key_reused").await;
    let refusals = [
        ("k2", named("ab"), JSON, 400, "invalid_name", "second-one"),
        (
            "k3",
            named("first-one"),
            JSON,
            409,
            "name_taken",
            "third-one",
        ),
        (
            "k4",
            named("fourth-one"),
            "text/plain",
            415,
            "unsupported_media_type",
            "fourth-one",
        ),
    ];
    for (key, body, content_type, status, code, then) in refusals {
        let refused = post(key, body, content_type).await.expect("answers");
        assert_json_error(refused, status, code).await;
        let accepted = post(key, named(then), JSON).await.expect("answers");
        assert_eq!(
            accepted.status(),
            202,
            "{key}: a refusal did not pin the key"
        );
        let accepted: Value = accepted.json().await.expect("json");
        assert_eq!(accepted["name"], then);
    }
    app.shutdown().await;
}
