//! [`LedgerReader`]: a stopped server's ledger, opened to read and verify it, never to write.
//!
//! No writer starts and nothing of the log is written: not an event, not the head, not the
//! format stamp (a reader never creates a ledger either). sled still takes its file lock, so a
//! ledger a running server holds is refused as
//! [`crate::ledger::error::StoreError::Locked`].

use std::path::Path;

use crate::ids::Seq;
use crate::ledger::envelope::Envelope;
use crate::ledger::error::LedgerError;
use crate::ledger::open;
use crate::ledger::store::{SledStore, Store};
use crate::ledger::verify::{self, Verification};

/// A ledger opened read-only.
#[derive(Debug)]
pub struct LedgerReader {
    store: SledStore,
}

impl LedgerReader {
    /// Opens the ledger in `dir`, which must exist and must not be open in another process.
    pub fn open(dir: &Path) -> Result<Self, LedgerError> {
        let store = SledStore::open_existing(dir).map_err(LedgerError::Open)?;
        open::refuse_other_format(&store)?;
        Ok(Self { store })
    }

    /// Verifies the whole log (see [`crate::ledger::Ledger::verify`]) and its recorded head,
    /// visiting each event that verifies, in order. Damage is in the answer; an error means
    /// the store could not be read.
    pub fn verify(&self, visit: &mut dyn FnMut(Envelope)) -> Result<Verification, LedgerError> {
        let recorded = self.store.head().map_err(LedgerError::Read)?;
        verify::verify_store(&self.store, Seq(u64::MAX), recorded, visit).map_err(LedgerError::Read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::chain::test_log;
    use crate::ledger::codec;
    use crate::ledger::error::StoreError;
    use crate::ledger::store::Head;

    #[test]
    fn a_reader_verifies_a_stored_log_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (records, envelopes) = test_log(3);
        let behind = Head {
            seq: Seq(2),
            hash: envelopes[1].hash,
        };
        {
            let store = SledStore::open(dir.path()).expect("opens");
            store
                .set_format_version(codec::FORMAT_VERSION)
                .expect("stamps");
            store.write(&records, &behind).expect("writes");
            store.sync().expect("syncs");
        }
        let reader = LedgerReader::open(dir.path()).expect("opens read-only");
        let mut seen = Vec::new();
        let verification = reader.verify(&mut |e| seen.push(e)).expect("reads");
        assert!(verification.is_intact(), "{verification:?}");
        assert_eq!(verification.last.hash, envelopes[2].hash);
        assert_eq!(seen, envelopes);
        assert_eq!(
            reader.store.head().expect("head"),
            Some(behind),
            "a reader never records the head an open would"
        );
        let second = LedgerReader::open(dir.path());
        assert!(
            matches!(second, Err(LedgerError::Open(StoreError::Locked { .. }))),
            "{second:?}"
        );
    }

    #[test]
    fn a_reader_refuses_a_directory_without_a_ledger() {
        let dir = tempfile::tempdir().expect("temp dir");
        let opened = LedgerReader::open(&dir.path().join("none"));
        assert!(
            matches!(opened, Err(LedgerError::Open(StoreError::NotFound { .. }))),
            "{opened:?}"
        );
    }
}
