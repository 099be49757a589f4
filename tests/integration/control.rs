//! Deadlines, cancel and the admission queue through the real HTTP surface (issue 13): a
//! deployment stuck on a hung Dokploy call ends `deadline_exceeded` and rolled back, also
//! across a restart; a cancel (by an operator or by the requester's capability) stops a
//! deployment at its next step boundary in every phase and undoes what it made, changes nothing
//! during the rollback of a failure, and wins exactly once when two race; past `--running-max`
//! deployments wait in order, each stream shows its place, and a restart keeps the order.
//!
//! Nothing here sleeps: a hung call ends at the client timeout (`--dokploy-timeout`), and a
//! deployment is held where a test wants it by holding Dokploy's build slot
//! (`orchestrator.build_gate()`), never by timing.

mod admission;
mod cancel;
mod deadline;
mod outage;

use std::str::FromStr;

use serde_json::Value;
use stackledger::ids::{DeploymentId, Seq};
use stackledger::ledger::envelope::Envelope;

use crate::build_queue::Live;
use crate::support::http;
use crate::support::test_app::TestApp;

/// Takes Dokploy's one build slot away from `app`'s deployments: they wait in line for it, in
/// the deploying phase, until the slot is dropped.
async fn hold_build_slot(app: &TestApp) -> stackledger::orchestrator::gate::Slot {
    let gate = std::sync::Arc::clone(app.app.orchestrator.build_gate());
    let mut holder = gate.join();
    match holder.turn().await {
        stackledger::orchestrator::gate::Turn::Granted(slot) => slot,
        other => panic!("the build slot of an empty line is free, got {other:?}"),
    }
}

/// Reads `live` to its terminal message and returns it.
async fn ended(live: &mut Live) -> crate::support::test_app::Message {
    let done = live
        .until(|m| m.event == "complete" || m.event == "error")
        .await;
    assert!(done, "the stream ends with complete or error");
    live.with_last().clone()
}

/// `POST /api/deployments/{id}/cancel` with `bearer` (if any) and `body`: status and JSON.
async fn cancel(app: &TestApp, id: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = http()
        .post(app.url(&format!("/api/deployments/{id}/cancel")))
        .json(&body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let answer = request.send().await.expect("answers");
    let status = answer.status().as_u16();
    (status, answer.json().await.expect("a JSON answer"))
}

/// The admin token of `app`.
fn admin(app: &TestApp) -> String {
    app.app.admin_token.expose().to_owned()
}

/// The deployment's events, from the ledger.
fn events(app: &TestApp, id: &str) -> Vec<Envelope> {
    let id = DeploymentId::from_str(id).expect("a deployment id");
    app.app
        .ledger
        .read_stream(id, Seq::ZERO, usize::MAX)
        .expect("the stream reads")
}

/// How many events of `kind` the deployment has.
fn count(app: &TestApp, id: &str, kind: &str) -> usize {
    events(app, id)
        .iter()
        .filter(|e| e.event.kind().name() == kind)
        .count()
}
