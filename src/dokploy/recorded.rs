//! The recorded stand-in for Dokploy that `stackledger-replay redrive` runs the orchestrator
//! against: every call is answered with what the ledger recorded for it, in order, and never
//! with the network. A call that was not recorded (the new code asks something else) is
//! answered with an error and noted as the first difference.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use crate::deployment::{ApiAnswer, Event, Procedure};
use crate::dokploy::api::{Answered, DokployApi, Request};
use crate::dokploy::error::DokployError;
use crate::ledger::envelope::Envelope;

/// What one recorded attempt answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A success with its status and answer.
    Answer(u16, ApiAnswer),
    /// A failure: the status if one came, and the error text.
    Failure(Option<u16>, String),
}

impl Recorded {
    fn replay(&self, asked: Procedure) -> Result<Answered, DokployError> {
        match self {
            Recorded::Answer(status, answer) => Ok(Answered {
                status: *status,
                answer: answer.clone(),
            }),
            Recorded::Failure(Some(status), message) => Err(failure(asked, *status, message)),
            Recorded::Failure(None, message) => Err(DokployError::Transport {
                message: message.clone(),
                sent: true,
            }),
        }
    }
}

/// The error a recorded failure with `status` and text `recorded` was. A 404 is told apart
/// as the client tells it: a missing route is recorded in the words of
/// [`DokployError::NoRoute`]; StackLedger 0.1.0 recorded every 404 as
/// `Dokploy answered 404: <message>`, and Dokploy's route 404 says exactly `Not found`, while
/// a resource 404 names the resource (`Project not found`).
fn failure(asked: Procedure, status: u16, recorded: &str) -> DokployError {
    if status == 404 && is_no_route(asked, recorded) {
        return DokployError::NoRoute { procedure: asked };
    }
    let message = recorded
        .strip_prefix(&format!("Dokploy answered {status}: "))
        .unwrap_or(recorded);
    DokployError::Status {
        status,
        message: message.to_owned(),
        code: None,
        retry_after: None,
    }
}

/// Whether a recorded 404 of `asked` was a missing route: NoRoute's words (naming any
/// procedure, since the lookup's name changed), or 0.1.0's `Not found`.
fn is_no_route(asked: Procedure, recorded: &str) -> bool {
    recorded == "Dokploy answered 404: Not found"
        || std::iter::once(asked)
            .chain(Procedure::ALL)
            .any(|procedure| DokployError::NoRoute { procedure }.to_string() == recorded)
}

/// Whether a call recorded under `endpoint` answers `asked`: the same procedure, or the
/// project lookup recorded as `project.all` before it became `project.search`.
fn answers(endpoint: &str, asked: Procedure) -> bool {
    endpoint == asked.name()
        || (asked == Procedure::ProjectSearch && endpoint == Procedure::ProjectAll.name())
}

/// One recorded attempt: its call number, endpoint and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The call's number in the recorded run.
    pub call: u32,
    /// The procedure.
    pub endpoint: String,
    /// What it answered.
    pub outcome: Recorded,
}

/// The first request the stand-in could not answer from the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecorded {
    /// The procedure asked.
    pub asked: String,
    /// What the recording expected next, if anything.
    pub expected: Option<String>,
}

/// Dokploy as recorded.
#[derive(Debug)]
pub struct RecordedDokploy {
    attempts: Mutex<VecDeque<Attempt>>,
    health: Mutex<VecDeque<Result<u16, String>>>,
    unrecorded: Mutex<Option<Unrecorded>>,
}

impl RecordedDokploy {
    /// The stand-in for the deployment whose events are `events` (its stream, in order).
    pub fn from_events(events: &[Envelope]) -> Self {
        let mut attempts = VecDeque::new();
        let mut health = VecDeque::new();
        let mut endpoints = std::collections::HashMap::new();
        for envelope in events {
            match &envelope.event {
                Event::ApiCallStarted { call, endpoint, .. } => {
                    endpoints.insert(*call, endpoint.clone());
                }
                Event::ApiCallSucceeded {
                    call,
                    status,
                    answer,
                    ..
                } => attempts.push_back(Attempt {
                    call: *call,
                    endpoint: endpoints.get(call).cloned().unwrap_or_default(),
                    outcome: Recorded::Answer(*status, answer.clone()),
                }),
                Event::ApiCallFailed {
                    call,
                    status,
                    error,
                    ..
                } => attempts.push_back(Attempt {
                    call: *call,
                    endpoint: endpoints.get(call).cloned().unwrap_or_default(),
                    outcome: Recorded::Failure(*status, error.clone()),
                }),
                Event::HealthCheckAttempt { status, error, .. } => {
                    health.push_back(status.ok_or_else(|| error.clone().unwrap_or_default()));
                }
                _ => {}
            }
        }
        Self {
            attempts: Mutex::new(attempts),
            health: Mutex::new(health),
            unrecorded: Mutex::new(None),
        }
    }

    /// Answers the first attempt of recorded call `call` with `status` instead (the attempts
    /// recorded after it still follow, so a retry gets the recorded answer). False when the
    /// recording has no such call.
    pub fn override_call(&self, call: u32, status: u16) -> bool {
        let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(index) = attempts.iter().position(|attempt| attempt.call == call) else {
            return false;
        };
        let endpoint = attempts[index].endpoint.clone();
        let outcome = if (200..300).contains(&status) {
            return false;
        } else {
            Recorded::Failure(Some(status), format!("overridden: {status}"))
        };
        attempts.insert(
            index,
            Attempt {
                call,
                endpoint,
                outcome,
            },
        );
        true
    }

    /// The first request the recording could not answer, if any.
    pub fn unrecorded(&self) -> Option<Unrecorded> {
        self.unrecorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn note(&self, asked: &str, expected: Option<String>) {
        let mut unrecorded = self
            .unrecorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if unrecorded.is_none() {
            *unrecorded = Some(Unrecorded {
                asked: asked.to_owned(),
                expected,
            });
        }
    }
}

impl DokployApi for RecordedDokploy {
    async fn call(&self, request: &Request) -> Result<Answered, DokployError> {
        let asked = request.procedure();
        let next = {
            let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
            match attempts.front() {
                Some(attempt) if answers(&attempt.endpoint, asked) => attempts.pop_front(),
                Some(attempt) => {
                    let expected = Some(attempt.endpoint.clone());
                    drop(attempts);
                    self.note(asked.name(), expected);
                    None
                }
                None => {
                    drop(attempts);
                    self.note(asked.name(), None);
                    None
                }
            }
        };
        match next {
            Some(attempt) => attempt.outcome.replay(asked),
            None => Err(DokployError::UnexpectedResponse {
                operation: asked,
                reason: "the recording has no answer for this call".to_owned(),
            }),
        }
    }

    async fn probe_health(&self, _url: &str) -> Result<u16, DokployError> {
        let next = self
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        match next {
            Some(Ok(status)) => Ok(status),
            Some(Err(message)) => Err(DokployError::Transport {
                message,
                sent: true,
            }),
            None => {
                self.note("health probe", None);
                Err(DokployError::Transport {
                    message: "the recording has no more health polls".to_owned(),
                    sent: true,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_404s_map_back_to_route_or_resource_as_the_client_told_them() {
        let asked = Procedure::DomainDelete;
        let route = DokployError::NoRoute { procedure: asked }.to_string();
        assert_eq!(
            failure(asked, 404, &route),
            DokployError::NoRoute { procedure: asked }
        );
        // Recorded by 0.1.0, which wrote every 404 as `Dokploy answered 404: <message>`.
        let old_route = failure(asked, 404, "Dokploy answered 404: Not found");
        assert_eq!(old_route, DokployError::NoRoute { procedure: asked });
        let gone = failure(asked, 404, "Dokploy answered 404: Domain not found");
        assert!(gone.is_not_found(), "{gone:?}");
        assert_eq!(gone.to_string(), "Dokploy answered 404: Domain not found");
        let failed = failure(asked, 500, "Dokploy answered 500: boom");
        assert_eq!(failed.status(), Some(500));
        assert_eq!(failed.to_string(), "Dokploy answered 500: boom");
    }

    #[test]
    fn a_lookup_recorded_as_project_all_answers_project_search() {
        assert!(answers("project.all", Procedure::ProjectSearch));
        assert!(answers("project.search", Procedure::ProjectSearch));
        assert!(!answers("project.all", Procedure::ProjectOne));
        assert!(!answers("environment.one", Procedure::ProjectSearch));
    }
}
