//! The scripted scenario behind `events/golden/scenario.log`: a server start, a deployment that
//! succeeds after a retried create and a failed health poll, a breaker trip, a deployment whose
//! deploy fails and whose rollback is partial, and one interrupted and being recovered.
//! Together they use every event kind.

use std::time::Duration;

use stackledger::deployment::{
    ApiAnswer, ApplicationAnswer, DeploymentRow, Event, HttpMethod, Phase, ProjectAnswer,
    ResourceId, ResourceKind,
};
use stackledger::ids::{DeploymentId, Seq};
use stackledger::ledger::{ExpectedVersion, Ledger, NewEvent};
use uuid::Uuid;

use super::{TestLedger, phase, requested};

/// The deployment that succeeds.
pub(crate) const SHOP: DeploymentId = id(0x0190_0000_0000_7000_8000_0000_0000_0001);
/// The deployment that fails and rolls back.
pub(crate) const BLOG: DeploymentId = id(0x0190_0000_0000_7000_8000_0000_0000_0002);
/// The deployment interrupted by a restart.
pub(crate) const API: DeploymentId = id(0x0190_0000_0000_7000_8000_0000_0000_0003);

const fn id(n: u128) -> DeploymentId {
    DeploymentId::from_uuid(Uuid::from_u128(n))
}

pub(crate) fn rid(text: &str) -> ResourceId {
    ResourceId(text.to_owned())
}

/// Appends events one request at a time, moving the clock between them.
pub(crate) struct Script<'a> {
    ledger: &'a Ledger,
    clock: &'a stackledger::clock::ManualClock,
    stream: DeploymentId,
}

impl Script<'_> {
    pub(crate) async fn say(&self, event: Event, cause: Option<u64>, after_ms: u64) -> u64 {
        self.clock.advance(Duration::from_millis(after_ms));
        let expected = if self.stream.is_system() {
            ExpectedVersion::Any
        } else {
            ExpectedVersion::Exact(self.ledger.stream_version(self.stream))
        };
        let new = NewEvent {
            event,
            cause: cause.map(Seq),
        };
        self.ledger
            .append_one(self.stream, expected, new)
            .await
            .expect("the scenario's events are valid")
            .seq
            .0
    }

    /// A call that succeeds on its first attempt.
    pub(crate) async fn call(
        &self,
        call: u32,
        method: HttpMethod,
        endpoint: &str,
        answer: ApiAnswer,
    ) {
        let started = self.started(call, 1, method, endpoint).await;
        let done = Event::ApiCallSucceeded {
            call,
            attempt: 1,
            status: 200,
            duration_ms: 12,
            answer,
        };
        self.say(done, Some(started), 12).await;
    }

    pub(crate) async fn started(
        &self,
        call: u32,
        attempt: u32,
        method: HttpMethod,
        endpoint: &str,
    ) -> u64 {
        let event = Event::ApiCallStarted {
            call,
            attempt,
            method,
            endpoint: endpoint.to_owned(),
        };
        self.say(event, None, 1).await
    }
}

/// Writes the scenario into an empty ledger.
pub(crate) async fn write(test: &TestLedger) {
    let system = script(test, DeploymentId::SYSTEM);
    let version = Event::ServerStarted {
        version: "0.1.0".to_owned(),
    };
    system.say(version, None, 0).await;
    shop(&script(test, SHOP)).await;
    system.say(Event::CircuitOpened, None, 100).await;
    system.say(Event::CircuitHalfOpened, None, 60_000).await;
    system.say(Event::CircuitClosed, None, 50).await;
    blog(&script(test, BLOG)).await;
    api(&script(test, API)).await;
}

pub(crate) fn script(test: &TestLedger, stream: DeploymentId) -> Script<'_> {
    Script {
        ledger: &test.ledger,
        clock: &test.clock,
        stream,
    }
}

async fn shop(s: &Script<'_>) {
    use HttpMethod::{Get, Post};
    s.say(requested("shop"), None, 5).await;
    s.say(phase(Phase::CreatingProject), None, 1).await;
    s.call(1, Get, "project.search", ApiAnswer::Project(None))
        .await;
    let first = s.started(2, 1, Post, "project.create").await;
    let failed = Event::ApiCallFailed {
        call: 2,
        attempt: 1,
        status: Some(503),
        error: "Service Unavailable".to_owned(),
        duration_ms: 30,
        retry_in_ms: Some(1_000),
    };
    s.say(failed, Some(first), 30).await;
    let second = s.started(2, 2, Post, "project.create").await;
    let project = ProjectAnswer {
        project_id: rid("prj_shop_0000000000001"),
        environment_id: Some(rid("env_shop_0000000000001")),
    };
    let created = Event::ApiCallSucceeded {
        call: 2,
        attempt: 2,
        status: 200,
        duration_ms: 25,
        answer: ApiAnswer::Project(Some(project)),
    };
    s.say(created, Some(second), 1_025).await;
    let kind = ResourceKind::Project;
    s.say(
        Event::ResourceCreated {
            kind,
            id: rid("prj_shop_0000000000001"),
        },
        None,
        1,
    )
    .await;
    s.say(phase(Phase::GettingEnvironment), None, 1).await;
    let kind = ResourceKind::Environment;
    s.say(
        Event::ResourceFound {
            kind,
            id: rid("env_shop_0000000000001"),
        },
        None,
        1,
    )
    .await;
    s.say(phase(Phase::CreatingApplication), None, 1).await;
    s.call(3, Get, "project.one", ApiAnswer::Application(None))
        .await;
    let app = ApplicationAnswer {
        application_id: rid("app_shop_0000000000001"),
        app_name: Some("shop-x7k2qa".to_owned()),
    };
    s.call(
        4,
        Post,
        "application.create",
        ApiAnswer::Application(Some(app)),
    )
    .await;
    let kind = ResourceKind::Application;
    s.say(
        Event::ResourceCreated {
            kind,
            id: rid("app_shop_0000000000001"),
        },
        None,
        1,
    )
    .await;
    s.say(phase(Phase::ConfiguringApplication), None, 1).await;
    s.call(5, Post, "application.saveDockerProvider", ApiAnswer::Empty)
        .await;
    s.say(phase(Phase::CreatingDomain), None, 1).await;
    s.call(6, Get, "domain.byApplicationId", ApiAnswer::Domain(None))
        .await;
    let domain = ApiAnswer::Domain(Some(rid("dom_shop_0000000000001")));
    s.call(7, Post, "domain.create", domain).await;
    let kind = ResourceKind::Domain;
    s.say(
        Event::ResourceCreated {
            kind,
            id: rid("dom_shop_0000000000001"),
        },
        None,
        1,
    )
    .await;
    s.say(phase(Phase::Deploying), None, 1).await;
    s.call(8, Get, "deployment.all", ApiAnswer::Deployments(Vec::new()))
        .await;
    s.call(9, Post, "application.deploy", ApiAnswer::Empty)
        .await;
    let title = "stackledger dep_0190 1".to_owned();
    s.say(
        Event::DeployQueued {
            title: title.clone(),
        },
        None,
        1,
    )
    .await;
    let row = DeploymentRow {
        deployment_id: rid("dpl_shop_0000000000001"),
        title,
        status: "done".to_owned(),
    };
    s.call(10, Get, "deployment.all", ApiAnswer::Deployments(vec![row]))
        .await;
    let done = Event::DeployFinished {
        dokploy_status: "done".to_owned(),
    };
    s.say(done, None, 1).await;
    s.say(phase(Phase::VerifyingHealth), None, 1).await;
    let poll = |n, status, error: Option<&str>| Event::HealthCheckAttempt {
        n,
        status,
        error: error.map(str::to_owned),
        duration_ms: 8,
    };
    s.say(poll(1, None, Some("connection refused")), None, 8)
        .await;
    s.say(poll(2, Some(503), None), None, 5_000).await;
    s.say(poll(3, Some(200), None), None, 5_000).await;
    s.say(Event::HealthVerified { after_ms: 10_016 }, None, 1)
        .await;
    let url = "https://shop.ai.flexinit.nl".to_owned();
    s.say(Event::DeploymentSucceeded { url }, None, 1).await;
}

async fn blog(s: &Script<'_>) {
    use HttpMethod::{Get, Post};
    s.say(requested("blog"), None, 5).await;
    s.say(phase(Phase::CreatingProject), None, 1).await;
    let existing = ProjectAnswer {
        project_id: rid("prj_blog_0000000000001"),
        environment_id: Some(rid("env_blog_0000000000001")),
    };
    s.call(1, Get, "project.search", ApiAnswer::Project(Some(existing)))
        .await;
    let kind = ResourceKind::Project;
    s.say(
        Event::ResourceFound {
            kind,
            id: rid("prj_blog_0000000000001"),
        },
        None,
        1,
    )
    .await;
    s.say(phase(Phase::CreatingApplication), None, 1).await;
    let app = ApplicationAnswer {
        application_id: rid("app_blog_0000000000001"),
        app_name: Some("blog-p9d3mz".to_owned()),
    };
    s.call(
        2,
        Post,
        "application.create",
        ApiAnswer::Application(Some(app)),
    )
    .await;
    let kind = ResourceKind::Application;
    s.say(
        Event::ResourceCreated {
            kind,
            id: rid("app_blog_0000000000001"),
        },
        None,
        1,
    )
    .await;
    s.say(phase(Phase::CreatingDomain), None, 1).await;
    let domain = ApiAnswer::Domain(Some(rid("dom_blog_0000000000001")));
    s.call(3, Post, "domain.create", domain).await;
    let kind = ResourceKind::Domain;
    s.say(
        Event::ResourceCreated {
            kind,
            id: rid("dom_blog_0000000000001"),
        },
        None,
        1,
    )
    .await;
    s.say(phase(Phase::Deploying), None, 1).await;
    s.call(4, Post, "application.deploy", ApiAnswer::Empty)
        .await;
    let finished = Event::DeployFinished {
        dokploy_status: "error".to_owned(),
    };
    s.say(finished, None, 40_000).await;
    let failed = Event::DeploymentFailed {
        phase: Phase::Deploying,
        code: "deploy_failed".to_owned(),
        message: "Dokploy reported the deploy as error".to_owned(),
    };
    let failure = s.say(failed, None, 1).await;
    s.say(Event::RollbackStarted, Some(failure), 1).await;
    let kind = ResourceKind::Domain;
    let step = Event::RollbackStepFailed {
        kind,
        id: rid("dom_blog_0000000000001"),
        error: "domain.delete failed with 500 after 6 attempts".to_owned(),
    };
    s.say(step, Some(failure), 31_000).await;
    let kind = ResourceKind::Application;
    let step = Event::RollbackStepSucceeded {
        kind,
        id: rid("app_blog_0000000000001"),
    };
    s.say(step, Some(failure), 20).await;
    s.say(
        Event::RollbackFinished { complete: false },
        Some(failure),
        1,
    )
    .await;
}

async fn api(s: &Script<'_>) {
    s.say(requested("api"), None, 5).await;
    s.say(phase(Phase::CreatingProject), None, 1).await;
    s.started(1, 1, HttpMethod::Get, "project.search").await;
    let reason = "server restarted with the deployment in progress".to_owned();
    s.say(Event::RecoveryStarted { reason }, None, 90_000).await;
}
