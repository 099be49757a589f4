//! Rollback: undo what this deployment created, in reverse order of creation, and nothing it
//! found. Each step is retried by the caller; a 404 means already gone; a step that still fails
//! is recorded and the rollback goes on; while the breaker is open the rollback waits for it.
//! Every step's `cause` is the failure it undoes.

use std::time::Duration;

use crate::crash::CrashPoint;
use crate::deployment::Procedure;
use crate::deployment::{ApiAnswer, Event, ResourceId, ResourceKind, clip};
use crate::dokploy::api::{AnswerExt, DokployApi, Request};
use crate::dokploy::caller::CallError;
use crate::dokploy::error::DokployError;
use crate::ids::Seq;
use crate::ledger::error::LedgerError;
use crate::orchestrator::run::Run;

/// The shortest wait before asking an open breaker again.
const BREAKER_WAIT_MIN: Duration = Duration::from_secs(1);

impl<A: DokployApi> Run<'_, A> {
    /// Rolls back after the failure recorded at `failure`; returns whether it was complete.
    pub(super) async fn roll_back(&mut self, failure: Seq) -> Result<bool, LedgerError> {
        let mut complete = self.reconcile().await?;
        let started = self.state(|state| state.rollback.is_some());
        if !started {
            self.append(Event::RollbackStarted, Some(failure)).await?;
        }
        complete &= self.state(|state| state.rollback.is_some_and(|r| r.steps_failed == 0));
        let steps: Vec<(ResourceKind, ResourceId)> = self.state(|state| {
            state
                .created
                .iter()
                .rev()
                .filter(|(kind, id)| deletable(*kind) && !state.rolled_back(*kind, id))
                .cloned()
                .collect()
        });
        for (kind, id) in steps {
            self.inner.crash.hit(CrashPoint::BetweenRollbackSteps);
            complete &= self.undo(kind, id, failure).await?;
        }
        self.append(Event::RollbackFinished { complete }, Some(failure))
            .await?;
        Ok(complete)
    }

    /// Deletes one resource; false when it could not be deleted.
    async fn undo(
        &mut self,
        kind: ResourceKind,
        id: ResourceId,
        failure: Seq,
    ) -> Result<bool, LedgerError> {
        let request = match kind {
            ResourceKind::Domain => Request::DeleteDomain {
                domain_id: id.clone(),
            },
            ResourceKind::Application => Request::DeleteApplication {
                application_id: id.clone(),
            },
            ResourceKind::Project => Request::RemoveProject {
                project_id: id.clone(),
            },
            ResourceKind::Environment | ResourceKind::Deployment => return Ok(true),
        };
        let outcome = self.call_through_breaker(&request).await?;
        let (event, deleted) = match outcome {
            Ok(_) => (Event::RollbackStepSucceeded { kind, id }, true),
            Err(error) if error.is_not_found() => (Event::RollbackStepSucceeded { kind, id }, true),
            Err(error) => {
                let error = clip(&error.to_string(), 600);
                (Event::RollbackStepFailed { kind, id, error }, false)
            }
        };
        self.append(event, Some(failure)).await?;
        Ok(deleted)
    }

    /// A call that waits out an open breaker instead of giving up on it: a rollback
    /// interrupted by the breaker finishes once it closes.
    async fn call_through_breaker(
        &mut self,
        request: &Request,
    ) -> Result<Result<ApiAnswer, DokployError>, LedgerError> {
        loop {
            let answer = self
                .inner
                .caller
                .call(&mut self.log, &mut self.calls, request)
                .await;
            match answer {
                Ok(answer) => return Ok(Ok(answer)),
                Err(CallError::Ledger(error)) => return Err(error),
                Err(CallError::Dokploy(DokployError::CircuitOpen { retry_in })) => {
                    self.inner.clock.sleep(retry_in.max(BREAKER_WAIT_MIN)).await;
                }
                Err(CallError::Dokploy(error)) => return Ok(Err(error)),
            }
        }
    }

    /// Finds what a create whose outcome is unknown may have made, so that it is rolled back
    /// too. False when a lookup failed (the rollback cannot be known to be complete).
    async fn reconcile(&mut self) -> Result<bool, LedgerError> {
        let mut confirmed = true;
        for kind in [
            ResourceKind::Project,
            ResourceKind::Application,
            ResourceKind::Domain,
        ] {
            let (endpoint, lookup) = match self.lookup_for(kind) {
                Some(pair) => pair,
                None => continue,
            };
            let unknown = self.state(|state| state.attempted(endpoint.name()) && !state.has(kind));
            if !unknown {
                continue;
            }
            let found = match self.call_through_breaker(&lookup).await? {
                Ok(answer) => found_id(kind, answer),
                Err(_) => {
                    confirmed = false;
                    continue;
                }
            };
            if let Some(id) = found {
                self.append(Event::ResourceCreated { kind, id }, None)
                    .await?;
            }
        }
        Ok(confirmed)
    }

    /// The create endpoint of `kind` and the lookup that finds what it would have made, when
    /// the parent it needs is known.
    fn lookup_for(&self, kind: ResourceKind) -> Option<(Procedure, Request)> {
        let name = self.name.clone();
        self.state(|state| match kind {
            ResourceKind::Project => {
                Some((Procedure::ProjectCreate, Request::FindProject { name }))
            }
            ResourceKind::Application => {
                state
                    .resources
                    .environment_id
                    .clone()
                    .map(|environment_id| {
                        (
                            Procedure::ApplicationCreate,
                            Request::FindApplication {
                                environment_id,
                                name,
                            },
                        )
                    })
            }
            ResourceKind::Domain => state
                .resources
                .application_id
                .clone()
                .map(|application_id| {
                    let host = self.inner.settings.host(&name);
                    (
                        Procedure::DomainCreate,
                        Request::FindDomain {
                            application_id,
                            host,
                        },
                    )
                }),
            ResourceKind::Environment | ResourceKind::Deployment => None,
        })
    }
}

fn deletable(kind: ResourceKind) -> bool {
    matches!(
        kind,
        ResourceKind::Project | ResourceKind::Application | ResourceKind::Domain
    )
}

fn found_id(kind: ResourceKind, answer: ApiAnswer) -> Option<ResourceId> {
    match kind {
        ResourceKind::Project => answer
            .project(Procedure::ProjectAll)
            .ok()
            .flatten()
            .map(|p| p.project_id),
        ResourceKind::Application => answer
            .application(Procedure::EnvironmentOne)
            .ok()
            .flatten()
            .map(|a| a.application_id),
        ResourceKind::Domain => answer
            .domain(Procedure::DomainByApplicationId)
            .ok()
            .flatten(),
        ResourceKind::Environment | ResourceKind::Deployment => None,
    }
}
