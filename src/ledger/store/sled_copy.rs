//! [`SledCopy`]: a private copy of a stored ledger, which sled opens in place of the original
//! for a read-only open.
//!
//! sled 0.34 writes to its files every time it opens them: on recovery it fills the rest of the
//! log segment after the last intact message with "corrupted" markers (the bytes after a
//! damaged spot are gone for good), grows `db` to a whole segment, writes a new `snap.*` file
//! and removes the older ones. A read-only open must leave the ledger byte for byte as it found
//! it, so sled gets this copy.
//!
//! The original is never opened for writing. Its data file's lock (the one sled takes) is held
//! for as long as the copy lives, so no server writes to the original meanwhile, and the
//! ledger of a running server is refused as locked. The copy goes in a new directory (mode
//! 0700) under the scratch directory it is given and needs as much space as the ledger. Its
//! owner removes it when dropped, once sled has let go of it.

use std::fs::{self, File, TryLockError};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ledger::error::StoreError;
use crate::ledger::store::sled_store::{SledStore, data_file_path};

/// Directory names tried under the scratch directory before giving up.
const NAMES_MAX: u32 = 1000;

/// A copy of a ledger directory, with the original's lock held.
#[derive(Debug)]
pub(crate) struct SledCopy {
    dir: PathBuf,
    /// The original's data file, locked as sled locks it (released when dropped).
    _lock: File,
}

impl SledCopy {
    /// Locks the ledger in `original` and copies it into a new directory under `scratch`.
    pub(crate) fn take(original: &Path, scratch: &Path) -> Result<Self, StoreError> {
        if !SledStore::exists_in(original) {
            return Err(StoreError::NotFound {
                path: original.display().to_string(),
            });
        }
        let lock = File::open(data_file_path(original)).map_err(io_error("open the data file"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: original.display().to_string(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io_error("lock the data file")(source)),
        }
        let copy = Self {
            dir: private_dir(scratch)?,
            _lock: lock,
        };
        copy_tree(original, &copy.dir)?;
        Ok(copy)
    }

    /// Where the copy is.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for SledCopy {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_dir_all(&self.dir) {
            tracing::warn!(
                dir = %self.dir.display(),
                %error,
                "could not remove the read-only copy of the ledger"
            );
        }
    }
}

/// A new directory under `scratch` that only this user can enter.
fn private_dir(scratch: &Path) -> Result<PathBuf, StoreError> {
    let process = std::process::id();
    for n in 0..NAMES_MAX {
        let dir = scratch.join(format!("stackledger-read-only-{process}-{n}"));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(io_error("create the read-only copy's directory")(error)),
        }
    }
    Err(io_error("create the read-only copy's directory")(
        std::io::Error::from(std::io::ErrorKind::AlreadyExists),
    ))
}

/// Copies the files and directories below `from` into `to` (which exists); anything else (a
/// link, a socket) is not part of a ledger and is left out.
fn copy_tree(from: &Path, to: &Path) -> Result<(), StoreError> {
    let entries = fs::read_dir(from).map_err(io_error("read the ledger directory"))?;
    for entry in entries {
        let entry = entry.map_err(io_error("read the ledger directory"))?;
        let kind = entry
            .file_type()
            .map_err(io_error("read the ledger directory"))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&target)
                .map_err(io_error("copy the ledger"))?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target).map_err(io_error("copy the ledger"))?;
        }
    }
    Ok(())
}

fn io_error(operation: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |source| StoreError::Io {
        operation,
        source: Arc::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_holds_the_original_files_locks_the_original_and_goes_when_dropped() {
        let original = tempfile::tempdir().expect("temp dir");
        let scratch = tempfile::tempdir().expect("temp dir");
        drop(SledStore::open(original.path()).expect("creates a store"));
        fs::write(original.path().join("witness"), b"w").expect("writes");
        let copy = SledCopy::take(original.path(), scratch.path()).expect("copies");
        assert!(copy.dir().starts_with(scratch.path()));
        assert_eq!(
            fs::read(copy.dir().join("witness")).expect("copied"),
            b"w".to_vec()
        );
        assert!(SledStore::exists_in(copy.dir()));
        let locked = SledStore::open(original.path());
        assert!(
            matches!(locked, Err(StoreError::Locked { .. })),
            "{locked:?}"
        );
        let second = SledCopy::take(original.path(), scratch.path());
        assert!(
            matches!(second, Err(StoreError::Locked { .. })),
            "{second:?}"
        );
        let dir = copy.dir().to_path_buf();
        drop(copy);
        assert!(!dir.exists(), "the copy is removed");
        drop(SledStore::open(original.path()).expect("the lock is released"));
    }

    #[test]
    fn a_directory_without_a_ledger_is_not_copied() {
        let original = tempfile::tempdir().expect("temp dir");
        let scratch = tempfile::tempdir().expect("temp dir");
        let taken = SledCopy::take(&original.path().join("none"), scratch.path());
        assert!(
            matches!(taken, Err(StoreError::NotFound { .. })),
            "{taken:?}"
        );
        assert_eq!(fs::read_dir(scratch.path()).expect("reads").count(), 0);
    }
}
