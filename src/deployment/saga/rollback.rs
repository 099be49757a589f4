//! The rollback's part of the saga's fold: its steps (done, failed, skipped), what its
//! verification looked up and found, and the questions the rollback's decisions ask of the
//! state. A pure fold like the rest of `saga`: it never reads a clock or does I/O.

use crate::deployment::saga::{Rollback, SagaState, UNDONE, Verdict};
use crate::deployment::{Event, Phase, Procedure, ResourceId, ResourceKind};

impl SagaState {
    /// Notes a verification lookup that failed for good: Dokploy's 404 is "gone" (see
    /// [`Verdict::Gone`]); anything else leaves the resource unchecked.
    pub(super) fn inspection_failed(&mut self, call: u32, status: Option<u16>) {
        if let Some(kind) = self.inspection_done(call) {
            let verdict = if status == Some(404) {
                Verdict::Gone
            } else {
                Verdict::Unchecked(status)
            };
            self.run.verified.push((kind, verdict));
        }
    }

    /// Ends the verification lookup `call`, if it is the one in flight: its kind.
    pub(super) fn inspection_done(&mut self, call: u32) -> Option<ResourceKind> {
        match self.run.inspection {
            Some((in_flight, kind)) if in_flight == call => {
                self.run.inspection = None;
                Some(kind)
            }
            _ => None,
        }
    }

    pub(super) fn rollback_event(&mut self, event: &Event) {
        let rollback = self.rollback.get_or_insert_with(Rollback::default);
        match event {
            Event::RollbackStarted => self.phase = Phase::RollingBack,
            Event::RollbackStepSucceeded { kind, id } => self.rolled_back.push((*kind, id.clone())),
            Event::RollbackStepFailed { kind, id, .. } => {
                rollback.steps_failed += 1;
                self.rolled_back.push((*kind, id.clone()));
                self.rollback_kept.push((*kind, id.clone()));
            }
            Event::RollbackStepSkipped { kind, id, .. } => {
                rollback.steps_skipped += 1;
                self.rolled_back.push((*kind, id.clone()));
                self.rollback_kept.push((*kind, id.clone()));
            }
            Event::RollbackVerified { leftovers } => {
                rollback.leftovers = Some(u32::try_from(leftovers.len()).unwrap_or(u32::MAX));
            }
            Event::RollbackFinished { complete } => {
                rollback.complete = Some(*complete);
                self.phase = Phase::Failed;
            }
            _ => {}
        }
    }

    /// Whether the rollback already dealt with this resource.
    pub fn rolled_back(&self, kind: ResourceKind, id: &ResourceId) -> bool {
        self.rolled_back.iter().any(|(k, i)| *k == kind && i == id)
    }

    /// Whether the rollback left a resource of `kind` (its step failed or was skipped).
    pub fn rollback_kept(&self, kind: ResourceKind) -> bool {
        self.rollback_kept.iter().any(|(k, _)| *k == kind)
    }

    /// The resources this deployment created that a rollback deletes, in order of creation.
    pub fn created_to_undo(&self) -> impl DoubleEndedIterator<Item = &(ResourceKind, ResourceId)> {
        self.created
            .iter()
            .filter(|(kind, _)| UNDONE.contains(kind))
    }

    /// Whether the rollback dealt with every resource it deletes and has not verified yet:
    /// a lookup of a resource now is the verification's.
    pub fn verifying(&self) -> bool {
        self.rollback
            .is_some_and(|rollback| rollback.leftovers.is_none())
            && self
                .created_to_undo()
                .all(|(kind, id)| self.rolled_back(*kind, id))
    }

    /// Whether the rollback of this run has looked up `kind` already.
    pub fn looked_up(&self, kind: ResourceKind) -> bool {
        self.run.looked_up.contains(&kind)
    }
}

/// The kind a verification lookup (`project.one`, `application.one`, `domain.one`) looks at.
pub(super) fn inspected_kind(procedure: Procedure) -> Option<ResourceKind> {
    match procedure {
        Procedure::ProjectOne => Some(ResourceKind::Project),
        Procedure::ApplicationOne => Some(ResourceKind::Application),
        Procedure::DomainOne => Some(ResourceKind::Domain),
        _ => None,
    }
}
