//! The name claims' base on disk: who holds each name as of the last checkpoint, under
//! `h ‖ name` in the ledger's index space, and each stream's name read from its request in the
//! log. Memory ([`NameClaims`]) keeps only what changed since, so it never grows with history.
//!
//! Only a checkpoint writes these entries, in the same atomic index write as its pointer
//! ([`claim_writes`]); this module must never write the index itself.

use crate::deployment::Event;
use crate::deployment::name::{ClaimsBase, NameClaims};
use crate::ids::{DeploymentId, Seq};
use crate::ledger::checkpoint::event_at;
use crate::ledger::error::StoreError;
use crate::ledger::state::Tails;
use crate::ledger::store::{IndexSpace, IndexWrite, Store};

/// The first byte of a holder key after the space's.
const HOLDER_TAG: u8 = b'h';

/// The key of `name`'s holder.
fn holder_key(name: &str) -> Vec<u8> {
    let mut suffix = Vec::with_capacity(1 + name.len());
    suffix.push(HOLDER_TAG);
    suffix.extend_from_slice(name.as_bytes());
    IndexSpace::Ledger.key(&suffix)
}

/// The index writes that store the holders changed through `through` (a release deletes).
pub(crate) fn claim_writes(claims: &NameClaims, through: Seq) -> Vec<IndexWrite> {
    claims
        .changes_through(through)
        .map(|(name, holder)| match holder {
            Some(holder) => IndexWrite::put(holder_key(name), holder.as_uuid().as_bytes().to_vec()),
            None => IndexWrite::delete(holder_key(name)),
        })
        .collect()
}

/// The claims on disk, read through the stream index (its tails in memory, the rest on disk).
pub(crate) struct StoredClaims<'a> {
    store: &'a dyn Store,
    tails: &'a Tails,
}

impl<'a> StoredClaims<'a> {
    pub(crate) fn new(store: &'a dyn Store, tails: &'a Tails) -> Self {
        Self { store, tails }
    }
}

impl ClaimsBase for StoredClaims<'_> {
    type Error = StoreError;

    fn holder(&self, name: &str) -> Result<Option<DeploymentId>, StoreError> {
        let Some(value) = self.store.get_index(&holder_key(name))? else {
            return Ok(None);
        };
        let bytes: [u8; 16] =
            value
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::MalformedIndex {
                    what: "a name's holder",
                })?;
        Ok(Some(DeploymentId::from_uuid(uuid::Uuid::from_bytes(bytes))))
    }

    fn name_of(&self, stream: DeploymentId) -> Result<Option<String>, StoreError> {
        let first = self.tails.seqs_after(self.store, stream, Seq::ZERO, 1)?;
        let Some(seq) = first.first() else {
            return Ok(None);
        };
        let unreadable = StoreError::MalformedIndex {
            what: "a stream's first event",
        };
        match event_at(self.store, *seq)? {
            Some(envelope) if envelope.stream == stream => match envelope.event {
                Event::DeploymentRequested { name, .. } => Ok(Some(name)),
                _ => Ok(None),
            },
            _ => Err(unreadable),
        }
    }
}
