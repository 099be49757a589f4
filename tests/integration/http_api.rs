//! The portal over real HTTP: deploy, the SSE stream (live, resumed, after a restart, after
//! the end), the deployment view, every error status with its code, and racing deploys.

use std::time::Duration;

use serde_json::{Value, json};
use stackledger::simulator::Fault;

use crate::support::test_app::{Message, TestApp, parse_sse, spawn_app};
use crate::support::{http, simulator};

async fn deploy(app: &TestApp, name: &str) -> (u16, Value) {
    let response = http()
        .post(app.url("/api/deploy"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// Reads the status stream to its end (bounded in time).
async fn stream(app: &TestApp, id: &str, last_event_id: Option<u64>) -> (u16, Vec<Message>) {
    let mut request = http().get(app.url(&format!("/api/status/{id}")));
    if let Some(last) = last_event_id {
        request = request.header("Last-Event-ID", last.to_string());
    }
    let read = async {
        let response = request.send().await.expect("the stream opens");
        let status = response.status().as_u16();
        (status, response.text().await.expect("the stream ends"))
    };
    let (status, body) = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the stream ended in time");
    (status, parse_sse(&body))
}

async fn view(app: &TestApp, id: &str) -> Value {
    http()
        .get(app.url(&format!("/api/deployment/{id}")))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_streams_progress_then_complete_with_its_receipt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let (status, accepted) = deploy(&app, "  My-Shop ").await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["name"], "my-shop");
    assert_eq!(accepted["url"], "https://my-shop.ai.flexinit.nl");
    let id = accepted["deploymentId"].as_str().expect("an id").to_owned();
    assert_eq!(accepted["statusUrl"], format!("/api/status/{id}"));
    let (status, messages) = stream(&app, &id, None).await;
    assert_eq!(status, 200);
    let ids: Vec<u64> = messages
        .iter()
        .map(|m| m.id.expect("every message has an id"))
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids rise: {ids:?}"
    );
    let last = messages.last().expect("messages");
    assert_eq!(last.event, "complete");
    assert!(
        messages[..messages.len() - 1]
            .iter()
            .all(|m| m.event == "progress")
    );
    assert_eq!(last.data["url"], "https://my-shop.ai.flexinit.nl");
    assert_eq!(last.data["status"], "ready");
    assert!(last.data["duration"].as_f64().is_some_and(|d| d >= 0.0));
    let deployment = &view(&app, &id).await["deployment"];
    assert_eq!(
        last.data["headHash"], deployment["headHash"],
        "the receipt is the last event's hash"
    );
    assert_eq!(
        Some(last.id.expect("an id")),
        deployment["lastSeq"].as_u64()
    );
    for field in [
        "stackName",
        "phase",
        "status",
        "progress",
        "message",
        "currentStep",
        "url",
    ] {
        assert!(!deployment[field].is_null(), "the view has {field}");
    }
    assert_eq!(deployment["status"], "success");
    assert_eq!(deployment["progress"], 100);
    for resource in ["projectId", "environmentId", "applicationId", "domainId"] {
        assert!(deployment["resources"][resource].is_string(), "{resource}");
    }
    assert!(deployment["timestamps"]["completed"].is_string());
    let logs = deployment["logs"].as_array().expect("logs");
    assert!(!logs.is_empty() && logs.len() <= 50);
    for key in [
        "timestamp",
        "level",
        "phase",
        "action",
        "message",
        "durationMs",
    ] {
        assert!(logs[0].get(key).is_some(), "a log line has {key}");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_streams_error_with_the_rollback_and_the_view_keeps_fifty_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    simulator.add_fault(
        serde_json::from_str(r#"{"unhealthy": "shop", "polls": "forever"}"#).expect("fault"),
    );
    // 25 failed attempts before application.create succeeds: more than 50 events however
    // fast the machine is (a count of health polls in real time would depend on its load).
    simulator.add_fault(
        stackledger::simulator::Fault::on("application.create")
            .status(503)
            .times(25),
    );
    let flags = [
        "--health-timeout=0s",
        "--retries-max=30",
        "--retry-base=1ms",
        "--retry-delay-max=1ms",
        "--breaker-failures=100",
    ];
    let app = spawn_app(dir.path(), &simulator, &flags).await;
    let (_, accepted) = deploy(&app, "shop").await;
    let id = accepted["deploymentId"].as_str().expect("an id").to_owned();
    let (_, messages) = stream(&app, &id, None).await;
    let last = messages.last().expect("messages");
    assert_eq!(last.event, "error");
    assert_eq!(last.data["code"], "health_timeout");
    assert_eq!(last.data["phase"], "verifying_health");
    assert_eq!(last.data["rollback"], "complete");
    assert!(last.data["headHash"].is_string());
    let deployment = &view(&app, &id).await["deployment"];
    assert_eq!(deployment["status"], "failure");
    assert_eq!(deployment["error"]["code"], "health_timeout");
    let total_events = deployment["lastSeq"].as_u64().expect("a seq");
    assert!(
        total_events > 50,
        "enough events to cut the log ({total_events})"
    );
    assert_eq!(deployment["logs"].as_array().map(Vec::len), Some(50));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_exactly_after_it_and_after_the_end_answers_204() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let (_, accepted) = deploy(&app, "shop").await;
    let id = accepted["deploymentId"].as_str().expect("an id").to_owned();
    let (_, full) = stream(&app, &id, Some(0)).await;
    let ids: Vec<u64> = full.iter().filter_map(|m| m.id).collect();
    assert!(ids.len() > 20);
    let middle = ids[ids.len() / 2];
    let (_, rest) = stream(&app, &id, Some(middle)).await;
    let rest_ids: Vec<u64> = rest.iter().filter_map(|m| m.id).collect();
    let expected: Vec<u64> = ids.iter().copied().filter(|seq| *seq > middle).collect();
    assert_eq!(rest_ids, expected, "no duplicate, no gap");
    assert_eq!(rest.last().map(|m| m.event.as_str()), Some("complete"));
    let end = *ids.last().expect("ids");
    let (status, after) = stream(&app, &id, Some(end)).await;
    assert_eq!((status, after.len()), (204, 0));
    let (status, finished) = stream(&app, &id, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        finished.len(),
        1,
        "a finished deployment opens with its verdict only"
    );
    assert_eq!(finished[0].event, "complete");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_resumes_after_a_server_restart_mid_deployment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    simulator.add_fault(Fault {
        delay_ms: Some(400),
        ..Fault::on("domain.create")
    });
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let (_, accepted) = deploy(&app, "shop").await;
    let id = accepted["deploymentId"].as_str().expect("an id").to_owned();
    // Read the stream until the domain is being created, then stop the server under it.
    let response = http()
        .get(app.url(&format!("/api/status/{id}")))
        .send()
        .await
        .expect("opens");
    let mut response = response;
    let mut seen = String::new();
    while !seen.contains("Calling domain.create") {
        let chunk = response
            .chunk()
            .await
            .expect("reads")
            .expect("the stream goes on");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let before = parse_sse(&seen);
    let last_seen = before.last().and_then(|m| m.id).expect("an id");
    app.shutdown().await;
    let restarted = spawn_app(dir.path(), &simulator, &[]).await;
    let (_, after) = stream(&restarted, &id, Some(last_seen)).await;
    let after_ids: Vec<u64> = after.iter().filter_map(|m| m.id).collect();
    let deployment: stackledger::ids::DeploymentId = id.parse().expect("an id");
    let stored: Vec<u64> = restarted
        .app
        .ledger
        .read_stream(deployment, stackledger::ids::Seq(last_seen), usize::MAX)
        .expect("reads")
        .iter()
        .map(|envelope| envelope.seq.0)
        .collect();
    assert_eq!(
        after_ids, stored,
        "exactly the deployment's events after the last one seen"
    );
    assert_eq!(after.last().map(|m| m.event.as_str()), Some("complete"));
    assert!(
        after.iter().any(|m| m.data["message"]
            .as_str()
            .is_some_and(|t| t.starts_with("Recovering"))),
        "the recovery shows in the stream"
    );
    restarted.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_its_status_and_code() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let client = http();
    let post = |body: String, content_type: &'static str| {
        client
            .post(app.url("/api/deploy"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases = [
        (
            r#"{"name": "ab"}"#.to_owned(),
            "application/json",
            400,
            "invalid_name",
        ),
        (
            r#"{"name": "admin"}"#.to_owned(),
            "application/json",
            400,
            "invalid_name",
        ),
        (
            r#"{"name": "shop", "x": 1}"#.to_owned(),
            "application/json",
            400,
            "invalid_body",
        ),
        (
            "{not json".to_owned(),
            "application/json",
            400,
            "invalid_body",
        ),
        (
            r#"{"name": "shop"}"#.to_owned(),
            "text/plain",
            415,
            "unsupported_media_type",
        ),
        (
            format!(r#"{{"name": "{}"}}"#, "a".repeat(5000)),
            "application/json",
            413,
            "payload_too_large",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let response = post(body.clone(), content_type).await.expect("answers");
        assert_eq!(response.status().as_u16(), status, "{body:.40}");
        let answer: Value = response.json().await.expect("errors are JSON");
        assert_eq!(answer["success"], false);
        assert_eq!(answer["error"]["code"], code, "{body:.40}");
        assert!(answer["error"]["message"].is_string());
    }
    for path in [
        "/api/deployment/dep_0123456789abcdef0123456789abcdef",
        "/api/deployment/nope",
        "/api/status/nope",
    ] {
        let response = client.get(app.url(path)).send().await.expect("answers");
        assert_eq!(response.status(), 404, "{path}");
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer["error"]["code"], "not_found");
    }
    let (status, first) = deploy(&app, "shop").await;
    assert_eq!(status, 202);
    let (status, taken) = deploy(&app, "SHOP").await;
    assert_eq!(status, 409);
    assert_eq!(taken["error"]["code"], "name_taken");
    assert_eq!(taken["error"]["deploymentId"], first["deploymentId"]);
    let check: Value = client
        .get(app.url("/api/check/Shop"))
        .send()
        .await
        .expect("ok")
        .json()
        .await
        .expect("json");
    assert_eq!(
        check,
        json!({"name": "shop", "valid": true, "available": false, "reason": "taken", "message": "this name is in use by another deployment", "url": "https://shop.ai.flexinit.nl"})
    );
    let check: Value = client
        .get(app.url("/api/check/new-one"))
        .send()
        .await
        .expect("ok")
        .json()
        .await
        .expect("json");
    assert_eq!(
        check,
        json!({"name": "new-one", "valid": true, "available": true, "url": "https://new-one.ai.flexinit.nl"})
    );
    app.shutdown().await;
}

/// A deploy of `name` is refused with 503, `Retry-After` and `code`.
async fn assert_refused_with_503(app: &TestApp, name: &str, code: &str) {
    let response = http()
        .post(app.url("/api/deploy"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["error"]["code"], code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_portal_and_an_open_breaker_answer_503_with_retry_after() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    simulator.add_fault(Fault {
        delay_ms: Some(300),
        ..Fault::on("project.search")
    });
    // No queue: past the running limit a deploy is refused (the queue is tested in control).
    let app = spawn_app(
        dir.path(),
        &simulator,
        &["--running-max=1", "--queue-max=0"],
    )
    .await;
    assert_eq!(deploy(&app, "first").await.0, 202);
    assert_refused_with_503(&app, "second", "too_many_deployments").await;
    app.shutdown().await;

    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = crate::support::simulator().await;
    simulator.add_fault(Fault::on("project.search").status(503).times(100));
    // --on-outage fail: the deployment fails at the open breaker (waiting is tested in
    // control::outage).
    let fast_retries = [
        "--retry-base=1ms",
        "--retry-delay-max=2ms",
        "--on-outage=fail",
    ];
    let app = spawn_app(dir.path(), &simulator, &fast_retries).await;
    let (_, tripping) = deploy(&app, "tripper").await;
    let id = tripping["deploymentId"].as_str().expect("an id").to_owned();
    // Its fifth consecutive failure opens the breaker and fails it.
    let (_, messages) = stream(&app, &id, None).await;
    assert_eq!(
        messages.last().map(|m| m.data["code"].clone()),
        Some(json!("dokploy_unavailable"))
    );
    let health: Value = http()
        .get(app.url("/health"))
        .send()
        .await
        .expect("ok")
        .json()
        .await
        .expect("json");
    assert_eq!(health["circuitBreaker"]["state"], "open");
    assert_eq!(health["circuitBreaker"]["consecutiveFailures"], 5);
    assert_eq!(health["status"], "degraded");
    assert_refused_with_503(&app, "refused", "dokploy_unavailable").await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_racing_deploys_of_one_name_exactly_one_is_accepted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let racers: Vec<_> = (0..10)
        .map(|_| {
            let url = app.url("/api/deploy");
            tokio::spawn(async move {
                let response = http()
                    .post(url)
                    .json(&json!({"name": "race"}))
                    .send()
                    .await
                    .expect("answers");
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.expect("json"))
            })
        })
        .collect();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for racer in racers {
        let (status, body) = racer.await.expect("ends");
        match status {
            202 => accepted.push(body["deploymentId"].clone()),
            409 => refused.push(body["error"]["deploymentId"].clone()),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(accepted.len(), 1);
    assert!(
        refused.iter().all(|holder| *holder == accepted[0]),
        "the refused name the holder"
    );
    app.shutdown().await;
}
