//! One deployment's run: the loop that executes what the saga core decides. It asks
//! `plan::next` for a step, executes it (append, call through the [`Caller`], probe, sleep on
//! the injected clock, wait in line for a build slot), folds every event it appends into its
//! own [`SagaState`], and loops until the core says the deployment is over. It must never
//! decide anything itself: every step it executes is one `plan::next` returned, and it holds a
//! build slot exactly while [`plan::holds_build_slot`] says so (the slot is dropped with the run
//! too, also when the run is aborted).
//!
//! [`Caller`]: crate::dokploy::caller::Caller

use std::sync::Arc;

use crate::crash::CrashPoint;
use crate::deployment::plan::{self, Executed, Outcome, Probe, Step};
use crate::deployment::saga::SagaState;
use crate::deployment::{Event, Request};
use crate::dokploy::api::DokployApi;
use crate::dokploy::caller::{CallCounter, CallError, CallLog};
use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::envelope::Envelope;
use crate::ledger::error::LedgerError;
use crate::ledger::{NewEvent, StreamWriter};
use crate::orchestrator::Inner;
use crate::orchestrator::build_gate::{BuildSlot, Ticket, Turn};
use crate::orchestrator::error::observed;

/// The run's pen on its stream, and the decision state folded from everything it wrote.
struct Journal {
    writer: StreamWriter,
    saga: SagaState,
}

impl CallLog for Journal {
    async fn append(&mut self, event: NewEvent) -> Result<Arc<Envelope>, LedgerError> {
        let written = self.writer.append(event).await?;
        self.saga.apply(written.seq, written.at, &written.event);
        Ok(written)
    }
}

/// A deployment being driven.
pub(super) struct Run<'a, A> {
    inner: &'a Inner<A>,
    journal: Journal,
    /// Call numbers go on from the last recorded one; a call the breaker refused uses one up.
    calls: CallCounter,
    /// The place in line for a build slot, and when it was taken (unix ms).
    ticket: Option<(Ticket, i64)>,
    /// The build slot, while this run holds it.
    slot: Option<BuildSlot>,
}

impl<'a, A: DokployApi> Run<'a, A> {
    /// Loads the run from the deployment's stream; None when there is no such deployment.
    pub(super) fn load(inner: &'a Inner<A>, id: DeploymentId) -> Result<Option<Self>, LedgerError> {
        let stream = inner.ledger.read_stream(id, Seq::ZERO, usize::MAX)?;
        let events = stream.iter().map(|e| (e.seq, e.at, &e.event));
        let Some(mut saga) = SagaState::fold(id, events) else {
            return Ok(None);
        };
        saga.begin_run(inner.clock.now_ms());
        let version = stream.last().map_or(StreamVersion::EMPTY, |e| e.version);
        let writer = StreamWriter::with_crash_points(
            inner.ledger.clone(),
            id,
            version,
            Arc::clone(&inner.crash),
        );
        Ok(Some(Self {
            inner,
            calls: CallCounter::after(saga.last_call),
            journal: Journal { writer, saga },
            ticket: None,
            slot: None,
        }))
    }

    /// Executes steps until the deployment is over; a ledger error stops the run where it is.
    pub(super) async fn drive(mut self) -> Result<Outcome, LedgerError> {
        let mut executed = Executed::Nothing;
        loop {
            let now_ms = self.inner.clock.now_ms();
            let step = plan::next(
                &self.journal.saga,
                &self.inner.settings.plan,
                now_ms,
                &executed,
            );
            executed = match step {
                Step::Record { event, cause } => {
                    self.record(event, cause).await?;
                    // Only what is recorded changes whether the slot is still needed (a slot
                    // just granted is needed from its BuildSlotAcquired, the next record).
                    if !plan::holds_build_slot(&self.journal.saga) {
                        self.slot = None;
                    }
                    Executed::Recorded
                }
                Step::Call {
                    request,
                    rollback_step,
                } => {
                    if rollback_step {
                        self.inner.crash.hit(CrashPoint::BetweenRollbackSteps);
                    }
                    self.call(request).await?
                }
                Step::Probe { url } => self.probe(&url).await,
                Step::Wait(duration) => {
                    self.inner.clock.sleep(duration).await;
                    Executed::Waited
                }
                Step::AcquireBuildSlot => self.take_slot().await,
                Step::Finish(outcome) => return Ok(outcome),
            };
        }
    }

    /// Waits in line until the build slot is this run's or its place changes.
    async fn take_slot(&mut self) -> Executed {
        let clock = &self.inner.clock;
        let gate = &self.inner.build_gate;
        let (ticket, joined_ms) = self
            .ticket
            .get_or_insert_with(|| (gate.join(), clock.now_ms()));
        match ticket.turn().await {
            Turn::Waiting { ahead } => Executed::InLine { ahead },
            Turn::Granted(slot) => {
                let waited = clock.now_ms().saturating_sub(*joined_ms);
                self.ticket = None;
                self.slot = Some(slot);
                Executed::SlotAcquired {
                    waited_ms: u64::try_from(waited).unwrap_or(0),
                }
            }
        }
    }

    async fn record(&mut self, event: Event, cause: Option<Seq>) -> Result<(), LedgerError> {
        if let Event::DeploymentFailed {
            phase,
            code,
            message,
        } = &event
        {
            let id = self.journal.saga.id;
            tracing::warn!(deployment = %id, %phase, code, "deployment failed: {message}");
        }
        self.journal.append(NewEvent { event, cause }).await?;
        Ok(())
    }

    async fn call(&mut self, request: Request) -> Result<Executed, LedgerError> {
        let answer = self
            .inner
            .caller
            .call(&mut self.journal, &mut self.calls, &request)
            .await;
        let result = match answer {
            Ok(answer) => Ok(answer),
            Err(CallError::Ledger(error)) => return Err(error),
            Err(CallError::Dokploy(error)) => Err(observed(&error)),
        };
        Ok(Executed::Called { request, result })
    }

    async fn probe(&self, url: &str) -> Executed {
        let clock = &self.inner.clock;
        let sent = clock.now_ms();
        let answer = self.inner.caller.api().probe_health(url).await;
        let duration_ms = u64::try_from(clock.now_ms().saturating_sub(sent)).unwrap_or(0);
        let (status, error) = match answer {
            Ok(status) => (Some(status), None),
            Err(error) => (None, Some(error.to_string())),
        };
        Executed::Probed(Probe {
            status,
            error,
            duration_ms,
        })
    }
}
