//! The orchestrator against the simulator, in virtual time: the full event sequence, found
//! resources, failures at every phase rolled back in reverse order, deploy and health failures,
//! the breaker during a rollback, the concurrency limit, and recovery after an interruption.

use std::sync::Arc;

use stackledger::clock::Clock;
use stackledger::deployment::{
    DeploymentStatus, Event, EventKind, HttpMethod, Phase, ResourceKind,
};
use stackledger::dokploy::api::{DokployApi, Request};
use stackledger::dokploy::client::DokployClient;
use stackledger::ids::{DeploymentId, Seq, SequentialIds};
use stackledger::ledger::envelope::Envelope;
use stackledger::ledger::{ExpectedVersion, NewEvent};
use stackledger::orchestrator::{Orchestrator, Outcome, RecoveryPolicy, Settings, StartError};
use stackledger::projection::ReadModel;
use stackledger::projection::answers::assert_same_answers;
use stackledger::simulator::{Fault, Simulator};

use crate::support::{TestLedger, client, open_ledger, simulator};

struct Rig {
    simulator: Simulator,
    test: TestLedger,
    orchestrator: Orchestrator<DokployClient>,
    _dir: tempfile::TempDir,
}

fn settings(simulator: &Simulator) -> Settings {
    let mut settings = Settings::default();
    settings.plan.image = "nginx:1.27".to_owned();
    settings.plan.health_url = simulator.health_url_template();
    settings
}

fn orchestrator(
    test: &TestLedger,
    simulator: &Simulator,
    settings: Settings,
) -> Orchestrator<DokployClient> {
    let clock = Arc::new(test.clock.clone());
    Orchestrator::builder(Arc::new(client(simulator)), test.ledger.clone(), clock)
        .ids(Arc::new(SequentialIds::default()))
        .settings(settings)
        .jitter_seed(3)
        .build()
}

async fn rig_with(adjust: impl FnOnce(&mut Settings)) -> Rig {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let simulator = simulator().await;
    let mut settings = settings(&simulator);
    adjust(&mut settings);
    let orchestrator = orchestrator(&test, &simulator, settings);
    Rig {
        simulator,
        test,
        orchestrator,
        _dir: dir,
    }
}

async fn rig() -> Rig {
    rig_with(|_| {}).await
}

impl Rig {
    async fn deploy(&self, name: &str) -> (DeploymentId, Outcome) {
        let started = self
            .orchestrator
            .deploy(name, "client-hash")
            .await
            .expect("accepted");
        let outcome = started
            .task
            .await
            .expect("the run ends")
            .expect("the ledger works");
        (started.id, outcome)
    }

    fn events(&self, id: DeploymentId) -> Vec<Envelope> {
        self.test
            .ledger
            .read_stream(id, Seq::ZERO, usize::MAX)
            .expect("reads")
    }

    fn count(&self, list: &str) -> usize {
        self.simulator.state()[list].as_array().map_or(0, Vec::len)
    }

    fn assert_nothing_left(&self) {
        for list in ["projects", "applications", "domains"] {
            assert_eq!(
                self.count(list),
                0,
                "{list} left behind: {}",
                self.simulator.state()
            );
        }
    }

    /// The projection folded live equals the fold of the stored log.
    fn assert_replay_matches(&self) {
        let log = self
            .test
            .ledger
            .read_after(Seq::ZERO, usize::MAX)
            .expect("reads");
        assert_same_answers(&ReadModel::fold(&log), &self.test.read_model.snapshot());
    }
}

fn kinds(events: &[Envelope]) -> Vec<EventKind> {
    events.iter().map(|e| e.event.kind()).collect()
}

fn phases(events: &[Envelope]) -> Vec<Phase> {
    events
        .iter()
        .filter_map(|e| match e.event {
            Event::PhaseEntered { phase } => Some(phase),
            _ => None,
        })
        .collect()
}

fn created_and_undone(events: &[Envelope]) -> (Vec<ResourceKind>, Vec<ResourceKind>) {
    let created = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::ResourceCreated { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    let undone = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::RollbackStepSucceeded { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    (created, undone)
}

#[tokio::test]
async fn a_successful_deployment_records_every_phase_call_and_resource_in_order() {
    let rig = rig().await;
    let (id, outcome) = rig.deploy("shop").await;
    assert_eq!(
        outcome,
        Outcome::Succeeded("https://shop.ai.flexinit.nl".into())
    );
    let events = rig.events(id);
    use EventKind::*;
    let call = [ApiCallStarted, ApiCallSucceeded];
    let expected: Vec<EventKind> = [
        &[
            DeploymentRequested,
            DeploymentAccepted,
            AdmissionGranted,
            PhaseEntered,
        ][..],
        &call,
        &call,
        &[ResourceCreated][..],
        &[PhaseEntered, ResourceFound],
        &[PhaseEntered],
        &call,
        &call,
        &[ResourceCreated],
        &[PhaseEntered],
        &call,
        &[PhaseEntered],
        &call,
        &call,
        &[ResourceCreated],
        &[PhaseEntered, BuildSlotAcquired],
        &call,
        &[DeployQueued],
        &call,
        &[DeployStarted],
        &call,
        &[DeployFinished],
        &[
            PhaseEntered,
            HealthCheckAttempt,
            HealthVerified,
            DeploymentSucceeded,
        ],
    ]
    .concat();
    assert_eq!(kinds(&events), expected);
    assert_eq!(
        phases(&events),
        vec![
            Phase::CreatingProject,
            Phase::GettingEnvironment,
            Phase::CreatingApplication,
            Phase::ConfiguringApplication,
            Phase::CreatingDomain,
            Phase::Deploying,
            Phase::VerifyingHealth
        ]
    );
    let state = rig.test.read_model.snapshot();
    let shop = state.get(id).expect("reads").expect("known");
    assert_eq!(
        (shop.status, shop.progress, shop.phase),
        (DeploymentStatus::Success, 100, Phase::Completed)
    );
    assert!(shop.resources.domain_id.is_some() && shop.resources.environment_id.is_some());
    for list in ["projects", "applications", "domains", "deployments"] {
        assert_eq!(rig.count(list), 1, "{list}");
    }
    let app = &rig.simulator.state()["applications"][0];
    assert_eq!(
        (app["dockerImage"].as_str(), app["sourceType"].as_str()),
        (Some("nginx:1.27"), Some("docker"))
    );
    rig.assert_replay_matches();
}

#[tokio::test]
async fn a_project_that_already_existed_is_found_used_and_never_rolled_back() {
    let rig = rig().await;
    client(&rig.simulator)
        .call(&Request::CreateProject {
            name: "shop".into(),
        })
        .await
        .expect("created beforehand");
    rig.simulator
        .add_fault(serde_json::from_str(r#"{"deployOutcome": "error"}"#).expect("fault"));
    let (id, outcome) = rig.deploy("shop").await;
    assert_eq!(outcome, Outcome::RolledBack { complete: true });
    let events = rig.events(id);
    let found: Vec<ResourceKind> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::ResourceFound { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        found,
        vec![ResourceKind::Project, ResourceKind::Environment]
    );
    let (created, undone) = created_and_undone(&events);
    assert_eq!(
        created,
        vec![ResourceKind::Application, ResourceKind::Domain]
    );
    assert_eq!(
        undone,
        vec![ResourceKind::Domain, ResourceKind::Application]
    );
    assert_eq!(rig.count("projects"), 1, "the project that existed stays");
    assert_eq!((rig.count("applications"), rig.count("domains")), (0, 0));
    let sent: Vec<String> = rig
        .simulator
        .requests()
        .iter()
        .map(|r| r.procedure.clone())
        .collect();
    assert_eq!(
        sent.iter().filter(|p| *p == "project.create").count(),
        1,
        "only the setup's"
    );
}

#[tokio::test]
async fn a_failure_at_each_phase_rolls_back_exactly_what_was_created_in_reverse() {
    let cases: [(&str, Phase, Vec<ResourceKind>); 8] = [
        ("project.create", Phase::CreatingProject, vec![]),
        (
            "environment.one",
            Phase::CreatingApplication,
            vec![ResourceKind::Project],
        ),
        (
            "application.create",
            Phase::CreatingApplication,
            vec![ResourceKind::Project],
        ),
        (
            "application.saveDockerProvider",
            Phase::ConfiguringApplication,
            vec![ResourceKind::Project, ResourceKind::Application],
        ),
        (
            "domain.byApplicationId",
            Phase::CreatingDomain,
            vec![ResourceKind::Project, ResourceKind::Application],
        ),
        (
            "domain.create",
            Phase::CreatingDomain,
            vec![ResourceKind::Project, ResourceKind::Application],
        ),
        (
            "application.deploy",
            Phase::Deploying,
            vec![
                ResourceKind::Project,
                ResourceKind::Application,
                ResourceKind::Domain,
            ],
        ),
        (
            "deployment.all",
            Phase::Deploying,
            vec![
                ResourceKind::Project,
                ResourceKind::Application,
                ResourceKind::Domain,
            ],
        ),
    ];
    for (procedure, phase, expected_created) in cases {
        let rig = rig().await;
        rig.simulator.add_fault(Fault::on(procedure).status(400));
        let (id, outcome) = rig.deploy("shop").await;
        assert_eq!(
            outcome,
            Outcome::RolledBack { complete: true },
            "{procedure}"
        );
        let events = rig.events(id);
        let failed = events.iter().find_map(|e| match &e.event {
            Event::DeploymentFailed { phase, code, .. } => Some((*phase, code.clone(), e.seq)),
            _ => None,
        });
        let (failed_phase, code, failure_seq) = failed.expect("a DeploymentFailed");
        assert_eq!(
            (failed_phase, code.as_str()),
            (phase, "dokploy_error"),
            "{procedure}"
        );
        let (created, undone) = created_and_undone(&events);
        assert_eq!(created, expected_created, "{procedure}");
        let reversed: Vec<ResourceKind> = created.iter().rev().copied().collect();
        assert_eq!(undone, reversed, "{procedure}: reverse order of creation");
        for step in events.iter().filter(|e| {
            matches!(
                e.event.kind(),
                EventKind::RollbackStarted
                    | EventKind::RollbackStepSucceeded
                    | EventKind::RollbackFinished
            )
        }) {
            assert_eq!(
                step.cause,
                Some(failure_seq),
                "{procedure}: steps point to the failure"
            );
        }
        let state = rig.test.read_model.snapshot();
        let shop = state.get(id).expect("reads").expect("known");
        assert_eq!(
            (shop.status, shop.phase),
            (DeploymentStatus::Failure, Phase::Failed)
        );
        rig.assert_nothing_left();
        rig.assert_replay_matches();
    }
}

#[tokio::test]
async fn a_deploy_that_dokploy_reports_as_error_is_rolled_back() {
    let rig = rig().await;
    rig.simulator
        .add_fault(serde_json::from_str(r#"{"deployOutcome": "error"}"#).expect("fault"));
    let (id, outcome) = rig.deploy("shop").await;
    assert_eq!(outcome, Outcome::RolledBack { complete: true });
    let events = rig.events(id);
    assert!(events.iter().any(|e| e.event
        == Event::DeployFinished {
            dokploy_status: "error".into()
        }));
    let code = events.iter().find_map(|e| match &e.event {
        Event::DeploymentFailed { code, .. } => Some(code.clone()),
        _ => None,
    });
    assert_eq!(code.as_deref(), Some("deploy_failed"));
    rig.assert_nothing_left();
}

fn health_polls(events: &[Envelope]) -> usize {
    events
        .iter()
        .filter(|e| e.event.kind() == EventKind::HealthCheckAttempt)
        .count()
}

#[tokio::test]
async fn an_app_that_never_becomes_healthy_is_rolled_back_after_the_timeout() {
    let rig = rig().await;
    rig.simulator.add_fault(
        serde_json::from_str(r#"{"unhealthy": "shop", "polls": "forever"}"#).expect("fault"),
    );
    let before = rig.test.clock.now_ms();
    let (id, outcome) = rig.deploy("shop").await;
    assert_eq!(outcome, Outcome::RolledBack { complete: true });
    let events = rig.events(id);
    // Polls at 0, 5, …, 60 s of virtual time: timeout / interval + 1.
    assert_eq!(health_polls(&events), 13);
    let code = events.iter().find_map(|e| match &e.event {
        Event::DeploymentFailed { code, .. } => Some(code.clone()),
        _ => None,
    });
    assert_eq!(code.as_deref(), Some("health_timeout"));
    assert!(
        rig.test.clock.now_ms() - before >= 60_000,
        "the whole timeout passed"
    );
    rig.assert_nothing_left();
}

#[tokio::test]
async fn an_app_that_becomes_healthy_on_the_eleventh_poll_succeeds() {
    let rig = rig().await;
    rig.simulator
        .add_fault(serde_json::from_str(r#"{"unhealthy": "shop", "polls": 10}"#).expect("fault"));
    let (id, outcome) = rig.deploy("shop").await;
    assert!(matches!(outcome, Outcome::Succeeded(_)), "{outcome:?}");
    let events = rig.events(id);
    assert_eq!(health_polls(&events), 11);
    let after = events.iter().find_map(|e| match e.event {
        Event::HealthVerified { after_ms } => Some(after_ms),
        _ => None,
    });
    assert_eq!(after, Some(50_000), "ten intervals of 5 s");
}

#[tokio::test]
async fn a_rollback_interrupted_by_the_open_breaker_finishes_once_it_closes() {
    let rig = rig().await;
    rig.simulator
        .add_fault(serde_json::from_str(r#"{"deployOutcome": "error"}"#).expect("fault"));
    rig.simulator
        .add_fault(Fault::on("domain.delete").status(503).times(7));
    let (id, outcome) = rig.deploy("shop").await;
    assert_eq!(outcome, Outcome::RolledBack { complete: true });
    let system: Vec<EventKind> = rig
        .events(DeploymentId::SYSTEM)
        .iter()
        .map(|e| e.event.kind())
        .collect();
    assert_eq!(system.first(), Some(&EventKind::CircuitOpened));
    assert_eq!(system.last(), Some(&EventKind::CircuitClosed));
    let (_, undone) = created_and_undone(&rig.events(id));
    assert_eq!(
        undone,
        vec![
            ResourceKind::Domain,
            ResourceKind::Application,
            ResourceKind::Project
        ]
    );
    rig.assert_nothing_left();
}

#[tokio::test]
async fn names_are_claimed_and_past_the_running_limit_and_the_queue_more_are_refused() {
    let rig = rig_with(|settings| {
        settings.running_max = std::num::NonZeroUsize::MIN;
        settings.queue_max = 1;
    })
    .await;
    let first = rig
        .orchestrator
        .deploy("shop", "c")
        .await
        .expect("accepted");
    let queued = rig
        .orchestrator
        .deploy("blog", "c")
        .await
        .expect("accepted into the queue");
    match rig.orchestrator.deploy("wiki", "c").await {
        Err(StartError::TooManyRunning {
            running_max: 1,
            queue_max: 1,
        }) => {}
        other => panic!("expected the limit, got {other:?}"),
    }
    first.task.await.expect("ends").expect("ledger ok");
    queued.task.await.expect("ends").expect("ledger ok");
    match rig.orchestrator.deploy("shop", "c").await {
        Err(StartError::NameTaken { holder, .. }) => assert_eq!(holder, first.id),
        other => panic!("expected the name to be taken, got {other:?}"),
    }
    match rig.orchestrator.deploy("x", "c").await {
        Err(StartError::InvalidName(_)) => {}
        other => panic!("expected an invalid name, got {other:?}"),
    }
}

/// Writes the beginning of a deployment as a crashed run would have left it: the project
/// create was sent (and happened in Dokploy), its answer never recorded.
async fn interrupted_after_project_create(rig: &Rig) -> DeploymentId {
    client(&rig.simulator)
        .call(&Request::CreateProject {
            name: "shop".into(),
        })
        .await
        .expect("the create that happened");
    let id = DeploymentId::from_uuid(uuid::Uuid::from_u128(900));
    let events = vec![
        crate::support::requested("shop"),
        Event::PhaseEntered {
            phase: Phase::CreatingProject,
        },
        Event::ApiCallStarted {
            call: 1,
            attempt: 1,
            method: HttpMethod::Get,
            endpoint: "project.all".into(),
        },
        Event::ApiCallSucceeded {
            call: 1,
            attempt: 1,
            status: 200,
            duration_ms: 3,
            answer: stackledger::deployment::ApiAnswer::Project(None),
        },
        Event::ApiCallStarted {
            call: 2,
            attempt: 1,
            method: HttpMethod::Post,
            endpoint: "project.create".into(),
        },
    ];
    let events = events.into_iter().map(NewEvent::new).collect();
    rig.test
        .ledger
        .append(
            id,
            ExpectedVersion::Exact(stackledger::ids::StreamVersion(0)),
            events,
        )
        .await
        .expect("appends");
    id
}

#[tokio::test]
async fn recovery_resumes_an_interrupted_deployment_without_duplicating_what_it_made() {
    let rig = rig().await;
    let id = interrupted_after_project_create(&rig).await;
    let tasks = rig.orchestrator.recover().await.expect("recovery starts");
    assert_eq!(tasks.len(), 1);
    for task in tasks {
        assert!(matches!(
            task.await.expect("ends").expect("ledger ok"),
            Outcome::Succeeded(_)
        ));
    }
    let events = rig.events(id);
    assert!(
        events
            .iter()
            .any(|e| e.event.kind() == EventKind::RecoveryStarted)
    );
    let (created, _) = created_and_undone(&events);
    assert_eq!(
        created[0],
        ResourceKind::Project,
        "the lost create is recognised as ours"
    );
    assert_eq!(rig.count("projects"), 1, "not created twice");
    let sent = rig.simulator.requests();
    assert_eq!(
        sent.iter()
            .filter(|r| r.procedure == "project.create")
            .count(),
        1
    );
    assert!(
        rig.orchestrator.recover().await.expect("runs").is_empty(),
        "nothing left to recover"
    );
}

#[tokio::test]
async fn recovery_by_rollback_removes_what_the_interrupted_run_made() {
    let rig = rig_with(|settings| settings.plan.recovery = RecoveryPolicy::Rollback).await;
    let id = interrupted_after_project_create(&rig).await;
    for task in rig.orchestrator.recover().await.expect("recovery starts") {
        let outcome = task.await.expect("ends").expect("ledger ok");
        assert_eq!(outcome, Outcome::RolledBack { complete: true });
    }
    let events = rig.events(id);
    let code = events.iter().find_map(|e| match &e.event {
        Event::DeploymentFailed { code, .. } => Some(code.clone()),
        _ => None,
    });
    assert_eq!(code.as_deref(), Some("interrupted"));
    rig.assert_nothing_left();
}

#[tokio::test]
async fn a_deploy_whose_caller_stops_waiting_still_claims_its_name_and_runs_to_the_end() {
    let rig = rig().await;
    let id = DeploymentId::from_uuid(uuid::Uuid::from_u128(1));
    let mut stream = rig.test.ledger.subscribe(Some(id), Seq::ZERO);
    let mut deploy = Box::pin(rig.orchestrator.deploy("shop", "client-hash"));
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(
        deploy.as_mut().poll(&mut context).is_pending(),
        "it waits on the ledger"
    );
    // The request becomes durable; the caller gives up without ever polling the deploy again.
    let first = stream
        .next()
        .await
        .expect("the stream goes on")
        .expect("reads");
    assert!(
        matches!(first.event, Event::DeploymentRequested { .. }),
        "{first:?}"
    );
    drop(deploy);
    let ended = async {
        loop {
            let envelope = stream
                .next()
                .await
                .expect("the stream goes on")
                .expect("reads");
            let end = matches!(
                envelope.event,
                Event::DeploymentSucceeded { .. } | Event::RollbackFinished { .. }
            );
            if end {
                break envelope;
            }
        }
    };
    // A bound only so that a run that never started fails the test instead of hanging it.
    let last = tokio::time::timeout(std::time::Duration::from_secs(30), ended)
        .await
        .expect("the abandoned deployment ran to its end");
    assert!(
        matches!(last.event, Event::DeploymentSucceeded { .. }),
        "{last:?}"
    );
    let again = rig.orchestrator.deploy("shop", "client-hash").await;
    assert!(
        matches!(again, Err(StartError::NameTaken { holder, .. }) if holder == id),
        "{again:?}"
    );
}
