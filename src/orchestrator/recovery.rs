//! Crash recovery at startup: every deployment the ledger still shows `in_progress` gets a
//! `RecoveryStarted`, then runs again from its own events; whether it resumes or rolls back is
//! the saga core's decision, by the recovery policy in the settings.
//!
//! The unfinished deployments are found in the ledger itself (the last event of each stream,
//! read through the stream index: one read per deployment, not a scan of the log), never in
//! the read model.

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::crash::CrashPoint;
use crate::deployment::{DeploymentStatus, Event};
use crate::dokploy::api::DokployApi;
use crate::ids::DeploymentId;
use crate::ledger::error::LedgerError;
use crate::ledger::{ExpectedVersion, Ledger, NewEvent};
use crate::orchestrator::{Orchestrator, Outcome};

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
///
/// A deployment is over once its stream ends in `DeploymentSucceeded` or `RollbackFinished`
/// (nothing follows either: the saga finishes there), so the last event of each stream
/// decides, by the same `Event::status_effect` the name claims and the projection fold.
fn unfinished(ledger: &Ledger) -> Result<Vec<DeploymentId>, LedgerError> {
    let lasts = ledger.last_events()?;
    let open = lasts.into_iter().filter(|last| {
        let finished = matches!(
            last.event.status_effect(),
            Some(DeploymentStatus::Success | DeploymentStatus::Failure)
        );
        last.stream.is_deployment() && !finished
    });
    Ok(open.map(|last| last.stream).collect())
}
