//! Catch-up subscriptions: "every event (of one stream, or of the whole log) after seq N".
//!
//! A subscription first reads the durable log from N up to the head, then follows live
//! appends. It registers for live events before its first log read, so an event is either
//! already in the log when it reads or arrives live afterwards; events it has already
//! delivered are dropped by seq. A subscriber that falls behind the bounded live buffer is told
//! so by the broadcast channel and goes back to reading the log from the last seq it
//! delivered: it never sees a gap or a duplicate, and it never slows the writer.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use crate::ids::{DeploymentId, Seq};
use crate::ledger::Ledger;
use crate::ledger::envelope::Envelope;
use crate::ledger::error::LedgerError;

/// Events read from the log per catch-up step.
const CATCH_UP_CHUNK: usize = 256;

/// A stream of durable events after a given seq. See the module docs.
pub struct Subscription {
    ledger: Ledger,
    stream: Option<DeploymentId>,
    last: Seq,
    live: broadcast::Receiver<Arc<Envelope>>,
    backlog: VecDeque<Arc<Envelope>>,
    caught_up: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("stream", &self.stream)
            .field("last", &self.last)
            .field("caught_up", &self.caught_up)
            .finish()
    }
}

impl Subscription {
    pub(crate) fn new(ledger: Ledger, stream: Option<DeploymentId>, after: Seq) -> Self {
        let live = ledger.live();
        Self {
            ledger,
            stream,
            last: after,
            live,
            backlog: VecDeque::new(),
            caught_up: false,
        }
    }

    /// The seq of the last event delivered (or the starting point).
    pub fn last_seq(&self) -> Seq {
        self.last
    }

    /// The next event. `None` once the ledger has stopped and everything durable was
    /// delivered; an error if the log could not be read.
    pub async fn next(&mut self) -> Option<Result<Arc<Envelope>, LedgerError>> {
        loop {
            if let Some(envelope) = self.backlog.pop_front() {
                self.last = envelope.seq;
                return Some(Ok(envelope));
            }
            if !self.caught_up {
                if let Err(error) = self.read_log() {
                    return Some(Err(error));
                }
                continue;
            }
            match self.live.recv().await {
                Ok(envelope) => {
                    if envelope.seq <= self.last || !self.wants(&envelope) {
                        continue;
                    }
                    if self.stream.is_none() && envelope.seq != self.last.next() {
                        // Cannot happen while the invariants hold; the log is the truth.
                        self.caught_up = false;
                        continue;
                    }
                    self.last = envelope.seq;
                    return Some(Ok(envelope));
                }
                Err(RecvError::Lagged(_)) => self.caught_up = false,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    fn wants(&self, envelope: &Envelope) -> bool {
        self.stream.is_none_or(|stream| stream == envelope.stream)
    }

    /// Reads the next chunk of the log into the backlog; marks the subscription caught up when
    /// the log has nothing more.
    fn read_log(&mut self) -> Result<(), LedgerError> {
        let chunk = match self.stream {
            Some(stream) => self.ledger.read_stream(stream, self.last, CATCH_UP_CHUNK)?,
            None => self.ledger.read_after(self.last, CATCH_UP_CHUNK)?,
        };
        if chunk.is_empty() {
            self.caught_up = true;
        }
        self.backlog.extend(chunk.into_iter().map(Arc::new));
        Ok(())
    }
}
