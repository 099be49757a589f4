//! The rollback's guards against the in-process simulator: over the real HTTP surface, a failed
//! `application.delete` keeps the project (never `project.remove`), the rollback ends `partial`,
//! and what is left is named on every surface (the SSE `error` event, the deployment view, the
//! ops list) while the simulator still holds the application; through the orchestrator, a route
//! 404 is a failed step, never "gone", and a deploy timeout while the build still runs waits
//! the build out before the application is deleted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;
use stackledger::deployment::{
    ApiAnswer, DeploymentRow, Event, Procedure, ResourceId, ResourceKind,
};
use stackledger::dokploy::api::{Answered, DokployApi, Request};
use stackledger::dokploy::client::DokployClient;
use stackledger::dokploy::error::DokployError;
use stackledger::ids::{DeploymentId, Seq, SequentialIds};
use stackledger::orchestrator::{Orchestrator, Outcome, Settings};
use stackledger::simulator::Fault;

use crate::support::test_app::{TestApp, parse_sse, spawn_app};
use crate::support::{client, http, open_ledger, simulator};

const TOKEN: &str = "rollback-guards-token";

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
    // The build ends done (a service runs), then the app never turns healthy.
    let unhealthy = r#"{"unhealthy": "shop", "polls": "forever"}"#;
    simulator.add_fault(serde_json::from_str(unhealthy).expect("fault"));
    simulator.add_fault(Fault::on("application.delete").status(500).times(50));
    let token = format!("--admin-token={TOKEN}");
    let flags = ["--retries-max=0", "--health-timeout=0s", &token];
    let app = spawn_app(dir.path(), &simulator, &flags).await;
    let id = app.deploy("shop").await;
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
    let services = state["services"].as_array().expect("services");
    assert!(
        services.len() == 1
            && services[0]["running"] == true
            && services[0]["appName"]
                .as_str()
                .is_some_and(|name| name.starts_with("shop-")),
        "the application's service still runs, as the leftover says: {state}"
    );
    app.shutdown().await;
}

/// The simulator, but `missing` has no route (a wrong base URL, a proxy, or a Dokploy without
/// it): the answer the client makes of a 404 that does not name the procedure.
struct RouteMissing {
    inner: DokployClient,
    missing: Procedure,
}

impl DokployApi for RouteMissing {
    async fn call(&self, request: &Request) -> Result<Answered, DokployError> {
        if request.procedure() == self.missing {
            return Err(DokployError::NoRoute {
                procedure: self.missing,
            });
        }
        self.inner.call(request).await
    }

    async fn probe_health(&self, url: &str) -> Result<u16, DokployError> {
        self.inner.probe_health(url).await
    }
}

#[tokio::test]
async fn a_route_404_during_a_rollback_is_never_counted_as_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let simulator = simulator().await;
    simulator.add_fault(serde_json::from_str(r#"{"deployOutcome": "error"}"#).expect("fault"));
    let api = RouteMissing {
        inner: client(&simulator),
        missing: Procedure::DomainDelete,
    };
    let mut settings = Settings::default();
    settings.plan.image = "nginx:1.27".to_owned();
    settings.plan.health_url = simulator.health_url_template();
    let clock = Arc::new(test.clock.clone());
    let orchestrator = Orchestrator::builder(Arc::new(api), test.ledger.clone(), clock)
        .ids(Arc::new(SequentialIds::default()))
        .settings(settings)
        .build();
    let started = orchestrator.deploy("shop", "c").await.expect("accepted");
    let outcome = started.task.await.expect("ends").expect("ledger ok");
    assert_eq!(outcome, Outcome::RolledBack { complete: false });
    let events = test
        .ledger
        .read_stream(started.id, Seq::ZERO, usize::MAX)
        .expect("reads");
    let domain_steps: Vec<&Event> = events
        .iter()
        .map(|e| &e.event)
        .filter(|event| {
            matches!(event,
                Event::RollbackStepSucceeded { kind, .. }
                | Event::RollbackStepFailed { kind, .. } if *kind == ResourceKind::Domain)
        })
        .collect();
    let [Event::RollbackStepFailed { error, .. }] = domain_steps[..] else {
        panic!("the domain's step failed, it was not counted as gone: {domain_steps:?}");
    };
    assert!(error.contains("DOKPLOY_URL"), "the likely cause: {error}");
    assert!(
        !simulator
            .requests()
            .iter()
            .any(|r| r.procedure == Procedure::ProjectRemove.name()),
        "a project is never removed after an application-level step failed"
    );
    let finished = events.last().map(|e| &e.event);
    assert_eq!(finished, Some(&Event::RollbackFinished { complete: false }));
}

/// The simulator, but the build of every deploy runs through `running_polls` polls of
/// `deployment.all` before it is `done` (a slow image pull).
struct SlowBuild {
    inner: DokployClient,
    running_polls: u32,
    polls: AtomicU32,
}

impl DokployApi for SlowBuild {
    async fn call(&self, request: &Request) -> Result<Answered, DokployError> {
        let Request::ListDeployments { .. } = request else {
            return self.inner.call(request).await;
        };
        let polls = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
        let status = if polls > self.running_polls {
            "done"
        } else {
            "running"
        };
        let row = DeploymentRow {
            deployment_id: ResourceId("row1".into()),
            title: format!(
                "stackledger {}",
                DeploymentId::from_uuid(uuid::Uuid::from_u128(1))
            ),
            status: status.into(),
        };
        Ok(Answered {
            status: 200,
            answer: ApiAnswer::Deployments(vec![row]),
        })
    }

    async fn probe_health(&self, url: &str) -> Result<u16, DokployError> {
        self.inner.probe_health(url).await
    }
}

#[tokio::test]
async fn a_deploy_timeout_while_the_build_runs_waits_the_build_out_then_rolls_back_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let simulator = simulator().await;
    let api = Arc::new(SlowBuild {
        inner: client(&simulator),
        running_polls: 10,
        polls: AtomicU32::new(0),
    });
    let mut settings = Settings::default();
    settings.plan.image = "nginx:1.27".to_owned();
    settings.plan.health_url = simulator.health_url_template();
    settings.plan.deploy_timeout = Duration::from_secs(10);
    let clock = Arc::new(test.clock.clone());
    let orchestrator = Orchestrator::builder(Arc::clone(&api), test.ledger.clone(), clock)
        .ids(Arc::new(SequentialIds::default()))
        .settings(settings)
        .build();
    let started = orchestrator.deploy("shop", "c").await.expect("accepted");
    let outcome = started.task.await.expect("ends").expect("ledger ok");
    assert_eq!(outcome, Outcome::RolledBack { complete: true });
    let events = test
        .ledger
        .read_stream(started.id, Seq::ZERO, usize::MAX)
        .expect("reads");
    let position = |wanted: fn(&Event) -> bool| events.iter().position(|e| wanted(&e.event));
    let timed_out =
        position(|e| matches!(e, Event::DeploymentFailed { code, .. } if code == "deploy_timeout"));
    let build_over = position(
        |e| matches!(e, Event::DeployFinished { dokploy_status } if dokploy_status == "done"),
    );
    let app_deleted = position(
        |e| matches!(e, Event::RollbackStepSucceeded { kind, .. } if *kind == ResourceKind::Application),
    );
    assert!(
        timed_out.is_some(),
        "the deploy timed out while the build ran"
    );
    assert!(
        timed_out < build_over && build_over < app_deleted,
        "the build was waited out before its application was deleted: {timed_out:?} {build_over:?} {app_deleted:?}"
    );
    assert_eq!(
        api.polls.load(Ordering::SeqCst),
        11,
        "6 polls in the deploy phase, 5 in the rollback"
    );
    let verified = events.iter().find_map(|e| match &e.event {
        Event::RollbackVerified { leftovers } => Some(leftovers.clone()),
        _ => None,
    });
    assert_eq!(verified, Some(vec![]), "nothing left");
    let state = simulator.state();
    for list in ["projects", "applications", "domains"] {
        assert_eq!(
            state[list].as_array().map_or(0, Vec::len),
            0,
            "{list}: {state}"
        );
    }
}
