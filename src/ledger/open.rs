//! Opening a stored log: the format check, the verification (the one in
//! [`crate::ledger::verify`]) that folds every verified event into the projection (verify and
//! fold on two threads), the check against the witness of what was acknowledged (a ledger on
//! disk), then the writer's start. Damage or loss is refused with the first bad seq and the lost
//! range; nothing is repaired and a refused open writes nothing. The writes an open may make are
//! to record a head that intact, never-acknowledged events had run past, and to start the
//! witness of a ledger that has none (a new one, or one written by 0.1.0) from its verified head,
//! and to fill or catch up its mirror (`--mirror`) from the verified store.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};

use crate::clock::Clock;
use crate::crash::CrashPoints;
use crate::ids::Seq;
use crate::ledger::checkpoint::{self, Checkpointer, LoadError};
use crate::ledger::envelope::Envelope;
use crate::ledger::error::{Damage, LedgerError, Refusal, StoreError, WitnessError};
use crate::ledger::mirror::{self, Mirror};
use crate::ledger::shared::Shared;
use crate::ledger::store::{self, Head, SledStore, Store};
use crate::ledger::witness::{self, Witness, Witnessed};
use crate::ledger::writer::Writer;
use crate::ledger::{IndexReader, Ledger, LedgerOptions, Projector, codec, tail, verify};

/// A ledger on disk: its directory, its store, and what its witness says.
pub(super) struct OnDisk {
    dir: PathBuf,
    store: Arc<SledStore>,
    witnessed: Option<Witnessed>,
    since: Option<Seq>,
    mirror: Option<PathBuf>,
}

impl OnDisk {
    /// Reads the witness in `dir` (before sled touches anything), then opens the store.
    pub(super) fn open(dir: &Path) -> Result<Self, LedgerError> {
        let witnessed = witness::read(&witness::path_in(dir))?;
        if let Some(witnessed) = witnessed
            && witnessed.head.seq > Seq::ZERO
            && !SledStore::exists_in(dir)
        {
            return Err(LedgerError::Witness(WitnessError::StoreGone {
                path: witness::path_in(dir).display().to_string(),
                acknowledged: witnessed.head.seq,
            }));
        }
        let store = Arc::new(SledStore::open(dir).map_err(LedgerError::Open)?);
        let since = store.witnessed_since().map_err(LedgerError::Open)?;
        if let (None, Some(since)) = (witnessed, since) {
            return Err(LedgerError::Witness(WitnessError::Missing {
                path: witness::path_in(dir).display().to_string(),
                since,
            }));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            store,
            witnessed,
            since,
            mirror: None,
        })
    }

    /// The same, with the mirror in `dir` (`--mirror`), if any.
    pub(super) fn mirrored(mut self, dir: Option<&Path>) -> Self {
        self.mirror = dir.map(Path::to_path_buf);
        self
    }

    /// Opens the mirror beside the verified store ending at `head`: filled, caught up, or
    /// refused (see `mirror.rs`). Before the witness records `head`, so that it never claims
    /// what the mirror lacks.
    fn mirror(&self, head: Head) -> Result<Option<Mirror>, LedgerError> {
        self.mirror
            .as_deref()
            .map(|dir| mirror::open(dir, self.store.as_ref(), &self.dir, head))
            .transpose()
    }

    /// A ledger in `dir` whose store is already open (a read-only open's private copy), with
    /// what its witness said: for the checks only, never started (so its witness is never
    /// written).
    pub(super) fn with_store(
        dir: &Path,
        store: Arc<SledStore>,
        witnessed: Option<Witnessed>,
    ) -> Self {
        Self {
            dir: dir.to_path_buf(),
            store,
            witnessed,
            since: None,
            mirror: None,
        }
    }

    /// The store, for the ledger.
    pub(super) fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store) as Arc<dyn Store>
    }

    /// Checks the verified log ending at `last` against the witness: it must reach the
    /// witnessed head with the witnessed hash.
    pub(super) fn check(&self, last: Head) -> Result<(), LedgerError> {
        let Some(witnessed) = self.witnessed else {
            return Ok(());
        };
        let acknowledged = witnessed.head.seq;
        if last.seq == Seq::ZERO && acknowledged > Seq::ZERO {
            return Err(LedgerError::Witness(WitnessError::StoreGone {
                path: witness::path_in(&self.dir).display().to_string(),
                acknowledged,
            }));
        }
        let damage = witness::compare(self.store.as_ref(), last.seq, witnessed.head)
            .map_err(LedgerError::Open)?;
        match damage {
            None => Ok(()),
            Some(damage) => Err(self.refusal(damage, last.seq)),
        }
    }

    pub(super) fn refusal(&self, damage: Damage, intact: Seq) -> LedgerError {
        LedgerError::Refused(Box::new(Refusal {
            dir: Some(self.dir.display().to_string()),
            damage,
            intact,
            acknowledged: self.witnessed.map(|witnessed| witnessed.head.seq),
        }))
    }

    /// The witness, from now on recording every acknowledged head: resumed, or started from
    /// the verified head (a new ledger, or one written before witnesses existed).
    fn witness(self, head: Head) -> Result<Witness, LedgerError> {
        let path = witness::path_in(&self.dir);
        let mut witness = match self.witnessed {
            Some(witnessed) => Witness::resume(&path, witnessed),
            None => {
                if head.seq > Seq::ZERO {
                    tracing::info!(
                        head = head.seq.0,
                        "this ledger has no witness yet (written by 0.1.0): it starts from the verified head"
                    );
                }
                Witness::create(&path, head)
            }
        }
        .map_err(LedgerError::Open)?;
        witness.record(head).map_err(LedgerError::Open)?;
        if self.since.is_none() {
            let since = self
                .witnessed
                .map_or(head.seq, |witnessed| witnessed.head.seq);
            self.store
                .mark_witnessed_since(since)
                .map_err(LedgerError::Open)?;
        }
        Ok(witness)
    }
}

/// Events folded per projector call while opening.
const OPEN_CHUNK: usize = 4096;

/// Verified chunks waiting for the fold while opening.
const OPEN_CHUNKS_QUEUED_MAX: usize = 8;

/// Opens a ledger over `store` (on `disk`, with its witness): verifies and folds the log,
/// checks it against the witness, then starts the writer.
pub(super) fn start(
    store: Arc<dyn Store>,
    disk: Option<OnDisk>,
    clock: Arc<dyn Clock>,
    projector: Arc<dyn Projector>,
    options: LedgerOptions,
) -> Result<Ledger, LedgerError> {
    let format = refuse_other_format(store.as_ref())?;
    let (live, _) = broadcast::channel(options.live_buffer_max.get());
    projector.attach(IndexReader::new(&store));
    let shared = Arc::new(Shared::new(Arc::clone(&store), projector, live.clone()));
    let (head, last_checkpoint) = replay_stored(store.as_ref(), &shared, disk.as_ref())?;
    if disk.is_some() {
        // What the open found may sit only in the page cache (a crash between the last
        // write and its sync): make it durable before the mirror and the witness claim it.
        store.sync().map_err(LedgerError::Open)?;
    }
    let mirror = disk
        .as_ref()
        .map(|disk| disk.mirror(head))
        .transpose()?
        .flatten();
    let mirror_gauge = mirror.as_ref().map(Mirror::gauge);
    if format.is_none() {
        stamp_format(store.as_ref())?;
    }
    let witness = disk.map(|disk| disk.witness(head)).transpose()?;
    let (commands, receiver) = mpsc::channel(options.queue_max.get());
    let crash = Arc::new(CrashPoints::at(options.crash_at));
    let checkpointer = Checkpointer::new(
        options.checkpoint_events.map(NonZeroU64::get),
        Arc::clone(&store),
        commands.downgrade(),
        Arc::clone(&crash),
        last_checkpoint,
    );
    let claims = shared.published().state.claims.clone();
    let writer = Writer {
        store: Arc::clone(&store),
        witness,
        mirror,
        shared: Arc::clone(&shared),
        clock,
        live,
        head,
        versions: shared.stream_versions(),
        claims,
        compacted: Seq::ZERO,
        payload_bytes_max: options.payload_bytes_max,
        batch_events_max: options.batch_events_max.get(),
        crash,
        checkpointer: Some(checkpointer),
    };
    let handle = spawn_writer(writer, receiver)?;
    Ok(Ledger {
        store,
        shared,
        commands,
        writer: Arc::new(Mutex::new(Some(handle))),
        mirror: mirror_gauge,
        read_only: None,
        audit: crate::ledger::audit::Audit::off("the background verification is off"),
        checkpoints: options.checkpoint_events.is_some(),
    })
}

/// Starts the writer's thread.
fn spawn_writer(
    writer: Writer,
    receiver: mpsc::Receiver<crate::ledger::writer::Command>,
) -> Result<std::thread::JoinHandle<()>, LedgerError> {
    std::thread::Builder::new()
        .name("ledger-writer".into())
        .spawn(move || writer.run(receiver))
        .map_err(|source| {
            LedgerError::Open(StoreError::Io {
                operation: "start writer thread",
                source: Arc::new(source),
            })
        })
}

/// Refuses a store written in another format; the format it records (None for a new store).
pub(super) fn refuse_other_format(store: &dyn Store) -> Result<Option<u32>, LedgerError> {
    match store.format_version().map_err(LedgerError::Open)? {
        Some(found) if !(codec::FORMAT_VERSION_MIN..=codec::FORMAT_VERSION).contains(&found) => {
            Err(LedgerError::UnsupportedFormat {
                found,
                supported: codec::FORMAT_VERSION,
            })
        }
        found => Ok(found),
    }
}

/// Stamps a new store with this build's format; a store with events or a head but no format
/// lost its metadata, and is refused.
fn stamp_format(store: &dyn Store) -> Result<(), LedgerError> {
    let empty = store::is_empty(store).map_err(LedgerError::Open)?;
    let has_head = store.head().map_err(LedgerError::Open)?.is_some();
    if !empty || has_head {
        return Err(LedgerError::Refused(Box::new(Refusal {
            dir: None,
            damage: Damage::HeadMissing {
                events: u64::from(!empty),
            },
            intact: Seq::ZERO,
            acknowledged: None,
        })));
    }
    store
        .set_format_version(codec::FORMAT_VERSION)
        .map_err(LedgerError::Open)
}

/// Verifies the stored log and folds it into the projection and the ledger's state: from the
/// last checkpoint when there is one the projector can restore (it has a snapshot format, and
/// the checkpoint's is it: only the tail is verified and folded), else the whole log.
/// Returns the verified head and the checkpoint started from (its through and
/// `CheckpointTaken` seqs).
///
/// A checkpoint that does not match the chain refuses the open; it is never rebuilt silently.
fn replay_stored(
    store: &dyn Store,
    shared: &Shared,
    disk: Option<&OnDisk>,
) -> Result<(Head, Option<(Seq, Seq)>), LedgerError> {
    let recorded = store.head().map_err(LedgerError::Open)?;
    let loaded = match checkpoint::load(store) {
        Ok(loaded) => loaded,
        Err(LoadError::Store(error)) => return Err(LedgerError::Open(error)),
        Err(LoadError::Damage(damage)) => return Err(refuse(disk, damage, Seq::ZERO)),
    };
    let projector_format = shared.projector().checkpoint_format();
    let usable = loaded.filter(|loaded| {
        projector_format.is_some() && loaded.pointer.format.as_deref() == projector_format
    });
    let (verification, started) = match usable {
        Some(checkpoint::Loaded { pointer, state }) => {
            let seq = pointer.taken_at;
            if shared
                .projector()
                .restore(&pointer.snapshot, pointer.through)
                .is_err()
            {
                let damage = Damage::Checkpoint {
                    seq,
                    reason: "the projection's snapshot in it does not restore",
                };
                return Err(refuse(disk, damage, Seq::ZERO));
            }
            let from = checkpoint::head_of(&pointer);
            shared.restore(from, state);
            let verification = tail::verify_and_fold(store, shared, from, recorded);
            (verification, Some((pointer.through, seq)))
        }
        None => (verify_and_fold(store, shared, recorded), None),
    };
    let verification = verification.map_err(LedgerError::Open)?;
    if let Some(error) = shared.publish_failure() {
        return Err(LedgerError::Open(error));
    }
    if let Some(damage) = verification.damage {
        return Err(refuse(disk, damage, verification.last.seq));
    }
    if let Some(disk) = disk {
        disk.check(verification.last)?;
    }
    if let Some(recorded) = recorded
        && recorded.seq < verification.last.seq
    {
        record_head(store, recorded, verification.last)?;
    }
    Ok((verification.last, started))
}

/// The refusal of an open that found `damage` with the log intact through `intact`.
fn refuse(disk: Option<&OnDisk>, damage: Damage, intact: Seq) -> LedgerError {
    match disk {
        Some(disk) => disk.refusal(damage, intact),
        None => LedgerError::Refused(Box::new(Refusal {
            dir: None,
            damage,
            intact,
            acknowledged: None,
        })),
    }
}

/// Verifies the whole store against its `recorded` head and folds every event that verifies
/// (the prefix before the first damage) into `shared`, on two threads. What is folded is
/// exactly the verification's `last`.
pub(super) fn verify_and_fold(
    store: &dyn Store,
    shared: &Shared,
    recorded: Option<Head>,
) -> Result<verify::Verification, StoreError> {
    let (to_fold, verified) = std::sync::mpsc::sync_channel(OPEN_CHUNKS_QUEUED_MAX);
    std::thread::scope(|scope| {
        let folder = scope.spawn(move || fold(verified, shared));
        let verification = verify_in_chunks(store, recorded, &to_fold);
        drop(to_fold);
        folder
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        verification
    })
}

/// Verifies the whole store, sending verified events on in chunks.
fn verify_in_chunks(
    store: &dyn Store,
    recorded: Option<Head>,
    to_fold: &SyncSender<Vec<Arc<Envelope>>>,
) -> Result<verify::Verification, StoreError> {
    let mut chunk: Vec<Arc<Envelope>> = Vec::with_capacity(OPEN_CHUNK);
    let verification = verify::verify_store(store, Seq(u64::MAX), recorded, &mut |envelope| {
        chunk.push(Arc::new(envelope));
        if chunk.len() == OPEN_CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(OPEN_CHUNK));
            // The folder only stops early by panicking, which join re-raises.
            let _ = to_fold.send(full);
        }
    })?;
    if !chunk.is_empty() {
        let _ = to_fold.send(chunk);
    }
    Ok(verification)
}

/// Folds verified chunks into the projection, the stream index and the ledger's state.
fn fold(verified: Receiver<Vec<Arc<Envelope>>>, shared: &Shared) {
    for chunk in verified {
        if let Some(last) = chunk.last() {
            let head = Head {
                seq: last.seq,
                hash: last.hash,
            };
            shared.publish(head, &chunk, None);
            shared.count_opened(chunk.len());
        }
    }
}

/// Records `last` as the head: intact events past the `recorded` head were written before a
/// crash came between writing them and recording their head, before any appender was told
/// they were durable. They verify, so they stay.
fn record_head(store: &dyn Store, recorded: Head, last: Head) -> Result<(), LedgerError> {
    tracing::warn!(
        recorded = recorded.seq.0,
        last = last.seq.0,
        "events past the recorded head were never acknowledged but are intact; keeping them"
    );
    store.write(&[], &last).map_err(LedgerError::Open)?;
    store.sync().map_err(LedgerError::Open)
}
