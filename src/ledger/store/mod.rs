//! Storage behind the ledger: the [`Store`] trait and its two implementations, sled 0.34 on
//! disk ([`SledStore`]) and memory ([`MemoryStore`], for redrive and tests).
//!
//! The trait is deliberately small (write a batch, make it durable, scan a range, read one
//! record, read the head) so that a second backend (a shared PostgreSQL log for several portal
//! instances) can be added without touching the writer, the orchestrator or the projection.
//! A store keeps opaque records: it never decodes, checks or repairs them (that is
//! [`crate::ledger::verify`]'s), and sled types never leave `sled_store.rs`.
//!
//! Beside the log, a store keeps an **index space**: an ordered map of byte keys to byte values
//! for what is derived from the log and must not live in memory (the stream index, the name
//! holders, checkpoints, the read side's summaries). It is never the truth: everything in it
//! can be rebuilt from the log, and its keys are partitioned by a first byte
//! ([`IndexSpace`]) so that the ledger's entries and the read side's never collide.

mod groups;
mod memory_store;
mod sled_copy;
mod sled_store;

use std::ops::ControlFlow;

use crate::ids::Seq;
use crate::ledger::envelope::Hash;
use crate::ledger::error::StoreError;

pub use memory_store::MemoryStore;
pub use sled_store::SledStore;

/// The last durable event: its seq and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    /// Its seq (0 for an empty log).
    pub seq: Seq,
    /// Its hash (zeros for an empty log).
    pub hash: Hash,
}

/// One encoded record with its seq, ready to store.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// The record's seq (its key).
    pub seq: Seq,
    /// `body ‖ hash`, as encoded by the codec.
    pub bytes: Vec<u8>,
}

/// Who owns a key of the index space: its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum IndexSpace {
    /// The ledger's own entries (stream index, name holders, checkpoints).
    Ledger = b'l',
    /// The read side's entries (a [`crate::ledger::Projector`]'s checkpointed state).
    Projection = b'p',
}

impl IndexSpace {
    /// `suffix` under this space's prefix.
    pub fn key(self, suffix: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(1 + suffix.len());
        key.push(self as u8);
        key.extend_from_slice(suffix);
        key
    }

    /// Whether `key` belongs to this space.
    pub fn owns(self, key: &[u8]) -> bool {
        key.first() == Some(&(self as u8))
    }
}

/// One change to the index space: `value` None deletes `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexWrite {
    /// The key, starting with its [`IndexSpace`] byte.
    pub key: Vec<u8>,
    /// The new value, or None to delete the key.
    pub value: Option<Vec<u8>>,
}

impl IndexWrite {
    /// Sets `key` to `value`.
    pub fn put(key: Vec<u8>, value: Vec<u8>) -> Self {
        Self {
            key,
            value: Some(value),
        }
    }

    /// Deletes `key`.
    pub fn delete(key: Vec<u8>) -> Self {
        Self { key, value: None }
    }
}

/// What an index scan calls with each entry (key, value); it breaks to stop the scan.
pub type IndexVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> ControlFlow<()> + 'a;

/// Which way an index scan walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOrder {
    /// Smallest key first.
    Forward,
    /// Largest key first.
    Backward,
}

/// Where the log lives. Writes come from one writer thread and syncs from one syncer thread;
/// reads may run concurrently with both.
pub trait Store: Send + Sync + 'static {
    /// Writes `records` (contiguous, after the previous write) and the new `head`. They need
    /// not be durable until the next [`Store::sync`] returns.
    fn write(&self, records: &[StoredRecord], head: &Head) -> Result<(), StoreError>;

    /// Makes everything written before this call durable. On error nothing may be assumed
    /// about what reached the disk.
    fn sync(&self) -> Result<(), StoreError>;

    /// Visits the raw records with seq greater than `after`, in order, until `visit` breaks.
    fn scan(
        &self,
        after: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// The raw record at `seq`, if stored.
    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError>;

    /// The head recorded by the last write (None for a new store).
    fn head(&self) -> Result<Option<Head>, StoreError>;

    /// The format version recorded at creation (None for a new store).
    fn format_version(&self) -> Result<Option<u32>, StoreError>;

    /// Records the format version of a new store, durably.
    fn set_format_version(&self, version: u32) -> Result<(), StoreError>;

    /// Applies `writes` to the index space atomically: after a crash either all of them are
    /// there or none. Visible to reads at once; durable after the next [`Store::sync`].
    fn write_index(&self, writes: &[IndexWrite]) -> Result<(), StoreError>;

    /// The index value under `key`, if any.
    fn get_index(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Visits the index entries with `from <= key < to` in `order` until `visit` breaks.
    fn scan_index(
        &self,
        from: &[u8],
        to: &[u8],
        order: ScanOrder,
        visit: &mut IndexVisitor<'_>,
    ) -> Result<(), StoreError>;
}

/// Whether the store holds no record at all.
pub(crate) fn is_empty(store: &dyn Store) -> Result<bool, StoreError> {
    let mut empty = true;
    store.scan(Seq::ZERO, &mut |_, _| {
        empty = false;
        ControlFlow::Break(())
    })?;
    Ok(empty)
}
