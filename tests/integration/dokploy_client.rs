//! The Dokploy client against the simulator: every operation, Dokploy's shapes and errors,
//! and clear errors for answers that are not what they should be.

use serde_json::Value;
use stackledger::deployment::{ApiAnswer, Procedure, ResourceId};
use stackledger::dokploy::api::{AnswerExt, DokployApi, Request};
use stackledger::dokploy::error::DokployError;
use stackledger::simulator::Fault;

use std::time::Duration;

use crate::support::{SIM_KEY, client, client_with, client_with_timeout, simulator};

/// What `client` answers to `request` (the test fails when it fails).
pub(crate) async fn answer(
    client: &stackledger::dokploy::client::DokployClient,
    request: Request,
) -> ApiAnswer {
    client
        .call(&request)
        .await
        .unwrap_or_else(|error| panic!("{request:?} failed: {error}"))
        .answer
}

/// Creates project, application and domain for `name` and returns their ids.
pub(crate) async fn provision(
    client: &stackledger::dokploy::client::DokployClient,
    name: &str,
) -> (ResourceId, ResourceId, ResourceId, ResourceId) {
    let project = answer(client, Request::CreateProject { name: name.into() })
        .await
        .project(Procedure::ProjectCreate)
        .expect("a project answer")
        .expect("created");
    let environment = project.environment_id.expect("a default environment");
    let create = Request::CreateApplication {
        environment_id: environment.clone(),
        name: name.into(),
    };
    let application = answer(client, create)
        .await
        .application(Procedure::ApplicationCreate)
        .expect("an application answer")
        .expect("created");
    let create = Request::CreateDomain {
        application_id: application.application_id.clone(),
        host: format!("{name}.ai.flexinit.nl"),
        port: 8080,
    };
    let domain = answer(client, create)
        .await
        .domain(Procedure::DomainCreate)
        .expect("a domain answer")
        .expect("created");
    (
        project.project_id,
        environment,
        application.application_id,
        domain,
    )
}

#[tokio::test]
async fn every_operation_round_trips_through_the_simulator() {
    let simulator = simulator().await;
    let client = client(&simulator);
    let find = Request::FindProject {
        name: "shop".into(),
    };
    assert_eq!(
        answer(&client, find.clone()).await,
        ApiAnswer::Project(None)
    );
    let (project, environment, application, domain) = provision(&client, "shop").await;

    let found = answer(&client, find)
        .await
        .project(Procedure::ProjectAll)
        .expect("kind");
    assert_eq!(found.as_ref().map(|p| &p.project_id), Some(&project));
    assert_eq!(
        found.and_then(|p| p.environment_id),
        Some(environment.clone())
    );
    let find_app = Request::FindApplication {
        environment_id: environment,
        name: "shop".into(),
    };
    let app = answer(&client, find_app)
        .await
        .application(Procedure::EnvironmentOne)
        .expect("kind");
    assert_eq!(app.map(|a| a.application_id), Some(application.clone()));
    let find_domain = Request::FindDomain {
        application_id: application.clone(),
        host: "shop.ai.flexinit.nl".into(),
    };
    let found = answer(&client, find_domain)
        .await
        .domain(Procedure::DomainByApplicationId);
    assert_eq!(found.expect("kind"), Some(domain.clone()));

    let save = Request::SaveDockerProvider {
        application_id: application.clone(),
        image: "nginx:1.27".into(),
    };
    assert_eq!(answer(&client, save).await, ApiAnswer::Empty);
    let list = Request::ListDeployments {
        application_id: application.clone(),
    };
    let rows = answer(&client, list.clone())
        .await
        .deployments(Procedure::DeploymentAll)
        .expect("kind");
    assert!(rows.is_empty());
    let deploy = Request::Deploy {
        application_id: application.clone(),
        title: "stackledger-nonce-1".into(),
    };
    assert_eq!(
        answer(&client, deploy).await,
        ApiAnswer::Empty,
        "an empty body is fine"
    );
    let running = answer(&client, list.clone())
        .await
        .deployments(Procedure::DeploymentAll)
        .expect("kind");
    assert_eq!(running.len(), 1);
    assert_eq!(
        (running[0].title.as_str(), running[0].status.as_str()),
        ("stackledger-nonce-1", "running")
    );
    let done = answer(&client, list)
        .await
        .deployments(Procedure::DeploymentAll)
        .expect("kind");
    assert_eq!(done[0].status, "done");

    let deletes = [
        Request::DeleteDomain { domain_id: domain },
        Request::DeleteApplication {
            application_id: application,
        },
        Request::RemoveProject {
            project_id: project,
        },
    ];
    for delete in deletes {
        assert_eq!(answer(&client, delete.clone()).await, ApiAnswer::Empty);
        let again = client.call(&delete).await.expect_err("already gone");
        assert!(again.is_not_found(), "{delete:?} a second time: {again:?}");
    }
    let state = simulator.state();
    for list in ["projects", "applications", "domains", "deployments"] {
        assert_eq!(state[list], Value::Array(Vec::new()), "{list} left behind");
    }
}

#[tokio::test]
async fn requests_carry_what_dokploy_needs() {
    let simulator = simulator().await;
    let client = client(&simulator);
    let (_, _, application, _) = provision(&client, "shop").await;
    let save = Request::SaveDockerProvider {
        application_id: application,
        image: "nginx:1.27".into(),
    };
    answer(&client, save).await;
    let requests = simulator.requests();
    assert!(
        requests.iter().all(|request| request.authorized),
        "x-api-key on every call"
    );
    let body = |procedure: &str| {
        requests
            .iter()
            .find(|request| request.procedure == procedure)
            .map(|request| request.input.clone())
            .unwrap_or_else(|| panic!("no {procedure} request"))
    };
    let domain = body("domain.create");
    assert_eq!(domain["port"], 8080);
    assert_eq!(domain["https"], true);
    assert_eq!(domain["certificateType"], "letsencrypt");
    let provider = body("application.saveDockerProvider");
    for key in [
        "applicationId",
        "dockerImage",
        "username",
        "password",
        "registryUrl",
    ] {
        assert!(
            provider.get(key).is_some(),
            "saveDockerProvider lacks {key}"
        );
    }
    let app = body("application.create");
    assert_eq!(
        (app["appName"].as_str(), app["sourceType"].as_str()),
        (Some("shop"), Some("docker"))
    );
    let state = simulator.state();
    let app_name = state["applications"][0]["appName"]
        .as_str()
        .expect("an appName");
    assert!(
        app_name.starts_with("shop-") && app_name.len() == 11,
        "{app_name}"
    );
    let id = state["projects"][0]["projectId"].as_str().expect("an id");
    assert_eq!(id.len(), 21);
}

#[tokio::test]
async fn a_refused_key_says_so_without_showing_it() {
    let simulator = simulator().await;
    let client = client_with(&simulator, "wrong-key-zz9", 1 << 20);
    let error = client
        .call(&Request::FindProject {
            name: "shop".into(),
        })
        .await
        .expect_err("the key is wrong");
    assert_eq!(error, DokployError::Unauthorized);
    let message = error.to_string();
    assert!(
        message.contains("API key") && !message.contains("wrong-key-zz9"),
        "{message}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn dokploy_errors_keep_status_message_and_code() {
    let simulator = simulator().await;
    let client = client(&simulator);
    let missing = Request::SaveDockerProvider {
        application_id: ResourceId("nonexistent0000000000".into()),
        image: "nginx".into(),
    };
    match client.call(&missing).await {
        Err(DokployError::Status {
            status,
            message,
            code,
            ..
        }) => {
            assert_eq!((status, message.as_str()), (404, "Application not found"));
            assert_eq!(code.as_deref(), Some("NOT_FOUND"));
        }
        other => panic!("expected a 404, got {other:?}"),
    }
    simulator.add_fault(Fault {
        retry_after: Some(7),
        ..Fault::on("project.search").status(429)
    });
    match client
        .call(&Request::FindProject { name: "x".into() })
        .await
    {
        Err(error @ DokployError::Status { status: 429, .. }) => {
            let asked = error.retry_after().map(|after| after.delay(0));
            assert_eq!(asked, Some(std::time::Duration::from_secs(7)));
        }
        other => panic!("expected a 429, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_huge_dropped_and_hung_answers_are_clear_errors() {
    let simulator = simulator().await;
    let client = client_with(&simulator, SIM_KEY, 1 << 20);
    let find = Request::FindProject { name: "x".into() };
    simulator.add_fault(Fault {
        malformed: true,
        ..Fault::on("project.search")
    });
    let error = client
        .call(&find)
        .await
        .expect_err("html is not a project list");
    assert!(
        matches!(
            error,
            DokployError::UnexpectedResponse {
                operation: Procedure::ProjectSearch,
                ..
            }
        ),
        "{error:?}"
    );
    simulator.add_fault(Fault {
        huge_bytes: Some(10 * 1024 * 1024),
        ..Fault::on("project.search")
    });
    // A patient client: the cap, not the clock, must stop this one.
    let patient = stackledger::dokploy::client::DokployClient::new(
        &simulator.origin(),
        stackledger::config::ApiKey::new(SIM_KEY).expect("valid"),
        stackledger::dokploy::client::ClientOptions {
            timeout: std::time::Duration::from_secs(30),
            body_bytes_max: 1 << 20,
            ..Default::default()
        },
    )
    .expect("builds");
    let error = patient
        .call(&find)
        .await
        .expect_err("10 MB is over the cap");
    assert_eq!(
        error,
        DokployError::ResponseTooLarge {
            operation: Procedure::ProjectSearch,
            limit: 1 << 20
        }
    );
    simulator.add_fault(Fault {
        drop: true,
        ..Fault::on("project.search")
    });
    let error = client.call(&find).await.expect_err("the connection broke");
    assert!(
        matches!(error, DokployError::Transport { sent: true, .. }),
        "{error:?}"
    );
    assert!(error.outcome_unknown());
    simulator.add_fault(Fault {
        hang: true,
        ..Fault::on("project.search")
    });
    let impatient = client_with_timeout(&simulator, SIM_KEY, 1 << 20, Duration::from_millis(300));
    let error = impatient.call(&find).await.expect_err("no answer");
    assert_eq!(error, DokployError::Timeout { timeout_ms: 300 });
    assert_eq!(
        client.call(&find).await.expect("faults used up").answer,
        ApiAnswer::Project(None)
    );
}

#[tokio::test]
async fn a_dokploy_that_is_not_there_is_a_transport_error_that_was_never_sent() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let origin = format!("http://{}", closed.local_addr().expect("an address"));
    drop(closed);
    let key = stackledger::config::ApiKey::new(SIM_KEY).expect("a valid key");
    let options = stackledger::dokploy::client::ClientOptions::default();
    let origin = reqwest::Url::parse(&origin).expect("a URL");
    let client =
        stackledger::dokploy::client::DokployClient::new(&origin, key, options).expect("builds");
    let error = client
        .call(&Request::FindProject { name: "x".into() })
        .await
        .expect_err("nothing listens there");
    assert!(
        matches!(error, DokployError::Transport { sent: false, .. }),
        "{error:?}"
    );
    assert!(error.is_retryable() && !error.outcome_unknown());
}

#[tokio::test]
async fn a_404_is_a_resource_404_only_when_dokploy_names_the_procedure() {
    let simulator = simulator().await;
    let client = client(&simulator);
    let gone = Request::DeleteDomain {
        domain_id: ResourceId("nope".into()),
    };
    let error = client.call(&gone).await.expect_err("no such domain");
    assert!(error.is_not_found(), "a resource 404 is gone: {error:?}");
    // A base URL one level off makes every route a 404 without `data.path`.
    let mut wrong = simulator.origin();
    wrong.set_path("/dokploy");
    let key = stackledger::config::ApiKey::new(SIM_KEY).expect("valid");
    let options = stackledger::dokploy::client::ClientOptions::default();
    let lost =
        stackledger::dokploy::client::DokployClient::new(&wrong, key, options).expect("builds");
    let error = lost.call(&gone).await.expect_err("no such route");
    assert_eq!(
        error,
        DokployError::NoRoute {
            procedure: Procedure::DomainDelete
        }
    );
    assert!(!error.is_not_found(), "a missing route is never gone");
    assert!(error.to_string().contains("DOKPLOY_URL"), "{error}");
}

#[tokio::test]
async fn registry_credentials_are_empty_strings_and_the_server_id_is_sent_when_set() {
    let key = stackledger::config::ApiKey::new(SIM_KEY).expect("valid");
    // A Dokploy that knows this remote server.
    let options = stackledger::simulator::SimulatorOptions {
        server_id: Some("srv_0123456789abcdefgh".into()),
        ..stackledger::simulator::SimulatorOptions::new(key.clone(), 7)
    };
    let simulator =
        stackledger::simulator::Simulator::start("127.0.0.1:0".parse().expect("addr"), options)
            .await
            .expect("the simulator starts");
    let options = stackledger::dokploy::client::ClientOptions {
        server_id: Some("srv_0123456789abcdefgh".into()),
        ..Default::default()
    };
    let client =
        stackledger::dokploy::client::DokployClient::new(&simulator.origin(), key, options)
            .expect("builds");
    let (_, _, application, _) = provision(&client, "shop").await;
    let save = Request::SaveDockerProvider {
        application_id: application,
        image: "nginx:1".into(),
    };
    answer(&client, save).await;
    let requests = simulator.requests();
    let input = |procedure: &str| {
        requests
            .iter()
            .find(|request| request.procedure == procedure)
            .map(|request| request.input.clone())
            .expect("sent")
    };
    assert_eq!(
        input("application.create")["serverId"],
        "srv_0123456789abcdefgh"
    );
    let saved = input("application.saveDockerProvider");
    for field in ["username", "password", "registryUrl"] {
        assert_eq!(saved[field], "", "{field}: {saved}");
    }
    let plain = crate::support::client(&simulator);
    let other = answer(
        &plain,
        Request::CreateProject {
            name: "blog".into(),
        },
    )
    .await
    .project(Procedure::ProjectCreate)
    .expect("a project answer")
    .expect("created");
    let create = Request::CreateApplication {
        environment_id: other.environment_id.expect("an environment"),
        name: "blog".into(),
    };
    answer(&plain, create).await;
    let last = simulator
        .requests()
        .into_iter()
        .rev()
        .find(|request| request.procedure == "application.create")
        .expect("sent");
    assert!(last.input.get("serverId").is_none(), "{}", last.input);
}
