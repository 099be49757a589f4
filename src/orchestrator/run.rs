//! One deployment's run: the loop that executes what the saga core decides. It asks
//! `plan::next` for a step, executes it (append, call through the [`Caller`], probe, sleep on
//! the injected clock, wait in the admission queue or in line for a build slot), folds every
//! event it appends into its own [`SagaState`], and loops until the core says the deployment is
//! over. It must never decide anything itself: every step it executes is one `plan::next`
//! returned; it holds its running slot from `AdmissionGranted` to its end, and a build slot
//! exactly while [`plan::holds_build_slot`] says so (both are dropped with the run too, also
//! when the run is aborted).
//!
//! Others may append to the stream too: only a `CancelRequested`. Before each decision the run
//! folds what was appended since its last event, and an append refused for that (a version
//! conflict) is retried once it has; any other foreign event stops the run with the conflict.
//! A wait (in a line, or a sleep) ends early when a cancel is recorded ([`Wakes`]) or the
//! deadline passes, so that either takes effect at once.
//!
//! [`Caller`]: crate::dokploy::caller::Caller

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::crash::CrashPoint;
use crate::deployment::plan::{self, Executed, Outcome, Probe, Step};
use crate::deployment::saga::SagaState;
use crate::deployment::{Event, EventKind, Request};
use crate::dokploy::api::DokployApi;
use crate::dokploy::caller::{CallCounter, CallError, CallLog};
use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::envelope::Envelope;
use crate::ledger::error::LedgerError;
use crate::ledger::{Ledger, NewEvent, StreamWriter};
use crate::orchestrator::Inner;
use crate::orchestrator::error::observed;
use crate::orchestrator::gate::{Slot, Ticket, Turn};

/// The runs a recorded cancel must wake, by deployment.
#[derive(Debug, Default)]
pub(crate) struct Wakes(Mutex<HashMap<DeploymentId, Arc<Notify>>>);

impl Wakes {
    /// Wakes the run of `id`, if one is in flight (a run not yet waiting wakes at its next
    /// wait; a run not yet loaded reads the cancel with its stream).
    pub(crate) fn wake(&self, id: DeploymentId) {
        if let Some(notify) = self.lock().get(&id) {
            notify.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeploymentId, Arc<Notify>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A run's registration in [`Wakes`]; it leaves when the run is gone.
struct Wake<'a> {
    wakes: &'a Wakes,
    id: DeploymentId,
    notify: Arc<Notify>,
}

impl<'a> Wake<'a> {
    fn register(wakes: &'a Wakes, id: DeploymentId) -> Self {
        let notify = Arc::clone(wakes.lock().entry(id).or_default());
        Self { wakes, id, notify }
    }
}

impl Drop for Wake<'_> {
    fn drop(&mut self) {
        self.wakes.lock().remove(&self.id);
    }
}

/// The run's pen on its stream, and the decision state folded from everything in it.
struct Journal {
    ledger: Ledger,
    writer: StreamWriter,
    saga: SagaState,
    /// The core's settings (the deadline a retry stops at).
    settings: plan::Settings,
}

impl Journal {
    /// Folds what others appended to the stream since the run's last event (only a cancel
    /// may be; anything else is another writer of this stream, a conflict that stops the run).
    fn catch_up(&mut self) -> Result<(), LedgerError> {
        let id = self.saga.id;
        if self.ledger.stream_version(id) == self.writer.version() {
            return Ok(());
        }
        for envelope in self
            .ledger
            .read_stream(id, self.saga.last_seq, usize::MAX)?
        {
            self.fold_foreign(&envelope)?;
        }
        Ok(())
    }

    /// Waits until the stream's events up to `version` are published and folds them: the
    /// writer refused an append at a version it has staged for someone else (a cancel), which
    /// is readable only once it is durable.
    async fn catch_up_to(&mut self, version: StreamVersion) -> Result<(), LedgerError> {
        let mut events = self
            .ledger
            .subscribe(Some(self.saga.id), self.saga.last_seq);
        while self.writer.version() < version {
            let envelope = events.next().await.ok_or(LedgerError::Stopped)??;
            self.fold_foreign(&envelope)?;
        }
        Ok(())
    }

    /// Folds one event another writer appended: only a cancel may be.
    fn fold_foreign(&mut self, envelope: &Envelope) -> Result<(), LedgerError> {
        if envelope.seq <= self.saga.last_seq {
            return Ok(());
        }
        if envelope.event.kind() != EventKind::CancelRequested {
            return Err(LedgerError::VersionConflict {
                stream: self.saga.id,
                expected: self.writer.version(),
                actual: envelope.version,
            });
        }
        self.saga.apply(envelope.seq, envelope.at, &envelope.event);
        self.writer.caught_up(envelope.version);
        Ok(())
    }
}

impl CallLog for Journal {
    async fn append(&mut self, event: NewEvent) -> Result<Arc<Envelope>, LedgerError> {
        let written = match self.writer.append(event.clone()).await {
            Err(LedgerError::VersionConflict { actual, .. }) => {
                // A cancel came in between; the event is still what happened.
                self.catch_up_to(actual).await?;
                self.writer.append(event).await?
            }
            written => written?,
        };
        self.saga.apply(written.seq, written.at, &written.event);
        Ok(written)
    }

    /// A forward call stops retrying once the deployment is cancelled or past its deadline; a
    /// rollback's calls never do.
    fn stop_retrying(&self, now_ms: i64) -> bool {
        let saga = &self.saga;
        saga.failure.is_none()
            && (saga.cancel.is_some() || now_ms >= plan::deadline_ms(saga, &self.settings))
    }
}

/// Whether a decision was recorded.
enum Recorded {
    /// It is in the ledger and folded.
    Yes,
    /// A cancel was appended first; the decision was dropped and the cancel folded.
    Superseded,
}

/// A deployment being driven.
pub(super) struct Run<'a, A> {
    inner: &'a Inner<A>,
    journal: Journal,
    /// Call numbers go on from the last recorded one; a call the breaker refused uses one up.
    calls: CallCounter,
    /// The seq of the deployment's request: its place in the admission queue.
    requested: Seq,
    /// The place in the admission queue, and when it was taken (unix ms).
    queued: Option<(Ticket, i64)>,
    /// The running slot, once this run holds it.
    running: Option<Slot>,
    /// The place in line for a build slot, and when it was taken (unix ms).
    ticket: Option<(Ticket, i64)>,
    /// The build slot, while this run holds it.
    slot: Option<Slot>,
    wake: Wake<'a>,
}

impl<'a, A: DokployApi> Run<'a, A> {
    /// Loads the run from the deployment's stream (with its place in the admission queue, if
    /// it has one already); None when there is no such deployment.
    pub(super) fn load(
        inner: &'a Inner<A>,
        id: DeploymentId,
        queued: Option<(Ticket, i64)>,
    ) -> Result<Option<Self>, LedgerError> {
        // Registered before the stream is read: a cancel appended after the read wakes it.
        let wake = Wake::register(&inner.wakes, id);
        let stream = inner.ledger.read_stream(id, Seq::ZERO, usize::MAX)?;
        let requested = stream.first().map_or(Seq::ZERO, |e| e.seq);
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
            journal: Journal {
                ledger: inner.ledger.clone(),
                writer,
                saga,
                settings: inner.settings.plan.clone(),
            },
            requested,
            queued,
            running: None,
            ticket: None,
            slot: None,
            wake,
        }))
    }

    /// Executes steps until the deployment is over; a ledger error stops the run where it is.
    pub(super) async fn drive(mut self) -> Result<Outcome, LedgerError> {
        let mut executed = Executed::Nothing;
        loop {
            self.journal.catch_up()?;
            let now_ms = self.inner.clock.now_ms();
            let step = plan::next(
                &self.journal.saga,
                &self.inner.settings.plan,
                now_ms,
                &executed,
            );
            executed = match step {
                Step::Record { event, cause } => match self.record(event, cause).await? {
                    Recorded::Yes => Executed::Recorded,
                    // A cancel came first: decide again, from the same step just executed.
                    Recorded::Superseded => executed,
                },
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
                    let sleep = self.inner.clock.sleep(duration);
                    match self.unless_stopped(sleep).await {
                        Some(()) => Executed::Waited,
                        None => Executed::Woken,
                    }
                }
                Step::Admit => self.admit().await,
                Step::AcquireBuildSlot => self.take_slot().await,
                Step::Finish(outcome) => return Ok(outcome),
            };
        }
    }

    /// Waits for `wait` unless a cancel is recorded or the deadline passes first (None). Once
    /// the deployment has failed, nothing stops its waits: the rollback must finish.
    async fn unless_stopped<F: Future>(&self, wait: F) -> Option<F::Output> {
        let Some(deadline) = watched_deadline(&self.journal.saga, &self.inner.settings.plan) else {
            return Some(wait.await);
        };
        tokio::select! {
            output = wait => Some(output),
            () = self.wake.notify.notified() => None,
            () = self.inner.clock.sleep_until(deadline) => None,
        }
    }

    /// Waits in the admission queue until the running slot is this run's, its place changes,
    /// or the run is woken.
    async fn admit(&mut self) -> Executed {
        let clock = &self.inner.clock;
        if self.running.is_some() {
            // The slot was granted but its AdmissionGranted is not recorded yet.
            return Executed::Admitted { waited_ms: 0 };
        }
        let (ticket, joined_ms) = self.queued.get_or_insert_with(|| {
            (
                self.inner.admission.join_at(self.requested.0),
                clock.now_ms(),
            )
        });
        let joined_ms = *joined_ms;
        let deadline = watched_deadline(&self.journal.saga, &self.inner.settings.plan);
        match wait_turn(ticket, &self.wake.notify, clock.as_ref(), deadline).await {
            None => Executed::Woken,
            Some(Turn::Waiting { ahead }) => Executed::Queued { ahead },
            Some(Turn::Granted(slot)) => {
                self.queued = None;
                self.running = Some(slot);
                Executed::Admitted {
                    waited_ms: waited(joined_ms, clock.now_ms()),
                }
            }
        }
    }

    /// Waits in line until the build slot is this run's, its place changes, or the run is
    /// woken.
    async fn take_slot(&mut self) -> Executed {
        let clock = &self.inner.clock;
        let gate = &self.inner.build_gate;
        let (ticket, joined_ms) = self
            .ticket
            .get_or_insert_with(|| (gate.join(), clock.now_ms()));
        let joined_ms = *joined_ms;
        let deadline = watched_deadline(&self.journal.saga, &self.inner.settings.plan);
        match wait_turn(ticket, &self.wake.notify, clock.as_ref(), deadline).await {
            None => Executed::Woken,
            Some(Turn::Waiting { ahead }) => Executed::InLine { ahead },
            Some(Turn::Granted(slot)) => {
                self.ticket = None;
                self.slot = Some(slot);
                Executed::SlotAcquired {
                    waited_ms: waited(joined_ms, clock.now_ms()),
                }
            }
        }
    }

    /// Records a decision of the core; a decision made before a cancel that the ledger took in
    /// between is not recorded (`Superseded`): the core decides again, seeing the cancel.
    async fn record(&mut self, event: Event, cause: Option<Seq>) -> Result<Recorded, LedgerError> {
        let new = NewEvent { event, cause };
        let written = match self.journal.writer.append(new).await {
            Err(LedgerError::VersionConflict { actual, .. }) => {
                self.journal.catch_up_to(actual).await?;
                return Ok(Recorded::Superseded);
            }
            written => written?,
        };
        let journal = &mut self.journal;
        journal.saga.apply(written.seq, written.at, &written.event);
        if let Event::DeploymentFailed {
            phase,
            code,
            message,
        } = &written.event
        {
            let id = journal.saga.id;
            tracing::warn!(deployment = %id, %phase, code, "deployment failed: {message}");
        }
        let saga = &self.journal.saga;
        // Only what is recorded changes whether the build slot is still needed (a slot just
        // granted is needed from its BuildSlotAcquired, the next record); a failed deployment
        // leaves the line for one.
        if !plan::holds_build_slot(saga) {
            self.slot = None;
        }
        if saga.failure.is_some() {
            self.ticket = None;
        }
        Ok(Recorded::Yes)
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
        let duration_ms = waited(sent, clock.now_ms());
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

/// The deadline a wait watches (unix ms): none once the deployment has failed, since its
/// rollback must finish.
fn watched_deadline(saga: &SagaState, settings: &plan::Settings) -> Option<i64> {
    saga.failure
        .is_none()
        .then(|| plan::deadline_ms(saga, settings))
}

/// Waits for `ticket`'s turn (the slot, or a new place in line), unless the run is woken by a
/// cancel or `deadline_ms` passes first (None).
async fn wait_turn(
    ticket: &mut Ticket,
    wake: &Notify,
    clock: &dyn Clock,
    deadline_ms: Option<i64>,
) -> Option<Turn> {
    let deadline = async {
        match deadline_ms {
            Some(at) => clock.sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        turn = ticket.turn() => Some(turn),
        () = wake.notified() => None,
        () = deadline => None,
    }
}

/// Milliseconds from `from_ms` to `to_ms`, never negative.
fn waited(from_ms: i64, to_ms: i64) -> u64 {
    u64::try_from(to_ms.saturating_sub(from_ms)).unwrap_or(0)
}
