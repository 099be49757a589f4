//! Every Dokploy call of a deployment, retried where safe, guarded by the breaker, and written
//! to the ledger attempt by attempt.
//!
//! For each attempt, `ApiCallStarted` is durable before the request leaves; then exactly one of
//! `ApiCallSucceeded` (with the typed answer) or `ApiCallFailed` (status or error, duration, the
//! delay chosen for the next try) follows, its `cause` pointing at the start. Breaker
//! transitions go to the system stream, caused by the attempt that moved it. A create whose
//! outcome is unknown (a timeout or a reset after sending) is looked up again before it is
//! resent, so a retry never makes a duplicate. No secret is ever written: errors carry
//! Dokploy's messages, never the request's headers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::crash::{CrashPoint, CrashPoints};
use crate::deployment::{ApiAnswer, Event, clip};
use crate::dokploy::api::{DokployApi, Request};
use crate::dokploy::breaker::{Admission, CircuitBreaker, Transition};
use crate::dokploy::error::{BreakerSignal, DokployError};
use crate::dokploy::retry::{Jitter, RetryPolicy};
use crate::ids::{DeploymentId, Seq};
use crate::ledger::envelope::Envelope;
use crate::ledger::error::LedgerError;
use crate::ledger::{ExpectedVersion, Ledger, NewEvent, StreamWriter};

/// The longest error text written into an `ApiCallFailed`.
const ERROR_BYTES_MAX: usize = 600;

/// Why a recorded call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// Dokploy failed and the failure is final (not retryable, retries or deadline exhausted,
    /// breaker open). It is in the ledger already.
    #[error(transparent)]
    Dokploy(#[from] DokployError),
    /// The ledger refused or failed to record the call: the deployment cannot go on.
    #[error("cannot record the call: {0}")]
    Ledger(#[from] LedgerError),
}

/// Where a deployment's call events go: its stream's pen, or the orchestrator's journal, which
/// also folds each event into the run's decision state.
pub trait CallLog: Send {
    /// Appends one event to the deployment's stream and returns it as written, once durable.
    fn append(
        &mut self,
        event: NewEvent,
    ) -> impl Future<Output = Result<Arc<Envelope>, LedgerError>> + Send;

    /// Whether a failed call should not be tried again at `now_ms` (the deployment passed its
    /// deadline or is cancelled: the saga core stops it at the next step boundary, so another
    /// attempt would only make work to undo). By default every retry the policy allows is made.
    fn stop_retrying(&self, now_ms: i64) -> bool {
        let _ = now_ms;
        false
    }
}

impl CallLog for StreamWriter {
    fn append(
        &mut self,
        event: NewEvent,
    ) -> impl Future<Output = Result<Arc<Envelope>, LedgerError>> + Send {
        StreamWriter::append(self, event)
    }
}

/// Numbers a deployment's calls: 1, 2, 3, …; every attempt of a call keeps its number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounter {
    last: u32,
}

impl CallCounter {
    /// Continues after `last` (a resumed deployment).
    pub fn after(last: u32) -> Self {
        Self { last }
    }

    fn next(&mut self) -> u32 {
        self.last += 1;
        self.last
    }
}

/// Runs Dokploy calls for deployments. Cheap to clone; the breaker and jitter are shared.
pub struct Caller<A> {
    api: Arc<A>,
    breaker: CircuitBreaker,
    policy: RetryPolicy,
    jitter: Arc<Jitter>,
    clock: Arc<dyn Clock>,
    system: Ledger,
    crash: Arc<CrashPoints>,
}

impl<A> Clone for Caller<A> {
    fn clone(&self) -> Self {
        Self {
            api: Arc::clone(&self.api),
            breaker: self.breaker.clone(),
            policy: self.policy,
            jitter: Arc::clone(&self.jitter),
            clock: Arc::clone(&self.clock),
            system: self.system.clone(),
            crash: Arc::clone(&self.crash),
        }
    }
}

impl<A> std::fmt::Debug for Caller<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("breaker", &self.breaker)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<A: DokployApi> Caller<A> {
    /// A caller over `api`, recording breaker transitions in `system`'s system stream.
    pub fn new(
        api: Arc<A>,
        breaker: CircuitBreaker,
        policy: RetryPolicy,
        jitter: Arc<Jitter>,
        clock: Arc<dyn Clock>,
        system: Ledger,
    ) -> Self {
        Self {
            api,
            breaker,
            policy,
            jitter,
            clock,
            system,
            crash: Arc::new(CrashPoints::disabled()),
        }
    }

    /// The same caller, reaching `before_call` and `after_call` around every request.
    pub fn with_crash_points(mut self, crash: Arc<CrashPoints>) -> Self {
        self.crash = crash;
        self
    }

    /// The shared breaker (its state is shown by `/health`).
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The API underneath (health probes go straight to it).
    pub fn api(&self) -> &A {
        &self.api
    }

    /// Runs `request` for the deployment that `log` writes, with retries, and returns the
    /// answer the orchestrator goes on with.
    pub async fn call<L: CallLog>(
        &self,
        log: &mut L,
        calls: &mut CallCounter,
        request: &Request,
    ) -> Result<ApiAnswer, CallError> {
        let call = calls.next();
        let started_ms = self.clock.now_ms();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (error, delay) = match self
                .attempt(log, call, attempt, started_ms, request)
                .await?
            {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            let Some(delay) = delay else {
                return Err(CallError::Dokploy(error));
            };
            self.clock.sleep(delay).await;
            if log.stop_retrying(self.clock.now_ms()) {
                return Err(CallError::Dokploy(error));
            }
            if error.outcome_unknown()
                && let Some(lookup) = request.lookup()
            {
                let found = Box::pin(self.call(log, calls, &lookup)).await?;
                if is_found(&found) {
                    return Ok(found);
                }
            }
        }
    }

    /// One attempt: admission, intent, request, outcome. The outer error is the ledger's;
    /// the inner one is a failed attempt with the delay before the next (None: give up).
    async fn attempt<L: CallLog>(
        &self,
        log: &mut L,
        call: u32,
        attempt: u32,
        started_ms: i64,
        request: &Request,
    ) -> Result<Result<ApiAnswer, (DokployError, Option<Duration>)>, CallError> {
        let probe = match self.admit().await? {
            Admission::Allowed { probe } => probe,
            Admission::Refused { retry_in } => {
                return Ok(Err((DokployError::CircuitOpen { retry_in }, None)));
            }
        };
        let intent = Event::ApiCallStarted {
            call,
            attempt,
            method: request.method(),
            endpoint: request.procedure().name().to_owned(),
        };
        let started = log.append(NewEvent::new(intent)).await?.seq;
        let sent_ms = self.clock.now_ms();
        self.crash.hit(CrashPoint::BeforeCall);
        let outcome = self.api.call(request).await;
        self.crash.hit(CrashPoint::AfterCall);
        let duration_ms = elapsed_ms(sent_ms, self.clock.now_ms());
        match outcome {
            Ok(answered) => {
                let done = Event::ApiCallSucceeded {
                    call,
                    attempt,
                    status: answered.status,
                    duration_ms,
                    answer: answered.answer.clone(),
                };
                let seq = log.append(NewEvent::caused_by(done, started)).await?.seq;
                self.record(probe, BreakerSignal::Healthy, seq).await?;
                Ok(Ok(answered.answer))
            }
            Err(error) => {
                let delay = self.next_delay(&error, attempt, started_ms);
                let failed = Event::ApiCallFailed {
                    call,
                    attempt,
                    status: error.status(),
                    error: clip(&error.to_string(), ERROR_BYTES_MAX),
                    duration_ms,
                    retry_in_ms: delay.map(|delay| elapsed_ms(0, millis(delay))),
                };
                let seq = log.append(NewEvent::caused_by(failed, started)).await?.seq;
                self.record(probe, error.breaker_signal(), seq).await?;
                Ok(Err((error, delay)))
            }
        }
    }

    /// The wait before retrying after `error`, or None when the call is given up.
    fn next_delay(&self, error: &DokployError, attempt: u32, started_ms: i64) -> Option<Duration> {
        if !error.is_retryable() {
            return None;
        }
        let now = self.clock.now_ms();
        let asked = error
            .retry_after()
            .map(|retry_after| retry_after.delay(now));
        let delay = self.policy.delay(attempt, asked, self.jitter.unit());
        let elapsed = Duration::from_millis(elapsed_ms(started_ms, now));
        self.policy.allows(attempt, elapsed, delay).then_some(delay)
    }

    async fn admit(&self) -> Result<Admission, LedgerError> {
        let (admission, transition) = self.breaker.admit();
        if let Some(transition) = transition {
            self.record_transition(transition, None).await?;
        }
        Ok(admission)
    }

    async fn record(
        &self,
        probe: bool,
        signal: BreakerSignal,
        cause: Seq,
    ) -> Result<(), LedgerError> {
        match self.breaker.record(probe, signal) {
            Some(transition) => self.record_transition(transition, Some(cause)).await,
            None => Ok(()),
        }
    }

    async fn record_transition(
        &self,
        transition: Transition,
        cause: Option<Seq>,
    ) -> Result<(), LedgerError> {
        let event = match transition {
            Transition::Opened => Event::CircuitOpened,
            Transition::HalfOpened => Event::CircuitHalfOpened,
            Transition::Closed => Event::CircuitClosed,
        };
        tracing::warn!(?transition, "Dokploy circuit breaker changed state");
        let event = NewEvent { event, cause };
        self.system
            .append_one(DeploymentId::SYSTEM, ExpectedVersion::Any, event)
            .await
            .map(|_| ())
    }
}

/// Whether a lookup found what a create would have made.
fn is_found(answer: &ApiAnswer) -> bool {
    matches!(
        answer,
        ApiAnswer::Project(Some(_)) | ApiAnswer::Application(Some(_)) | ApiAnswer::Domain(Some(_))
    )
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn elapsed_ms(from_ms: i64, to_ms: i64) -> u64 {
    u64::try_from(to_ms.saturating_sub(from_ms)).unwrap_or(0)
}
