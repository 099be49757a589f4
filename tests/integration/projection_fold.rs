//! The projection is a pure fold: folding live, batch by batch, equals folding from scratch
//! (and reopening), and the state at any seq equals the fold of the log up to that seq. Its one
//! renderer words a stream's events alike for the log view and for the audit page's data.

use proptest::prelude::*;
use stackledger::deployment::{ApiAnswer, Event, HttpMethod, Phase, ResourceId, ResourceKind};
use stackledger::ids::{DeploymentId, Seq};
use stackledger::ledger::envelope::Envelope;
use stackledger::projection::answers::differences;
use stackledger::projection::view::narrate;
use stackledger::projection::{DeploymentView, ReadModel};
use uuid::Uuid;

use crate::support::{append, close, open_ledger, requested, scenario};

fn any_phase() -> impl Strategy<Value = Phase> {
    proptest::sample::select(Phase::ALL.to_vec())
}

fn any_kind() -> impl Strategy<Value = ResourceKind> {
    proptest::sample::select(vec![
        ResourceKind::Project,
        ResourceKind::Environment,
        ResourceKind::Application,
        ResourceKind::Domain,
        ResourceKind::Deployment,
    ])
}

/// Any deployment event but `DeploymentRequested` (which opens each stream).
fn deployment_event() -> impl Strategy<Value = Event> {
    let id = "[a-z0-9]{4}".prop_map(ResourceId);
    prop_oneof![
        any_phase().prop_map(|phase| Event::PhaseEntered { phase }),
        (1u32..4, 1u32..4).prop_map(|(call, attempt)| Event::ApiCallStarted {
            call,
            attempt,
            method: HttpMethod::Post,
            endpoint: "application.create".into(),
        }),
        (1u32..4, 1u32..4, 0u64..50).prop_map(|(call, attempt, duration_ms)| {
            Event::ApiCallSucceeded {
                call,
                attempt,
                status: 200,
                duration_ms,
                answer: ApiAnswer::Empty,
            }
        }),
        (
            1u32..4,
            proptest::option::of(500u16..504),
            proptest::option::of(0u64..16_000)
        )
            .prop_map(|(call, status, retry_in_ms)| Event::ApiCallFailed {
                call,
                attempt: 1,
                status,
                error: "unavailable".into(),
                duration_ms: 3,
                retry_in_ms,
            }),
        (any_kind(), id.clone()).prop_map(|(kind, id)| Event::ResourceCreated { kind, id }),
        (any_kind(), id.clone()).prop_map(|(kind, id)| Event::ResourceFound { kind, id }),
        (1u32..20, proptest::option::of(200u16..504)).prop_map(|(n, status)| {
            Event::HealthCheckAttempt {
                n,
                status,
                error: None,
                duration_ms: 2,
            }
        }),
        (0u64..60_000).prop_map(|after_ms| Event::HealthVerified { after_ms }),
        Just(Event::DeployQueued { title: "t".into() }),
        Just(Event::DeployFinished {
            dokploy_status: "done".into()
        }),
        Just(Event::DeploymentSucceeded {
            url: "https://x".into()
        }),
        any_phase().prop_map(|phase| Event::DeploymentFailed {
            phase,
            code: "c".into(),
            message: "m".into(),
        }),
        Just(Event::RollbackStarted),
        (any_kind(), id.clone()).prop_map(|(kind, id)| Event::RollbackStepSucceeded { kind, id }),
        (any_kind(), id).prop_map(|(kind, id)| Event::RollbackStepFailed {
            kind,
            id,
            error: "e".into(),
        }),
        any::<bool>().prop_map(|complete| Event::RollbackFinished { complete }),
        Just(Event::RecoveryStarted { reason: "r".into() }),
    ]
}

fn system_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::CircuitOpened),
        Just(Event::CircuitHalfOpened),
        Just(Event::CircuitClosed),
        Just(Event::ServerStarted {
            version: "v".into()
        }),
    ]
}

/// One append: a stream (0 = system, 1..=3 deployments) and one to three events.
fn appends() -> impl Strategy<Value = Vec<(u8, Vec<Event>)>> {
    let one = prop_oneof![
        1 => proptest::collection::vec(system_event(), 1..3).prop_map(|events| (0u8, events)),
        6 => (1u8..4, proptest::collection::vec(deployment_event(), 1..4)),
    ];
    proptest::collection::vec(one, 1..40)
}

fn stream(index: u8) -> DeploymentId {
    DeploymentId::from_uuid(Uuid::from_u128(u128::from(index)))
}

async fn run(plan: Vec<(u8, Vec<Event>)>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    let mut snapshots = Vec::new();
    for (index, mut events) in plan {
        let id = stream(index);
        if index > 0 && test.ledger.stream_version(id).0 == 0 {
            events.insert(0, requested(&format!("stack{index}")));
        }
        if index == 0 {
            for event in events {
                let new = stackledger::ledger::NewEvent::new(event);
                let any = stackledger::ledger::ExpectedVersion::Any;
                test.ledger
                    .append_one(id, any, new)
                    .await
                    .expect("accepted");
            }
        } else {
            append(&test.ledger, id, events).await;
        }
        snapshots.push((test.ledger.head().seq, test.read_model.snapshot()));
    }
    let log = test
        .ledger
        .read_after(Seq::ZERO, usize::MAX)
        .expect("reads");
    let live = test.read_model.snapshot();
    let differ = differences(&ReadModel::fold(&log), &live);
    prop_assert!(
        differ.is_empty(),
        "incremental equals from scratch: {:?}",
        differ
    );
    for (seq, snapshot) in &snapshots {
        let differ = differences(&ReadModel::fold_until(&log, *seq), snapshot);
        prop_assert!(differ.is_empty(), "state at {:?}: {:?}", seq, differ);
    }
    for index in 1..4 {
        let own: Vec<Envelope> = log
            .iter()
            .filter(|e| e.stream == stream(index))
            .cloned()
            .collect();
        if let Some(state) = live
            .get(stream(index))
            .expect("an in-memory fold reads no index")
        {
            prop_assert_eq!(log_lines(&DeploymentView::of(&state)), narrated_tail(&own));
        }
    }
    close(test.ledger).await;
    let reopened = open_ledger(dir.path());
    let differ = differences(&reopened.read_model.snapshot(), &live);
    prop_assert!(differ.is_empty(), "reopen folds the same: {:?}", differ);
    Ok(())
}

/// The (level, `field`) of each object of a JSON array.
fn level_and(items: &serde_json::Value, field: &str) -> Vec<(String, String)> {
    let text =
        |item: &serde_json::Value, key: &str| item[key].as_str().expect("a string").to_owned();
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|item| (text(item, "level"), text(item, field)))
        .collect()
}

/// The (level, message) of each line of a deployment's log view.
fn log_lines(view: &DeploymentView) -> Vec<(String, String)> {
    level_and(
        &serde_json::to_value(view).expect("serializes")["logs"],
        "message",
    )
}

/// The (level, text) the audit page's data gives the last 50 events of a stream.
fn narrated_tail(own: &[Envelope]) -> Vec<(String, String)> {
    let all = level_and(
        &serde_json::to_value(narrate(own)).expect("serializes"),
        "text",
    );
    all[all.len().saturating_sub(50)..].to_vec()
}

#[tokio::test]
async fn narrated_events_read_as_the_deployment_log_reads_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let test = open_ledger(dir.path());
    scenario::write(&test).await;
    let model = test.read_model.snapshot();
    for id in [scenario::SHOP, scenario::BLOG, scenario::API] {
        let own = test
            .ledger
            .read_stream(id, Seq::ZERO, usize::MAX)
            .expect("reads");
        let view = DeploymentView::of(&model.get(id).expect("reads").expect("known"));
        let lines = log_lines(&view);
        assert!(!lines.is_empty(), "{id} has a log");
        assert_eq!(lines, narrated_tail(&own), "{id}");
    }
    close(test.ledger).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn folding_live_equals_folding_from_scratch_at_every_seq(plan in appends()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(run(plan))?;
    }
}
