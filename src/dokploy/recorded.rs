//! The recorded stand-in for Dokploy that `stackledger-replay redrive` runs the orchestrator
//! against: every call is answered with what the ledger recorded for it, in order, and never
//! with the network. A call that was not recorded (the new code asks something else) is
//! answered with an error and noted as the first difference.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use crate::deployment::{ApiAnswer, Event};
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
    fn replay(&self) -> Result<Answered, DokployError> {
        match self {
            Recorded::Answer(status, answer) => Ok(Answered {
                status: *status,
                answer: answer.clone(),
            }),
            Recorded::Failure(Some(status), message) => Err(DokployError::Status {
                status: *status,
                message: message.clone(),
                code: None,
                retry_after: None,
            }),
            Recorded::Failure(None, message) => Err(DokployError::Transport {
                message: message.clone(),
                sent: true,
            }),
        }
    }
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
                Some(attempt) if attempt.endpoint == asked.name() => attempts.pop_front(),
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
            Some(attempt) => attempt.outcome.replay(),
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
