//! Crash recovery at startup: every deployment the ledger still shows `in_progress` gets a
//! `RecoveryStarted`, then runs again from its own events; whether it resumes or rolls back is
//! the saga core's decision, by the recovery policy in the settings.
//!
//! Recovery never waits for a running slot: each recovered deployment takes its place in the
//! admission queue at once, in the order it was requested (ahead of every deployment requested
//! after it), and its run appends `RecoveryStarted` and waits in its own task. So startup takes
//! the same time with 0 or 1,000 interrupted deployments. The unfinished deployments are found
//! in the ledger itself (the last event of each stream, read through the stream index: one read
//! per deployment, not a scan of the log), never in the read model.

use tokio::task::JoinHandle;

use crate::crash::CrashPoint;
use crate::deployment::Event;
use crate::dokploy::api::DokployApi;
use crate::ids::{DeploymentId, Seq};
use crate::ledger::error::LedgerError;
use crate::ledger::{ExpectedVersion, Ledger, NewEvent};
use crate::orchestrator::gate::Ticket;
use crate::orchestrator::{Inner, Orchestrator, Outcome};

/// A deployment found unfinished, with its place in the admission queue already taken.
pub(super) struct Recovered {
    id: DeploymentId,
    ticket: Ticket,
    queued_ms: i64,
}

impl Recovered {
    /// Appends `RecoveryStarted`; the run then goes on with the place in the queue.
    pub(super) async fn record<A>(self, inner: &Inner<A>) -> Result<(Ticket, i64), LedgerError> {
        inner.crash.hit(CrashPoint::InRecovery);
        let reason = "the server restarted while the deployment was in progress".to_owned();
        let event = NewEvent::new(Event::RecoveryStarted { reason });
        // Any version: only a cancel may have been appended since the stream was read.
        inner
            .ledger
            .append_one(self.id, ExpectedVersion::Any, event)
            .await?;
        tracing::warn!(deployment = %self.id, "recovering an interrupted deployment");
        Ok((self.ticket, self.queued_ms))
    }
}

impl<A: DokployApi> Orchestrator<A> {
    /// Resumes (or rolls back, by policy) every deployment left `in_progress`, each after a
    /// `RecoveryStarted`, through the admission queue. Returns at once with their runs; call
    /// once at startup.
    pub async fn recover(
        &self,
    ) -> Result<Vec<JoinHandle<Result<Outcome, LedgerError>>>, LedgerError> {
        let unfinished = unfinished(&self.inner.ledger)?;
        let now_ms = self.inner.clock.now_ms();
        // Every place is taken before any run starts, so the queue has the request order.
        let queued: Vec<Recovered> = unfinished
            .into_iter()
            .map(|(id, requested)| Recovered {
                id,
                ticket: self.inner.admission.join_at(requested.0),
                queued_ms: now_ms,
            })
            .collect();
        let tasks = queued
            .into_iter()
            .map(|recovered| {
                let seat = std::sync::Arc::clone(&self.inner.seats)
                    .try_acquire_owned()
                    .ok();
                self.spawn(recovered.id, seat, Some(recovered))
            })
            .collect();
        Ok(tasks)
    }
}

/// The deployments whose status is still `in_progress`, with the seq of their request, in the
/// order they were requested: the ledger keeps the set of unfinished deployments (those whose
/// last event is neither `DeploymentSucceeded` nor `RollbackFinished`, by the same
/// `Event::status_effect` the name claims and the projection fold), so this reads only what
/// is in flight, never the whole history.
fn unfinished(ledger: &Ledger) -> Result<Vec<(DeploymentId, Seq)>, LedgerError> {
    let requests = ledger.unfinished()?;
    Ok(requests
        .into_iter()
        .map(|request| (request.stream, request.seq))
        .collect())
}
