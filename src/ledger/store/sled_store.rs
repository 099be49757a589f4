//! [`SledStore`]: the log in a sled 0.34 database under a directory. The only file that
//! names sled: its types never leave it.
//!
//! Layout (the persisted forms, frozen): tree `meta` holds `head` (seq ‖ hash, 40 bytes) and
//! `format` (big-endian `u32`), and, since 0.2.0, `witness` (big-endian `u64`: the seq from
//! which the ledger's witness file records acknowledged heads; see `ledger/witness.rs`).
//! Format 1: tree `events` maps `seq` as big-endian `u64` to the record bytes, so byte order is
//! log order. Format 2: tree `groups` maps a group commit's first seq (big-endian `u64`) to its
//! records framed in one value (`groups.rs`). A format-1 store is never rewritten: appended to
//! by this version, it records in meta `format1_last` (big-endian `u64`, the last seq in
//! `events`) before its format becomes 2, and reads route by seq.
//!
//! Durability: [`Store::sync`] returns only after sled's `flush` (which on Linux ends in
//! `sync_file_range`, enough for a killed process but not for a power cut) and an `fdatasync`
//! of sled's data file. Records are kept far below sled's ~128 KiB blob threshold by the
//! writer's payload cap, so every record lives in that one file.

use std::fs::File;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::ids::Seq;
use crate::ledger::envelope::Hash;
use crate::ledger::error::{SledRefusal, StoreError};
use crate::ledger::store::sled_copy::SledCopy;
use crate::ledger::store::{Head, IndexVisitor, IndexWrite, ScanOrder, Store, StoredRecord};
use crate::private_files::{DirectoryEntries, create_private_dir};

mod layout;
mod tamper;

const EVENTS_TREE: &str = "events";
const GROUPS_TREE: &str = "groups";
const FORMAT1_LAST_KEY: &[u8] = b"format1_last";
/// sled's page cache: bounded, so that memory does not grow with history.
const CACHE_BYTES: u64 = 64 << 20;
/// `format1_last` of a store whose events are all in tree `events` (format 1 throughout).
const ALL_FORMAT_1: u64 = u64::MAX;
const META_TREE: &str = "meta";
const INDEX_TREE: &str = "index";
const HEAD_KEY: &[u8] = b"head";
const FORMAT_KEY: &[u8] = b"format";
const WITNESS_KEY: &[u8] = b"witness";

/// The sled 0.34 store under a directory.
#[derive(Debug)]
pub struct SledStore {
    /// Always `Some` until drop, which must release sled before waiting for its file lock.
    sled: Option<SledHandles>,
    /// sled's data file, kept open for fdatasync after each flush.
    data_file: File,
    /// The private copy sled runs on, for a read-only open: dropped last, once sled let go.
    copy: Option<SledCopy>,
    /// The last seq in tree `events`; later ones are in `groups` ([`ALL_FORMAT_1`]: none are).
    format1_last: AtomicU64,
    /// Whether the next write must first end format 1 (record `format1_last`, format 2).
    format2_pending: AtomicBool,
    /// Writes the format-1 layout (a test constructor's store, to build old data dirs).
    legacy: bool,
}

#[derive(Debug)]
struct SledHandles {
    db: sled::Db,
    events: sled::Tree,
    groups: sled::Tree,
    meta: sled::Tree,
    index: sled::Tree,
}

/// How long dropping a store waits for sled to release its file lock.
const RELEASE_WAIT_MAX: Duration = Duration::from_secs(10);

impl Drop for SledStore {
    /// sled closes its data file (and so releases its lock) only when its last internal
    /// reference goes, on one of its own threads, a moment after its handles are dropped. Wait
    /// for that release here, bounded, so that reopening the directory in this process right
    /// after a close never finds it "locked by another process".
    fn drop(&mut self) {
        drop(self.sled.take());
        let Ok(waiter) = self.data_file.try_clone() else {
            return;
        };
        let (released, release) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("sled-release".into())
            .spawn(move || {
                if waiter.lock().is_ok() {
                    let _ = waiter.unlock();
                }
                let _ = released.send(());
            });
        if spawned.is_ok() && release.recv_timeout(RELEASE_WAIT_MAX).is_err() {
            tracing::warn!("sled did not release its data file in time");
        }
    }
}

impl SledStore {
    fn sled(&self) -> &SledHandles {
        self.sled
            .as_ref()
            .expect("sled handles are present until the store is dropped")
    }

    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        create_private_dir(dir).map_err(io_error("create data directory"))?;
        let before = DirectoryEntries::read(dir).map_err(io_error("list data directory"))?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|error| open_error(dir, error))?;
        // What sled created on this open (all of a new store, a new snapshot on a later one)
        // is made private; what was there before is only reported at start.
        before
            .make_new_entries_private()
            .map_err(io_error("make data files private"))?;
        let events = db.open_tree(EVENTS_TREE).map_err(sled_error("open tree"))?;
        let groups = db.open_tree(GROUPS_TREE).map_err(sled_error("open tree"))?;
        let meta = db.open_tree(META_TREE).map_err(sled_error("open tree"))?;
        let index = db.open_tree(INDEX_TREE).map_err(sled_error("open tree"))?;
        let data_file = File::open(data_file_path(dir)).map_err(io_error("open data file"))?;
        // The directory entry of a newly created data file must be durable too.
        File::open(dir)
            .and_then(|directory| directory.sync_all())
            .map_err(io_error("sync data directory"))?;
        let store = Self {
            sled: Some(SledHandles {
                db,
                events,
                groups,
                meta,
                index,
            }),
            data_file,
            copy: None,
            format1_last: AtomicU64::new(ALL_FORMAT_1),
            format2_pending: AtomicBool::new(false),
            legacy: false,
        };
        let format1_last = match store.meta(FORMAT1_LAST_KEY, "read format 1 end")? {
            Some(bytes) => decode_seq(&bytes)?.0,
            None if store.format_version()?.is_some_and(|format| format >= 2) => 0,
            None => ALL_FORMAT_1,
        };
        store.format1_last.store(format1_last, Ordering::SeqCst);
        let pending = format1_last == ALL_FORMAT_1 || store.format_version()? == Some(1);
        store.format2_pending.store(pending, Ordering::SeqCst);
        Ok(store)
    }

    /// Creates a store in `dir` that keeps writing format 1 (one sled value per event, tree
    /// `events`), as every version before format 2 did: for tests that build old data dirs.
    #[doc(hidden)]
    pub fn create_format_1(dir: &Path) -> Result<Self, StoreError> {
        let mut store = Self::open(dir)?;
        store.legacy = true;
        store.set_format_version(1)?;
        Ok(store)
    }

    /// Opens a private copy of the store in `original` (made under `scratch`), so that sled's
    /// own writes at open land in the copy and the original stays as it is (see `sled_copy.rs`).
    /// Damage sled refuses is named with the original's path.
    pub fn open_copy(original: &Path, scratch: &Path) -> Result<Self, StoreError> {
        let copy = SledCopy::take(original, scratch)?;
        let mut store = Self::open(copy.dir()).map_err(|error| match error {
            // Named as the original, which is what the operator has (and an ordinary open names).
            StoreError::Corrupt { refusal, .. } => StoreError::Corrupt {
                path: original.display().to_string(),
                refusal,
            },
            other => other,
        })?;
        store.copy = Some(copy);
        Ok(store)
    }

    /// Whether `dir` holds a store (sled's data file).
    pub fn exists_in(dir: &Path) -> bool {
        data_file_path(dir).is_file()
    }

    /// Opens the store in `dir` only if one exists there: never creates one.
    pub fn open_existing(dir: &Path) -> Result<Self, StoreError> {
        if !Self::exists_in(dir) {
            return Err(StoreError::NotFound {
                path: dir.display().to_string(),
            });
        }
        Self::open(dir)
    }

    /// The seq from which this ledger has a witness file (None: it never had one, as every
    /// ledger written by 0.1.0).
    pub(crate) fn witnessed_since(&self) -> Result<Option<Seq>, StoreError> {
        let Some(bytes) = self.meta(WITNESS_KEY, "read witness mark")? else {
            return Ok(None);
        };
        let bytes: [u8; 8] = bytes
            .as_ref()
            .try_into()
            .map_err(|_| StoreError::MalformedHead { len: bytes.len() })?;
        Ok(Some(Seq(u64::from_be_bytes(bytes))))
    }

    /// Records, durably, that the witness file records heads from `seq` on.
    pub(crate) fn mark_witnessed_since(&self, seq: Seq) -> Result<(), StoreError> {
        self.sled()
            .meta
            .insert(WITNESS_KEY, &seq.0.to_be_bytes())
            .map_err(sled_error("write witness mark"))?;
        self.sync()
    }

    /// The file whose presence shows that `dir` holds a store (sled's data file).
    pub fn data_file(dir: &Path) -> PathBuf {
        data_file_path(dir)
    }

    /// The value under `key` in the metadata tree.
    fn meta(&self, key: &[u8], operation: &'static str) -> Result<Option<sled::IVec>, StoreError> {
        self.sled().meta.get(key).map_err(sled_error(operation))
    }
}

impl Store for SledStore {
    fn write(&self, records: &[StoredRecord], head: &Head) -> Result<(), StoreError> {
        if self.legacy {
            self.write_format_1(records)?;
        } else {
            self.write_groups(records)?;
        }
        // Written after the events: sled recovers a prefix of its log, so a crash can leave the
        // head behind the events (unacknowledged but intact events), never ahead of them.
        self.sled()
            .meta
            .insert(HEAD_KEY, encode_head(head).as_slice())
            .map_err(sled_error("write head"))?;
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.sled().db.flush().map_err(sled_error("flush"))?;
        self.data_file.sync_data().map_err(io_error("fdatasync"))
    }

    fn scan(
        &self,
        after: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        if after.0 < self.format1_last() && self.scan_events(after, visit)? {
            return Ok(());
        }
        if self.format1_last() == ALL_FORMAT_1 {
            return Ok(());
        }
        self.scan_groups(after.max(Seq(self.format1_last())), visit)
    }

    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        if seq.0 > self.format1_last() {
            return self.get_grouped(seq);
        }
        let value = self
            .sled()
            .events
            .get(seq.0.to_be_bytes())
            .map_err(sled_error("read"))?;
        Ok(value.map(|bytes| bytes.to_vec()))
    }

    fn head(&self) -> Result<Option<Head>, StoreError> {
        self.meta(HEAD_KEY, "read head")?
            .map(|bytes| decode_head(&bytes))
            .transpose()
    }

    fn format_version(&self) -> Result<Option<u32>, StoreError> {
        let Some(bytes) = self.meta(FORMAT_KEY, "read format")? else {
            return Ok(None);
        };
        let bytes: [u8; 4] = bytes
            .as_ref()
            .try_into()
            .map_err(|_| StoreError::MalformedHead { len: bytes.len() })?;
        Ok(Some(u32::from_be_bytes(bytes)))
    }

    fn set_format_version(&self, version: u32) -> Result<(), StoreError> {
        if version >= 2 && self.format1_last() == ALL_FORMAT_1 {
            let last = self.last_in_events()?;
            if last > 0 {
                self.sled()
                    .meta
                    .insert(FORMAT1_LAST_KEY, &last.to_be_bytes())
                    .map_err(sled_error("write format 1 end"))?;
            }
            self.format1_last.store(last, Ordering::SeqCst);
        }
        self.format2_pending
            .store(version < 2 && !self.legacy, Ordering::SeqCst);
        self.sled()
            .meta
            .insert(FORMAT_KEY, &version.to_be_bytes())
            .map_err(sled_error("write format"))?;
        self.sync()
    }

    fn write_index(&self, writes: &[IndexWrite]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for write in writes {
            match &write.value {
                Some(value) => batch.insert(write.key.as_slice(), value.as_slice()),
                None => batch.remove(write.key.as_slice()),
            }
        }
        self.sled()
            .index
            .apply_batch(batch)
            .map_err(sled_error("write index"))
    }

    fn get_index(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self
            .sled()
            .index
            .get(key)
            .map_err(sled_error("read index"))?;
        Ok(value.map(|bytes| bytes.to_vec()))
    }

    fn scan_index(
        &self,
        from: &[u8],
        to: &[u8],
        order: ScanOrder,
        visit: &mut IndexVisitor<'_>,
    ) -> Result<(), StoreError> {
        if from >= to {
            return Ok(());
        }
        let range = self.sled().index.range(from..to);
        let mut visit_entry = |entry: sled::Result<(sled::IVec, sled::IVec)>| {
            let (key, value) = entry.map_err(sled_error("read index"))?;
            Ok::<_, StoreError>(visit(&key, &value))
        };
        match order {
            ScanOrder::Forward => {
                for entry in range {
                    if visit_entry(entry)?.is_break() {
                        break;
                    }
                }
            }
            ScanOrder::Backward => {
                for entry in range.rev() {
                    if visit_entry(entry)?.is_break() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// What sled's refusal to open the store in `dir` means: damage it found in its own files
/// (named), the lock of another process, or an I/O failure.
fn open_error(dir: &Path, error: sled::Error) -> StoreError {
    let path = dir.display().to_string();
    let refusal = match &error {
        sled::Error::Corruption { at: Some(at), .. } => SledRefusal::LogAt(format!("{at:?}")),
        sled::Error::Corruption { at: None, .. } => SledRefusal::SomeFile,
        // sled checks its configuration file against the store it opens and refuses one it
        // cannot read or that says otherwise; StackLedger never changes sled's configuration.
        sled::Error::Unsupported(why) => SledRefusal::Configuration(why.clone()),
        _ => {
            let error = std::io::Error::from(error);
            if error.to_string().contains("could not acquire lock") {
                return StoreError::Locked { path };
            }
            return io_error("open")(error);
        }
    };
    StoreError::Corrupt { path, refusal }
}

/// The path of sled 0.34's data file inside its directory.
pub(super) fn data_file_path(dir: &Path) -> PathBuf {
    dir.join("db")
}

fn decode_seq(bytes: &[u8]) -> Result<Seq, StoreError> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::MalformedHead { len: bytes.len() })?;
    Ok(Seq(u64::from_be_bytes(bytes)))
}

fn encode_head(head: &Head) -> [u8; 40] {
    let mut bytes = [0u8; 40];
    bytes[..8].copy_from_slice(&head.seq.0.to_be_bytes());
    bytes[8..].copy_from_slice(&head.hash.0);
    bytes
}

fn decode_head(bytes: &[u8]) -> Result<Head, StoreError> {
    let bytes: &[u8; 40] = bytes
        .try_into()
        .map_err(|_| StoreError::MalformedHead { len: bytes.len() })?;
    let (seq, hash) = bytes.split_at(8);
    Ok(Head {
        seq: Seq(u64::from_be_bytes(
            seq.try_into().expect("split_at(8) gives 8 bytes"),
        )),
        hash: Hash(hash.try_into().expect("the rest of 40 bytes is 32")),
    })
}

fn io_error(operation: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |source| StoreError::Io {
        operation,
        source: Arc::new(source),
    }
}

fn sled_error(operation: &'static str) -> impl Fn(sled::Error) -> StoreError {
    move |error| io_error(operation)(std::io::Error::from(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_existing_refuses_a_directory_without_a_ledger_and_creates_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nothing-here");
        let opened = SledStore::open_existing(&missing);
        assert!(
            matches!(opened, Err(StoreError::NotFound { .. })),
            "{opened:?}"
        );
        assert!(!missing.exists(), "nothing was created");
    }

    #[test]
    fn head_round_trips() {
        let head = Head {
            seq: Seq(42),
            hash: Hash([7; 32]),
        };
        assert_eq!(decode_head(&encode_head(&head)).expect("decodes"), head);
        assert!(matches!(
            decode_head(&[1, 2, 3]),
            Err(StoreError::MalformedHead { len: 3 })
        ));
    }

    #[test]
    fn a_second_open_of_one_directory_is_refused_as_locked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let _first = SledStore::open(dir.path()).expect("first open");
        let second = SledStore::open(dir.path());
        assert!(
            matches!(second, Err(StoreError::Locked { .. })),
            "{second:?}"
        );
    }

    #[test]
    fn a_configuration_file_sled_refuses_is_named_as_damage() {
        let dir = tempfile::tempdir().expect("temp dir");
        drop(SledStore::open(dir.path()).expect("creates"));
        let conf = dir.path().join("conf");
        let written = std::fs::read(&conf).expect("sled writes its configuration");
        let digit = written
            .iter()
            .position(|byte| *byte == b'5')
            .expect("the segment size has a 5");
        let mut changed_size = written.clone();
        changed_size[digit] = b'6';
        let mut not_text = written;
        not_text[digit] = 0xff;
        for (bytes, why) in [
            (changed_size, "io buffer size"),
            (not_text, "earlier than 0.29"),
        ] {
            std::fs::write(&conf, bytes).expect("writes");
            match SledStore::open(dir.path()) {
                Err(error @ StoreError::Corrupt { .. }) => {
                    let detail = error.to_string();
                    assert!(
                        detail.contains(&format!("{}/conf", dir.path().display())),
                        "{detail}"
                    );
                    assert!(detail.contains(why), "{detail}");
                }
                other => panic!("a changed configuration opened or failed otherwise: {other:?}"),
            }
        }
    }

    #[test]
    fn a_dropped_store_can_be_reopened_at_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        for _ in 0..20 {
            let store = SledStore::open(dir.path()).expect("reopens right after a drop");
            store.set_format_version(1).expect("writes");
        }
    }

    #[test]
    fn index_entries_survive_a_reopen_and_scan_both_ways() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = SledStore::open(dir.path()).expect("open");
            let writes: Vec<IndexWrite> = (1..=4u8)
                .map(|n| IndexWrite::put(vec![b'p', n], vec![n]))
                .collect();
            store.write_index(&writes).expect("writes");
            store
                .write_index(&[IndexWrite::delete(vec![b'p', 2])])
                .expect("deletes");
            store.sync().expect("syncs");
        }
        let store = SledStore::open(dir.path()).expect("reopens");
        let mut seen = Vec::new();
        for order in [ScanOrder::Forward, ScanOrder::Backward] {
            store
                .scan_index(b"p", b"q", order, &mut |key, value| {
                    assert_eq!(key[1], value[0]);
                    seen.push(key[1]);
                    ControlFlow::Continue(())
                })
                .expect("scans");
        }
        assert_eq!(seen, vec![1, 3, 4, 4, 3, 1]);
        assert_eq!(store.get_index(b"p\x03").expect("reads"), Some(vec![3]));
        assert_eq!(store.get_index(b"p\x02").expect("reads"), None);
    }

    #[test]
    fn append_then_scan_and_get_return_the_records_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(dir.path()).expect("open");
        let records: Vec<StoredRecord> = (1..=3)
            .map(|n| StoredRecord {
                seq: Seq(n),
                bytes: vec![n as u8; 40],
            })
            .collect();
        let head = Head {
            seq: Seq(3),
            hash: Hash([3; 32]),
        };
        store.write(&records, &head).expect("write");
        store.sync().expect("sync");
        let mut seen = Vec::new();
        store
            .scan(Seq(1), &mut |seq, bytes| {
                seen.push((seq, bytes[0]));
                ControlFlow::Continue(())
            })
            .expect("scan");
        assert_eq!(seen, vec![(Seq(2), 2), (Seq(3), 3)]);
        assert_eq!(store.get(Seq(3)).expect("get"), Some(vec![3; 40]));
        assert_eq!(store.get(Seq(4)).expect("get"), None);
        assert_eq!(store.head().expect("head"), Some(head));
    }
}
