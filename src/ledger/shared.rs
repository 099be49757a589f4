//! What the writer shares with readers: the durable head and stream index, the projection,
//! the live broadcast, the stopped flag and the counters.
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
use crate::ledger::envelope::Envelope;
use crate::ledger::error::LedgerError;
use crate::ledger::store::Head;

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

/// The durable head and the stream index (stream → its seqs), changed together.
#[derive(Debug, Default)]
pub(crate) struct Published {
    pub(crate) head: Head,
    streams: HashMap<DeploymentId, Vec<Seq>>,
}

impl Published {
    fn add(&mut self, envelope: &Envelope) {
        self.streams
            .entry(envelope.stream)
            .or_default()
            .push(envelope.seq);
        self.head = Head {
            seq: envelope.seq,
            hash: envelope.hash,
        };
    }

    /// Up to `limit` seqs of `stream`'s events after `after`, in order.
    pub(crate) fn seqs_after(&self, stream: DeploymentId, after: Seq, limit: usize) -> Vec<Seq> {
        let Some(seqs) = self.streams.get(&stream) else {
            return Vec::new();
        };
        let start = seqs.partition_point(|seq| *seq <= after);
        seqs[start..].iter().take(limit).copied().collect()
    }

    /// The seq of every stream's last event, in the order the streams began.
    pub(crate) fn stream_lasts(&self) -> Vec<Seq> {
        let mut ends: Vec<(Seq, Seq)> = self
            .streams
            .values()
            .filter_map(|seqs| Some((*seqs.first()?, *seqs.last()?)))
            .collect();
        ends.sort_unstable();
        ends.into_iter().map(|(_, last)| last).collect()
    }

    /// The number of events in `stream` (its current version).
    pub(crate) fn version(&self, stream: DeploymentId) -> StreamVersion {
        let count = self.streams.get(&stream).map_or(0, Vec::len);
        StreamVersion(u32::try_from(count).expect("a stream holds fewer than 2^32 events"))
    }
}

/// What the writer shares with readers.
pub(crate) struct Shared {
    published: RwLock<Published>,
    projector: Arc<dyn Projector>,
    /// Kept for new subscribers while the writer runs; taken when it stops, so that live
    /// receivers see the end once the writer's own sender is gone too.
    live: Mutex<Option<broadcast::Sender<Arc<Envelope>>>>,
    stopped: AtomicBool,
    pub(crate) stats: LedgerStats,
    /// Damage the background verification found (`audit.rs`): the writer has stopped for it.
    chain_damage: OnceLock<LedgerError>,
}

impl Shared {
    pub(crate) fn new(
        projector: Arc<dyn Projector>,
        live: broadcast::Sender<Arc<Envelope>>,
    ) -> Self {
        Self {
            published: RwLock::new(Published::default()),
            projector,
            live: Mutex::new(Some(live)),
            stopped: AtomicBool::new(false),
            stats: LedgerStats::default(),
            chain_damage: OnceLock::new(),
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
                published.add(envelope);
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

    /// Every stream's version, as the writer starts from them.
    pub(crate) fn stream_versions(&self) -> HashMap<DeploymentId, StreamVersion> {
        let published = self.published();
        published
            .streams
            .keys()
            .map(|stream| (*stream, published.version(*stream)))
            .collect()
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
        self.chain_damage
            .get()
            .cloned()
            .unwrap_or(LedgerError::Stopped)
    }
}
