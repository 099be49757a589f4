//! What the writer shares with readers: the durable head and stream index (its tails; the
//! rest is on disk, `state.rs`), the ledger's state, the projection, the live broadcast, the
//! stopped flag and the counters.
//!
//! Only durable events are ever published here, and only by the open (verified events) or the
//! syncer (synced events), in seq order; readers never see past the published head.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::Projector;
use crate::ledger::claims::StoredClaims;
use crate::ledger::envelope::Envelope;
use crate::ledger::error::{LedgerError, StoreError};
use crate::ledger::state::{LedgerState, Tails};
use crate::ledger::store::{Head, Store};

/// A copy of the ledger's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerStatsSnapshot {
    /// Events appended since open.
    pub events: u64,
    /// Group commits since open.
    pub batches: u64,
    /// Time spent making batches durable.
    pub flush_total: Duration,
    /// The last batch's durable write time.
    pub flush_last: Duration,
}

/// Counters for metrics and benchmarks.
#[derive(Debug, Default)]
pub(crate) struct LedgerStats {
    events: AtomicU64,
    batches: AtomicU64,
    flush_micros_total: AtomicU64,
    flush_micros_last: AtomicU64,
}

impl LedgerStats {
    pub(crate) fn record_flush(&self, took: Duration, events: usize) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.events.fetch_add(events as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.flush_micros_total.fetch_add(micros, Ordering::Relaxed);
        self.flush_micros_last.store(micros, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LedgerStatsSnapshot {
        LedgerStatsSnapshot {
            events: self.events.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            flush_total: Duration::from_micros(self.flush_micros_total.load(Ordering::Relaxed)),
            flush_last: Duration::from_micros(self.flush_micros_last.load(Ordering::Relaxed)),
        }
    }
}

/// The durable head, the stream index's tails and the ledger's state, changed together.
#[derive(Debug, Default)]
pub(crate) struct Published {
    pub(crate) head: Head,
    pub(crate) tails: Tails,
    pub(crate) state: LedgerState,
}

impl Published {
    fn add(&mut self, envelope: &Envelope, store: &dyn Store) -> Result<(), StoreError> {
        self.tails.add(envelope);
        self.head = Head {
            seq: envelope.seq,
            hash: envelope.hash,
        };
        let base = StoredClaims::new(store, &self.tails);
        self.state.observe(envelope, &base)
    }
}

/// What the writer shares with readers.
pub(crate) struct Shared {
    published: RwLock<Published>,
    projector: Arc<dyn Projector>,
    store: Arc<dyn Store>,
    /// Events folded by the open (the tail after a checkpoint, or the whole log).
    opened_folding: AtomicU64,
    /// Kept for new subscribers while the writer runs; taken when it stops, so that live
    /// receivers see the end once the writer's own sender is gone too.
    live: Mutex<Option<broadcast::Sender<Arc<Envelope>>>>,
    stopped: AtomicBool,
    pub(crate) stats: LedgerStats,
    /// Damage the background verification found (`audit.rs`): the writer has stopped for it.
    chain_damage: OnceLock<LedgerError>,
    /// A read of the claims' base that failed while publishing: the writer has stopped for it.
    publish_failure: OnceLock<StoreError>,
    /// The `through` of the last checkpoint stored: what memory may forget up to.
    checkpointed: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        projector: Arc<dyn Projector>,
        live: broadcast::Sender<Arc<Envelope>>,
    ) -> Self {
        Self {
            published: RwLock::new(Published::default()),
            projector,
            store,
            opened_folding: AtomicU64::new(0),
            live: Mutex::new(Some(live)),
            stopped: AtomicBool::new(false),
            stats: LedgerStats::default(),
            chain_damage: OnceLock::new(),
            publish_failure: OnceLock::new(),
            checkpointed: AtomicU64::new(0),
        }
    }

    /// Makes durable events visible: index and head, projection, then live subscribers.
    pub(crate) fn publish(
        &self,
        head: Head,
        envelopes: &[Arc<Envelope>],
        live: Option<&broadcast::Sender<Arc<Envelope>>>,
    ) {
        {
            let mut published = self
                .published
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            for envelope in envelopes {
                if let Err(error) = published.add(envelope, self.store.as_ref()) {
                    tracing::error!(%error, seq = envelope.seq.0, "reading the name claims failed; the writer stops");
                    let _ = self.publish_failure.set(error);
                    self.stop();
                }
            }
            debug_assert_eq!(published.head, head, "the published head is the writer's");
        }
        self.projector.apply(envelopes);
        if let Some(live) = live {
            for envelope in envelopes {
                // No receiver is fine: nobody is watching live.
                let _ = live.send(Arc::clone(envelope));
            }
        }
    }

    /// Marks the writer stopped and lets live subscribers see the end.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Whether the writer has stopped.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub(crate) fn published(&self) -> RwLockReadGuard<'_, Published> {
        self.published
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The stream versions memory holds, as the writer starts from them (it asks
    /// [`Shared::version`] for any other stream).
    pub(crate) fn stream_versions(&self) -> HashMap<DeploymentId, (StreamVersion, Seq)> {
        self.published().tails.versions()
    }

    /// The number of durable events in `stream` (its current version).
    pub(crate) fn version(&self, stream: DeploymentId) -> Result<StreamVersion, StoreError> {
        self.published().tails.version(self.store.as_ref(), stream)
    }

    /// Up to `limit` seqs of `stream`'s durable events after `after`, in order.
    pub(crate) fn seqs_after(
        &self,
        stream: DeploymentId,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Seq>, StoreError> {
        self.published()
            .tails
            .seqs_after(self.store.as_ref(), stream, after, limit)
    }

    /// The projector the ledger feeds.
    pub(crate) fn projector(&self) -> &dyn Projector {
        self.projector.as_ref()
    }

    /// Restores the state a checkpoint through `head` holds (at open, before the tail).
    pub(crate) fn restore(&self, head: Head, state: LedgerState) {
        let mut published = self
            .published
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        published.head = head;
        published.state = state;
    }

    /// Forgets the stream-index entries and claims through `through`: a checkpoint wrote
    /// them to disk.
    pub(crate) fn forget_through(&self, through: Seq) {
        let mut published = self
            .published
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        published.tails.forget_through(through);
        published.state.claims.forget_through(through);
        self.checkpointed.fetch_max(through.0, Ordering::SeqCst);
    }

    /// The `through` of the last checkpoint stored (zero: none since open).
    pub(crate) fn checkpointed(&self) -> Seq {
        Seq(self.checkpointed.load(Ordering::SeqCst))
    }

    /// Why publishing stopped the writer, if it did.
    pub(crate) fn publish_failure(&self) -> Option<StoreError> {
        self.publish_failure.get().cloned()
    }

    /// Counts events folded by the open.
    pub(crate) fn count_opened(&self, events: usize) {
        self.opened_folding
            .fetch_add(events as u64, Ordering::Relaxed);
    }

    /// Events folded by the open.
    pub(crate) fn opened_folding(&self) -> u64 {
        self.opened_folding.load(Ordering::Relaxed)
    }

    /// A receiver of live events; once the writer has stopped, one that reports the end at once.
    pub(crate) fn live(&self) -> broadcast::Receiver<Arc<Envelope>> {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match live.as_ref() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Stops the writer for damage found in the stored chain after the open: from now on every
    /// append is refused with it.
    pub(crate) fn stop_for_damage(&self, damage: LedgerError) {
        let _ = self.chain_damage.set(damage);
        self.stop();
    }

    /// Why a stopped writer refuses an append: the damage found, or that it stopped.
    pub(crate) fn refusal(&self) -> LedgerError {
        if let Some(damage) = self.chain_damage.get() {
            return damage.clone();
        }
        self.publish_failure
            .get()
            .map_or(LedgerError::Stopped, |error| {
                LedgerError::Storage(error.clone())
            })
    }
}
