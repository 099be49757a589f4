//! The single writer: validates appends, chains and encodes them, group-commits them, and only
//! then publishes them (stream index, projection, live subscribers) and acknowledges them.
//!
//! It runs on two OS threads because a durable flush blocks. The stager (here) takes requests
//! from a bounded channel; every request waiting when a batch starts joins it. It validates,
//! chains, encodes and writes the batch to the store, then hands it to the syncer
//! (`syncer.rs`) and goes on with the next batch while the syncer makes the previous ones
//! durable with one sync for all that are waiting. Only after the sync are events published
//! and appenders answered, in seq order.
//! A request is all-or-nothing: if any of its events is refused, none is staged. A storage
//! error fails every appender of the batches concerned and stops the writer for good: later
//! appends get [`LedgerError::Stopped`], never a false acknowledgement.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::clock::Clock;
use crate::crash::{CrashPoint, CrashPoints};
use crate::deployment::name::NameClaims;
use crate::deployment::{Event, EventKind};
use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::checkpoint::Checkpointer;
use crate::ledger::claims::StoredClaims;
use crate::ledger::codec;
use crate::ledger::envelope::{Envelope, Hash};
use crate::ledger::error::LedgerError;
use crate::ledger::mirror::Mirror;
use crate::ledger::shared::Shared;
use crate::ledger::store::{Head, Store, StoredRecord};
use crate::ledger::syncer::{Syncer, Written};
use crate::ledger::witness::Witness;
use crate::ledger::{ExpectedVersion, NewEvent};

/// What an appender receives: the envelopes as written.
pub(crate) type AppendReply = oneshot::Sender<Result<Vec<Arc<Envelope>>, LedgerError>>;

/// An appender to answer, with where its events are in the batch (or why it was refused).
pub(crate) type Reply = (AppendReply, Result<Range<usize>, LedgerError>);

/// A message to the writer.
pub(crate) enum Command {
    /// Append events to one stream.
    Append {
        stream: DeploymentId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        reply: AppendReply,
    },
    /// Finish what is queued, then stop.
    Shutdown { done: oneshot::Sender<()> },
    /// Take a checkpoint of everything durable once what is queued is (`done` once stored).
    CheckpointNow { done: oneshot::Sender<()> },
    /// Record the checkpoint the publishing side took through `through` (the keeper's).
    Checkpoint { through: Head, digest: [u8; 32] },
}

/// One group commit in the making.
#[derive(Default)]
struct Batch {
    records: Vec<StoredRecord>,
    envelopes: Vec<Arc<Envelope>>,
    replies: Vec<Reply>,
    checkpoints: Vec<oneshot::Sender<()>>,
}

/// Batches written but not yet synced, between the stager and the syncer. Small: it only
/// needs to cover the batch being staged while the previous one syncs.
const WRITTEN_QUEUE_MAX: usize = 4;

/// The writer's state: the head and what validation needs.
pub(crate) struct Writer {
    pub(crate) store: Arc<dyn Store>,
    /// The witness of acknowledged heads (a ledger on disk), handed to the syncer.
    pub(crate) witness: Option<Witness>,
    /// The mirror (`--mirror`), handed to the syncer.
    pub(crate) mirror: Option<Mirror>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) live: broadcast::Sender<Arc<Envelope>>,
    pub(crate) head: Head,
    /// Streams' versions and last seqs not yet covered by a stored checkpoint.
    pub(crate) versions: HashMap<DeploymentId, (StreamVersion, Seq)>,
    pub(crate) claims: NameClaims,
    /// The checkpoint through which `versions` and `claims` were last forgotten.
    pub(crate) compacted: Seq,
    pub(crate) payload_bytes_max: usize,
    pub(crate) batch_events_max: usize,
    /// Crash points of the ledger's threads (crash tests).
    pub(crate) crash: Arc<CrashPoints>,
    /// The checkpoints' publishing side, handed to the syncer.
    pub(crate) checkpointer: Option<Checkpointer>,
}

impl Writer {
    /// Runs until shutdown, a storage failure, or every sender is gone.
    ///
    /// Two stages overlap: this thread validates, encodes and writes batch N+1 while a syncer
    /// thread makes batch N durable; the syncer merges every batch waiting for it into one sync.
    pub(crate) fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let (to_syncer, written) = std::sync::mpsc::sync_channel(WRITTEN_QUEUE_MAX);
        let syncer = Syncer {
            store: Arc::clone(&self.store),
            witness: self.witness.take(),
            mirror: self.mirror.take(),
            shared: Arc::clone(&self.shared),
            live: self.live.clone(),
            checkpointer: self
                .checkpointer
                .take()
                .expect("the writer runs once, with its checkpointer"),
        };
        let syncer = match std::thread::Builder::new()
            .name("ledger-syncer".into())
            .spawn(move || syncer.run(written))
        {
            Ok(handle) => handle,
            Err(error) => {
                tracing::error!(%error, "cannot start the ledger syncer; the writer stops");
                self.stop(&mut commands);
                return;
            }
        };
        let mut shutdown = None;
        while let Some(command) = commands.blocking_recv() {
            let mut batch = Batch::default();
            shutdown = self.take(command, &mut batch);
            while shutdown.is_none() && batch.envelopes.len() < self.batch_events_max {
                match commands.try_recv() {
                    Ok(command) => shutdown = self.take(command, &mut batch),
                    Err(_) => break,
                }
            }
            if let Some(written) = self.write(batch)
                && to_syncer.send(written).is_err()
            {
                break;
            }
            if shutdown.is_some() || self.is_stopped() {
                break;
            }
        }
        // The syncer finishes what it was handed, then sees the channel close.
        drop(to_syncer);
        let _ = syncer.join();
        self.stop(&mut commands);
        if let Some(done) = shutdown {
            let _ = done.send(());
        }
    }

    fn is_stopped(&self) -> bool {
        self.shared.is_stopped()
    }

    /// Adds a command to the batch; returns the shutdown signal if it was one.
    fn take(&mut self, command: Command, batch: &mut Batch) -> Option<oneshot::Sender<()>> {
        match command {
            Command::Append {
                stream,
                expected,
                events,
                reply,
            } => {
                let staged = if self.is_stopped() {
                    Err(self.shared.refusal())
                } else if let Some(new) = events
                    .iter()
                    .find(|new| new.event.kind() == EventKind::CheckpointTaken)
                {
                    Err(LedgerError::LedgerOnly {
                        kind: new.event.kind(),
                    })
                } else {
                    self.stage(stream, expected, events, batch)
                };
                batch.replies.push((reply, staged));
                None
            }
            Command::Shutdown { done } => Some(done),
            Command::CheckpointNow { done } => {
                batch.checkpoints.push(done);
                None
            }
            Command::Checkpoint { through, digest } => {
                let taken = Event::CheckpointTaken {
                    through_seq: through.seq.0,
                    through_hash: through.hash.0,
                    digest,
                };
                let staged = self.stage(
                    DeploymentId::SYSTEM,
                    ExpectedVersion::Any,
                    vec![NewEvent::new(taken)],
                    batch,
                );
                // Nobody waits for this answer: the keeper stores the checkpoint once it sees
                // the event published.
                batch.replies.push((oneshot::channel().0, staged));
                None
            }
        }
    }

    /// Validates, chains and encodes one request into the batch; all or nothing.
    fn stage(
        &mut self,
        stream: DeploymentId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        batch: &mut Batch,
    ) -> Result<Range<usize>, LedgerError> {
        if events.is_empty() {
            return Err(LedgerError::EmptyAppend);
        }
        self.compact();
        self.load_claims(stream, &events)?;
        let mut version = self.expect_version(stream, expected)?;
        let at = self.clock.now_ms();
        let mut head = self.head;
        let mut staged = Vec::with_capacity(events.len());
        for new in events {
            head.seq = head.seq.next();
            version = version.next();
            self.check(stream, version, head.seq, &new)?;
            let (record, envelope) = self.seal(Envelope {
                seq: head.seq,
                stream,
                version,
                at,
                cause: new.cause,
                event: new.event,
                prev_hash: head.hash,
                hash: Hash::ZERO,
            })?;
            head.hash = envelope.hash;
            staged.push((record, envelope));
        }
        let start = batch.envelopes.len();
        for (record, envelope) in staged {
            self.claims
                .observe(envelope.seq, envelope.stream, &envelope.event);
            batch.records.push(record);
            batch.envelopes.push(Arc::new(envelope));
        }
        self.versions.insert(stream, (version, head.seq));
        self.head = head;
        Ok(start..batch.envelopes.len())
    }

    /// Forgets what a checkpoint stored since the last call: the claims it wrote to disk and
    /// the versions of streams whose last event it covers (both are read from disk then).
    fn compact(&mut self) {
        let through = self.shared.checkpointed();
        if through <= self.compacted {
            return;
        }
        self.claims.forget_through(through);
        self.versions.retain(|_, (_, last)| *last > through);
        self.compacted = through;
    }

    /// Reads from disk the claims the request's events need and memory does not hold.
    fn load_claims(
        &mut self,
        stream: DeploymentId,
        events: &[NewEvent],
    ) -> Result<(), LedgerError> {
        let published = self.shared.published();
        let base = StoredClaims::new(self.store.as_ref(), &published.tails);
        for new in events {
            self.claims
                .load(stream, &new.event, &base)
                .map_err(LedgerError::Storage)?;
        }
        Ok(())
    }

    /// The stream's current version, if it is the one the appender expects.
    fn expect_version(
        &self,
        stream: DeploymentId,
        expected: ExpectedVersion,
    ) -> Result<StreamVersion, LedgerError> {
        let current = match self.versions.get(&stream) {
            Some((version, _)) => *version,
            None => self.shared.version(stream).map_err(LedgerError::Storage)?,
        };
        match expected {
            ExpectedVersion::Exact(expected) if expected != current => {
                Err(LedgerError::VersionConflict {
                    stream,
                    expected,
                    actual: current,
                })
            }
            _ => Ok(current),
        }
    }

    /// Encodes an envelope and computes its hash: its stored record and the envelope as
    /// written. Refuses an event over the payload cap.
    fn seal(&self, mut envelope: Envelope) -> Result<(StoredRecord, Envelope), LedgerError> {
        let body = codec::encode_envelope_body(&envelope);
        if body.len() > self.payload_bytes_max {
            return Err(LedgerError::PayloadTooLarge {
                kind: envelope.event.kind(),
                size: body.len(),
                max: self.payload_bytes_max,
            });
        }
        envelope.hash = Hash::chain(&envelope.prev_hash, &body);
        let record = StoredRecord {
            seq: envelope.seq,
            bytes: codec::encode_record(&body, &envelope.hash),
        };
        Ok((record, envelope))
    }

    /// The rules one event must meet at its place.
    fn check(
        &self,
        stream: DeploymentId,
        version: StreamVersion,
        seq: Seq,
        new: &NewEvent,
    ) -> Result<(), LedgerError> {
        let kind = new.event.kind();
        let opens_stream = kind == EventKind::DeploymentRequested;
        let misplaced = if stream.is_system() {
            !kind.is_system()
        } else if stream.is_ops() {
            !kind.is_ops()
        } else {
            kind.is_system() || kind.is_ops() || opens_stream != (version == StreamVersion(1))
        };
        if misplaced {
            return Err(LedgerError::WrongStream {
                kind,
                stream,
                version,
            });
        }
        if let Some(cause) = new.cause
            && (cause == Seq::ZERO || cause >= seq)
        {
            return Err(LedgerError::InvalidCause { seq, cause });
        }
        if let Some((name, holder)) = self.claims.conflict(&new.event) {
            return Err(LedgerError::NameTaken { name, holder });
        }
        if kind == EventKind::CancelRequested && !self.claims.cancellable(stream) {
            return Err(LedgerError::NotCancellable { stream });
        }
        Ok(())
    }

    /// Writes the batch to the store (not yet durable). Returns it for the syncer, or None
    /// when there is nothing to sync (every appender already answered) or the write failed
    /// (every appender answered with the error, and the writer stops).
    fn write(&mut self, batch: Batch) -> Option<Written> {
        let Batch {
            records,
            envelopes,
            replies,
            checkpoints,
        } = batch;
        if records.is_empty() && checkpoints.is_empty() {
            for (reply, staged) in replies {
                let _ = reply.send(staged.map(|_| Vec::new()));
            }
            return None;
        }
        if records.is_empty() {
            for (reply, staged) in replies {
                let _ = reply.send(staged.map(|_| Vec::new()));
            }
            return Some(Written {
                head: self.head,
                records,
                envelopes,
                replies: Vec::new(),
                checkpoints,
            });
        }
        if let Err(error) = self.store.write(&records, &self.head) {
            tracing::error!(%error, "ledger write failed; the writer stops");
            self.shared.stop();
            for (reply, staged) in replies {
                let _ = reply.send(staged.and(Err(LedgerError::Storage(error.clone()))));
            }
            return None;
        }
        self.crash.hit(CrashPoint::AfterStoreWrite);
        Some(Written {
            head: self.head,
            records,
            envelopes,
            replies,
            checkpoints,
        })
    }

    /// Refuses everything still queued and everything that comes later.
    fn stop(&self, commands: &mut mpsc::Receiver<Command>) {
        self.shared.stop();
        commands.close();
        while let Ok(command) = commands.try_recv() {
            match command {
                Command::Append { reply, .. } => {
                    let _ = reply.send(Err(LedgerError::Stopped));
                }
                Command::Shutdown { done } | Command::CheckpointNow { done } => {
                    let _ = done.send(());
                }
                Command::Checkpoint { .. } => {}
            }
        }
    }
}
