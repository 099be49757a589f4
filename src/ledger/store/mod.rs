//! Storage behind the ledger: the [`Store`] trait and its two implementations, sled 0.34 on
//! disk ([`SledStore`]) and memory ([`MemoryStore`], for redrive and tests).
//!
//! The trait is deliberately small (write a batch, make it durable, scan a range, read one
//! record, read the head) so that a second backend (a shared PostgreSQL log for several portal
//! instances) can be added without touching the writer, the orchestrator or the projection.
//! A store keeps opaque records: it never decodes, checks or repairs them (that is
//! [`crate::ledger::verify`]'s), and sled types never leave `sled_store.rs`.

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
