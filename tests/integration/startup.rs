//! Serve first, recover in the background (issue 13), through the real binary: with 50
//! interrupted deployments and `--running-max 2` the restarted portal answers `/health` while
//! most of them are still in flight and then finishes all 50; a SIGTERM during that recovery is
//! a graceful shutdown after which a restart finishes them; a port in use refuses the start
//! before the data directory's ledger is opened. And the in-flight figures `/health` and
//! `/metrics` show, measured on a `ManualClock`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use stackledger::clock::ManualClock;
use stackledger::deployment::{Event, Phase};
use stackledger::ids::{DeploymentId, IdGen, SequentialIds};
use stackledger::simulator::Simulator;
use tower::ServiceExt;

use crate::support::portal::{self, Launch, Portal};
use crate::support::{
    SIM_KEY, T0, append, close, http, open_ledger, phase, requested, simulator, wait_released,
};

/// The interrupted deployments each restart finds.
const INTERRUPTED: usize = 50;
/// The ops token the tests pass (long enough to be a secret).
const ADMIN_TOKEN: &str = "startup-test-admin-token-5f0c9a27e4d1";
/// The bound on any one wait of these tests.
const WAIT_MAX: Duration = Duration::from_secs(45);

/// Leaves 50 deployments in `<dir>/ledger` as a portal stopped in their first phase leaves
/// them, written with the library as the portal writes its ledger; returns their names.
async fn interrupted_data_dir(dir: &Path) -> BTreeSet<String> {
    let ledger_dir = dir.join("ledger");
    let test = open_ledger(&ledger_dir);
    let ids = SequentialIds::default();
    let mut names = BTreeSet::new();
    for n in 0..INTERRUPTED {
        let name = format!("boot{n:02}");
        let events = vec![requested(&name), phase(Phase::Initializing)];
        append(&test.ledger, ids.deployment_id(), events).await;
        names.insert(name);
    }
    close(test.ledger).await;
    wait_released(&ledger_dir);
    names
}

/// The portal's flags against `simulator`, with fast timings and two running slots.
fn flags(simulator: &Simulator) -> Vec<String> {
    vec![
        format!("--dokploy-url={}", simulator.origin()),
        format!("--dokploy-api-key={SIM_KEY}"),
        format!("--health-url={}", simulator.health_url_template()),
        "--health-interval=1ms".to_owned(),
        "--deploy-poll-interval=1ms".to_owned(),
        "--running-max=2".to_owned(),
        format!("--admin-token={ADMIN_TOKEN}"),
    ]
}

async fn start(dir: &Path, flags: &[String]) -> Portal {
    let command = portal::command(dir, flags);
    match tokio::task::spawn_blocking(move || Portal::launch(command))
        .await
        .expect("the start finishes")
    {
        Launch::Serving(portal) => portal,
        Launch::Exited { status, logs } => panic!("the start failed ({status}): {logs:?}"),
    }
}

async fn get_json(url: String, token: Option<&str>) -> Value {
    let mut request = http().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("the portal answers")
        .json()
        .await
        .expect("a JSON answer")
}

/// The ids of the deployments the ops API lists with `status` (at most 200).
async fn listed(portal: &Portal, status: &str) -> Vec<String> {
    let url = portal.url(&format!("/api/deployments?status={status}&limit=200"));
    let page = get_json(url, Some(ADMIN_TOKEN)).await;
    let deployments = page["deployments"].as_array().expect("a list");
    deployments
        .iter()
        .map(|summary| summary["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// The first `/health` answer of a portal that just announced its address: most of the 50
/// are still in flight, so it served before recovering them.
async fn first_health_while_recovering(portal: &Portal) {
    let health = get_json(portal.url("/health"), None).await;
    let in_flight = health["deployments"]["inFlight"]
        .as_u64()
        .unwrap_or_else(|| panic!("/health shows the deployments in flight: {health}"));
    assert!(
        in_flight >= 40,
        "the first answer comes while most of the {INTERRUPTED} are in flight: {health}"
    );
    assert!(
        health["deployments"]["oldestAgeSeconds"].is_u64(),
        "with deployments in flight the oldest has an age: {health}"
    );
}

/// Reads the status stream of every in-progress deployment to its end (no polling: each
/// stream ends with the deployment), then checks that all 50 succeeded and Dokploy holds them.
async fn all_finish(portal: &Portal, simulator: &Simulator, names: &BTreeSet<String>) {
    let waiting = listed(portal, "in_progress").await;
    tokio::time::timeout(WAIT_MAX, async {
        for id in &waiting {
            let body = portal.status_to_end(id).await;
            assert!(body.contains("event: complete"), "{id} succeeds: {body}");
        }
    })
    .await
    .expect("the interrupted deployments finish in time");
    assert_eq!(listed(portal, "in_progress").await, Vec::<String>::new());
    assert_eq!(listed(portal, "success").await.len(), INTERRUPTED);
    let health = get_json(portal.url("/health"), None).await;
    assert_eq!(
        health["deployments"],
        json!({"inFlight": 0, "oldestAgeSeconds": null})
    );
    crate::support::assert_simulator_holds(simulator, names, "after the recovery");
}

async fn terminate(portal: Portal) -> (std::process::ExitStatus, Vec<String>) {
    tokio::task::spawn_blocking(move || portal.terminate_within(WAIT_MAX))
        .await
        .expect("the stop finishes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_50_interrupted_deployments_serves_at_once_and_finishes_them_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let names = interrupted_data_dir(dir.path()).await;
    let simulator = simulator().await;
    let portal = start(dir.path(), &flags(&simulator)).await;
    first_health_while_recovering(&portal).await;
    all_finish(&portal, &simulator, &names).await;
    let (status, _) = terminate(portal).await;
    assert!(status.success(), "a clean stop: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_during_recovery_is_a_graceful_shutdown_and_a_restart_finishes_the_rest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let names = interrupted_data_dir(dir.path()).await;
    let simulator = simulator().await;
    let flags = flags(&simulator);
    let portal = start(dir.path(), &flags).await;
    first_health_while_recovering(&portal).await;
    let (status, logs) = terminate(portal).await;
    assert!(
        status.success(),
        "SIGTERM mid-recovery exits 0: {status} {logs:?}"
    );
    assert!(
        logs.iter().any(|line| line.contains("ledger closed")),
        "the log says the ledger closed: {logs:?}"
    );
    let left = {
        let test = open_ledger(&dir.path().join("ledger"));
        let left = test.read_model.read().in_flight().count;
        close(test.ledger).await;
        wait_released(&dir.path().join("ledger"));
        left
    };
    assert!(
        left > 0,
        "the shutdown came while deployments were recovering"
    );

    let portal = start(dir.path(), &flags).await;
    assert!(
        portal
            .startup
            .iter()
            .any(|line| line.contains("ledger verified")),
        "the restart verifies the ledger: {:?}",
        portal.startup
    );
    all_finish(&portal, &simulator, &names).await;
    let (status, _) = terminate(portal).await;
    assert!(status.success());
}

/// A start on `busy` (an address a listener of this test holds): its exit status and log.
async fn start_on_busy_port(dir: &Path, busy: &str) -> (std::process::ExitStatus, String) {
    let command = portal::command_on(busy, dir, &[format!("--admin-token={ADMIN_TOKEN}")]);
    match tokio::task::spawn_blocking(move || Portal::launch(command))
        .await
        .expect("the start finishes")
    {
        Launch::Serving(portal) => panic!("a busy port was served on: {}", portal.address),
        Launch::Exited { status, logs } => (status, logs.join("\n")),
    }
}

#[tokio::test]
async fn a_start_on_a_port_in_use_fails_naming_the_address_before_the_ledger_is_opened() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let busy = holder.local_addr().expect("an address").to_string();
    let root = tempfile::tempdir().expect("temp dir");
    let fresh = root.path().join("fresh");
    let (status, logs) = start_on_busy_port(&fresh, &busy).await;
    assert!(!status.success(), "the start fails: {logs}");
    assert!(
        logs.contains(&format!("cannot listen on {busy}")),
        "the refusal names the address: {logs}"
    );
    assert!(
        !fresh.exists(),
        "nothing is created for a start that cannot listen: {logs}"
    );
    drop(holder);
}

#[tokio::test]
async fn a_start_on_a_port_in_use_leaves_an_existing_ledger_as_it_was() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let busy = holder.local_addr().expect("an address").to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    interrupted_data_dir(dir.path()).await;
    let ledger_dir = dir.path().join("ledger");
    let before = {
        let test = open_ledger(&ledger_dir);
        let head = test.ledger.head();
        close(test.ledger).await;
        wait_released(&ledger_dir);
        head
    };
    let (status, logs) = start_on_busy_port(dir.path(), &busy).await;
    assert!(!status.success(), "the start fails: {logs}");
    assert!(logs.contains(&format!("cannot listen on {busy}")), "{logs}");
    assert!(
        !logs.contains("opening and verifying the ledger"),
        "the ledger is not opened: {logs}"
    );
    let test = open_ledger(&ledger_dir);
    assert_eq!(
        test.ledger.head(),
        before,
        "no ServerStarted, no RecoveryStarted: the log is as it was"
    );
    assert_eq!(test.read_model.read().in_flight().count, INTERRUPTED as u64);
    drop(holder);
}

/// `/health`'s `deployments` and the two in-flight gauges of `/metrics`.
async fn in_flight_answers(router: &axum::Router) -> (Value, String, String) {
    let answer = |path: &'static str| {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("a request");
        router.clone().oneshot(request)
    };
    let health = answer("/health").await.expect("answers");
    let bytes = axum::body::to_bytes(health.into_body(), usize::MAX).await;
    let health: Value = serde_json::from_slice(&bytes.expect("a body")).expect("JSON");
    let metrics = answer("/metrics").await.expect("answers");
    let bytes = axum::body::to_bytes(metrics.into_body(), usize::MAX).await;
    let text = String::from_utf8(bytes.expect("a body").to_vec()).expect("text");
    let gauge = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("/metrics has {name}: {text}"))
            .to_owned()
    };
    (
        health["deployments"].clone(),
        gauge("stackledger_deployments_in_flight"),
        gauge("stackledger_deployment_oldest_age_seconds"),
    )
}

#[tokio::test]
async fn health_and_metrics_show_the_deployments_in_flight_and_the_age_of_the_oldest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let clock = ManualClock::new(T0);
    let mut args = vec![
        "stackledger".to_owned(),
        format!("--data-dir={}", dir.path().display()),
    ];
    args.extend(flags(&simulator));
    let config = <stackledger::config::Cli as clap::Parser>::try_parse_from(args)
        .expect("valid flags")
        .serve;
    let ids = SequentialIds::default();
    let app = stackledger::app::App::build(&config, Arc::new(clock.clone()), Arc::new(ids))
        .await
        .expect("the portal builds");
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let router = app.router(stopped);
    let none = json!({"inFlight": 0, "oldestAgeSeconds": null});
    let zero = (
        "stackledger_deployments_in_flight 0".to_owned(),
        "stackledger_deployment_oldest_age_seconds 0".to_owned(),
    );
    let (health, count, age) = in_flight_answers(&router).await;
    assert_eq!((health, (count, age)), (none.clone(), zero.clone()));

    let stream = |n: u128| DeploymentId::from_uuid(uuid::Uuid::from_u128(1_000 + n));
    append(
        &app.ledger,
        stream(1),
        vec![requested("first"), phase(Phase::Initializing)],
    )
    .await;
    clock.advance(Duration::from_secs(30));
    append(&app.ledger, stream(2), vec![requested("second")]).await;
    clock.advance(Duration::from_secs(60));
    let (health, count, age) = in_flight_answers(&router).await;
    assert_eq!(health, json!({"inFlight": 2, "oldestAgeSeconds": 90}));
    assert_eq!(count, "stackledger_deployments_in_flight 2");
    assert_eq!(age, "stackledger_deployment_oldest_age_seconds 90");

    let done = Event::DeploymentSucceeded {
        url: "https://first.ai.flexinit.nl".to_owned(),
    };
    append(&app.ledger, stream(1), vec![done]).await;
    clock.advance(Duration::from_millis(1_500));
    let (health, count, age) = in_flight_answers(&router).await;
    assert_eq!(
        health,
        json!({"inFlight": 1, "oldestAgeSeconds": 61}),
        "the oldest is now the second, requested 61.5 s ago"
    );
    assert_eq!(count, "stackledger_deployments_in_flight 1");
    assert_eq!(age, "stackledger_deployment_oldest_age_seconds 61.5");

    append(
        &app.ledger,
        stream(2),
        vec![Event::RollbackFinished { complete: true }],
    )
    .await;
    let (health, count, age) = in_flight_answers(&router).await;
    assert_eq!((health, (count, age)), (none, zero));
    app.shutdown().await;
}
