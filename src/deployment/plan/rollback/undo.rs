//! The rollback's steps, newest created resource first, each under its guard
//! (`dokploy-behaviour.md` M1, M2, M4):
//! - a delete counts as done on success or on Dokploy's resource 404 only; a route 404
//!   (`FailureClass::NoRoute`) is a failed step whose error names the likely cause;
//! - before `application.delete`, a build of this deployment that may still run is waited out by
//!   polling `deployment.all` (Dokploy's delete drops only waiting jobs, and a running build
//!   re-creates the service after the row is gone); past `rollback_build_wait` the application
//!   is skipped;
//! - `project.remove` deletes rows only, so it is sent only when every application-level step
//!   succeeded and a fresh `project.one` shows the project holds nothing; otherwise it is
//!   skipped with what it holds.
//!
//! A skipped step is never retried in a later run: it is recorded, and the verification reports
//! what it left.

use crate::deployment::plan::rollback::{begin, breaker_wait, call_error, caused, why_failed};
use crate::deployment::plan::{CallFailure, Executed, MESSAGE_BYTES_MAX, Settings, Step, elapsed};
use crate::deployment::request::AnswerExt;
use crate::deployment::saga::SagaState;
use crate::deployment::{
    ApiAnswer, DeploymentRow, Event, Procedure, Request, ResourceId, ResourceKind, ServiceRef, clip,
};
use crate::ids::Seq;

/// How many of a project's services a skip reason names before it only counts the rest.
const SERVICES_NAMED_MAX: usize = 5;

/// The step for the newest created resource not yet dealt with. None when none is left.
pub(super) fn next(
    state: &SagaState,
    settings: &Settings,
    now_ms: i64,
    failure: Seq,
    executed: &Executed,
) -> Option<Step> {
    let (kind, id) = state
        .created_to_undo()
        .rev()
        .find(|(kind, id)| !state.rolled_back(*kind, id))
        .cloned()?;
    let step = Undo {
        state,
        failure,
        kind,
        id,
    };
    Some(match kind {
        ResourceKind::Application => step.application(settings, now_ms, executed),
        ResourceKind::Project => step.project(executed),
        _ => step.domain(executed),
    })
}

/// One resource being undone.
struct Undo<'a> {
    state: &'a SagaState,
    failure: Seq,
    kind: ResourceKind,
    id: ResourceId,
}

impl Undo<'_> {
    fn domain(&self, executed: &Executed) -> Step {
        let request = Request::DeleteDomain {
            domain_id: self.id.clone(),
        };
        match executed {
            Executed::Called {
                request: sent,
                result,
            } if *sent == request => self.deleted(&request, result),
            // The same step again, after waiting out the open breaker.
            Executed::Waited => Step::call(request),
            _ => begin(request),
        }
    }

    /// Waits out a build that may still run, then deletes the application.
    fn application(&self, settings: &Settings, now_ms: i64, executed: &Executed) -> Step {
        let request = Request::DeleteApplication {
            application_id: self.id.clone(),
        };
        if let Executed::Called {
            request: sent,
            result,
        } = executed
            && *sent == request
        {
            return self.deleted(&request, result);
        }
        let Some(title) = unfinished_build(self.state) else {
            return match executed {
                Executed::Waited => Step::call(request),
                _ => begin(request),
            };
        };
        let poll = Request::ListDeployments {
            application_id: self.id.clone(),
        };
        match executed {
            Executed::Called {
                request: Request::ListDeployments { .. },
                result,
            } => match result {
                Ok(answer) => self.build_polled(settings, now_ms, &title, answer, request),
                Err(failure) => match breaker_wait(failure) {
                    Some(wait) => Step::Wait(wait),
                    None => self.skipped(format!(
                        "could not tell whether its build still runs ({}); deleting the \
                         application during a build would let the build re-create the service \
                         with no row: delete it in Dokploy once no build of it runs",
                        why_failed(poll.procedure(), failure.class)
                    )),
                },
            },
            // After a poll interval or an open breaker, the build is looked at again.
            Executed::Waited => Step::call(poll),
            _ => begin(poll),
        }
    }

    /// What one answer of `deployment.all` decides while waiting out the build `title`.
    fn build_polled(
        &self,
        settings: &Settings,
        now_ms: i64,
        title: &str,
        answer: &ApiAnswer,
        delete: Request,
    ) -> Step {
        let rows = match answer.clone().deployments(Procedure::DeploymentAll) {
            Ok(rows) => rows,
            Err(mismatch) => {
                return self.skipped(format!(
                    "could not tell whether its build still runs ({}): delete it in Dokploy \
                     once no build of it runs",
                    mismatch.procedure
                ));
            }
        };
        let ours = rows.iter().find(|row| row.title == title);
        let unfinished = |row: &DeploymentRow| !row.deploy_status().is_some_and(|s| s.is_final());
        // Ours is over only when no other build of this application runs either (a re-queued
        // deploy whose answer was lost runs under a title the ledger may not hold).
        let others_running = rows.iter().any(|row| row.title != title && unfinished(row));
        if let Some(status) = ours
            .and_then(DeploymentRow::deploy_status)
            .filter(|status| status.is_final() && !others_running)
        {
            let dokploy_status = status.as_str().to_owned();
            return caused(Event::DeployFinished { dokploy_status }, self.failure);
        }
        // No row of ours and none running: the job still waits in Dokploy's queue, and
        // `application.delete` drops waiting jobs.
        if ours.is_none() && !rows.iter().any(unfinished) {
            return Step::call(delete);
        }
        let since = self
            .state
            .run
            .build_wait_started_ms
            .unwrap_or(self.state.run.started_ms);
        let interval = settings.deploy_poll_interval.get();
        if elapsed(since, now_ms) + interval > settings.rollback_build_wait {
            let waited = humantime::format_duration(settings.rollback_build_wait);
            return self.skipped(format!(
                "its build was still running after {waited}; deleting the application now \
                 would let the build re-create the service with no row: delete it in Dokploy \
                 once the build ends"
            ));
        }
        Step::Wait(interval)
    }

    /// Removes the project only when it is safe: every application-level step succeeded and a
    /// fresh look shows it holds nothing.
    fn project(&self, executed: &Executed) -> Step {
        if let Some(reason) = kept_reason(self.state) {
            return self.skipped(reason);
        }
        let remove = Request::RemoveProject {
            project_id: self.id.clone(),
        };
        let inspect = Request::InspectProject {
            project_id: self.id.clone(),
        };
        match executed {
            Executed::Called {
                request: sent,
                result,
            } if *sent == remove => self.deleted(&remove, result),
            Executed::Called {
                request: sent,
                result,
            } if *sent == inspect => self.inspected(&inspect, result, remove),
            // After an open breaker the project is looked at again before it is removed.
            Executed::Waited => Step::call(inspect),
            _ => begin(inspect),
        }
    }

    /// What a look at the project before its removal decides.
    fn inspected(
        &self,
        inspect: &Request,
        result: &Result<ApiAnswer, CallFailure>,
        remove: Request,
    ) -> Step {
        let answer = match result {
            Ok(answer) => answer,
            Err(failure) if failure.is_not_found() => return self.succeeded(),
            Err(failure) => {
                return match breaker_wait(failure) {
                    Some(wait) => Step::Wait(wait),
                    None => self.skipped(format!(
                        "could not check what the project holds ({}); it was not removed: \
                         remove it in Dokploy once it holds nothing",
                        why_failed(inspect.procedure(), failure.class)
                    )),
                };
            }
        };
        match answer.clone().project_services(Procedure::ProjectOne) {
            Ok(services) if services.is_empty() => Step::call(remove),
            Ok(services) => self.skipped(format!(
                "the project still holds {}; removing it would delete only their rows and \
                 leave their services running: remove it in Dokploy once it holds nothing",
                describe(&services)
            )),
            Err(mismatch) => self.skipped(format!(
                "could not check what the project holds ({} answered what StackLedger cannot \
                 read); it was not removed",
                mismatch.procedure
            )),
        }
    }

    /// What the answer to a delete decides.
    fn deleted(&self, request: &Request, result: &Result<ApiAnswer, CallFailure>) -> Step {
        match result {
            Ok(_) => self.succeeded(),
            Err(failure) if failure.is_not_found() => self.succeeded(),
            Err(failure) => match breaker_wait(failure) {
                Some(wait) => Step::Wait(wait),
                None => caused(
                    Event::RollbackStepFailed {
                        kind: self.kind,
                        id: self.id.clone(),
                        error: call_error(request, failure),
                    },
                    self.failure,
                ),
            },
        }
    }

    fn succeeded(&self) -> Step {
        let event = Event::RollbackStepSucceeded {
            kind: self.kind,
            id: self.id.clone(),
        };
        caused(event, self.failure)
    }

    fn skipped(&self, reason: String) -> Step {
        let event = Event::RollbackStepSkipped {
            kind: self.kind,
            id: self.id.clone(),
            reason: clip(&reason, MESSAGE_BYTES_MAX),
        };
        caused(event, self.failure)
    }
}

/// The title of this deployment's deploy when its final status is not recorded: the build may
/// still run. A deploy whose answer was lost may have been queued, so it counts too (its row
/// carries the same title).
fn unfinished_build(state: &SagaState) -> Option<String> {
    if state.deploy_finished.is_some() {
        return None;
    }
    if state.requeued > 0 {
        // The current attempt's title, queued or not (its `DeployQueued` may be missing).
        return Some(crate::deployment::plan::polling::title_of(state));
    }
    match &state.deploy_queued {
        Some((title, _)) => Some(title.clone()),
        None => state
            .attempted(Procedure::ApplicationDeploy)
            .then(|| format!("stackledger {}", state.id)),
    }
}

/// Why the project must stay, when an application-level step left something behind.
fn kept_reason(state: &SagaState) -> Option<String> {
    let (kind, id) = state
        .rollback_kept
        .iter()
        .find(|(kind, _)| matches!(kind, ResourceKind::Application | ResourceKind::Domain))?;
    Some(format!(
        "the {kind} {id} was not deleted; removing the project would delete only its rows and \
         leave its service and route running: remove the project in Dokploy once the {kind} is \
         gone"
    ))
}

/// "application shop (abc), compose db (def) and 3 more".
fn describe(services: &[ServiceRef]) -> String {
    let named: Vec<String> = services
        .iter()
        .take(SERVICES_NAMED_MAX)
        .map(|service| format!("{} {} ({})", service.kind, service.name, service.id))
        .collect();
    let rest = services.len().saturating_sub(SERVICES_NAMED_MAX);
    let mut text = named.join(", ");
    if rest > 0 {
        text.push_str(&format!(" and {rest} more"));
    }
    text
}
