//! The ledger: an append-only, hash-chained, durable event log, the truth everything else reads.
//!
//! [`Ledger::open`] verifies the whole stored log (seq contiguity, every hash and link, stream
//! versions, the recorded head) and refuses a damaged one with the first bad seq; it never
//! repairs history. It folds every event into the [`Projector`] it is given, then starts the
//! single writer ([`writer`]). An append is acknowledged only once durable; after that it is
//! folded into the projection, then sent to live subscribers. Reads never see past the durable
//! head, so nothing a user sees runs ahead of the disk.
//!
//! The ledger knows nothing of HTTP, Dokploy or the read model's shape: the projection plugs in
//! through [`Projector`].

pub mod chain;
pub mod codec;
pub mod envelope;
pub mod error;
mod open;
pub mod store;
mod stream_writer;
pub mod subscription;
mod writer;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::clock::Clock;
use crate::ids::{DeploymentId, Seq, StreamVersion};

use crate::deployment::Event;
use crate::ledger::envelope::{Envelope, Hash};
use crate::ledger::error::{Damage, LedgerError};
use crate::ledger::store::{Head, SledStore, Store};
use crate::ledger::subscription::Subscription;
use crate::ledger::writer::{Command, Writer};
pub use stream_writer::StreamWriter;

/// Receives every durable event, in order: at open for the whole log, then after each
/// group commit, before the appenders are answered.
pub trait Projector: Send + Sync + 'static {
    /// Folds durable events (contiguous, in seq order).
    fn apply(&self, envelopes: &[Arc<Envelope>]);
}

/// A ledger with no projection (tools that only read or verify).
impl Projector for () {
    fn apply(&self, _envelopes: &[Arc<Envelope>]) {}
}

/// The stream version an appender expects (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the version (the system stream, where many components write).
    Any,
    /// The stream must be at exactly this version (`StreamVersion::EMPTY`: a new stream).
    Exact(StreamVersion),
}

/// An event to append, with the seq it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The fact.
    pub event: Event,
    /// The earlier event it answers, if any.
    pub cause: Option<Seq>,
}

impl NewEvent {
    /// An event with no cause.
    pub fn new(event: Event) -> Self {
        Self { event, cause: None }
    }

    /// An event answering `cause`.
    pub fn caused_by(event: Event, cause: Seq) -> Self {
        Self {
            event,
            cause: Some(cause),
        }
    }
}

/// Limits of the ledger.
#[derive(Debug, Clone, Copy)]
pub struct LedgerOptions {
    /// The largest encoded event body accepted.
    pub payload_bytes_max: usize,
    /// The most events one group commit takes.
    pub batch_events_max: usize,
    /// Appends waiting for the writer before appenders wait to enqueue.
    pub queue_max: usize,
    /// Events buffered for live subscribers before a slow one must re-read the log.
    pub live_buffer_max: usize,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        Self {
            payload_bytes_max: 4 * 1024,
            batch_events_max: 1024,
            queue_max: 4096,
            live_buffer_max: 4096,
        }
    }
}

/// Counters for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct LedgerStats {
    events: AtomicU64,
    batches: AtomicU64,
    flush_micros_total: AtomicU64,
    flush_micros_last: AtomicU64,
}

/// A copy of the counters at one moment.
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

impl LedgerStats {
    fn record_flush(&self, took: Duration, events: usize) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.events.fetch_add(events as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.flush_micros_total.fetch_add(micros, Ordering::Relaxed);
        self.flush_micros_last.store(micros, Ordering::Relaxed);
    }

    fn snapshot(&self) -> LedgerStatsSnapshot {
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
struct Published {
    head: Head,
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
}

/// What the writer shares with readers.
pub(crate) struct Shared {
    published: RwLock<Published>,
    projector: Arc<dyn Projector>,
    /// Kept for new subscribers while the writer runs; taken when it stops, so that live
    /// receivers see the end once the writer's own sender is gone too.
    live: Mutex<Option<broadcast::Sender<Arc<Envelope>>>>,
    stopped: AtomicBool,
    stats: LedgerStats,
}

impl Shared {
    /// Makes durable events visible: index and head, projection, then live subscribers.
    fn publish(
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
    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    fn published(&self) -> std::sync::RwLockReadGuard<'_, Published> {
        self.published
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handle on the open ledger. Cheap to clone; every clone talks to the same writer.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    writer: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("head", &self.head())
            .finish()
    }
}

impl Ledger {
    /// Opens (or creates) the sled ledger in `dir`, verifies it and folds it into `projector`.
    pub fn open(
        dir: &Path,
        clock: Arc<dyn Clock>,
        projector: Arc<dyn Projector>,
    ) -> Result<Ledger, LedgerError> {
        let store = SledStore::open(dir).map_err(LedgerError::Open)?;
        Self::open_with(Arc::new(store), clock, projector, LedgerOptions::default())
    }

    /// Opens a ledger over any [`Store`] with explicit limits.
    pub fn open_with(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        projector: Arc<dyn Projector>,
        options: LedgerOptions,
    ) -> Result<Ledger, LedgerError> {
        open::check_format(store.as_ref())?;
        let (live, _) = broadcast::channel(options.live_buffer_max.max(1));
        let shared = Arc::new(Shared {
            published: RwLock::new(Published::default()),
            projector,
            live: Mutex::new(Some(live.clone())),
            stopped: AtomicBool::new(false),
            stats: LedgerStats::default(),
        });
        let (check, claims) = open::replay_stored(store.as_ref(), &shared)?;
        let head = open::reconcile_head(store.as_ref(), &check)?;
        let (commands, receiver) = mpsc::channel(options.queue_max.max(1));
        let writer = Writer {
            store: Arc::clone(&store),
            shared: Arc::clone(&shared),
            clock,
            live,
            head,
            versions: check.into_versions(),
            claims,
            payload_bytes_max: options.payload_bytes_max,
            batch_events_max: options.batch_events_max.max(1),
        };
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|source| {
                LedgerError::Open(crate::ledger::error::StoreError::Io {
                    operation: "start writer thread",
                    source: Arc::new(source),
                })
            })?;
        Ok(Ledger {
            store,
            shared,
            commands,
            writer: Arc::new(Mutex::new(Some(handle))),
        })
    }

    /// Appends `events` to `stream` atomically and returns them as written, once durable.
    pub async fn append(
        &self,
        stream: DeploymentId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Arc<Envelope>>, LedgerError> {
        if self.shared.stopped.load(Ordering::SeqCst) {
            return Err(LedgerError::Stopped);
        }
        let (reply, answer) = oneshot::channel();
        let command = Command::Append {
            stream,
            expected,
            events,
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| LedgerError::Stopped)?;
        answer.await.unwrap_or(Err(LedgerError::Stopped))
    }

    /// Appends one event; a shorthand for [`Ledger::append`].
    pub async fn append_one(
        &self,
        stream: DeploymentId,
        expected: ExpectedVersion,
        event: NewEvent,
    ) -> Result<Arc<Envelope>, LedgerError> {
        let mut written = self.append(stream, expected, vec![event]).await?;
        Ok(written
            .pop()
            .expect("a successful append returns every event it wrote"))
    }

    /// The last durable event's seq and hash.
    pub fn head(&self) -> Head {
        self.shared.published().head
    }

    /// The number of events in `stream` (its current version).
    pub fn stream_version(&self, stream: DeploymentId) -> StreamVersion {
        let published = self.shared.published();
        let count = published.streams.get(&stream).map_or(0, Vec::len);
        StreamVersion(u32::try_from(count).expect("a stream holds fewer than 2^32 events"))
    }

    /// Whether the writer still accepts appends.
    pub fn is_writable(&self) -> bool {
        !self.shared.stopped.load(Ordering::SeqCst)
    }

    /// Counters since open.
    pub fn stats(&self) -> LedgerStatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Up to `limit` durable events after `after`, in order, each checked against its hash and
    /// its predecessor's.
    pub fn read_after(&self, after: Seq, limit: usize) -> Result<Vec<Envelope>, LedgerError> {
        let durable = self.head().seq;
        let mut envelopes = Vec::new();
        let mut failure = None;
        let mut prev_hash = None;
        self.store
            .scan(after, &mut |seq, record| {
                if seq > durable || envelopes.len() >= limit {
                    return ControlFlow::Break(());
                }
                match decode_checked(seq, record, prev_hash) {
                    Ok(envelope) => {
                        prev_hash = Some(envelope.hash);
                        envelopes.push(envelope);
                        ControlFlow::Continue(())
                    }
                    Err(damage) => {
                        failure = Some(damage);
                        ControlFlow::Break(())
                    }
                }
            })
            .map_err(LedgerError::Read)?;
        match failure {
            Some(damage) => Err(LedgerError::Damaged(damage)),
            None => Ok(envelopes),
        }
    }

    /// Up to `limit` durable events of `stream` with seq after `after`, in order.
    pub fn read_stream(
        &self,
        stream: DeploymentId,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Envelope>, LedgerError> {
        let seqs: Vec<Seq> = {
            let published = self.shared.published();
            let Some(seqs) = published.streams.get(&stream) else {
                return Ok(Vec::new());
            };
            let start = seqs.partition_point(|seq| *seq <= after);
            seqs[start..].iter().take(limit).copied().collect()
        };
        seqs.into_iter()
            .map(|seq| {
                let record =
                    self.store
                        .get(seq)
                        .map_err(LedgerError::Read)?
                        .ok_or(LedgerError::Damaged(Damage::SeqGap {
                            expected: seq,
                            found: seq.next(),
                        }))?;
                decode_checked(seq, &record, None).map_err(LedgerError::Damaged)
            })
            .collect()
    }

    /// Every durable event after `after` (of `stream` only, if given), then every new one as it
    /// becomes durable: no gap, no duplicate, however slow the reader.
    pub fn subscribe(&self, stream: Option<DeploymentId>, after: Seq) -> Subscription {
        Subscription::new(self.clone(), stream, after)
    }

    /// A receiver of live events (used by [`Subscription`]).
    pub(crate) fn live(&self) -> broadcast::Receiver<Arc<Envelope>> {
        let live = self
            .shared
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match live.as_ref() {
            Some(sender) => sender.subscribe(),
            // The writer has stopped: a receiver that reports the end at once.
            None => broadcast::channel(1).1,
        }
    }

    /// Lets queued appends land, stops the writer and waits for it. Later appends get
    /// [`LedgerError::Stopped`]. Safe to call more than once.
    pub async fn shutdown(&self) {
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Shutdown { done }).await.is_ok() {
            let _ = finished.await;
        }
        self.shared.stop();
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

/// Decodes a record after checking it against its own hash (and its predecessor's, if known).
fn decode_checked(seq: Seq, record: &[u8], prev_hash: Option<Hash>) -> Result<Envelope, Damage> {
    let (body, stored_hash) =
        codec::split_record(record).map_err(|source| Damage::Undecodable { seq, source })?;
    let envelope = codec::decode_body(body, stored_hash)
        .map_err(|source| Damage::Undecodable { seq, source })?;
    if Hash::chain(&envelope.prev_hash, body) != stored_hash {
        return Err(Damage::HashMismatch { seq });
    }
    if envelope.seq != seq {
        return Err(Damage::SeqMismatch {
            key: seq,
            recorded: envelope.seq,
        });
    }
    if prev_hash.is_some_and(|prev| prev != envelope.prev_hash) {
        return Err(Damage::ChainBroken { seq });
    }
    Ok(envelope)
}
