//! The simulator behaves like Dokploy where StackLedger can tell, every path the client calls
//! and the simulator serves exists in Dokploy's OpenAPI document, the control API works, and
//! the simulator runs as its own process.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use stackledger::deployment::{ApiAnswer, ResourceId};
use stackledger::dokploy::api::{DokployApi, Request};
use stackledger::simulator::ROUTES;

use crate::support::{SIM_KEY, client, http, simulator};

#[test]
fn every_call_and_route_exists_in_dokploys_openapi_document() {
    let Some(path) = std::env::var_os("DOKPLOY_OPENAPI") else {
        eprintln!(
            "DOKPLOY_OPENAPI is not set: the conformance test against Dokploy's OpenAPI \
             document DID NOT RUN (.ci/run sets it to ../shared/dokploy-openapi.json)"
        );
        return;
    };
    let text = std::fs::read_to_string(&path).expect("the OpenAPI document reads");
    let document: Value = serde_json::from_str(&text).expect("the OpenAPI document is JSON");
    let mut used: BTreeSet<(String, String)> = Request::examples()
        .iter()
        .map(|r| {
            (
                r.method().as_str().to_lowercase(),
                r.procedure().name().to_owned(),
            )
        })
        .collect();
    used.extend(ROUTES.iter().map(|route| {
        (
            route.method().as_str().to_lowercase(),
            route.name().to_owned(),
        )
    }));
    let missing: Vec<_> = used
        .iter()
        .filter(|(method, name)| document["paths"][format!("/{name}")][method].is_null())
        .collect();
    assert!(
        missing.is_empty(),
        "not in Dokploy's OpenAPI document: {missing:?}"
    );
}

async fn raw(
    simulator: &stackledger::simulator::Simulator,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut request = http().request(method, format!("http://{}{path}", simulator.address()));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    if let Some((content_type, body)) = body {
        request = request
            .header("content-type", content_type)
            .body(body.to_owned());
    }
    let response = request.send().await.expect("the simulator answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_simulator_answers_transport_errors_as_dokploy_does() {
    use reqwest::Method;
    let simulator = simulator().await;
    let key = Some(SIM_KEY);
    let (status, body) = raw(&simulator, Method::GET, "/api/health", None, None).await;
    assert_eq!(
        (status, body),
        (200, json!({"ok": true})),
        "health needs no key"
    );
    let (status, body) = raw(&simulator, Method::GET, "/api/project.all", None, None).await;
    assert_eq!((status, body), (401, json!({"message": "Unauthorized"})));
    let (status, _) = raw(&simulator, Method::GET, "/api/PROJECT.ALL/", key, None).await;
    assert_eq!(status, 200, "paths ignore case and one trailing slash");
    let (status, body) = raw(
        &simulator,
        Method::POST,
        "/api/project.all",
        key,
        Some(("application/json", "{}")),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Not found")),
        "wrong method"
    );
    let (status, body) = raw(
        &simulator,
        Method::POST,
        "/api/project.create",
        key,
        Some(("text/plain", "{}")),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("UNSUPPORTED_MEDIA_TYPE"))
    );
    let partial = r#"{"applicationId": "x", "dockerImage": "nginx"}"#;
    let (status, body) = raw(
        &simulator,
        Method::POST,
        "/api/application.saveDockerProvider",
        key,
        Some(("application/json", partial)),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Input validation failed"))
    );
    let paths: Vec<&str> = body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|issue| issue["path"][0].as_str())
        .collect();
    assert_eq!(paths, vec!["username", "password", "registryUrl"]);
    let (status, body) = raw(
        &simulator,
        Method::GET,
        "/api/deployment.all?applicationId=unknown",
        key,
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!([])),
        "an unknown parent lists nothing"
    );
    let (status, body) = raw(
        &simulator,
        Method::GET,
        "/api/environment.one?environmentId=nope",
        key,
        None,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Environment not found"))
    );
}

#[tokio::test]
async fn the_control_api_adds_and_clears_faults_and_shows_state() {
    use reqwest::Method;
    let simulator = simulator().await;
    let fault = r#"{"path": "project.create", "status": 503, "times": 1}"#;
    let json_body = Some(("application/json", fault));
    let (status, _) = raw(&simulator, Method::POST, "/__sim/faults", None, json_body).await;
    assert_eq!(status, 201);
    let client = client(&simulator);
    let create = Request::CreateProject {
        name: "shop".into(),
    };
    let error = client.call(&create).await.expect_err("the fault applies");
    assert_eq!(error.status(), Some(503));
    client.call(&create).await.expect("used up after one call");
    let bad = Some(("application/json", r#"{"pathh": "x"}"#));
    let (status, _) = raw(&simulator, Method::POST, "/__sim/faults", None, bad).await;
    assert_eq!(status, 400, "an unknown fault field is refused");
    raw(&simulator, Method::POST, "/__sim/faults", None, json_body).await;
    let (status, _) = raw(&simulator, Method::DELETE, "/__sim/faults", None, None).await;
    assert_eq!(status, 200);
    client.call(&create).await.expect("faults cleared");
    let (status, state) = raw(&simulator, Method::GET, "/__sim/state", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        state["projects"].as_array().map(Vec::len),
        Some(2),
        "duplicates allowed"
    );
    assert_eq!(state["projects"][0]["name"], "shop");
}

/// A project, an application (with `image`, if any) and, if `host` is given, its domain, made
/// through the client; the application's id.
async fn stack(
    client: &stackledger::dokploy::client::DokployClient,
    name: &str,
    image: Option<&str>,
    host: Option<&str>,
) -> ResourceId {
    let create = Request::CreateProject { name: name.into() };
    let ApiAnswer::Project(Some(project)) = client.call(&create).await.expect("ok").answer else {
        panic!("a project");
    };
    let create = Request::CreateApplication {
        environment_id: project.environment_id.expect("an environment"),
        name: name.into(),
    };
    let ApiAnswer::Application(Some(app)) = client.call(&create).await.expect("ok").answer else {
        panic!("an application");
    };
    let id = app.application_id;
    if let Some(image) = image {
        let save = Request::SaveDockerProvider {
            application_id: id.clone(),
            image: image.into(),
        };
        client.call(&save).await.expect("saved");
    }
    if let Some(host) = host {
        let domain = Request::CreateDomain {
            application_id: id.clone(),
            host: host.into(),
            port: 8080,
        };
        client.call(&domain).await.expect("a domain");
    }
    id
}

/// `deployment.all` through the client: (title, status) of each row, newest first.
async fn rows(
    client: &stackledger::dokploy::client::DokployClient,
    application_id: &ResourceId,
) -> Vec<(String, String)> {
    let list = Request::ListDeployments {
        application_id: application_id.clone(),
    };
    let ApiAnswer::Deployments(rows) = client.call(&list).await.expect("rows").answer else {
        panic!("deployments");
    };
    rows.into_iter()
        .map(|row| (row.title, row.status))
        .collect()
}

async fn deploy(
    client: &stackledger::dokploy::client::DokployClient,
    application_id: &ResourceId,
    title: &str,
) {
    let deploy = Request::Deploy {
        application_id: application_id.clone(),
        title: title.into(),
    };
    client.call(&deploy).await.expect("queued");
}

fn row(title: &str, status: &str) -> (String, String) {
    (title.to_owned(), status.to_owned())
}

#[tokio::test]
async fn a_deployed_apps_health_follows_its_route_and_service_and_unhealthy_faults() {
    use reqwest::Method;
    let simulator = simulator().await;
    let client = client(&simulator);
    let health = "/__sim/apps/shop/health";
    let status = || async { raw(&simulator, Method::GET, health, None, None).await };
    assert_eq!(status().await, (404, json!({"status": "unknown app"})));
    let app = stack(&client, "shop", Some("nginx:1.27"), None).await;
    assert_eq!(status().await, (503, json!({"status": "not deployed"})));
    let domain = Request::CreateDomain {
        application_id: app.clone(),
        host: "shop.ai.flexinit.nl".into(),
        port: 8080,
    };
    client.call(&domain).await.expect("a domain");
    assert_eq!(status().await.0, 502, "a route to no service");
    deploy(&client, &app, "t").await;
    assert_eq!(rows(&client, &app).await, vec![row("t", "running")]);
    assert_eq!(rows(&client, &app).await, vec![row("t", "done")]);
    simulator
        .add_fault(serde_json::from_str(r#"{"unhealthy": "shop", "polls": 2}"#).expect("a fault"));
    let mut polls = Vec::new();
    for _ in 0..3 {
        polls.push(status().await.0);
    }
    assert_eq!(polls, vec![503, 503, 200]);
    let url = simulator.health_url_template().replace("{name}", "shop");
    assert_eq!(client.probe_health(&url).await.expect("answers"), 200);
}

#[tokio::test]
async fn an_app_deployed_without_an_image_ends_in_error_and_never_answers() {
    use reqwest::Method;
    let simulator = simulator().await;
    let client = client(&simulator);
    let app = stack(&client, "shop", None, Some("shop.ai.flexinit.nl")).await;
    deploy(&client, &app, "t").await;
    assert_eq!(rows(&client, &app).await, vec![row("t", "running")]);
    assert_eq!(rows(&client, &app).await, vec![row("t", "error")]);
    let health = "/__sim/apps/shop/health";
    assert_eq!(
        raw(&simulator, Method::GET, health, None, None).await.0,
        502
    );
    assert_eq!(simulator.state()["services"], json!([]));
}

#[tokio::test]
async fn one_build_at_a_time_across_apps_and_a_restart_cancels_the_running_one() {
    use reqwest::Method;
    let simulator = simulator().await;
    let client = client(&simulator);
    let a = stack(
        &client,
        "alpha",
        Some("nginx:1.27"),
        Some("alpha.ai.flexinit.nl"),
    )
    .await;
    let b = stack(
        &client,
        "beta",
        Some("nginx:1.27"),
        Some("beta.ai.flexinit.nl"),
    )
    .await;
    let c = stack(
        &client,
        "gamma",
        Some("nginx:1.27"),
        Some("gamma.ai.flexinit.nl"),
    )
    .await;
    deploy(&client, &a, "a1").await;
    deploy(&client, &b, "b1").await;
    deploy(&client, &c, "c1").await;
    assert_eq!(rows(&client, &b).await, vec![], "queued: no row yet");
    let queue = json!([{"applicationId": b.0, "title": "b1"},
                       {"applicationId": c.0, "title": "c1"}]);
    assert_eq!(simulator.state()["queue"], queue);
    assert_eq!(rows(&client, &a).await, vec![row("a1", "running")]);
    assert_eq!(rows(&client, &a).await, vec![row("a1", "done")]);
    // Read through the state, which counts no poll: b1 started when a1 ended.
    let started = &simulator.state()["deployments"][1];
    assert_eq!(
        (&started["title"], &started["status"]),
        (&json!("b1"), &json!("running"))
    );
    let (status, body) = raw(&simulator, Method::POST, "/__sim/restart", None, None).await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    assert_eq!(rows(&client, &b).await, vec![row("b1", "cancelled")]);
    assert_eq!(rows(&client, &c).await, vec![], "the queue was lost");
    let state = simulator.state();
    assert_eq!(state["queue"], json!([]));
    let cancelled = &state["deployments"][1];
    assert_eq!(
        (&cancelled["title"], &cancelled["finishedAt"]),
        (&json!("b1"), &json!(null))
    );
    let beta = state["applications"]
        .as_array()
        .and_then(|apps| apps.iter().find(|app| app["name"] == "beta"))
        .expect("beta");
    assert_eq!(beta["applicationStatus"], "idle");
    let health = "/__sim/apps/alpha/health";
    assert_eq!(
        raw(&simulator, Method::GET, health, None, None).await.0,
        200
    );
}

#[tokio::test]
async fn a_removed_projects_app_still_answers_and_can_no_longer_be_deleted() {
    use reqwest::Method;
    let simulator = simulator().await;
    let client = client(&simulator);
    let app = stack(
        &client,
        "shop",
        Some("nginx:1.27"),
        Some("shop.ai.flexinit.nl"),
    )
    .await;
    deploy(&client, &app, "t").await;
    rows(&client, &app).await;
    assert_eq!(rows(&client, &app).await, vec![row("t", "done")]);
    let project = simulator.state()["projects"][0]["projectId"]
        .as_str()
        .expect("a project")
        .to_owned();
    let remove = Request::RemoveProject {
        project_id: ResourceId(project),
    };
    client.call(&remove).await.expect("removed");
    let delete = Request::DeleteApplication {
        application_id: app.clone(),
    };
    let error = client.call(&delete).await.expect_err("its row is gone");
    assert_eq!(error.status(), Some(404));
    let health = "/__sim/apps/shop/health";
    assert_eq!(
        raw(&simulator, Method::GET, health, None, None).await.0,
        200
    );
    let state = simulator.state();
    assert_eq!(state["applications"], json!([]));
    assert_eq!(state["services"][0]["applicationId"], app.0);
    assert_eq!(state["routes"][0]["host"], "shop.ai.flexinit.nl");
}

#[tokio::test]
async fn the_simulator_runs_as_its_own_process() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stackledger"))
        .args([
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            SIM_KEY,
            "--log-format",
            "json",
            "--builds",
            "2",
            "--build-duration",
            "0s",
            "--deploy-polls",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the simulator starts");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines.next().expect("it logs its address").expect("reads");
        let entry: Value = serde_json::from_str(&line).expect("json logs");
        if let Some(address) = entry["fields"]["address"].as_str() {
            break address.to_owned();
        }
    };
    let response = http()
        .get(format!("http://{address}/api/project.all"))
        .header("x-api-key", SIM_KEY)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.expect("json"), json!([]));
    let state = http()
        .get(format!("http://{address}/__sim/state"))
        .send()
        .await
        .expect("answers")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(state["applications"], json!([]));
    for list in ["services", "routes", "queue"] {
        assert_eq!(state[list], json!([]), "{list}");
    }
    let restart = http()
        .post(format!("http://{address}/__sim/restart"))
        .send()
        .await
        .expect("answers");
    assert_eq!(restart.status(), 200);
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    let status = child.wait().expect("exits");
    assert!(status.success(), "{status:?}");
}
