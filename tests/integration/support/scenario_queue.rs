//! The scripted scenario behind `events/golden/build-queue.log` (issue 12): a deployment that
//! waits for the portal's build slot, waits in Dokploy's build queue, loses its build to a Dokploy
//! restart and is re-queued once, then succeeds; and one whose build outlives its deploy limit,
//! whose rollback waits the build out, cannot delete its application, so it must not remove the
//! project (a skipped step), and whose verification names what is left. Together with
//! `scenario.rs` they use every event kind; this script never changes once blessed.

use stackledger::deployment::{
    ApiAnswer, ApplicationAnswer, DeploymentRow, Event, HttpMethod, Leftover, LeftoverKind, Phase,
    ProjectAnswer, ResourceKind, ServiceRef,
};
use stackledger::ids::DeploymentId;
use uuid::Uuid;

use super::scenario::{Script, rid, script};
use super::{TestLedger, phase, requested};

/// The deployment that waits, is re-queued and succeeds.
pub(crate) const SHIP: DeploymentId = id(0x0190_0000_0000_7000_8000_0000_0000_0011);
/// The deployment whose rollback is guarded.
pub(crate) const CART: DeploymentId = id(0x0190_0000_0000_7000_8000_0000_0000_0012);

const fn id(n: u128) -> DeploymentId {
    DeploymentId::from_uuid(Uuid::from_u128(n))
}

/// Writes the scenario into an empty ledger.
pub(crate) async fn write(test: &TestLedger) {
    let system = script(test, DeploymentId::SYSTEM);
    let version = Event::ServerStarted {
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    system.say(version, None, 0).await;
    ship(&script(test, SHIP)).await;
    cart(&script(test, CART)).await;
}

/// Project, application and domain, as every deployment creates them.
async fn create_all(s: &Script<'_>, name: &str, first_call: u32) {
    use HttpMethod::{Get, Post};
    let project = ProjectAnswer {
        project_id: rid(&format!("prj_{name}_0000000000001")),
        environment_id: Some(rid(&format!("env_{name}_0000000000001"))),
    };
    s.say(phase(Phase::CreatingProject), None, 1).await;
    s.call(first_call, Get, "project.all", ApiAnswer::Project(None))
        .await;
    let created = ApiAnswer::Project(Some(project.clone()));
    s.call(first_call + 1, Post, "project.create", created)
        .await;
    let kind = ResourceKind::Project;
    let id = project.project_id.clone();
    s.say(Event::ResourceCreated { kind, id }, None, 1).await;
    s.say(phase(Phase::CreatingApplication), None, 1).await;
    let app = ApplicationAnswer {
        application_id: rid(&format!("app_{name}_0000000000001")),
        app_name: Some(format!("{name}-q4z8ka")),
    };
    let created = ApiAnswer::Application(Some(app.clone()));
    s.call(first_call + 2, Post, "application.create", created)
        .await;
    let kind = ResourceKind::Application;
    let id = app.application_id.clone();
    s.say(Event::ResourceCreated { kind, id }, None, 1).await;
    s.say(phase(Phase::CreatingDomain), None, 1).await;
    let domain = ApiAnswer::Domain(Some(rid(&format!("dom_{name}_0000000000001"))));
    s.call(first_call + 3, Post, "domain.create", domain).await;
    let kind = ResourceKind::Domain;
    let id = rid(&format!("dom_{name}_0000000000001"));
    s.say(Event::ResourceCreated { kind, id }, None, 1).await;
}

fn rows(name: &str, title: &str, status: &str) -> ApiAnswer {
    ApiAnswer::Deployments(vec![DeploymentRow {
        deployment_id: rid(&format!("dpl_{name}_{title}")),
        title: title.to_owned(),
        status: status.to_owned(),
    }])
}

async fn ship(s: &Script<'_>) {
    use HttpMethod::{Get, Post};
    s.say(requested("ship"), None, 5).await;
    create_all(s, "ship", 1).await;
    s.say(phase(Phase::Deploying), None, 1).await;
    s.say(Event::BuildSlotWaiting { ahead: 1 }, None, 1).await;
    s.say(Event::BuildSlotWaiting { ahead: 0 }, None, 40_000)
        .await;
    let acquired = Event::BuildSlotAcquired { waited_ms: 52_000 };
    s.say(acquired, None, 12_000).await;
    s.call(5, Post, "application.deploy", ApiAnswer::Empty)
        .await;
    let title = "stackledger ship";
    s.say(
        Event::DeployQueued {
            title: title.into(),
        },
        None,
        1,
    )
    .await;
    s.call(6, Get, "deployment.all", ApiAnswer::Deployments(vec![]))
        .await;
    s.call(7, Get, "deployment.all", rows("ship", title, "running"))
        .await;
    let started = Event::DeployStarted {
        deployment_id: rid("dpl_ship_1"),
        queued_ms: 2_000,
    };
    s.say(started, None, 1).await;
    s.call(8, Get, "deployment.all", rows("ship", title, "cancelled"))
        .await;
    let reason = "Dokploy restarted and cancelled the build".to_owned();
    s.say(Event::DeployRequeued { reason }, None, 1).await;
    s.call(9, Post, "application.deploy", ApiAnswer::Empty)
        .await;
    let title = "stackledger ship (2)";
    s.say(
        Event::DeployQueued {
            title: title.into(),
        },
        None,
        1,
    )
    .await;
    s.call(10, Get, "deployment.all", rows("ship", title, "running"))
        .await;
    let started = Event::DeployStarted {
        deployment_id: rid("dpl_ship_2"),
        queued_ms: 2_000,
    };
    s.say(started, None, 1).await;
    s.call(11, Get, "deployment.all", rows("ship", title, "done"))
        .await;
    let done = Event::DeployFinished {
        dokploy_status: "done".to_owned(),
    };
    s.say(done, None, 1).await;
    s.say(phase(Phase::VerifyingHealth), None, 1).await;
    let poll = Event::HealthCheckAttempt {
        n: 1,
        status: Some(200),
        error: None,
        duration_ms: 6,
    };
    s.say(poll, None, 6).await;
    s.say(Event::HealthVerified { after_ms: 6 }, None, 1).await;
    let url = "https://ship.ai.flexinit.nl".to_owned();
    s.say(Event::DeploymentSucceeded { url }, None, 1).await;
}

async fn cart(s: &Script<'_>) {
    use HttpMethod::{Get, Post};
    s.say(requested("cart"), None, 5).await;
    create_all(s, "cart", 1).await;
    s.say(phase(Phase::Deploying), None, 1).await;
    let acquired = Event::BuildSlotAcquired { waited_ms: 0 };
    s.say(acquired, None, 1).await;
    s.call(5, Post, "application.deploy", ApiAnswer::Empty)
        .await;
    let title = "stackledger cart";
    s.say(
        Event::DeployQueued {
            title: title.into(),
        },
        None,
        1,
    )
    .await;
    s.call(6, Get, "deployment.all", rows("cart", title, "running"))
        .await;
    let started = Event::DeployStarted {
        deployment_id: rid("dpl_cart_1"),
        queued_ms: 0,
    };
    s.say(started, None, 1).await;
    s.call(7, Get, "deployment.all", rows("cart", title, "running"))
        .await;
    let failed = Event::DeploymentFailed {
        phase: Phase::Deploying,
        code: "deploy_timeout".to_owned(),
        message: "Dokploy did not finish the build within 10m".to_owned(),
    };
    let failure = s.say(failed, None, 600_000).await;
    s.say(Event::RollbackStarted, Some(failure), 1).await;
    let kind = ResourceKind::Domain;
    let id = rid("dom_cart_0000000000001");
    s.call(8, Post, "domain.delete", ApiAnswer::Empty).await;
    s.say(Event::RollbackStepSucceeded { kind, id }, Some(failure), 1)
        .await;
    // The build is waited out before the application is deleted.
    s.call(9, Get, "deployment.all", rows("cart", title, "done"))
        .await;
    let done = Event::DeployFinished {
        dokploy_status: "done".to_owned(),
    };
    s.say(done, Some(failure), 1).await;
    let attempt = s.started(10, 1, Post, "application.delete").await;
    let refused = Event::ApiCallFailed {
        call: 10,
        attempt: 1,
        status: Some(500),
        error: "Dokploy answered 500: Internal server error".to_owned(),
        duration_ms: 40,
        retry_in_ms: None,
    };
    s.say(refused, Some(attempt), 40).await;
    let kind = ResourceKind::Application;
    let app = rid("app_cart_0000000000001");
    let error = "Dokploy answered 500 to application.delete; retries are used up".to_owned();
    let step = Event::RollbackStepFailed {
        kind,
        id: app.clone(),
        error,
    };
    s.say(step, Some(failure), 1).await;
    let kind = ResourceKind::Project;
    let project = rid("prj_cart_0000000000001");
    let reason = "an application step of this rollback failed, and Dokploy's project.remove \
                  deletes rows only: the application's service would keep running with no row"
        .to_owned();
    let skipped = Event::RollbackStepSkipped {
        kind,
        id: project.clone(),
        reason,
    };
    s.say(skipped, Some(failure), 1).await;
    verification(s, failure, app, project).await;
}

async fn verification(
    s: &Script<'_>,
    failure: u64,
    app: stackledger::deployment::ResourceId,
    project: stackledger::deployment::ResourceId,
) {
    use HttpMethod::Get;
    let attempt = s.started(11, 1, Get, "domain.one").await;
    let gone = Event::ApiCallFailed {
        call: 11,
        attempt: 1,
        status: Some(404),
        error: "Dokploy answered 404: Domain not found".to_owned(),
        duration_ms: 5,
        retry_in_ms: None,
    };
    s.say(gone, Some(attempt), 5).await;
    let found = ApplicationAnswer {
        application_id: app.clone(),
        app_name: Some("cart-q4z8ka".to_owned()),
    };
    s.call(
        12,
        Get,
        "application.one",
        ApiAnswer::Application(Some(found)),
    )
    .await;
    let held = ServiceRef {
        kind: "application".to_owned(),
        id: app.clone(),
        name: "cart".to_owned(),
    };
    s.call(
        13,
        Get,
        "project.one",
        ApiAnswer::ProjectServices(vec![held]),
    )
    .await;
    let probe = Event::HealthCheckAttempt {
        n: 1,
        status: Some(200),
        error: None,
        duration_ms: 4,
    };
    s.say(probe, Some(failure), 4).await;
    let leftovers = vec![
        Leftover {
            kind: LeftoverKind::Application,
            id: Some(app),
            detail: "application cart (app_cart_0000000000001) is still on Dokploy: delete it \
                     there"
                .to_owned(),
        },
        Leftover {
            kind: LeftoverKind::Project,
            id: Some(project),
            detail: "project cart (prj_cart_0000000000001) is still on Dokploy and holds 1 \
                     service"
                .to_owned(),
        },
        Leftover {
            kind: LeftoverKind::Route,
            id: None,
            detail: "https://cart.ai.flexinit.nl still answers 200: a service is still \
                     running behind its route"
                .to_owned(),
        },
    ];
    s.say(Event::RollbackVerified { leftovers }, Some(failure), 1)
        .await;
    let finished = Event::RollbackFinished { complete: false };
    s.say(finished, Some(failure), 1).await;
}
