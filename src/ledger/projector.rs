//! The ledger's side of the read model: [`Projector`], which receives every durable event
//! and takes part in checkpoints, and [`IndexReader`], its read access to the index space.
//! An [`IndexReader`] must never keep the store open past the ledger's life.

use std::sync::{Arc, Weak};

use crate::ids::Seq;
use crate::ledger::envelope::Envelope;
use crate::ledger::error;
use crate::ledger::store::{IndexVisitor, IndexWrite, ScanOrder, Store};

/// Receives every durable event, in order: at open for the log after the last checkpoint (the
/// whole log when there is none), then after each group commit, before the appenders are
/// answered.
///
/// A projector whose state grows with history keeps it in the store's index space
/// ([`IndexSpace::Projection`](crate::ledger::IndexSpace::Projection)) through checkpoints: [`Projector::checkpoint`] hands the
/// ledger what to write and a snapshot of what stays in memory, the ledger writes both in one
/// atomic index write and records the checkpoint in the chain, then calls
/// [`Projector::checkpointed`]; at the next open [`Projector::restore`] gets the snapshot back
/// and only the events after it are applied. The defaults keep nothing (a projector with no
/// state, or one that folds the whole log at every open).
pub trait Projector: Send + Sync + 'static {
    /// Folds durable events (contiguous, in seq order).
    fn apply(&self, envelopes: &[Arc<Envelope>]);

    /// Called once at open, before anything is restored or applied: read access to the index
    /// space, where this projector's checkpointed state lives.
    fn attach(&self, _index: IndexReader) {}

    /// The name and version of this projector's snapshot format (for example
    /// `"read-model/1"`). A checkpoint written by another format is never given to
    /// [`Projector::restore`]: the projector is then rebuilt from the whole log. None: it
    /// takes no part in checkpoints, and every open folds the whole log into it.
    fn checkpoint_format(&self) -> Option<&'static str> {
        None
    }

    /// Its part of a checkpoint, as of the last event applied: index writes (keys in
    /// [`IndexSpace::Projection`](crate::ledger::IndexSpace::Projection) only) and a snapshot of the state that stays in memory.
    /// Called on the ledger's publishing thread, between two `apply`s: keep it quick.
    fn checkpoint(&self) -> ProjectionCheckpoint {
        ProjectionCheckpoint::default()
    }

    /// The index writes of the checkpoint through `through` are in the store (readable, and
    /// durable by the next sync): what they hold may now leave memory.
    fn checkpointed(&self, _through: Seq) {}

    /// At open: restores the state `snapshot` (from [`Projector::checkpoint`], with this
    /// projector's format) summarises as of `through`; the events after it are then applied.
    /// An error refuses the open (a checkpoint that does not decode is damage).
    fn restore(&self, _snapshot: &[u8], _through: Seq) -> Result<(), String> {
        Ok(())
    }
}

/// A projector's part of a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectionCheckpoint {
    /// What stays in memory, encoded by the projector.
    pub snapshot: Vec<u8>,
    /// What moves to the index space (keys in [`IndexSpace::Projection`](crate::ledger::IndexSpace::Projection)).
    pub writes: Vec<IndexWrite>,
}

/// Read access to the store's index space, for a projector: cheap to clone, never writes.
/// It does not keep the store open: once the ledger is gone it answers
/// [`error::StoreError::Closed`] (sled's file lock goes with the ledger).
#[derive(Clone)]
pub struct IndexReader {
    store: Weak<dyn Store>,
}

impl std::fmt::Debug for IndexReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexReader").finish_non_exhaustive()
    }
}

impl IndexReader {
    /// Read access to `store`'s index space, for as long as something else keeps it open.
    pub fn new(store: &Arc<dyn Store>) -> Self {
        Self {
            store: Arc::downgrade(store),
        }
    }

    fn store(&self) -> Result<Arc<dyn Store>, error::StoreError> {
        self.store.upgrade().ok_or(error::StoreError::Closed)
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, error::StoreError> {
        self.store()?.get_index(key)
    }

    /// Visits the entries with `from <= key < to` in `order` until `visit` breaks.
    pub fn scan(
        &self,
        from: &[u8],
        to: &[u8],
        order: ScanOrder,
        visit: &mut IndexVisitor<'_>,
    ) -> Result<(), error::StoreError> {
        self.store()?.scan_index(from, to, order, visit)
    }
}

/// A ledger with no projection (tools that only read or verify).
impl Projector for () {
    fn apply(&self, _envelopes: &[Arc<Envelope>]) {}
}
