//! The kill -9 loop: the portal deploys several stacks at once and is killed with SIGKILL at a
//! random moment, then restarted, again and again (30 rounds; `STACKLEDGER_KILL_ROUNDS=300`
//! for a long run). Afterwards no acknowledged deployment is lost, nothing is left
//! `in_progress`, and Dokploy (the simulator, which lives on across the kills) holds exactly one
//! set of resources per successful deployment and nothing else. The portal takes a checkpoint
//! every [`CHECKPOINT_EVENTS`] events, so kills land around checkpoints and restarts open from
//! them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stackledger::deployment::{DeploymentStatus, EventKind, RollbackOutcome};
use stackledger::ids::{DeploymentId, Seq};

use crate::support::portal::Portal;
use crate::support::{SIM_KEY, http, open_ledger, simulator};

const STACKS_PER_ROUND: usize = 3;

/// A checkpoint every this many events: several in each round.
const CHECKPOINT_EVENTS: u64 = 8;

async fn start(dir: &std::path::Path, flags: &[String]) -> Portal {
    let dir = dir.to_path_buf();
    let flags = flags.to_vec();
    tokio::task::spawn_blocking(move || Portal::start(&dir, &flags))
        .await
        .expect("the start finishes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_killed_at_random_moments_loses_nothing_and_leaves_nothing_behind() {
    let rounds: usize = std::env::var("STACKLEDGER_KILL_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(30);
    let simulator = simulator().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let flags = vec![
        format!("--dokploy-url={}", simulator.origin()),
        format!("--dokploy-api-key={SIM_KEY}"),
        format!("--health-url={}", simulator.health_url_template()),
        "--health-interval=1ms".to_owned(),
        "--deploy-poll-interval=1ms".to_owned(),
        format!("--checkpoint-events={CHECKPOINT_EVENTS}"),
    ];
    let client = http();
    let mut rng = SmallRng::seed_from_u64(2026);
    let mut accepted: BTreeMap<String, String> = BTreeMap::new();
    for round in 0..rounds {
        let portal = start(dir.path(), &flags).await;
        for stack in 0..STACKS_PER_ROUND {
            let name = format!("r{round}s{stack}");
            if let Some(id) = portal.deploy(&name).await {
                accepted.insert(id, name);
            }
        }
        // The random moment: anywhere from before the first call to after the last event.
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..200))).await;
        tokio::task::spawn_blocking(move || portal.kill())
            .await
            .expect("the kill finishes");
    }
    assert!(
        accepted.len() >= rounds,
        "deployments were accepted ({})",
        accepted.len()
    );

    let portal = start(dir.path(), &flags).await;
    for id in accepted.keys() {
        let stream = client.get(portal.url(&format!("/api/status/{id}"))).send();
        let body = tokio::time::timeout(Duration::from_secs(120), async {
            stream
                .await
                .expect("the stream opens")
                .text()
                .await
                .expect("the stream ends")
        })
        .await
        .unwrap_or_else(|_| panic!("{id} did not finish"));
        assert!(
            body.contains("event: complete") || body.contains("event: error"),
            "{id} ended without a verdict: {body}"
        );
    }
    let (status, _) = tokio::task::spawn_blocking(move || portal.terminate())
        .await
        .expect("the stop finishes");
    assert!(status.success());

    let test = open_ledger(&dir.path().join("ledger"));
    let model = test.read_model.snapshot();
    let mut succeeded = BTreeSet::new();
    let mut interrupted = 0;
    for (id, name) in &accepted {
        let id: DeploymentId = id.parse().expect("an id");
        let state = model
            .get(id)
            .expect("reads")
            .unwrap_or_else(|| panic!("acknowledged {name} was lost"));
        match state.status {
            DeploymentStatus::Success => {
                succeeded.insert(name.clone());
            }
            DeploymentStatus::Failure => {
                assert_eq!(
                    state.rollback_outcome(),
                    Some(RollbackOutcome::Complete),
                    "{name}"
                );
            }
            DeploymentStatus::InProgress => panic!("{name} is still in progress"),
        }
        let events = test
            .ledger
            .read_stream(id, Seq::ZERO, usize::MAX)
            .expect("reads");
        if events
            .iter()
            .any(|e| e.event.kind() == EventKind::RecoveryStarted)
        {
            interrupted += 1;
        }
    }
    assert!(interrupted > 0, "no kill ever landed during a deployment");
    let log = crate::support::read_verified(&test.ledger);
    let checkpoints = log
        .iter()
        .filter(|e| e.event.kind() == EventKind::CheckpointTaken)
        .count();
    // Each round records its start and three requests at least: 120 events in 30 rounds.
    assert!(
        checkpoints >= rounds / 3,
        "checkpoints were taken between the kills ({checkpoints} in {rounds} rounds)"
    );
    crate::support::assert_simulator_holds(&simulator, &succeeded, "kill loop");
    eprintln!(
        "kill loop: {rounds} rounds, {} deployments, {interrupted} interrupted by a kill, \
         {checkpoints} checkpoints",
        accepted.len()
    );
}
