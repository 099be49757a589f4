//! Test fixture of the rollback: a scripted Dokploy that behaves as Dokploy does where the
//! rollback's guards matter (deletes, lookups after them, `project.remove` deleting rows only).
//! It never does I/O: it answers from memory.

use crate::deployment::plan::CallFailure;
use crate::deployment::plan::FailureClass;
use crate::deployment::plan::fixtures::{application, empty_dokploy, rid};
use crate::deployment::{ApiAnswer, Request};

/// Dokploy's resource 404 for a call.
pub(in crate::deployment::plan) fn not_found() -> CallFailure {
    CallFailure {
        class: FailureClass::Status { status: 404 },
        message: "Dokploy answered 404: not found".into(),
    }
}

/// A Dokploy for rollbacks, as Dokploy behaves: it holds what [`queued`] made (project
/// `prj1` with application `app1` and domain `dom1`), every delete works, a look finds only
/// what is not deleted yet (a resource 404 afterwards), the project holds the application
/// until it is deleted, the deploy is `done`, and the stack's URL answers while the
/// application runs. `project.remove` deletes rows only: the application's service stays.
#[derive(Debug)]
pub(in crate::deployment::plan) struct RollbackDokploy {
    /// The applications the project holds until they are deleted.
    pub(in crate::deployment::plan) holds: Vec<&'static str>,
    /// What was deleted, in order.
    pub(in crate::deployment::plan) deleted: Vec<Request>,
    /// Every request received, in order.
    pub(in crate::deployment::plan) received: Vec<Request>,
}

impl Default for RollbackDokploy {
    fn default() -> Self {
        Self::holding(&["app1"])
    }
}

impl RollbackDokploy {
    /// A Dokploy whose project holds these applications.
    pub(in crate::deployment::plan) fn holding(holds: &[&'static str]) -> Self {
        Self {
            holds: holds.to_vec(),
            deleted: Vec::new(),
            received: Vec::new(),
        }
    }

    fn gone(&self, request: &Request) -> bool {
        self.deleted.contains(request)
    }

    /// Whether a service still runs: an application not deleted by `application.delete`
    /// (`project.remove` leaves services running).
    fn services_running(&self) -> bool {
        self.holds.iter().any(|id| {
            !self.gone(&Request::DeleteApplication {
                application_id: rid(id),
            })
        })
    }

    /// Answers one request (None: the health probe).
    pub(in crate::deployment::plan) fn answer(
        &mut self,
        request: Option<&Request>,
    ) -> Result<ApiAnswer, CallFailure> {
        let Some(request) = request else {
            // The stack answers while a service of the project runs.
            return if self.services_running() {
                Ok(ApiAnswer::Empty)
            } else {
                Err(not_found())
            };
        };
        self.received.push(request.clone());
        match request {
            Request::DeleteDomain { .. }
            | Request::DeleteApplication { .. }
            | Request::RemoveProject { .. } => {
                if self.gone(request) {
                    return Err(not_found());
                }
                self.deleted.push(request.clone());
                Ok(ApiAnswer::Empty)
            }
            Request::InspectDomain { domain_id } => self
                .look(Request::DeleteDomain {
                    domain_id: domain_id.clone(),
                })
                .map(|()| ApiAnswer::Domain(Some(domain_id.clone()))),
            Request::InspectApplication { application_id } => self
                .look(Request::DeleteApplication {
                    application_id: application_id.clone(),
                })
                .map(|()| application(&application_id.0)),
            Request::InspectProject { project_id } => {
                self.look(Request::RemoveProject {
                    project_id: project_id.clone(),
                })?;
                Ok(ApiAnswer::ProjectServices(self.services()))
            }
            other => empty_dokploy(Some(other)),
        }
    }

    /// A resource 404 once the delete `delete` happened, or the project's rows went (the
    /// cascade of `project.remove`).
    fn look(&self, delete: Request) -> Result<(), CallFailure> {
        let cascaded = self.gone(&Request::RemoveProject {
            project_id: rid("prj1"),
        });
        if cascaded || self.gone(&delete) {
            Err(not_found())
        } else {
            Ok(())
        }
    }

    fn services(&self) -> Vec<crate::deployment::ServiceRef> {
        if self.gone(&Request::RemoveProject {
            project_id: rid("prj1"),
        }) {
            return Vec::new();
        }
        self.holds
            .iter()
            .filter(|id| {
                !self.gone(&Request::DeleteApplication {
                    application_id: rid(id),
                })
            })
            .map(|id| crate::deployment::ServiceRef {
                kind: "application".into(),
                id: rid(id),
                name: format!("{id}-name"),
            })
            .collect()
    }
}
