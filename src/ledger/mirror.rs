//! The mirror (`--mirror DIR`): a synchronous, verified second copy of the log in another
//! directory, meant for another disk, to restore from (`stackledger restore`) when the ledger's
//! own disk fails.
//!
//! Synchronous: the syncer appends every group to the mirror and fdatasyncs it after the store's
//! sync and before the witness records the group's head, so an appender is answered only once
//! both copies hold its events, and the witness never claims what the mirror lacks. Its lag is
//! zero by construction. A mirror that cannot be written is a storage failure: the writer stops.
//!
//! At open the mirror is verified with the ledger's own chain verification and compared with
//! the verified store: a new or empty mirror is filled from the store, one behind it (a crash
//! between the two syncs, never acknowledged) is caught up, and one that holds more than the
//! store or differs from it is refused, naming both paths and the seq. A partial frame at the
//! end was never synced, so never acknowledged, and is dropped; any other damage is refused. It
//! never rewrites a frame it holds, and never trusts one it has not verified.
//!
//! Inside: `frame` (the file format, frozen: see there), `error` (why a mirror is refused).
//! The file is `stackledger.mirror`, 0600 in a 0700 directory.

mod error;
mod frame;

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::ops::ControlFlow;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::ids::Seq;
use crate::ledger::codec;
use crate::ledger::envelope::Hash;
use crate::ledger::error::{LedgerError, StoreError};
use crate::ledger::store::{Head, Store, StoredRecord};

pub use error::MirrorError;
pub(crate) use frame::{Visit, scan};
use frame::{encode_frame, io_failure, is_new, write_header};

/// The mirror's file name inside its directory.
pub const FILE_NAME: &str = "stackledger.mirror";

/// Records copied per write while a mirror is filled from the store.
const FILL_CHUNK: usize = 4096;

/// What `/health` shows about the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorStatus {
    /// The mirror file.
    pub path: PathBuf,
    /// The last event the mirror holds durably.
    pub head: Seq,
    /// Whether the mirror holds every acknowledged event (false once writing it failed).
    pub in_sync: bool,
}

/// The mirror's state, shared by the syncer (which moves it) and the ledger handle.
#[derive(Debug)]
pub(crate) struct MirrorGauge {
    path: PathBuf,
    head: AtomicU64,
    failed: AtomicBool,
}

impl MirrorGauge {
    /// The status against the ledger's acknowledged head.
    pub(crate) fn status(&self, acknowledged: Seq) -> MirrorStatus {
        let head = Seq(self.head.load(Ordering::SeqCst));
        MirrorStatus {
            path: self.path.clone(),
            head,
            in_sync: !self.failed.load(Ordering::SeqCst) && head >= acknowledged,
        }
    }
}

/// The open mirror, appended to by the syncer.
#[derive(Debug)]
pub(crate) struct Mirror {
    file: File,
    gauge: Arc<MirrorGauge>,
}

/// The mirror file in `dir`.
pub(crate) fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Opens the mirror in `dir` beside the verified store of `ledger_dir`, whose last event is
/// `head`: creates or fills it, catches it up, or refuses it (ahead, diverged, damaged).
pub(crate) fn open(
    dir: &Path,
    store: &dyn Store,
    ledger_dir: &Path,
    head: Head,
) -> Result<Mirror, LedgerError> {
    let refused = |error: MirrorError| LedgerError::Mirror(Box::new(error));
    let path = path_in(dir);
    let mut file = create_locked(dir, &path).map_err(refused)?;
    warn_if_same_device(dir, ledger_dir);
    let scanned = if is_new(&file, &path).map_err(refused)? {
        write_header(&mut file, &path).map_err(refused)?
    } else {
        let gone = || io_failure(&path, "read")(std::io::ErrorKind::NotFound.into());
        scan(&path, &mut |_, _, _| ControlFlow::Continue(()))
            .map_err(refused)?
            .ok_or_else(|| refused(gone()))?
    };
    compare(store, &path, ledger_dir, scanned.head, head)?;
    if scanned.torn > 0 {
        tracing::warn!(mirror = %path.display(), bytes = scanned.torn, "dropping a partial frame at the mirror's end (never acknowledged)");
        file.set_len(scanned.whole_len)
            .and_then(|()| file.sync_data())
            .map_err(io_failure(&path, "drop a partial frame of"))
            .map_err(refused)?;
    }
    let gauge = Arc::new(MirrorGauge {
        path,
        head: AtomicU64::new(scanned.head.seq.0),
        failed: AtomicBool::new(false),
    });
    let mut mirror = Mirror { file, gauge };
    mirror.fill(store, scanned.head.seq, head.seq)?;
    Ok(mirror)
}

impl Mirror {
    /// The state the ledger handle reports.
    pub(crate) fn gauge(&self) -> Arc<MirrorGauge> {
        Arc::clone(&self.gauge)
    }

    /// Appends `records` (contiguous, after the mirror's head) and fdatasyncs them. On failure
    /// the mirror is marked out of sync; the caller stops the writer.
    pub(crate) fn append<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a StoredRecord>,
    ) -> Result<(), StoreError> {
        let mut bytes = Vec::new();
        let mut last = None;
        for record in records {
            encode_frame(&mut bytes, record.seq, &record.bytes);
            last = Some(record.seq);
        }
        let Some(last) = last else {
            return Ok(());
        };
        let written = self
            .file
            .write_all(&bytes)
            .map_err(io_failure(&self.gauge.path, "write"))
            .and_then(|()| {
                self.file
                    .sync_data()
                    .map_err(io_failure(&self.gauge.path, "fdatasync"))
            });
        if let Err(error) = written {
            self.gauge.failed.store(true, Ordering::SeqCst);
            return Err(StoreError::Mirror(Box::new(error)));
        }
        self.gauge.head.store(last.0, Ordering::SeqCst);
        Ok(())
    }

    /// Copies the store's events after `from` up to `to` into the mirror.
    fn fill(&mut self, store: &dyn Store, from: Seq, to: Seq) -> Result<(), LedgerError> {
        if from >= to {
            return Ok(());
        }
        let mut chunk = Vec::with_capacity(FILL_CHUNK);
        let mut failure = None;
        store
            .scan(from, &mut |seq, bytes| {
                if seq > to {
                    return ControlFlow::Break(());
                }
                chunk.push(StoredRecord {
                    seq,
                    bytes: bytes.to_vec(),
                });
                if chunk.len() == FILL_CHUNK {
                    failure = self.append(&chunk).err();
                    chunk.clear();
                }
                if failure.is_some() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .map_err(LedgerError::Open)?;
        match failure {
            Some(error) => return Err(LedgerError::Open(error)),
            None => self.append(&chunk).map_err(LedgerError::Open)?,
        }
        tracing::info!(mirror = %self.gauge.path.display(), from = from.0 + 1, to = to.0, "mirror filled from the verified ledger");
        Ok(())
    }
}

/// Refuses a mirror that holds more than the store, or other events at a seq both hold.
fn compare(
    store: &dyn Store,
    path: &Path,
    ledger_dir: &Path,
    mirrored: Head,
    stored: Head,
) -> Result<(), LedgerError> {
    let refused = |error: MirrorError| Err(LedgerError::Mirror(Box::new(error)));
    if mirrored.seq > stored.seq {
        return refused(MirrorError::Ahead {
            path: path.display().to_string(),
            dir: ledger_dir.display().to_string(),
            mirror_head: mirrored.seq,
            store_head: stored.seq,
        });
    }
    if mirrored.seq == Seq::ZERO || stored_hash(store, mirrored.seq)? == Some(mirrored.hash) {
        return Ok(());
    }
    // Both chains verified, so once they differ they differ at every later seq: find the first.
    let mut first = mirrored.seq;
    let mut failure = None;
    scan(path, &mut |seq, _, hash| match stored_hash(store, seq) {
        Ok(Some(stored)) if stored == hash => ControlFlow::Continue(()),
        Ok(_) => {
            first = seq;
            ControlFlow::Break(())
        }
        Err(error) => {
            failure = Some(error);
            ControlFlow::Break(())
        }
    })
    .map_err(|error| LedgerError::Mirror(Box::new(error)))?;
    if let Some(error) = failure {
        return Err(error);
    }
    refused(MirrorError::Diverged {
        path: path.display().to_string(),
        dir: ledger_dir.display().to_string(),
        seq: first,
    })
}

fn stored_hash(store: &dyn Store, seq: Seq) -> Result<Option<Hash>, LedgerError> {
    let record = store.get(seq).map_err(LedgerError::Open)?;
    Ok(record.and_then(|record| codec::split_record(&record).ok().map(|(_, hash)| hash)))
}

/// A mirror on the ledger's own disk is lost with it: say so (it still guards against a damaged
/// or deleted ledger directory).
fn warn_if_same_device(dir: &Path, ledger_dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(mirror), Ok(ledger)) = (std::fs::metadata(dir), std::fs::metadata(ledger_dir))
        && mirror.dev() == ledger.dev()
    {
        tracing::warn!(mirror = %dir.display(), ledger = %ledger_dir.display(), "the mirror is on the ledger's own disk: a failure of that disk loses both copies");
    }
}

/// Creates the mirror's directory (0700) and file (0600) if missing, and locks the file: two
/// ledgers must never write one mirror.
fn create_locked(dir: &Path, path: &Path) -> Result<File, MirrorError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_failure(dir, "create the directory of"))?;
    if let Ok(metadata) = std::fs::metadata(dir)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(dir = %dir.display(), "the mirror directory is readable by other users; make it 0700");
    }
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io_failure(path, "open"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(MirrorError::Locked {
            path: path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(io_failure(path, "lock")(source)),
    }
}

/// Opens the mirror at `path` to read it, refusing one another process is writing.
pub(crate) fn open_to_read(path: &Path) -> Result<File, MirrorError> {
    let file = File::open(path).map_err(io_failure(path, "open"))?;
    match file.try_lock_shared() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(MirrorError::Locked {
            path: path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(io_failure(path, "lock")(source)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::frame::{CHECK_LEN, FRAME_HEAD_LEN, HEADER_LEN, Scanned};
    use super::*;
    use crate::ledger::chain::test_log;
    use crate::ledger::envelope::Envelope;
    use crate::ledger::store::MemoryStore;
    use crate::ledger::verify::stored_bytes;

    fn store_of(records: &[StoredRecord]) -> (MemoryStore, Head) {
        let store = MemoryStore::new();
        let head = head_of(records);
        store.write(records, &head).expect("writes");
        (store, head)
    }

    fn head_of(records: &[StoredRecord]) -> Head {
        records.last().map_or(Head::default(), |last| Head {
            seq: last.seq,
            hash: codec::split_record(&last.bytes).expect("a record").1,
        })
    }

    /// The same log as `envelopes` up to `from`, then other events (another `at`) re-chained.
    fn forked(envelopes: &[Envelope], from: u64) -> Vec<StoredRecord> {
        let mut prev = Hash::ZERO;
        let mut records = Vec::new();
        for envelope in envelopes {
            let mut envelope = envelope.clone();
            if envelope.seq.0 >= from {
                envelope.at += 1_000;
            }
            envelope.prev_hash = prev;
            envelope.hash = Hash::chain(&prev, &codec::encode_envelope_body(&envelope));
            prev = envelope.hash;
            let bytes = stored_bytes(&envelope);
            records.push(StoredRecord {
                seq: envelope.seq,
                bytes,
            });
        }
        records
    }

    fn read_back(path: &Path) -> (Vec<(Seq, Vec<u8>)>, Scanned) {
        let mut seen = Vec::new();
        let scanned = scan(path, &mut |seq, bytes, _| {
            seen.push((seq, bytes.to_vec()));
            ControlFlow::Continue(())
        })
        .expect("scans")
        .expect("a mirror");
        (seen, scanned)
    }

    fn refusal(result: Result<Mirror, LedgerError>) -> MirrorError {
        match result {
            Err(LedgerError::Mirror(error)) => *error,
            other => panic!("not a mirror refusal: {other:?}"),
        }
    }

    #[test]
    fn a_new_mirror_is_filled_with_the_exact_records_private_to_its_owner() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("mirror");
        let (records, _) = test_log(5);
        let (store, head) = store_of(&records);
        let mirror = open(&dir, &store, root.path(), head).expect("opens");
        assert_eq!(mirror.gauge().status(head.seq).head, Seq(5));
        assert!(mirror.gauge().status(head.seq).in_sync);
        let (seen, scanned) = read_back(&path_in(&dir));
        let expected: Vec<_> = records.iter().map(|r| (r.seq, r.bytes.clone())).collect();
        assert_eq!(seen, expected, "the exact stored bytes");
        assert_eq!((scanned.head, scanned.torn), (head, 0));
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("exists")
                .permissions()
                .mode()
        };
        assert_eq!(mode(&dir) & 0o777, 0o700);
        assert_eq!(mode(&path_in(&dir)) & 0o777, 0o600);
        assert!(
            matches!(
                refusal(open(&dir, &store, root.path(), head)),
                MirrorError::Locked { .. }
            ),
            "one ledger at a time"
        );
    }

    #[test]
    fn a_mirror_behind_the_store_is_caught_up_and_takes_appends_after_it() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("mirror");
        let (records, _) = test_log(7);
        let (store, head) = store_of(&records[..3]);
        drop(open(&dir, &store, root.path(), head).expect("opens"));
        let (store, head) = store_of(&records[..6]);
        let mut mirror = open(&dir, &store, root.path(), head).expect("catches up");
        mirror.append(&records[6..]).expect("appends");
        let (seen, scanned) = read_back(&path_in(&dir));
        assert_eq!(seen.len(), 7);
        assert_eq!(scanned.head, head_of(&records));
        assert_eq!(mirror.gauge().status(Seq(7)).head, Seq(7));
    }

    #[test]
    fn a_mirror_ahead_of_the_store_or_other_than_it_is_refused_naming_both_and_the_seq() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("mirror");
        let (records, envelopes) = test_log(5);
        let (store, head) = store_of(&records);
        drop(open(&dir, &store, root.path(), head).expect("opens"));
        let before = std::fs::read(path_in(&dir)).expect("reads");

        let (shorter, short_head) = store_of(&records[..3]);
        let ahead = refusal(open(&dir, &shorter, root.path(), short_head));
        let message = ahead.to_string();
        assert!(
            matches!(
                ahead,
                MirrorError::Ahead {
                    mirror_head: Seq(5),
                    store_head: Seq(3),
                    ..
                }
            ),
            "{message}"
        );
        for named in [
            path_in(&dir).display().to_string(),
            root.path().display().to_string(),
        ] {
            assert!(message.contains(&named), "{message}");
        }
        assert!(
            message.contains("events 4-5") && message.contains("stackledger restore"),
            "{message}"
        );

        let (other, other_head) = store_of(&forked(&envelopes, 3));
        let diverged = refusal(open(&dir, &other, root.path(), other_head));
        assert!(
            matches!(diverged, MirrorError::Diverged { seq: Seq(3), .. }),
            "{diverged}"
        );
        assert_eq!(
            std::fs::read(path_in(&dir)).expect("reads"),
            before,
            "nothing was changed"
        );
    }

    #[test]
    fn a_partial_frame_at_the_end_is_dropped_and_a_changed_byte_is_refused_with_its_offset() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("mirror");
        let (records, _) = test_log(4);
        let (store, head) = store_of(&records[..3]);
        drop(open(&dir, &store, root.path(), head).expect("opens"));
        let whole = std::fs::read(path_in(&dir)).expect("reads");
        let mut frame = Vec::new();
        encode_frame(&mut frame, Seq(4), &records[3].bytes);
        let mut torn = whole.clone();
        torn.extend_from_slice(&frame[..frame.len() - 3]);
        std::fs::write(path_in(&dir), &torn).expect("writes");
        assert_eq!(read_back(&path_in(&dir)).1.torn, frame.len() as u64 - 3);
        drop(open(&dir, &store, root.path(), head).expect("a torn tail is not damage"));
        assert_eq!(
            std::fs::read(path_in(&dir)).expect("reads"),
            whole,
            "dropped"
        );

        let second_frame =
            HEADER_LEN as usize + FRAME_HEAD_LEN + records[0].bytes.len() + CHECK_LEN;
        let mut flipped = whole.clone();
        flipped[second_frame + FRAME_HEAD_LEN + 5] ^= 1;
        std::fs::write(path_in(&dir), &flipped).expect("writes");
        let damaged = refusal(open(&dir, &store, root.path(), head));
        let message = LedgerError::Mirror(Box::new(damaged.clone())).to_string();
        assert!(
            matches!(damaged, MirrorError::Damaged { after: Seq(1), .. }),
            "{message}"
        );
        assert!(
            message.contains(&format!("offset {second_frame}")),
            "{message}"
        );
        assert!(message.contains("move the mirror aside"), "{message}");
    }

    /// A mirror in `root` whose file is open read-only, so every append fails; with its gauge.
    pub(crate) fn unwritable(root: &Path) -> (Mirror, Arc<MirrorGauge>) {
        let dir = root.join("mirror");
        let healthy = open(&dir, &MemoryStore::new(), root, Head::default()).expect("opens");
        let gauge = healthy.gauge();
        drop(healthy);
        let file = File::open(path_in(&dir)).expect("opens read-only");
        (
            Mirror {
                file,
                gauge: Arc::clone(&gauge),
            },
            gauge,
        )
    }

    #[test]
    fn a_mirror_that_cannot_be_written_fails_the_append_and_is_out_of_sync() {
        let root = tempfile::tempdir().expect("temp dir");
        let (records, _) = test_log(1);
        let (mut broken, gauge) = unwritable(root.path());
        let failed = broken.append(&records);
        assert!(matches!(failed, Err(StoreError::Mirror(_))), "{failed:?}");
        let status = gauge.status(Seq::ZERO);
        assert_eq!((status.head, status.in_sync), (Seq::ZERO, false));
    }
}
