//! The rollback's guards over the real HTTP surface, against the in-process simulator: a
//! failed `application.delete` keeps the project (never `project.remove`), the rollback ends
//! `partial`, and what is left is named on every surface (the SSE `error` event, the deployment
//! view, the ops list), while the simulator still holds the application.

use std::time::Duration;

use serde_json::{Value, json};
use stackledger::simulator::Fault;

use crate::support::test_app::{TestApp, parse_sse, spawn_app};
use crate::support::{http, simulator};

const TOKEN: &str = "rollback-guards-token";

async fn deploy(app: &TestApp, name: &str) -> String {
    let answer: Value = http()
        .post(app.url("/api/deploy"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    answer["deploymentId"]
        .as_str()
        .unwrap_or_else(|| panic!("accepted: {answer}"))
        .to_owned()
}

/// The last message of the status stream, read to its end (bounded in time).
async fn last_message(app: &TestApp, id: &str) -> crate::support::test_app::Message {
    let read = async {
        let response = http()
            .get(app.url(&format!("/api/status/{id}")))
            .send()
            .await
            .expect("the stream opens");
        response.text().await.expect("the stream ends")
    };
    let body = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the stream ended in time");
    parse_sse(&body).pop().expect("messages")
}

async fn get_json(app: &TestApp, path: &str, token: Option<&str>) -> Value {
    let mut request = http().get(app.url(path));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json")
}

fn kinds(leftovers: &Value) -> Vec<String> {
    leftovers
        .as_array()
        .expect("a list of leftovers")
        .iter()
        .map(|left| left["kind"].as_str().expect("a kind").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_application_delete_keeps_the_project_and_names_what_is_left_everywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    simulator.add_fault(serde_json::from_str(r#"{"deployOutcome": "error"}"#).expect("fault"));
    simulator.add_fault(Fault::on("application.delete").status(500).times(50));
    let token = format!("--admin-token={TOKEN}");
    let app = spawn_app(dir.path(), &simulator, &["--retries-max=0", &token]).await;
    let id = deploy(&app, "shop").await;
    let last = last_message(&app, &id).await;
    assert_eq!(last.event, "error");
    assert_eq!(last.data["rollback"], "partial");
    let left = kinds(&last.data["leftovers"]);
    assert!(
        left.starts_with(&["application".to_owned(), "project".to_owned()]),
        "the application and the project are named: {}",
        last.data["leftovers"]
    );
    let application = &last.data["leftovers"][0];
    assert!(application["id"].is_string(), "{application}");
    assert!(
        application["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("is still on Dokploy")),
        "{application}"
    );
    let view = get_json(&app, &format!("/api/deployment/{id}"), None).await;
    assert_eq!(view["deployment"]["leftovers"], last.data["leftovers"]);
    let list = get_json(&app, "/api/deployments", Some(TOKEN)).await;
    let summary = &list["deployments"][0];
    assert_eq!(summary["rollback"], "partial");
    assert_eq!(summary["leftovers"], last.data["leftovers"]);
    assert_eq!(summary["skippedSteps"][0]["kind"], "project", "{summary}");
    let sent = simulator.requests();
    assert!(
        !sent.iter().any(|r| r.procedure == "project.remove"),
        "project.remove must not follow a failed application.delete"
    );
    let state = simulator.state();
    for list in ["projects", "applications"] {
        let held = state[list].as_array().map_or(0, Vec::len);
        assert_eq!(held, 1, "{list} still held: {state}");
    }
    app.shutdown().await;
}
