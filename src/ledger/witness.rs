//! The witness: a small append-only file beside the store, outside its log, that records the
//! head (seq and hash) of every acknowledged group commit. A storage engine may drop a damaged
//! tail of its own log on recovery (sled does) and then returns a shorter log that is perfectly
//! self-consistent; the witness is what proves the store returned everything that was ever
//! acknowledged.
//!
//! It must never claim more than the store holds durably: a head is appended only after the
//! store's sync returned, and appenders are answered only after the witness's own fdatasync.
//! It is never silently recreated while a ledger exists, and never rewritten except by its
//! compaction, which replaces the file atomically with one holding only the latest head.
//!
//! Format (frozen): 16 bytes of magic, then records of 48 bytes: `seq` (big-endian u64) ‖
//! `hash` (32 bytes) ‖ the first 8 bytes of `SHA-256("witness" ‖ seq ‖ hash)`. Seqs strictly
//! increase. A partial record at the end was never synced, so never acknowledged, and is
//! dropped; any other deviation is damage, named with its file and offset.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::ids::Seq;
use crate::ledger::codec;
use crate::ledger::envelope::Hash;
use crate::ledger::error::{Damage, StoreError, WitnessError};
use crate::ledger::store::{Head, Store};

/// The witness's file name inside the ledger directory.
pub const FILE_NAME: &str = "witness";

const MAGIC: [u8; 16] = *b"stackledger-wit1";
const RECORD_LEN: usize = 48;

/// Past this size the file is compacted to its latest head (about 21,800 group commits).
const COMPACT_AT: u64 = 1 << 20;

/// What a witness file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Witnessed {
    /// The last acknowledged head (seq 0 when nothing was acknowledged yet).
    pub(crate) head: Head,
    /// The length of the file's whole records (a partial record after it is dropped).
    whole_len: u64,
}

/// The open witness, appended to by the syncer after every durable group.
#[derive(Debug)]
pub(crate) struct Witness {
    path: PathBuf,
    file: File,
    len: u64,
    last: Head,
}

/// The witness file of the ledger in `dir`.
pub(crate) fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Reads the witness at `path`: None when there is no file; damage is named with its offset.
pub(crate) fn read(path: &Path) -> Result<Option<Witnessed>, WitnessError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_failure(path, "read")(source)),
    };
    let damaged = |offset: usize, reason: &'static str| WitnessError::Damaged {
        path: path.display().to_string(),
        offset: offset as u64,
        reason,
    };
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        return Err(damaged(0, "it does not start with the witness header"));
    }
    let mut head = Head::default();
    let records = bytes[MAGIC.len()..].chunks_exact(RECORD_LEN);
    let whole_len = (MAGIC.len() + records.len() * RECORD_LEN) as u64;
    for (index, record) in records.enumerate() {
        let offset = MAGIC.len() + index * RECORD_LEN;
        let (seq, hash) =
            decode(record).ok_or_else(|| damaged(offset, "a record's checksum is wrong"))?;
        if seq <= head.seq && index > 0 {
            return Err(damaged(offset, "its seqs do not increase"));
        }
        head = Head { seq, hash };
    }
    Ok(Some(Witnessed { head, whole_len }))
}

impl Witness {
    /// Creates the witness at `path` holding `head`, atomically (never over an existing one).
    pub(crate) fn create(path: &Path, head: Head) -> Result<Self, StoreError> {
        if path.exists() {
            return Err(StoreError::Io {
                operation: "create witness (one exists already)",
                source: Arc::new(std::io::Error::from(std::io::ErrorKind::AlreadyExists)),
            });
        }
        replace(path, head)?;
        Self::resume(
            path,
            Witnessed {
                head,
                whole_len: (MAGIC.len() + RECORD_LEN) as u64,
            },
        )
    }

    /// Opens an existing witness for appending, dropping a partial record at its end.
    pub(crate) fn resume(path: &Path, witnessed: Witnessed) -> Result<Self, StoreError> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io_error("open witness"))?;
        let len = file.metadata().map_err(io_error("open witness"))?.len();
        if len > witnessed.whole_len {
            file.set_len(witnessed.whole_len)
                .and_then(|()| file.sync_data())
                .map_err(io_error("drop a partial witness record"))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            len: witnessed.whole_len,
            last: witnessed.head,
        })
    }

    /// Records `head` as acknowledged, durably. Call only once the store holds it durably.
    pub(crate) fn record(&mut self, head: Head) -> Result<(), StoreError> {
        if head == self.last {
            return Ok(());
        }
        if self.len >= COMPACT_AT {
            replace(&self.path, head)?;
            *self = Self::resume(
                &self.path,
                Witnessed {
                    head,
                    whole_len: (MAGIC.len() + RECORD_LEN) as u64,
                },
            )?;
            return Ok(());
        }
        self.file
            .write_all(&encode(head))
            .and_then(|()| self.file.sync_data())
            .map_err(io_error("write witness"))?;
        self.len += RECORD_LEN as u64;
        self.last = head;
        Ok(())
    }
}

/// Checks a verified log whose last intact event is `last` against the witnessed head: the
/// log must reach it, with its hash. None when it does.
pub(crate) fn compare(
    store: &dyn Store,
    last: Seq,
    witnessed: Head,
) -> Result<Option<Damage>, StoreError> {
    if witnessed.seq == Seq::ZERO {
        return Ok(None);
    }
    if last < witnessed.seq {
        return Ok(Some(Damage::Lost {
            held: last,
            acknowledged: witnessed.seq,
        }));
    }
    let hash = store
        .get(witnessed.seq)?
        .and_then(|record| codec::split_record(&record).ok().map(|(_, hash)| hash));
    Ok((hash != Some(witnessed.hash)).then_some(Damage::NotWitnessed { seq: witnessed.seq }))
}

/// Writes a witness holding only `head` to `path`, atomically: a temporary file, synced, then
/// renamed over it, then the directory synced.
fn replace(path: &Path, head: Head) -> Result<(), StoreError> {
    let temporary = path.with_extension("new");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io_error("create witness"))?;
    file.write_all(&MAGIC)
        .and_then(|()| file.write_all(&encode(head)))
        .and_then(|()| file.sync_all())
        .map_err(io_error("write witness"))?;
    std::fs::rename(&temporary, path).map_err(io_error("rename witness"))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(io_error("sync witness directory"))
}

fn encode(head: Head) -> [u8; RECORD_LEN] {
    let mut bytes = [0u8; RECORD_LEN];
    bytes[..8].copy_from_slice(&head.seq.0.to_be_bytes());
    bytes[8..40].copy_from_slice(&head.hash.0);
    let check = checksum(&bytes[..40]);
    bytes[40..].copy_from_slice(&check);
    bytes
}

fn decode(record: &[u8]) -> Option<(Seq, Hash)> {
    let (content, check) = record.split_at(40);
    if checksum(content) != check {
        return None;
    }
    let seq = u64::from_be_bytes(content[..8].try_into().ok()?);
    let hash: [u8; 32] = content[8..].try_into().ok()?;
    Some((Seq(seq), Hash(hash)))
}

fn checksum(content: &[u8]) -> [u8; 8] {
    let digest = Sha256::new()
        .chain_update(b"witness")
        .chain_update(content)
        .finalize();
    digest[..8]
        .try_into()
        .expect("a SHA-256 digest has 32 bytes")
}

fn io_error(operation: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |source| StoreError::Io {
        operation,
        source: Arc::new(source),
    }
}

fn io_failure(path: &Path, operation: &'static str) -> impl Fn(std::io::Error) -> WitnessError {
    let path = path.display().to_string();
    move |source| WitnessError::Io {
        path: path.clone(),
        operation,
        source: Arc::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: u64) -> Head {
        Head {
            seq: Seq(seq),
            hash: Hash([seq as u8; 32]),
        }
    }

    #[test]
    fn a_witness_reads_back_the_last_head_it_recorded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = path_in(dir.path());
        assert_eq!(read(&path).expect("reads"), None, "no file yet");
        let mut witness = Witness::create(&path, Head::default()).expect("creates");
        for seq in [3, 7, 9] {
            witness.record(head(seq)).expect("records");
        }
        assert_eq!(read(&path).expect("reads").map(|w| w.head), Some(head(9)));
        assert!(
            Witness::create(&path, head(1)).is_err(),
            "never over an existing witness"
        );
    }

    #[test]
    fn a_partial_record_at_the_end_is_dropped_and_any_other_change_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = path_in(dir.path());
        let mut witness = Witness::create(&path, head(1)).expect("creates");
        witness.record(head(2)).expect("records");
        drop(witness);
        let whole = std::fs::read(&path).expect("reads");
        let mut torn = whole.clone();
        torn.extend_from_slice(&encode(head(3))[..20]);
        std::fs::write(&path, &torn).expect("writes");
        let witnessed = read(&path)
            .expect("a torn tail is not damage")
            .expect("a witness");
        assert_eq!(witnessed.head, head(2));
        let mut resumed = Witness::resume(&path, witnessed).expect("resumes");
        resumed
            .record(head(4))
            .expect("records after the dropped tail");
        assert_eq!(read(&path).expect("reads").map(|w| w.head), Some(head(4)));

        let mut flipped = whole.clone();
        flipped[MAGIC.len() + RECORD_LEN + 3] ^= 1;
        std::fs::write(&path, &flipped).expect("writes");
        let refused = read(&path).expect_err("a changed byte is damage");
        let message = refused.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("offset 64"), "{message}");

        std::fs::write(&path, b"").expect("writes");
        assert!(
            read(&path).is_err(),
            "an emptied witness is damage, not a new one"
        );
    }

    #[test]
    fn a_large_witness_is_compacted_to_its_latest_head() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = path_in(dir.path());
        let mut witness = Witness::create(&path, Head::default()).expect("creates");
        let records = COMPACT_AT / RECORD_LEN as u64 + 2;
        for seq in 1..=records {
            witness.record(head(seq)).expect("records");
        }
        let len = std::fs::metadata(&path).expect("metadata").len();
        assert!(len < COMPACT_AT, "compacted to {len} bytes");
        assert_eq!(
            read(&path).expect("reads").map(|w| w.head),
            Some(head(records))
        );
    }
}
