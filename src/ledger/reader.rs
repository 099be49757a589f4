//! [`LedgerReader`]: a stopped server's ledger, opened to read and verify it, never to write.
//!
//! No writer starts and nothing of the log is written: not an event, not the head, not the
//! format stamp, not the witness (a reader never creates a ledger either). The log is checked
//! against the witness as an open checks it, so a store that lost acknowledged events is
//! reported as damaged, never as a shorter intact log. sled still takes its file lock, so a
//! ledger a running server holds is refused as
//! [`crate::ledger::error::StoreError::Locked`].

use std::path::{Path, PathBuf};

use crate::ids::Seq;
use crate::ledger::envelope::Envelope;
use crate::ledger::error::{LedgerError, WitnessError};
use crate::ledger::open;
use crate::ledger::store::{SledStore, Store};
use crate::ledger::verify::{self, Verification};
use crate::ledger::witness::{self, Witnessed};

/// A ledger opened read-only.
#[derive(Debug)]
pub struct LedgerReader {
    store: SledStore,
    witness: PathBuf,
    witnessed: Option<Witnessed>,
}

impl LedgerReader {
    /// Opens the ledger in `dir`, which must exist and must not be open in another process.
    /// A witness that is damaged, or missing from a ledger that had one, is refused.
    pub fn open(dir: &Path) -> Result<Self, LedgerError> {
        Self::open_with(dir, SledStore::open_existing)
    }

    /// The same, leaving `dir` untouched: sled 0.34 rewrites its own files whenever it opens
    /// them (the unreadable end of its log, its snapshot), so it opens a private copy made under
    /// `scratch` instead, while the original stays locked (see `store/sled_copy.rs`). For tools
    /// that inspect a ledger that may be damaged and must not destroy what is left of it.
    pub fn open_untouched(dir: &Path, scratch: &Path) -> Result<Self, LedgerError> {
        Self::open_with(dir, |dir| SledStore::open_copy(dir, scratch))
    }

    fn open_with(
        dir: &Path,
        open_store: impl FnOnce(&Path) -> Result<SledStore, crate::ledger::error::StoreError>,
    ) -> Result<Self, LedgerError> {
        let witness = witness::path_in(dir);
        let witnessed = witness::read(&witness)?;
        let store = open_store(dir).map_err(|error| match (error, witnessed) {
            (crate::ledger::error::StoreError::NotFound { .. }, Some(witnessed))
                if witnessed.head.seq > Seq::ZERO =>
            {
                LedgerError::Witness(WitnessError::StoreGone {
                    path: witness.display().to_string(),
                    acknowledged: witnessed.head.seq,
                })
            }
            (error, _) => LedgerError::Open(error),
        })?;
        open::refuse_other_format(&store)?;
        if let (None, Some(since)) = (
            witnessed,
            store.witnessed_since().map_err(LedgerError::Open)?,
        ) {
            return Err(LedgerError::Witness(WitnessError::Missing {
                path: witness.display().to_string(),
                since,
            }));
        }
        Ok(Self {
            store,
            witness,
            witnessed,
        })
    }

    /// The witness file (whether or not it exists: a ledger written by 0.1.0 has none).
    pub fn witness_path(&self) -> &Path {
        &self.witness
    }

    /// Verifies the whole log (see [`crate::ledger::Ledger::verify`]) and its recorded head,
    /// visiting each event that verifies, in order. Damage is in the answer; an error means
    /// the store could not be read.
    pub fn verify(&self, visit: &mut dyn FnMut(Envelope)) -> Result<Verification, LedgerError> {
        let recorded = self.store.head().map_err(LedgerError::Read)?;
        let mut verification = verify::verify_store(&self.store, Seq(u64::MAX), recorded, visit)
            .map_err(LedgerError::Read)?;
        if let Some(witnessed) = self.witnessed {
            verification.acknowledged = Some(witnessed.head.seq);
            if verification.is_intact() {
                verification.damage =
                    witness::compare(&self.store, verification.last.seq, witnessed.head)
                        .map_err(LedgerError::Read)?;
            }
        }
        Ok(verification)
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
