//! Disk faults for the fault-injection tests (issue 11): one fault (a flipped byte, a
//! truncation, a zeroed range, a deletion) applied to one file of a data directory, and
//! fingerprints of every file's bytes, to prove what a start wrote or did not write. It never
//! touches anything outside the directory it is given.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rand::Rng;
use sha2::{Digest, Sha256};

/// The faults a disk, a filesystem or an operator can do to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FaultKind {
    /// One byte changed (XORed with a non-zero mask).
    FlipByte,
    /// The file cut at a length shorter than it was.
    Truncate,
    /// A range of bytes set to zero.
    ZeroRange,
    /// The file removed.
    Delete,
}

impl FaultKind {
    /// Every kind, in the order the report lists them.
    pub(crate) const ALL: [FaultKind; 4] = [
        FaultKind::FlipByte,
        FaultKind::Truncate,
        FaultKind::ZeroRange,
        FaultKind::Delete,
    ];
}

/// The longest range [`FaultKind::ZeroRange`] zeroes.
const ZERO_RANGE_MAX: u64 = 4096;

/// One fault on one file, with where it struck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    /// What was done.
    pub(crate) kind: FaultKind,
    /// The file, relative to the data directory.
    pub(crate) file: PathBuf,
    /// The file's length before the fault.
    pub(crate) len: u64,
    /// The flipped byte, the new length, or the first zeroed byte (0 for a deletion).
    pub(crate) offset: u64,
    /// The XOR mask of a flip, or how many bytes were zeroed (0 otherwise).
    pub(crate) amount: u64,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        let len = self.len;
        match self.kind {
            FaultKind::FlipByte => write!(
                f,
                "flipped byte {} of {file} ({len} bytes) with XOR {:#04x}",
                self.offset, self.amount
            ),
            FaultKind::Truncate => {
                write!(f, "truncated {file} from {len} to {} bytes", self.offset)
            }
            FaultKind::ZeroRange => write!(
                f,
                "zeroed bytes {}..{} of {file} ({len} bytes)",
                self.offset,
                self.offset + self.amount
            ),
            FaultKind::Delete => write!(f, "deleted {file} ({len} bytes)"),
        }
    }
}

impl Fault {
    /// A flip of the byte at `offset` of `file` with `mask`.
    pub(crate) fn flip(dir: &Path, file: &str, offset: u64, mask: u8) -> Fault {
        let len = std::fs::metadata(dir.join(file))
            .expect("the file exists")
            .len();
        assert!(offset < len, "{file} has {len} bytes, no byte {offset}");
        assert_ne!(mask, 0, "a flip changes the byte");
        Fault {
            kind: FaultKind::FlipByte,
            file: PathBuf::from(file),
            len,
            offset,
            amount: u64::from(mask),
        }
    }

    /// A random fault of a random kind on a random file of `dir` (an empty file is deleted:
    /// nothing else would change it).
    pub(crate) fn random(rng: &mut impl Rng, dir: &Path) -> Fault {
        let files = files(dir);
        assert!(!files.is_empty(), "{} holds files", dir.display());
        let file = files[rng.random_range(0..files.len())].clone();
        let len = std::fs::metadata(dir.join(&file)).expect("metadata").len();
        let kind = if len == 0 {
            FaultKind::Delete
        } else {
            FaultKind::ALL[rng.random_range(0..FaultKind::ALL.len())]
        };
        let (offset, amount) = match kind {
            FaultKind::FlipByte => (
                rng.random_range(0..len),
                u64::from(rng.random_range(1..=255u8)),
            ),
            FaultKind::Truncate => (rng.random_range(0..len), 0),
            FaultKind::ZeroRange => {
                let start = rng.random_range(0..len);
                let amount = rng.random_range(1..=(len - start).min(ZERO_RANGE_MAX));
                (start, amount)
            }
            FaultKind::Delete => (0, 0),
        };
        Fault {
            kind,
            file,
            len,
            offset,
            amount,
        }
    }

    /// Does the fault to the file in `dir`.
    pub(crate) fn apply(&self, dir: &Path) {
        let path = dir.join(&self.file);
        if self.kind == FaultKind::Delete {
            std::fs::remove_file(&path).expect("deletes");
            return;
        }
        let mut bytes = std::fs::read(&path).expect("reads");
        assert_eq!(
            bytes.len() as u64,
            self.len,
            "{} changed under the test",
            self.file.display()
        );
        let offset = usize::try_from(self.offset).expect("a file offset fits in memory");
        match self.kind {
            FaultKind::FlipByte => bytes[offset] ^= u8::try_from(self.amount).expect("a byte mask"),
            FaultKind::Truncate => bytes.truncate(offset),
            FaultKind::ZeroRange => {
                let end = offset + usize::try_from(self.amount).expect("a range fits in memory");
                bytes[offset..end].fill(0);
            }
            FaultKind::Delete => unreachable!("handled above"),
        }
        std::fs::write(&path, bytes).expect("writes");
    }
}

/// Every file below `dir`, relative to it, sorted.
pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a readable directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).expect("below the root");
                out.push(relative.to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Every file below `dir` with the SHA-256 of its bytes.
pub(crate) type Fingerprint = BTreeMap<PathBuf, [u8; 32]>;

/// The fingerprint of `dir` now.
pub(crate) fn fingerprint(dir: &Path) -> Fingerprint {
    files(dir)
        .into_iter()
        .map(|file| {
            let bytes = std::fs::read(dir.join(&file)).expect("reads");
            (file, Sha256::digest(&bytes).into())
        })
        .collect()
}

/// What differs from `before` to `after`, one phrase per file ("ledger/db changed").
pub(crate) fn changes(before: &Fingerprint, after: &Fingerprint) -> Vec<String> {
    let mut out = Vec::new();
    for (file, hash) in before {
        match after.get(file) {
            None => out.push(format!("{} removed", file.display())),
            Some(other) if other != hash => out.push(format!("{} changed", file.display())),
            Some(_) => {}
        }
    }
    for file in after.keys().filter(|file| !before.contains_key(*file)) {
        out.push(format!("{} created", file.display()));
    }
    out
}

/// Copies every file and directory below `from` into `to` (created).
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creates");
    for entry in std::fs::read_dir(from).expect("a readable directory") {
        let path = entry.expect("an entry").path();
        let target = to.join(path.file_name().expect("a name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copies");
        }
    }
}
