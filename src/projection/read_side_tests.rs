//! Property tests of the read model's checkpoint: checkpointed at random points (its writes
//! applied to a `MemoryStore`'s index), restored from its snapshot at random points, it answers
//! every query like the plain in-memory fold, and holds at most the cache and the unfinished.
//! The logs are ones the orchestrator writes: no request for a held name (the writer's claim
//! rule) and nothing after a deployment's final status.
//! These tests never touch a real disk: the index space is a `MemoryStore`.

use std::sync::Arc;

use proptest::prelude::*;

use crate::deployment::name::{NameClaims, NoBase};
use crate::deployment::{DeploymentStatus, Event, Phase};
use crate::ledger::{IndexReader, MemoryStore, Store};
use crate::projection::answers::differences;
use crate::projection::fixture::{envelope, requested, stream};
use crate::projection::read_model::ReadModel;

/// Names that contain each other, and one that contains "shop" twice.
const NAMES: [&str; 5] = ["shop", "blog", "shopfront", "api", "shopshop"];

/// What a step does after its event: nothing, a checkpoint, a checkpoint and a restart, or a
/// checkpoint confirmed only after the next event.
#[derive(Debug, Clone, Copy)]
enum After {
    Nothing,
    Checkpoint,
    Restart,
    LateConfirm,
}

fn any_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        proptest::sample::select(Phase::ALL.to_vec())
            .prop_map(|phase| Event::PhaseEntered { phase }),
        Just(Event::DeploymentSucceeded {
            url: "https://x".into()
        }),
        Just(Event::DeploymentFailed {
            phase: Phase::Deploying,
            code: "c".into(),
            message: "m".into(),
        }),
        Just(Event::RollbackStarted),
        any::<bool>().prop_map(|complete| Event::RollbackFinished { complete }),
        Just(Event::ApiCallFailed {
            call: 1,
            attempt: 1,
            status: Some(503),
            error: "unavailable".into(),
            duration_ms: 3,
            retry_in_ms: Some(10),
        }),
    ]
}

fn any_after() -> impl Strategy<Value = After> {
    prop_oneof![
        6 => Just(After::Nothing),
        2 => Just(After::Checkpoint),
        1 => Just(After::Restart),
        1 => Just(After::LateConfirm),
    ]
}

fn plan() -> impl Strategy<Value = Vec<(u128, Event, After)>> {
    proptest::collection::vec((1u128..12, any_event(), any_after()), 1..80)
}

struct Checkpointed {
    store: Arc<MemoryStore>,
    model: ReadModel,
    late: Option<crate::ids::Seq>,
}

impl Checkpointed {
    /// A model on `store` keeping `cache` stored deployments in memory, answering `name=`
    /// from the names' postings when at most `rare` names contain the text.
    fn new(store: Arc<MemoryStore>, cache: usize, rare: usize) -> Self {
        let mut model = ReadModel::default();
        let index: Arc<dyn crate::ledger::Store> = store.clone();
        model.attach(IndexReader::new(&index));
        model.set_cache_limit(cache);
        model
            .disk
            .as_mut()
            .expect("attached just above")
            .rare_names_max = rare;
        Self {
            store,
            model,
            late: None,
        }
    }

    fn checkpoint(&mut self) -> Vec<u8> {
        let taken = self.model.checkpoint();
        self.store
            .write_index(&taken.writes)
            .expect("memory writes");
        taken.snapshot
    }
}

fn run(plan: Vec<(u128, Event, After)>, cache: usize, rare: usize) -> Result<(), TestCaseError> {
    let mut plain = ReadModel::default();
    let mut tested = Checkpointed::new(Arc::new(MemoryStore::new()), cache, rare);
    let mut seq = 0;
    let mut started = std::collections::BTreeSet::new();
    // The writer's claim rule: a request for a name another deployment holds is never logged.
    let mut claims = NameClaims::default();
    let mut finished = std::collections::BTreeSet::new();
    for (index, event, after) in plan {
        if finished.contains(&index) {
            continue;
        }
        if matches!(
            event.status_effect(),
            Some(DeploymentStatus::Success | DeploymentStatus::Failure)
        ) {
            finished.insert(index);
        }
        let mut events = Vec::new();
        if !started.contains(&index) {
            let name = NAMES[(index % 5) as usize];
            if claims.holder(name).is_some() {
                continue;
            }
            started.insert(index);
            events.push(requested(name));
        }
        events.push(event);
        for event in events {
            seq += 1;
            let Ok(()) = claims.load(stream(index), &event, &NoBase);
            claims.observe(crate::ids::Seq(seq), stream(index), &event);
            let envelope = envelope(stream(index), seq, 1_000 + seq as i64, event);
            plain.apply(&envelope);
            tested.model.apply(&envelope);
        }
        if let Some(through) = tested.late.take() {
            tested.model.checkpointed(through);
        }
        let through = tested.model.summary().last_seq;
        match after {
            After::Nothing => {}
            After::Checkpoint => {
                tested.checkpoint();
                tested.model.checkpointed(through);
                let unfinished = plain.in_flight().count as usize;
                prop_assert!(tested.model.resident_deployments() <= cache + unfinished);
            }
            After::LateConfirm => {
                tested.checkpoint();
                tested.late = Some(through);
            }
            After::Restart => {
                let snapshot = tested.checkpoint();
                let mut restarted = Checkpointed::new(tested.store.clone(), cache, rare);
                restarted
                    .model
                    .restore(&snapshot, through)
                    .map_err(TestCaseError::fail)?;
                tested = restarted;
            }
        }
        let differ = differences(&plain, &tested.model);
        prop_assert!(differ.is_empty(), "after seq {}: {:?}", seq, differ);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// `rare` 0 walks the request order for every `name=`, 1 and 2 mix both plans, 8 answers
    /// every text from the names' postings.
    #[test]
    fn a_model_checkpointed_and_restored_anywhere_answers_like_the_plain_fold(
        plan in plan(),
        cache in 0usize..4,
        rare in prop_oneof![Just(0usize), Just(1), Just(2), Just(8)],
    ) {
        run(plan, cache, rare)?;
    }
}

#[test]
fn after_a_checkpoint_memory_holds_the_cache_and_the_unfinished_only() {
    let mut tested = Checkpointed::new(Arc::new(MemoryStore::new()), 256, 4096);
    let mut seq = 0;
    for n in 1..=600u128 {
        let name = format!("app-{n}");
        let mut events = vec![requested(&name)];
        if n % 10 != 0 {
            events.push(Event::DeploymentSucceeded { url: "u".into() });
        }
        for event in events {
            seq += 1;
            tested
                .model
                .apply(&envelope(stream(n), seq, seq as i64, event));
        }
    }
    assert_eq!(tested.model.resident_deployments(), 600);
    tested.checkpoint();
    tested.model.checkpointed(tested.model.summary().last_seq);
    assert_eq!(tested.model.resident_deployments(), 256 + 60);
    let stored = tested.model.get(stream(1)).expect("reads").expect("stored");
    assert_eq!(stored.name, "app-1");
    assert_eq!(tested.model.summary().deployments, 600);
}
