//! The saga fold: what each event changes in the decision state, and what a new run forgets.

use super::*;
use crate::deployment::{HttpMethod, ProjectAnswer};

fn id() -> DeploymentId {
    DeploymentId::from_uuid(uuid::Uuid::from_u128(1))
}

fn rid(text: &str) -> ResourceId {
    ResourceId(text.to_owned())
}

fn requested() -> Event {
    Event::DeploymentRequested {
        name: "shop".into(),
        image: "nginx".into(),
        domain: "shop.example.com".into(),
        port: 8080,
        client: "c".into(),
        server_version: "0.1.0".into(),
    }
}

fn started(call: u32, procedure: Procedure) -> Event {
    Event::ApiCallStarted {
        call,
        attempt: 1,
        method: HttpMethod::Get,
        endpoint: procedure.name().to_owned(),
    }
}

fn answered(call: u32, answer: ApiAnswer) -> Event {
    Event::ApiCallSucceeded {
        call,
        attempt: 1,
        status: 200,
        duration_ms: 1,
        answer,
    }
}

fn gave_up(call: u32, retry_in_ms: Option<u64>) -> Event {
    Event::ApiCallFailed {
        call,
        attempt: 1,
        status: Some(503),
        error: "e".into(),
        duration_ms: 1,
        retry_in_ms,
    }
}

fn fold(events: &[Event]) -> SagaState {
    let mut all = vec![requested()];
    all.extend_from_slice(events);
    let folded = all
        .iter()
        .enumerate()
        .map(|(n, e)| (Seq(n as u64 + 1), 100, e));
    SagaState::fold(id(), folded).expect("a request first")
}

#[test]
fn a_stream_that_does_not_begin_with_its_request_is_no_saga() {
    let events = [(Seq(1), 0, &Event::RollbackStarted)];
    assert_eq!(SagaState::fold(id(), events), None);
    assert_eq!(SagaState::fold(id(), []), None);
}

#[test]
fn resources_keep_their_order_of_creation_and_found_ones_are_never_created() {
    let state = fold(&[
        Event::ResourceFound {
            kind: ResourceKind::Project,
            id: rid("p"),
        },
        Event::ResourceCreated {
            kind: ResourceKind::Application,
            id: rid("a"),
        },
        started(7, Procedure::DomainCreate),
        Event::ResourceCreated {
            kind: ResourceKind::Domain,
            id: rid("d"),
        },
    ]);
    let created: Vec<ResourceKind> = state.created.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(
        created,
        vec![ResourceKind::Application, ResourceKind::Domain]
    );
    assert!(state.has(ResourceKind::Project) && !state.has(ResourceKind::Environment));
    assert!(state.attempted(Procedure::DomainCreate));
    assert!(!state.attempted(Procedure::ProjectCreate));
    assert_eq!(state.last_call, 7);
}

#[test]
fn the_project_environment_is_remembered_for_the_run_that_found_it_only() {
    let project = ProjectAnswer {
        project_id: rid("p"),
        environment_id: Some(rid("e")),
    };
    let mut state = fold(&[]);
    state.begin_run(100);
    state.apply(Seq(2), 100, &answered(1, ApiAnswer::Project(Some(project))));
    assert_eq!(
        state.run.project_environment, None,
        "not before the project is recorded"
    );
    let found = Event::ResourceFound {
        kind: ResourceKind::Project,
        id: rid("p"),
    };
    state.apply(Seq(3), 100, &found);
    assert_eq!(state.run.project_environment, Some(rid("e")));
    state.begin_run(200);
    assert_eq!(state.run.project_environment, None, "a new run looks again");
    assert_eq!(state.run.started_ms, 200);
}

#[test]
fn a_rollback_lookup_counts_once_it_is_over_and_only_after_the_failure() {
    let failed = Event::DeploymentFailed {
        phase: Phase::CreatingDomain,
        code: "dokploy_unreachable".into(),
        message: "m".into(),
    };
    let before = fold(&[
        started(1, Procedure::DomainByApplicationId),
        gave_up(1, None),
    ]);
    assert!(
        !before.looked_up(ResourceKind::Domain),
        "a forward lookup is not one"
    );
    let mut state = fold(&[failed]);
    let cases = [
        (started(2, Procedure::DomainByApplicationId), false, false),
        (gave_up(2, Some(1_000)), false, false),
        (started(3, Procedure::DomainByApplicationId), false, false),
        (gave_up(3, None), true, true),
    ];
    for (n, (event, looked_up, failed)) in cases.into_iter().enumerate() {
        state.apply(Seq(n as u64 + 10), 100, &event);
        assert_eq!(
            state.looked_up(ResourceKind::Domain),
            looked_up,
            "{event:?}"
        );
        assert_eq!(state.run.lookup_failed, failed, "{event:?}");
    }
    state.begin_run(300);
    assert!(!state.looked_up(ResourceKind::Domain) && !state.run.lookup_failed);
}

#[test]
fn phases_statuses_and_outcomes_fold_as_the_events_say() {
    let unknown = Event::DeployFinished {
        dokploy_status: "exploded".into(),
    };
    let state = fold(&[
        Event::PhaseEntered {
            phase: Phase::VerifyingHealth,
        },
        unknown,
    ]);
    assert_eq!(state.deploy_finished, Some(Err("exploded".to_owned())));
    assert_eq!(state.health_entered_ms, Some(100));
    let state = fold(&[
        Event::DeploymentFailed {
            phase: Phase::Deploying,
            code: "c".into(),
            message: "m".into(),
        },
        Event::RollbackStarted,
        Event::RollbackStepFailed {
            kind: ResourceKind::Domain,
            id: rid("d"),
            error: "e".into(),
        },
    ]);
    assert_eq!(
        (state.phase, state.status),
        (Phase::RollingBack, DeploymentStatus::InProgress)
    );
    assert_eq!(state.failure.map(|f| f.seq), Some(Seq(2)));
    assert!(state.rolled_back(ResourceKind::Domain, &rid("d")));
    assert_eq!(state.rollback.map(|r| r.steps_failed), Some(1));
    let mut finished = state.clone();
    finished.apply(Seq(9), 100, &Event::RollbackFinished { complete: false });
    assert_eq!(
        (finished.phase, finished.status),
        (Phase::Failed, DeploymentStatus::Failure)
    );
    let mut stale = finished.clone();
    stale.apply(Seq(3), 100, &Event::RecoveryStarted { reason: "r".into() });
    assert_eq!(stale, finished, "an older seq is ignored");
}

#[test]
fn the_current_deploy_its_start_and_its_requeues_are_folded_and_the_slot_lasts_one_run() {
    let mut state = fold(&[]);
    state.begin_run(100);
    let events = [
        Event::BuildSlotWaiting { ahead: 1 },
        Event::BuildSlotAcquired { waited_ms: 50 },
        Event::DeployQueued { title: "t".into() },
        Event::DeployStarted {
            deployment_id: rid("row1"),
            queued_ms: 10,
        },
    ];
    for (n, event) in events.iter().enumerate() {
        state.apply(Seq(n as u64 + 2), 150 + n as i64, event);
    }
    assert_eq!(state.run.build_slot_ms, Some(151), "the slot, when taken");
    assert_eq!(state.deploy_queued, Some(("t".to_owned(), 152)));
    assert_eq!((state.deploy_started, state.requeued), (Some(153), 0));
    let lost = Event::DeployRequeued { reason: "r".into() };
    state.apply(Seq(6), 160, &lost);
    assert_eq!((state.deploy_started, state.requeued), (None, 1));
    assert_eq!(
        state.deploy_queued,
        Some(("t".to_owned(), 152)),
        "the lost title stays until the new one is queued"
    );
    state.apply(Seq(7), 170, &Event::DeployQueued { title: "t2".into() });
    assert_eq!(state.deploy_queued, Some(("t2".to_owned(), 170)));
    state.begin_run(200);
    assert_eq!(
        state.run.build_slot_ms, None,
        "a new run takes a slot again"
    );
    assert_eq!(state.requeued, 1, "what the events say outlives the run");
}

#[test]
fn verification_lookups_are_remembered_only_after_every_step_and_only_for_the_run() {
    let domain = || Event::ResourceCreated {
        kind: ResourceKind::Domain,
        id: rid("d"),
    };
    let failed = Event::DeploymentFailed {
        phase: Phase::Deploying,
        code: "deploy_failed".into(),
        message: "m".into(),
    };
    let mut state = fold(&[domain(), failed, Event::RollbackStarted]);
    state.begin_run(100);
    state.apply(Seq(10), 100, &started(7, Procedure::DomainOne));
    state.apply(
        Seq(11),
        100,
        &answered(7, ApiAnswer::Domain(Some(rid("d")))),
    );
    assert!(
        state.run.verified.is_empty(),
        "before the step, not the verification's"
    );
    let deleted = Event::RollbackStepSucceeded {
        kind: ResourceKind::Domain,
        id: rid("d"),
    };
    state.apply(Seq(12), 100, &deleted);
    assert!(state.verifying());
    let not_found = Event::ApiCallFailed {
        call: 8,
        attempt: 1,
        status: Some(404),
        error: "Application not found".into(),
        duration_ms: 1,
        retry_in_ms: None,
    };
    let cases = [
        (
            answered(8, ApiAnswer::Domain(Some(rid("d")))),
            Verdict::Found(ApiAnswer::Domain(Some(rid("d")))),
        ),
        (not_found, Verdict::Gone),
        (gave_up(8, None), Verdict::Unchecked(Some(503))),
    ];
    for (outcome, verdict) in cases {
        let mut looked = state.clone();
        looked.apply(Seq(13), 100, &started(8, Procedure::DomainOne));
        looked.apply(Seq(14), 100, &gave_up(8, Some(1_000)));
        assert!(looked.run.verified.is_empty(), "a retry is not an outcome");
        looked.apply(Seq(15), 100, &outcome);
        assert_eq!(looked.run.verified, vec![(ResourceKind::Domain, verdict)]);
        let verified = Event::RollbackVerified { leftovers: vec![] };
        looked.apply(Seq(16), 100, &verified);
        assert!(!looked.verifying(), "verified once");
        assert_eq!(looked.rollback.and_then(|r| r.leftovers), Some(0));
        looked.begin_run(200);
        assert!(looked.run.verified.is_empty(), "a new run looks again");
    }
}
