//! The single writer: validates appends, chains and encodes them, group-commits them, and only
//! then publishes them (stream index, projection, live subscribers) and acknowledges them.
//!
//! It runs on its own OS thread because a durable flush blocks. Requests come over a bounded
//! channel; every request that is waiting when a batch starts joins it, so one flush serves
//! many appenders. A request is all-or-nothing: if any of its events is refused, none is
//! staged. A storage error fails every appender of that batch and stops the writer for good:
//! later appends get [`LedgerError::Stopped`], never a false acknowledgement.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::clock::{Clock, Stopwatch};
use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::codec::{self, BodyFields};
use crate::ledger::envelope::{Envelope, Hash};
use crate::ledger::error::LedgerError;
use crate::ledger::event::{Event, EventKind};
use crate::ledger::store::{Head, Store, StoredRecord};
use crate::ledger::{ExpectedVersion, NewEvent, Shared};

/// What an appender receives: the envelopes as written.
pub(crate) type AppendReply = oneshot::Sender<Result<Vec<Arc<Envelope>>, LedgerError>>;

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
}

/// Who holds which stack name, kept by the writer so a claim is decided atomically.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    holders: HashMap<String, DeploymentId>,
    names: HashMap<DeploymentId, String>,
}

impl Claims {
    /// Follows one durable (or staged) event.
    pub(crate) fn observe(&mut self, envelope: &Envelope) {
        if let Event::DeploymentRequested { name, .. } = &envelope.event {
            self.names.insert(envelope.stream, name.clone());
        }
        let Some(status) = envelope.event.status_effect() else {
            return;
        };
        let Some(name) = self.names.get(&envelope.stream) else {
            return;
        };
        if status.holds_name() {
            self.holders.entry(name.clone()).or_insert(envelope.stream);
        } else if self.holders.get(name) == Some(&envelope.stream) {
            self.holders.remove(name);
        }
    }

    fn holder(&self, name: &str) -> Option<DeploymentId> {
        self.holders.get(name).copied()
    }
}

/// One group commit in the making.
#[derive(Default)]
struct Batch {
    records: Vec<StoredRecord>,
    envelopes: Vec<Arc<Envelope>>,
    replies: Vec<(AppendReply, Result<Range<usize>, LedgerError>)>,
}

/// The writer's state: the head and what validation needs.
pub(crate) struct Writer {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) live: broadcast::Sender<Arc<Envelope>>,
    pub(crate) head: Head,
    pub(crate) versions: HashMap<DeploymentId, StreamVersion>,
    pub(crate) claims: Claims,
    pub(crate) payload_bytes_max: usize,
    pub(crate) batch_events_max: usize,
}

impl Writer {
    /// Runs until shutdown, a storage failure, or every sender is gone.
    pub(crate) fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(command) = commands.blocking_recv() {
            let mut batch = Batch::default();
            let mut shutdown = self.take(command, &mut batch);
            while shutdown.is_none() && batch.envelopes.len() < self.batch_events_max {
                match commands.try_recv() {
                    Ok(command) => shutdown = self.take(command, &mut batch),
                    Err(_) => break,
                }
            }
            let durable = self.commit(batch);
            if let Some(done) = shutdown {
                self.stop(&mut commands);
                let _ = done.send(());
                return;
            }
            if !durable {
                self.stop(&mut commands);
                return;
            }
        }
        self.shared.stop();
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
                let staged = self.stage(stream, expected, events, batch);
                batch.replies.push((reply, staged));
                None
            }
            Command::Shutdown { done } => Some(done),
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
        let current = self.versions.get(&stream).copied().unwrap_or_default();
        if let ExpectedVersion::Exact(expected) = expected
            && expected != current
        {
            return Err(LedgerError::VersionConflict {
                stream,
                expected,
                actual: current,
            });
        }
        let at = self.clock.now_ms();
        let mut head = self.head;
        let mut version = current;
        let mut staged = Vec::with_capacity(events.len());
        for new in events {
            head.seq = head.seq.next();
            version = version.next();
            self.check(stream, version, head.seq, &new)?;
            let body = codec::encode_body(BodyFields {
                seq: head.seq,
                stream,
                version,
                at,
                cause: new.cause,
                event: &new.event,
                prev_hash: head.hash,
            });
            if body.len() > self.payload_bytes_max {
                return Err(LedgerError::PayloadTooLarge {
                    kind: new.event.kind(),
                    size: body.len(),
                    max: self.payload_bytes_max,
                });
            }
            let prev_hash = head.hash;
            head.hash = Hash::chain(&prev_hash, &body);
            let bytes = codec::encode_record(&body, &head.hash);
            let envelope = Envelope {
                seq: head.seq,
                stream,
                version,
                at,
                cause: new.cause,
                event: new.event,
                prev_hash,
                hash: head.hash,
            };
            staged.push((
                StoredRecord {
                    seq: head.seq,
                    bytes,
                },
                envelope,
            ));
        }
        let start = batch.envelopes.len();
        for (record, envelope) in staged {
            self.claims.observe(&envelope);
            batch.records.push(record);
            batch.envelopes.push(Arc::new(envelope));
        }
        self.versions.insert(stream, version);
        self.head = head;
        Ok(start..batch.envelopes.len())
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
        } else {
            kind.is_system() || opens_stream != (version == StreamVersion(1))
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
        if let Event::DeploymentRequested { name, .. } = &new.event
            && let Some(holder) = self.claims.holder(name)
        {
            return Err(LedgerError::NameTaken {
                name: name.clone(),
                holder,
            });
        }
        Ok(())
    }

    /// Makes the batch durable, publishes it, and answers every appender. False when storage
    /// failed (the writer must stop).
    fn commit(&mut self, batch: Batch) -> bool {
        let Batch {
            records,
            envelopes,
            replies,
        } = batch;
        if records.is_empty() {
            for (reply, staged) in replies {
                let _ = reply.send(staged.map(|_| Vec::new()));
            }
            return true;
        }
        let stopwatch = Stopwatch::start();
        if let Err(error) = self.store.append(&records, &self.head) {
            tracing::error!(%error, "ledger append failed; the writer stops");
            self.shared.stop();
            for (reply, staged) in replies {
                let _ = reply.send(staged.and(Err(LedgerError::Storage(error.clone()))));
            }
            return false;
        }
        self.shared
            .stats
            .record_flush(stopwatch.elapsed(), records.len());
        self.shared.publish(self.head, &envelopes, Some(&self.live));
        for (reply, staged) in replies {
            let _ = reply.send(staged.map(|range| envelopes[range].to_vec()));
        }
        true
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
                Command::Shutdown { done } => {
                    let _ = done.send(());
                }
            }
        }
    }
}
