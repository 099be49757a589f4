//! The pages and assets (embedded, never a file path from a request), and secrets: a canary
//! Dokploy key never appears in a response, an SSE message, a log line or the data directory.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::portal::Portal;
use crate::support::test_app::spawn_app;
use crate::support::{dir_contains, http, simulator};

/// Sends a raw request line, exactly as written (no client-side path normalization).
async fn raw_get(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("reads");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_served_with_a_strict_csp_and_no_path_escapes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let page = http().get(app.url("/")).send().await.expect("answers");
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["content-security-policy"],
        "default-src 'self'"
    );
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("/static/app.js") && html.contains("/static/style.css"));
    for (path, kind) in [
        ("/static/app.js", "text/javascript"),
        ("/static/style.css", "text/css"),
    ] {
        let asset = http().get(app.url(path)).send().await.expect("answers");
        assert_eq!(asset.status(), 200, "{path}");
        assert!(
            asset.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with(kind)
        );
    }
    for probe in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/..%2fCargo.toml",
        "/static/%2e%2e%2fsrc%2fmain.rs",
        "/static/app.js%00.txt",
        "/../Cargo.toml",
        "/static//etc/passwd",
        "/static/",
    ] {
        let answer = raw_get(app.address, probe).await;
        let status_line = answer.lines().next().unwrap_or_default().to_owned();
        assert!(
            status_line.contains(" 404") || status_line.contains(" 400"),
            "{probe}: {status_line}"
        );
        assert!(
            !answer.contains("[package]")
                && !answer.contains("fn main")
                && !answer.contains("root:"),
            "{probe} leaked a file"
        );
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_dokploy_key_never_appears_in_answers_streams_logs_or_the_data_dir() {
    const CANARY: &str = "canary-dokploy-key-3f9a7c11";
    let key = stackledger::config::ApiKey::new(CANARY).expect("valid");
    let options = stackledger::simulator::SimulatorOptions::new(key, 5);
    let simulator =
        stackledger::simulator::Simulator::start("127.0.0.1:0".parse().expect("addr"), options)
            .await
            .expect("starts");
    simulator.add_fault(
        serde_json::from_str(r#"{"unhealthy": "bad", "polls": "forever"}"#).expect("fault"),
    );
    simulator.add_fault(
        stackledger::simulator::Fault::on("project.search")
            .status(503)
            .times(2),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let flags = vec![
        format!("--dokploy-url={}", simulator.origin()),
        format!("--dokploy-api-key={CANARY}"),
        format!("--health-url={}", simulator.health_url_template()),
        "--health-interval=1ms".to_owned(),
        "--health-timeout=20ms".to_owned(),
        "--deploy-poll-interval=1ms".to_owned(),
        "--retry-base=1ms".to_owned(),
        "--admin-token=ops-canary-test-token".to_owned(),
    ];
    let path = dir.path().to_path_buf();
    let portal = tokio::task::spawn_blocking(move || Portal::start(&path, &flags))
        .await
        .expect("starts");
    let mut answers = String::new();
    for name in ["good", "bad"] {
        let accepted: Value = http()
            .post(portal.url("/api/deploy"))
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("json");
        answers.push_str(&accepted.to_string());
        let id = accepted["deploymentId"].as_str().expect("an id").to_owned();
        let stream = http().get(portal.url(&format!("/api/status/{id}"))).send();
        let body = tokio::time::timeout(Duration::from_secs(60), async {
            stream.await.expect("opens").text().await.expect("ends")
        })
        .await
        .expect("in time");
        answers.push_str(&body);
        for path in [
            format!("/api/deployment/{id}"),
            format!("/api/deployments/{id}/events"),
        ] {
            let text = http()
                .get(portal.url(&path))
                .header("authorization", "Bearer ops-canary-test-token")
                .send()
                .await
                .expect("answers")
                .text()
                .await
                .expect("text");
            answers.push_str(&text);
        }
    }
    for path in [
        "/health",
        "/ready",
        "/metrics",
        "/api/ledger/events?limit=10000",
        "/api/deployments",
    ] {
        let text = http()
            .get(portal.url(path))
            .header("authorization", "Bearer ops-canary-test-token")
            .send()
            .await
            .expect("answers")
            .text()
            .await
            .expect("text");
        answers.push_str(&text);
    }
    let (status, logs) = tokio::task::spawn_blocking(move || portal.terminate())
        .await
        .expect("stops");
    assert!(status.success());
    assert!(
        answers.contains("event: complete") && answers.contains("event: error"),
        "both outcomes ran"
    );
    assert!(
        answers.contains("503"),
        "the retried calls are in what was read"
    );
    assert!(!answers.contains(CANARY), "the key is in an answer");
    assert!(
        !logs.is_empty() && !logs.join("\n").contains(CANARY),
        "the key is in the logs"
    );
    assert!(
        !dir_contains(dir.path(), CANARY.as_bytes()),
        "the key is in the data directory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route_and_each_answers_as_documented() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(
        dir.path(),
        &simulator,
        &["--admin-token=ops-doc-test-token"],
    )
    .await;
    let id = app.deploy("documented").await;
    let document: Value = http()
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");
    let expected = [
        "/",
        "/audit",
        "/static/{*path}",
        "/health",
        "/ready",
        "/metrics",
        "/api/check/{name}",
        "/api/deploy",
        "/api/deployment/{id}",
        "/api/status/{id}",
        "/api/deployments",
        "/api/deployments/{id}/events",
        "/api/deployments/{id}/cancel",
        "/api/ledger/events",
        "/api/ledger/verify",
        "/api/openapi.json",
        "/api/admin/tokens",
        "/api/admin/tokens/{name}",
        "/api/operator-actions",
    ];
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort_unstable();
    let mut wanted = expected.to_vec();
    wanted.sort_unstable();
    assert_eq!(listed, wanted);
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations") {
            let concrete = path
                .replace("{name}", "documented")
                .replace("{id}", &id)
                .replace("{*path}", "app.js");
            let request = match method.as_str() {
                "get" => http().get(app.url(&concrete)),
                "post" => http()
                    .post(app.url(&concrete))
                    .json(&json!({"name": "another-one"})),
                "delete" => http().delete(app.url(&concrete)),
                other => panic!("unexpected method {other}"),
            };
            let request = request
                .header("authorization", "Bearer ops-doc-test-token")
                .header("Last-Event-ID", "999999");
            let status = request.send().await.expect("answers").status().as_u16();
            let documented: Vec<String> = operation["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .cloned()
                .collect();
            assert!(
                documented.contains(&status.to_string()),
                "{method} {concrete} answered {status}, documented {documented:?}"
            );
        }
    }
    app.shutdown().await;
}

/// The official OpenAPI 3.1 schema (OAI, 2022-10-07), as shipped by the PyPI package
/// openapi-spec-validator 0.9.0 (Apache-2.0); committed so the check runs offline.
const OAS_31_SCHEMA: &str = include_str!("../fixtures/openapi-3.1-schema.json");

/// Where `document` breaks the OpenAPI 3.1 schema.
fn oas_violations(document: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(OAS_31_SCHEMA).expect("the fixture is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the official schema compiles");
    validator
        .iter_errors(document)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect()
}

#[test]
fn the_openapi_document_is_valid_against_the_official_schema_and_complete() {
    let document = serde_json::to_value(stackledger::http::openapi()).expect("serializes");
    let violations = oas_violations(&document);
    assert!(violations.is_empty(), "{violations:#?}");
    let mut broken = document.clone();
    broken["paths"]["/health"]["get"]["responses"]["200"] = json!({"content": 7});
    assert!(
        !oas_violations(&broken).is_empty(),
        "the validator notices a broken document"
    );

    let operation = |path: &str, method: &str| document["paths"][path][method].clone();
    let parameters = |path: &str, method: &str, place: &str| -> Vec<String> {
        operation(path, method)["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter(|p| p["in"] == place)
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    };
    let deploy = operation("/api/deploy", "post");
    let body = &deploy["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["required"], json!(["name"]), "{deploy}");
    assert_eq!(body["properties"]["name"]["type"], "string");
    assert_eq!(
        parameters("/api/deploy", "post", "header"),
        ["Idempotency-Key"]
    );
    assert_eq!(
        parameters("/api/status/{id}", "get", "header"),
        ["Last-Event-ID"]
    );
    assert_eq!(parameters("/api/status/{id}", "get", "path"), ["id"]);
    assert_eq!(
        parameters("/api/deployments", "get", "query"),
        ["status", "name", "limit", "before"]
    );
    assert_eq!(
        parameters("/api/ledger/events", "get", "query"),
        ["after", "limit"]
    );
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let statuses = operation["responses"].as_object().expect("responses");
            for status in ["414", "431", "503"] {
                assert!(
                    statuses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
            let streams = path == "/api/status/{id}";
            assert_eq!(
                statuses.contains_key("408"),
                !streams,
                "{method} {path}: 408"
            );
        }
    }
    let deploy_statuses: Vec<&String> =
        deploy["responses"].as_object().expect("r").keys().collect();
    assert_eq!(
        deploy_statuses,
        [
            "202", "400", "408", "409", "413", "414", "415", "422", "429", "431", "503"
        ]
    );
}
