//! Checkpoints: taking one (on the publishing thread, [`Checkpointer`]) and finding the one an
//! open may start from ([`load`]).
//!
//! Order of a checkpoint through seq T: the projector's part and the ledger's state are taken
//! as of T (between two publishes); `CheckpointTaken { T, hash of T, digest }` is appended and
//! made durable like any event; once it is published, one atomic index write stores the
//! projector's writes, the stream index and the name holders through T and the pointer (key
//! `l c`); then the memory that moved to disk is released. A crash at any point leaves the old pointer or the
//! new one, never a mix. It must never store a pointer whose event is not durable in the chain.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::crash::{CrashPoint, CrashPoints};
use crate::deployment::Event;
use crate::ids::Seq;
use crate::ledger::claims::claim_writes;
use crate::ledger::codec;
use crate::ledger::envelope::{Envelope, Hash};
use crate::ledger::error::{Damage, StoreError};
use crate::ledger::shared::Shared;
use crate::ledger::state::LedgerState;
use crate::ledger::store::{Head, IndexSpace, IndexWrite, Store};
use crate::ledger::writer::Command;

/// The pointer's key in the ledger's index space.
fn pointer_key() -> Vec<u8> {
    IndexSpace::Ledger.key(b"c")
}

/// What the pointer holds: where the checkpoint is in the chain and what it restores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pointer {
    /// The last event the checkpoint summarises.
    pub(crate) through: Seq,
    pub(crate) through_hash: Hash,
    /// The seq of its `CheckpointTaken`.
    pub(crate) taken_at: Seq,
    /// The projector's snapshot format (None: it keeps nothing).
    pub(crate) format: Option<String>,
    pub(crate) snapshot: Vec<u8>,
    /// The ledger's state ([`LedgerState`], encoded).
    pub(crate) state: Vec<u8>,
}

impl Pointer {
    /// SHA-256 over what the checkpoint stores.
    pub(crate) fn digest(&self) -> [u8; 32] {
        digest_of(self.format.as_deref(), &self.snapshot, &self.state)
    }
}

fn digest_of(format: Option<&str>, snapshot: &[u8], state: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [format.unwrap_or("").as_bytes(), snapshot, state] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// A checkpoint taken, waiting for its `CheckpointTaken` to be published.
struct Pending {
    pointer: Pointer,
    writes: Vec<IndexWrite>,
}

/// The publishing side of checkpoints: decides when, takes the parts, stores them.
pub(crate) struct Checkpointer {
    pub(crate) every: Option<u64>,
    pub(crate) store: Arc<dyn Store>,
    /// The writer's queue; weak, so that it never keeps the writer alive.
    pub(crate) commands: mpsc::WeakSender<Command>,
    pub(crate) crash: Arc<CrashPoints>,
    /// Events published since the last checkpoint was begun.
    pub(crate) since: u64,
    /// The last stored checkpoint's through and `CheckpointTaken` seqs.
    pub(crate) last: Option<(Seq, Seq)>,
    pending: Option<Pending>,
    wanted: Vec<oneshot::Sender<()>>,
}

impl Checkpointer {
    pub(crate) fn new(
        every: Option<u64>,
        store: Arc<dyn Store>,
        commands: mpsc::WeakSender<Command>,
        crash: Arc<CrashPoints>,
        last: Option<(Seq, Seq)>,
    ) -> Self {
        Self {
            every,
            store,
            commands,
            crash,
            since: 0,
            last,
            pending: None,
            wanted: Vec::new(),
        }
    }

    /// After a batch is published: stores a pending checkpoint whose event it holds, then
    /// begins one if one is due or asked for. False when storing failed (the writer stops).
    pub(crate) fn after(
        &mut self,
        shared: &Shared,
        envelopes: &[Arc<Envelope>],
        asked: Vec<oneshot::Sender<()>>,
    ) -> bool {
        self.wanted.extend(asked);
        self.since += envelopes.len() as u64;
        if let Some(taken_at) = self.taken_in(envelopes)
            && let Err(error) = self.store_pending(shared, taken_at)
        {
            tracing::error!(%error, "storing a checkpoint failed; the writer stops");
            shared.stop();
            return false;
        }
        let due = self.every.is_some_and(|every| self.since >= every);
        if self.pending.is_none() && (due || !self.wanted.is_empty()) {
            self.begin(shared);
        }
        true
    }

    /// The seq of the pending checkpoint's `CheckpointTaken`, if `envelopes` hold it.
    fn taken_in(&self, envelopes: &[Arc<Envelope>]) -> Option<Seq> {
        let pending = self.pending.as_ref()?;
        envelopes.iter().find_map(|envelope| match &envelope.event {
            Event::CheckpointTaken {
                through_seq,
                digest,
                ..
            } if *through_seq == pending.pointer.through.0
                && *digest == pending.pointer.digest() =>
            {
                Some(envelope.seq)
            }
            _ => None,
        })
    }

    /// Takes the parts as of the published head and asks the writer to record the event.
    fn begin(&mut self, shared: &Shared) {
        let published = shared.published();
        let head = published.head;
        let covered = self
            .last
            .is_some_and(|(through, taken_at)| head.seq == through || head.seq == taken_at);
        if head.seq == Seq::ZERO || covered {
            drop(published);
            self.since = 0;
            for done in self.wanted.drain(..) {
                let _ = done.send(());
            }
            return;
        }
        let projector = shared.projector();
        let part = projector.checkpoint();
        // The claims through the head go to disk; the state keeps only what is in flight.
        let mut state = published.state.clone();
        state.claims.forget_through(head.seq);
        let pointer = Pointer {
            through: head.seq,
            through_hash: head.hash,
            taken_at: Seq::ZERO,
            format: projector.checkpoint_format().map(str::to_owned),
            snapshot: part.snapshot,
            state: codec::encode_value(&state),
        };
        let mut writes = part.writes;
        writes.retain(|write| IndexSpace::Projection.owns(&write.key));
        writes.extend(published.tails.writes_through(head.seq));
        writes.extend(claim_writes(&published.state.claims, head.seq));
        drop(published);
        let command = Command::Checkpoint {
            through: head,
            digest: pointer.digest(),
        };
        let sent = self
            .commands
            .upgrade()
            .is_some_and(|commands| commands.try_send(command).is_ok());
        // A full queue: the next publish tries again.
        if sent {
            self.since = 0;
            self.pending = Some(Pending { pointer, writes });
        }
    }

    /// Stores the pending checkpoint, whose event is durable at `taken_at`.
    fn store_pending(&mut self, shared: &Shared, taken_at: Seq) -> Result<(), StoreError> {
        let Some(Pending {
            mut pointer,
            mut writes,
        }) = self.pending.take()
        else {
            return Ok(());
        };
        pointer.taken_at = taken_at;
        writes.push(IndexWrite::put(
            pointer_key(),
            codec::encode_value(&pointer),
        ));
        self.store.write_index(&writes)?;
        self.crash.hit(CrashPoint::InCheckpoint);
        shared.forget_through(pointer.through);
        shared.projector().checkpointed(pointer.through);
        self.last = Some((pointer.through, taken_at));
        for done in self.wanted.drain(..) {
            let _ = done.send(());
        }
        Ok(())
    }
}

/// A checkpoint an open may start from, checked against the chain.
pub(crate) struct Loaded {
    pub(crate) pointer: Pointer,
    pub(crate) state: LedgerState,
}

/// The stored pointer, decoded and checked against what the chain holds at its seqs: the
/// event at `through` has `through_hash`, and the one at `taken_at` is the `CheckpointTaken`
/// recording it with the digest of what the pointer stores. None: no checkpoint (every data
/// dir written before checkpoints existed).
pub(crate) fn load(store: &dyn Store) -> Result<Option<Loaded>, LoadError> {
    let Some(bytes) = store.get_index(&pointer_key()).map_err(LoadError::Store)? else {
        return Ok(None);
    };
    let damaged =
        |seq: Seq, reason: &'static str| LoadError::Damage(Damage::Checkpoint { seq, reason });
    let pointer: Pointer = codec::decode_value(&bytes)
        .ok_or_else(|| damaged(Seq::ZERO, "its pointer does not decode"))?;
    let seq = pointer.taken_at;
    let taken = event_at(store, seq)
        .map_err(LoadError::Store)?
        .ok_or_else(|| damaged(seq, "its event is not in the chain"))?;
    let Event::CheckpointTaken {
        through_seq,
        through_hash,
        digest,
    } = taken.event
    else {
        return Err(damaged(seq, "the event there is not a CheckpointTaken"));
    };
    if through_seq != pointer.through.0 || through_hash != pointer.through_hash.0 {
        return Err(damaged(seq, "it names another place in the chain"));
    }
    if digest != pointer.digest() {
        return Err(damaged(seq, "its digest differs from what it stores"));
    }
    let through = event_at(store, pointer.through).map_err(LoadError::Store)?;
    if through.is_none_or(|envelope| envelope.hash != pointer.through_hash) {
        return Err(damaged(
            seq,
            "the event it summarises through has another hash",
        ));
    }
    let state = codec::decode_value(&pointer.state)
        .ok_or_else(|| damaged(seq, "the ledger's state in it does not decode"))?;
    Ok(Some(Loaded { pointer, state }))
}

/// Why a checkpoint cannot be used.
pub(crate) enum LoadError {
    Store(StoreError),
    Damage(Damage),
}

/// The decoded event stored at `seq` (its bytes are checked against its own hash; the link
/// is checked by the tail's verification).
pub(crate) fn event_at(store: &dyn Store, seq: Seq) -> Result<Option<Envelope>, StoreError> {
    let Some(record) = store.get(seq)? else {
        return Ok(None);
    };
    let Ok((body, hash)) = codec::split_record(&record) else {
        return Ok(None);
    };
    let Ok(envelope) = codec::decode_body(body, hash) else {
        return Ok(None);
    };
    Ok((Hash::chain(&envelope.prev_hash, body) == hash && envelope.seq == seq).then_some(envelope))
}

/// Head of a checkpoint, as the tail's verification starts from it.
pub(crate) fn head_of(pointer: &Pointer) -> Head {
    Head {
        seq: pointer.through,
        hash: pointer.through_hash,
    }
}
