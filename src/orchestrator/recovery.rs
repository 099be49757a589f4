//! Crash recovery at startup: every deployment the ledger still shows `in_progress` gets a
//! `RecoveryStarted`, then runs again from its own events; whether it resumes or rolls back is
//! the saga core's decision, by the recovery policy in the settings.
//!
//! The unfinished deployments are found by reading the ledger itself (each stream's status is
//! what `Event::status_effect` makes it, the same rule the name claims follow), never from the
//! read model.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::crash::CrashPoint;
use crate::deployment::{DeploymentStatus, Event};
use crate::dokploy::api::DokployApi;
use crate::ids::{DeploymentId, Seq};
use crate::ledger::error::LedgerError;
use crate::ledger::{ExpectedVersion, Ledger, NewEvent};
use crate::orchestrator::{Orchestrator, Outcome};

/// Events read from the ledger at a time while looking for unfinished deployments.
const PAGE_EVENTS_MAX: usize = 4096;

impl<A: DokployApi> Orchestrator<A> {
    /// Resumes (or rolls back, by policy) every deployment left `in_progress`, each after a
    /// `RecoveryStarted`. Call once at startup, before accepting new deployments.
    pub async fn recover(
        &self,
    ) -> Result<Vec<JoinHandle<Result<Outcome, LedgerError>>>, LedgerError> {
        let unfinished = unfinished(&self.inner.ledger)?;
        let mut tasks = Vec::with_capacity(unfinished.len());
        for id in unfinished {
            self.inner.crash.hit(CrashPoint::InRecovery);
            let reason = "the server restarted while the deployment was in progress".to_owned();
            let event = NewEvent::new(Event::RecoveryStarted { reason });
            let version = self.inner.ledger.stream_version(id);
            self.inner
                .ledger
                .append_one(id, ExpectedVersion::Exact(version), event)
                .await?;
            tracing::warn!(deployment = %id, "recovering an interrupted deployment");
            let permit = Arc::clone(&self.inner.running).acquire_owned().await;
            let permit = permit.expect("the running semaphore is never closed");
            tasks.push(self.spawn(id, permit));
        }
        Ok(tasks)
    }
}

/// The deployments whose status is still `in_progress`, in the order they were requested.
fn unfinished(ledger: &Ledger) -> Result<Vec<DeploymentId>, LedgerError> {
    let mut status: HashMap<DeploymentId, DeploymentStatus> = HashMap::new();
    let mut requested = Vec::new();
    let mut after = Seq::ZERO;
    loop {
        let page = ledger.read_after(after, PAGE_EVENTS_MAX)?;
        for envelope in &page {
            let id = envelope.stream;
            let known = status.contains_key(&id);
            // A deployment's stream begins with its request; nothing else starts one.
            let starts = matches!(envelope.event, Event::DeploymentRequested { .. });
            if id.is_system() || (!known && !starts) {
                continue;
            }
            if !known {
                requested.push(id);
            }
            if let Some(effect) = envelope.event.status_effect() {
                status.insert(id, effect);
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE_EVENTS_MAX => after = last.seq,
            _ => break,
        }
    }
    requested.retain(|id| status.get(id) == Some(&DeploymentStatus::InProgress));
    Ok(requested)
}
