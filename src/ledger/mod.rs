//! The ledger: an append-only, hash-chained, durable event log, the truth everything else reads.
//! This file is its public face; the workings live in the private modules below it.
//!
//! [`Ledger::open`] verifies the whole stored log (seq contiguity, every hash and link, stream
//! versions, the recorded head) and refuses a damaged one with the first bad seq; it never
//! repairs history. It folds every event into the [`Projector`] it is given, then starts the
//! single writer. An append is acknowledged only once durable; after that it is folded into
//! the projection, then sent to live subscribers. Reads never see past the durable head, so
//! nothing a user sees runs ahead of the disk.
//!
//! One verification ([`Verifier`]) serves the open, [`Ledger::verify`], [`LedgerReader`] (a
//! stopped ledger, read-only) and [`verify_envelopes`] (an export). The log lives in a
//! [`Store`]: [`SledStore`] on disk, [`MemoryStore`] for scratch runs and tests.
//!
//! [`Ledger::open_read_only`] (`--read-only`) runs the same checks but keeps what they find in
//! a [`ReadOnlyReport`] instead of refusing, folds only the intact prefix, starts no writer and
//! writes nothing to the ledger directory.
//!
//! Inside: `open` (format check, verify and fold, start), `read_only` (the audit open),
//! `audit` (the background verification of the whole chain, [`Ledger::verification`]),
//! `writer` and `syncer` (the single
//! writer's two stages, group commit), `shared` (what the writer publishes to readers),
//! `read` (partial reads), `verify` and `chain` (the checks), `codec` (the frozen encoding),
//! `store` (the backends), `witness` (the file of acknowledged heads), `mirror` (the synchronous
//! second copy, `--mirror`) and `restore` (rebuilding a ledger from a mirror or an export).
//!
//! The ledger knows nothing of HTTP, Dokploy or the read model's shape: the projection plugs in
//! through [`Projector`]; the only domain rule it asks is who holds a stack name.

pub mod envelope;
pub mod error;
pub mod subscription;

mod audit;
mod chain;
mod checkpoint;
mod claims;
pub(crate) mod codec;
mod mirror;
mod open;
mod projector;
mod read;
mod read_only;
mod reader;
mod restore;
mod shared;
mod state;
mod store;
mod stream_writer;
mod syncer;
mod tail;
mod verify;
mod witness;
mod writer;

use std::num::NonZeroU64;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::clock::Clock;
use crate::crash::CrashAt;
use crate::deployment::Event;
use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::envelope::Envelope;
use crate::ledger::error::LedgerError;
use crate::ledger::shared::Shared;
use crate::ledger::subscription::Subscription;
use crate::ledger::writer::Command;

pub use audit::{VerificationState, VerificationStatus};
pub use mirror::{FILE_NAME as MIRROR_FILE, MirrorStatus};
pub use projector::{IndexReader, ProjectionCheckpoint, Projector};
pub use read_only::{ReadOnlyDamage, ReadOnlyReport};
pub use reader::LedgerReader;
pub use restore::{RestoreError, RestoreSource, Restored, restore};
pub use shared::LedgerStatsSnapshot;
pub use store::{
    Head, IndexSpace, IndexVisitor, IndexWrite, MemoryStore, ScanOrder, SledStore, Store,
    StoredRecord,
};
pub use stream_writer::StreamWriter;
pub use verify::{
    CheckThreads, Verification, Verifier, stored_bytes, verify_envelopes, verify_stored,
};
pub use witness::FILE_NAME as WITNESS_FILE;

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
    pub batch_events_max: NonZeroUsize,
    /// Appends waiting for the writer before appenders wait to enqueue.
    pub queue_max: NonZeroUsize,
    /// Events buffered for live subscribers before a slow one must re-read the log.
    pub live_buffer_max: NonZeroUsize,
    /// Where the ledger's threads abort on purpose (crash tests; `--crash-at`).
    pub crash_at: Option<CrashAt>,
    /// Whether the whole chain is verified again in the background once the ledger serves
    /// ([`Ledger::verification`]).
    pub audit: bool,
    /// Take a checkpoint every this many events, and at a clean shutdown
    /// (`--checkpoint-events`); None: never (every open folds the whole log).
    pub checkpoint_events: Option<NonZeroU64>,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        Self {
            payload_bytes_max: 4 * 1024,
            batch_events_max: NonZeroUsize::new(1024).expect("1024 is not zero"),
            queue_max: NonZeroUsize::new(4096).expect("4096 is not zero"),
            live_buffer_max: NonZeroUsize::new(4096).expect("4096 is not zero"),
            crash_at: None,
            audit: true,
            checkpoint_events: None,
        }
    }
}

/// The last seq the witness in ledger directory `dir` records as acknowledged, if it can be read
/// (for a refusal's wording only: the open itself checks the witness and names its damage).
pub fn acknowledged_in(dir: &Path) -> Option<Seq> {
    witness::read(&witness::path_in(dir))
        .ok()
        .flatten()
        .map(|witnessed| witnessed.head.seq)
        .filter(|seq| *seq > Seq::ZERO)
}

/// A ledger on disk: where it lives and how it is opened.
#[derive(Debug, Clone)]
pub struct DiskOptions {
    /// The ledger directory (sled's files and the witness).
    pub dir: PathBuf,
    /// Limits of the ledger.
    pub limits: LedgerOptions,
    /// The directory of a synchronous mirror of the log (`--mirror`), if any.
    pub mirror: Option<PathBuf>,
}

impl DiskOptions {
    /// The ledger in `dir` with the default limits and no mirror.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            limits: LedgerOptions::default(),
            mirror: None,
        }
    }
}

/// A handle on the open ledger. Cheap to clone; every clone talks to the same writer.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    writer: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    mirror: Option<Arc<mirror::MirrorGauge>>,
    /// What a read-only open found (None: an ordinary open, with its writer).
    read_only: Option<Arc<ReadOnlyReport>>,
    /// The background verification of the whole chain.
    audit: Arc<audit::Audit>,
    /// Whether checkpoints are taken (then also one at shutdown).
    checkpoints: bool,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("head", &self.head())
            .finish()
    }
}

impl Ledger {
    /// Opens (or creates) the sled ledger in `dir`, verifies it, checks it against its witness
    /// (the file of acknowledged heads beside the store) and folds it into `projector`.
    pub fn open(
        dir: &Path,
        clock: Arc<dyn Clock>,
        projector: Arc<dyn Projector>,
    ) -> Result<Ledger, LedgerError> {
        Self::open_on_disk(&DiskOptions::new(dir), clock, projector)
    }

    /// Opens (or creates) the sled ledger described by `disk`, as [`Ledger::open`] does.
    pub fn open_on_disk(
        disk: &DiskOptions,
        clock: Arc<dyn Clock>,
        projector: Arc<dyn Projector>,
    ) -> Result<Ledger, LedgerError> {
        let opened = open::OnDisk::open(&disk.dir)?.mirrored(disk.mirror.as_deref());
        open::start(opened.store(), Some(opened), clock, projector, disk.limits)
            .map(|ledger| ledger.audited(disk.limits))
    }

    /// Opens the sled ledger described by `disk` read-only, to audit it: runs the checks of
    /// [`Ledger::open_on_disk`] but serves what is intact instead of refusing damage, and
    /// keeps what it found ([`Ledger::read_only`]). It never writes to `disk.dir` (sled runs
    /// on a private copy made under `scratch`) and never creates a ledger; a store that cannot
    /// be opened at all is refused with the ordinary open's error.
    pub fn open_read_only(
        disk: &DiskOptions,
        scratch: &Path,
        projector: Arc<dyn Projector>,
    ) -> Result<Ledger, LedgerError> {
        read_only::open(disk, scratch, projector)
    }

    /// Opens a ledger over any [`Store`] with explicit limits.
    pub fn open_with(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        projector: Arc<dyn Projector>,
        options: LedgerOptions,
    ) -> Result<Ledger, LedgerError> {
        open::start(store, None, clock, projector, options).map(|ledger| ledger.audited(options))
    }

    /// Appends `events` to `stream` atomically and returns them as written, once durable.
    pub async fn append(
        &self,
        stream: DeploymentId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Arc<Envelope>>, LedgerError> {
        if self.read_only.is_some() {
            return Err(LedgerError::ReadOnly);
        }
        if self.shared.is_stopped() {
            return Err(self.shared.refusal());
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
    /// A stream with no event, or one whose version cannot be read from the store (logged),
    /// is at [`StreamVersion::EMPTY`].
    pub fn stream_version(&self, stream: DeploymentId) -> StreamVersion {
        self.shared.version(stream).unwrap_or_else(|error| {
            tracing::error!(%error, %stream, "the stream index cannot be read");
            StreamVersion::EMPTY
        })
    }

    /// The name claims memory holds (names, streams): what changed since the last stored
    /// checkpoint and what is in flight; the rest is on disk.
    #[doc(hidden)]
    pub fn claims_in_memory(&self) -> (usize, usize) {
        self.shared.published().state.claims.held()
    }

    /// Events folded at open: the tail after the checkpoint it started from, or the whole
    /// log when there was none.
    pub fn opened_folding(&self) -> u64 {
        self.shared.opened_folding()
    }

    /// The mirror's path, head and whether it holds every acknowledged event (None without
    /// `--mirror`). Synchronous, so its lag is zero while it is in sync.
    pub fn mirror(&self) -> Option<MirrorStatus> {
        let gauge = self.mirror.as_ref()?;
        Some(gauge.status(self.head().seq))
    }

    /// Whether the writer still accepts appends.
    pub fn is_writable(&self) -> bool {
        !self.shared.is_stopped()
    }

    /// What the read-only open found; None for a ledger opened to write.
    pub fn read_only(&self) -> Option<&ReadOnlyReport> {
        self.read_only.as_deref()
    }

    /// Counters since open.
    pub fn stats(&self) -> LedgerStatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Up to `limit` durable events after `after`, in order, each checked against its hash and
    /// its predecessor's.
    pub fn read_after(&self, after: Seq, limit: usize) -> Result<Vec<Envelope>, LedgerError> {
        read::range(self.store.as_ref(), self.head().seq, after, limit)
    }

    /// The first event (the request) of every unfinished deployment (one whose last event is
    /// not `DeploymentSucceeded` or `RollbackFinished`), in the order they were requested: kept
    /// from the ledger's set of unfinished deployments, so it costs what is in flight, not
    /// what history holds.
    pub fn unfinished(&self) -> Result<Vec<Envelope>, LedgerError> {
        let streams: Vec<DeploymentId> = self
            .shared
            .published()
            .state
            .unfinished
            .iter()
            .copied()
            .collect();
        let mut firsts = Vec::with_capacity(streams.len());
        for stream in streams {
            firsts.extend(self.read_stream(stream, Seq::ZERO, 1)?);
        }
        firsts.sort_by_key(|envelope| envelope.seq);
        Ok(firsts)
    }

    /// Up to `limit` durable events of `stream` with seq after `after`, in order.
    pub fn read_stream(
        &self,
        stream: DeploymentId,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Envelope>, LedgerError> {
        let seqs = self
            .shared
            .seqs_after(stream, after, limit)
            .map_err(LedgerError::Read)?;
        read::at(self.store.as_ref(), &seqs)
    }

    /// Verifies the durable log from seq 1 to the head: seq contiguity, every hash over the
    /// stored bytes, every link, stream versions, and that the log ends at the head. Damage is
    /// in the answer; an error means the store could not be read. Blocking: it reads the whole
    /// log, while appends go on. A read-only ledger's answer includes the damage its open
    /// found past the intact prefix it serves.
    pub fn verify(&self) -> Result<Verification, LedgerError> {
        let head = self.head();
        let mut verification =
            verify::verify_store(self.store.as_ref(), head.seq, Some(head), &mut |_| {})
                .map_err(LedgerError::Read)?;
        if let Some(report) = self.read_only() {
            report.mark(&mut verification);
        }
        Ok(verification)
    }

    /// Every durable event after `after` (of `stream` only, if given), then every new one as it
    /// becomes durable: no gap, no duplicate, however slow the reader.
    pub fn subscribe(&self, stream: Option<DeploymentId>, after: Seq) -> Subscription {
        Subscription::new(self.clone(), stream, after)
    }

    /// Takes a checkpoint of everything durable now (unless the last one covers it) and
    /// waits until it is stored; returns at once when the writer has stopped.
    pub async fn checkpoint(&self) {
        let (done, stored) = oneshot::channel();
        if self
            .commands
            .send(Command::CheckpointNow { done })
            .await
            .is_ok()
        {
            let _ = stored.await;
        }
    }

    /// A receiver of live events (used by [`Subscription`]).
    pub(crate) fn live(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.shared.live()
    }

    /// Lets queued appends land, stops the writer and waits for it. Later appends get
    /// [`LedgerError::Stopped`]. Safe to call more than once.
    pub async fn shutdown(&self) {
        if self.checkpoints && self.is_writable() {
            self.checkpoint().await;
        }
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
        let audit = Arc::clone(&self.audit);
        let _ = tokio::task::spawn_blocking(move || audit.join()).await;
    }
}
