//! Cancel as a recorded decision, never as a kill (issue 13): [`Orchestrator::cancel`]
//! appends `CancelRequested` to the deployment's stream, where the ledger writer's cancel rule
//! makes it atomic (only the first cancel of a deployment in progress that has not failed is
//! recorded; two racing cancels get one event and one refusal), then wakes the run, which folds
//! the cancel at its next step boundary: the in-flight Dokploy call finishes (or, after a crash,
//! is reconciled), the deployment fails with `cancelled`, and the rollback undoes what it made.
//! A cancel recorded before a crash takes effect when recovery resumes the run.
//!
//! The requester cancels with the [`CancelCapability`] `deploy` handed out: only its SHA-256 is
//! in the ledger, and the check compares hashes in constant time. It must never record or log
//! the capability itself.

use std::fmt;

use crate::deployment::{Event, clip};
use crate::dokploy::api::DokployApi;
use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::error::LedgerError;
use crate::ledger::{ExpectedVersion, NewEvent};
use crate::orchestrator::{CancelError, Orchestrator};
use crate::secret::{constant_time_eq, token_hash};

/// The longest reason a cancel records.
const REASON_BYTES_MAX: usize = 200;

/// The secret that lets the person who started a deployment cancel it. Never printed: `Debug`
/// shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct CancelCapability(String);

impl CancelCapability {
    /// A fresh capability (256 random bits).
    pub(crate) fn new() -> Self {
        Self(crate::ids::random_token())
    }

    /// The capability, to hand to the requester (and nowhere else).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its SHA-256, as recorded in `DeploymentAccepted`.
    pub fn hash(&self) -> String {
        token_hash(&self.0)
    }
}

impl fmt::Debug for CancelCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CancelCapability(***)")
    }
}

/// Who asks to cancel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canceller {
    /// An operator, by the name of the admin token they used.
    Operator {
        /// The token's name.
        name: String,
    },
    /// The person who started the deployment, with the capability it was handed.
    Requester {
        /// The capability as presented (checked against the recorded hash).
        capability: String,
    },
}

impl Canceller {
    /// How `CancelRequested.by` names this canceller.
    pub fn recorded_as(&self) -> String {
        match self {
            Canceller::Operator { name } => format!("operator:{name}"),
            Canceller::Requester { .. } => "requester".to_owned(),
        }
    }
}

/// A request to cancel a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRequest {
    /// Who asks.
    pub by: Canceller,
    /// The keyed hash of the asking client's address.
    pub client: String,
    /// Why (clipped; may be empty).
    pub reason: String,
}

impl<A: DokployApi> Orchestrator<A> {
    /// Records a cancel of `id` and wakes its run; returns the seq of the `CancelRequested`.
    /// The deployment fails with `cancelled` at its next step boundary and rolls back.
    pub async fn cancel(
        &self,
        id: DeploymentId,
        request: CancelRequest,
    ) -> Result<Seq, CancelError> {
        let ledger = &self.inner.ledger;
        if !id.is_deployment() || ledger.stream_version(id) == StreamVersion::EMPTY {
            return Err(CancelError::Unknown(id));
        }
        if let Canceller::Requester { capability } = &request.by {
            let recorded = recorded_hash(ledger, id).map_err(CancelError::Ledger)?;
            let presented = token_hash(capability);
            let matches = recorded
                .is_some_and(|hash| constant_time_eq(hash.as_bytes(), presented.as_bytes()));
            if !matches {
                return Err(CancelError::WrongCapability(id));
            }
        }
        let event = Event::CancelRequested {
            by: request.by.recorded_as(),
            client: request.client,
            reason: clip(request.reason.trim(), REASON_BYTES_MAX),
        };
        let written = ledger
            .append_one(id, ExpectedVersion::Any, NewEvent::new(event))
            .await
            .map_err(|error| match error {
                LedgerError::NotCancellable { .. } => CancelError::NotCancellable(id),
                error => CancelError::Ledger(error),
            })?;
        self.inner.wakes.wake(id);
        Ok(written.seq)
    }
}

/// The cancel hash `DeploymentAccepted` recorded for `id` (None: none was issued, as for a
/// deployment recorded before 0.2.0).
fn recorded_hash(
    ledger: &crate::ledger::Ledger,
    id: DeploymentId,
) -> Result<Option<String>, LedgerError> {
    let opening = ledger.read_stream(id, Seq::ZERO, 2)?;
    Ok(opening
        .into_iter()
        .find_map(|envelope| match envelope.event {
            Event::DeploymentAccepted { cancel_hash, .. } if !cancel_hash.is_empty() => {
                Some(cancel_hash)
            }
            _ => None,
        }))
}
