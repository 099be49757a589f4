//! Private files: the data directory holds the ledger (every deployment's history and its
//! Dokploy calls) and the admin token, so its directories are created 0700 and its files made
//! 0600, readable by the server's user only. It owns the Unix modes of what the portal creates
//! and the check of what it finds, which reports what is too open so the caller can warn.
//!
//! It never changes the mode of anything it did not create (a pre-existing parent such as
//! `/tmp`, or an operator's own directory): what it finds too open is only reported. It never
//! follows a symbolic link and never reads a file's content.

use std::ffi::OsString;
use std::fs::{DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of a private directory: the owner may list, enter and write it; no one else.
pub const DIRECTORY_MODE: u32 = 0o700;

/// The mode of a private file: the owner may read and write it; no one else.
pub const FILE_MODE: u32 = 0o600;

/// The permission bits that give the group or others any access.
const GROUP_OTHER_BITS: u32 = 0o077;

/// How deep [`too_open_within`] and [`make_private_tree`] descend below their root (the data
/// directory holds `ledger/`, which holds sled's `blobs/`).
const DEPTH_MAX: usize = 4;

/// How many paths [`too_open_within`] checks at most (a data directory holds a handful).
const CHECKED_MAX: usize = 10_000;

/// Creates `dir` and any missing parents as private directories (0700), and returns the
/// directories it created, outermost first. Directories that already exist keep their mode.
pub fn create_private_dir(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let missing = missing_directories(dir);
    DirBuilder::new()
        .recursive(true)
        .mode(DIRECTORY_MODE)
        .create(dir)?;
    // The umask may have taken bits from the mode given to mkdir; set it exactly.
    for created in &missing {
        std::fs::set_permissions(created, Permissions::from_mode(DIRECTORY_MODE))?;
    }
    Ok(missing)
}

/// `dir` and those of its parents that do not exist yet, outermost first.
fn missing_directories(dir: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .filter(|path| !path.as_os_str().is_empty())
        .take_while(|path| !path.exists())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
}

/// Makes the file at `path` private (0600).
pub fn make_file_private(path: &Path) -> io::Result<()> {
    std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE))
}

/// Makes `path` private: a directory 0700 and everything below it (directories 0700, files
/// 0600), a file 0600; a symbolic link is left alone.
pub fn make_private_tree(path: &Path) -> io::Result<()> {
    make_private_below(path, 0)
}

fn make_private_below(path: &Path, depth: usize) -> io::Result<()> {
    let kind = std::fs::symlink_metadata(path)?.file_type();
    if kind.is_symlink() {
        return Ok(());
    }
    if !kind.is_dir() {
        return make_file_private(path);
    }
    std::fs::set_permissions(path, Permissions::from_mode(DIRECTORY_MODE))?;
    if depth < DEPTH_MAX {
        for entry in std::fs::read_dir(path)? {
            make_private_below(&entry?.path(), depth + 1)?;
        }
    }
    Ok(())
}

/// The names a directory held at one moment, so that what appears after it (the files a
/// library such as sled creates when it opens) can be made private.
#[derive(Debug)]
pub struct DirectoryEntries {
    dir: PathBuf,
    names: Vec<OsString>,
}

impl DirectoryEntries {
    /// The names `dir` holds now.
    pub fn read(dir: &Path) -> io::Result<Self> {
        let mut names = std::fs::read_dir(dir)?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect::<io::Result<Vec<_>>>()?;
        names.sort();
        Ok(Self {
            dir: dir.to_path_buf(),
            names,
        })
    }

    /// Makes private (with [`make_private_tree`]) every entry of the directory that was not
    /// there when it was read; the entries that were keep their mode.
    pub fn make_new_entries_private(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if self.names.binary_search(&entry.file_name()).is_err() {
                make_private_tree(&entry.path())?;
            }
        }
        Ok(())
    }
}

/// A file or directory that the group or others may access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooOpen {
    /// Where it is.
    pub path: PathBuf,
    /// Its permission bits (for example `0o755`).
    pub mode: u32,
    /// Whether it is a directory (which should be 0700) rather than a file (0600).
    pub is_dir: bool,
}

impl TooOpen {
    /// The mode it should have.
    pub fn private_mode(&self) -> u32 {
        if self.is_dir {
            DIRECTORY_MODE
        } else {
            FILE_MODE
        }
    }

    /// The command that makes it private, for the operator to run.
    pub fn fix_command(&self) -> String {
        format!("chmod {:o} {}", self.private_mode(), self.path.display())
    }
}

/// What is too open about `path`: `None` when neither the group nor others have any access
/// (or when it is a symbolic link, whose own mode means nothing).
pub fn too_open(path: &Path) -> io::Result<Option<TooOpen>> {
    let metadata = std::fs::symlink_metadata(path)?;
    let mode = metadata.permissions().mode() & 0o777;
    if metadata.file_type().is_symlink() || mode & GROUP_OTHER_BITS == 0 {
        return Ok(None);
    }
    Ok(Some(TooOpen {
        path: path.to_path_buf(),
        mode,
        is_dir: metadata.is_dir(),
    }))
}

/// Everything too open at or below `root` (at most [`CHECKED_MAX`] paths, [`DEPTH_MAX`]
/// levels down), root first; nothing when `root` does not exist.
pub fn too_open_within(root: &Path) -> io::Result<Vec<TooOpen>> {
    let mut walk = Walk {
        found: Vec::new(),
        unchecked: CHECKED_MAX,
    };
    match std::fs::symlink_metadata(root) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(walk.found),
        Err(error) => return Err(error),
        Ok(_) => {}
    }
    walk.visit(root, 0)?;
    Ok(walk.found)
}

/// The state of one [`too_open_within`].
struct Walk {
    found: Vec<TooOpen>,
    /// How many more paths may be checked.
    unchecked: usize,
}

impl Walk {
    fn visit(&mut self, path: &Path, depth: usize) -> io::Result<()> {
        let Some(unchecked) = self.unchecked.checked_sub(1) else {
            return Ok(());
        };
        self.unchecked = unchecked;
        self.found.extend(too_open(path)?);
        let is_dir = std::fs::symlink_metadata(path)?.is_dir();
        if is_dir && depth < DEPTH_MAX {
            let mut children = std::fs::read_dir(path)?
                .map(|entry| entry.map(|entry| entry.path()))
                .collect::<io::Result<Vec<_>>>()?;
            children.sort();
            for child in children {
                self.visit(&child, depth + 1)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn create_private_dir_makes_every_created_directory_0700_and_leaves_the_parent_alone() {
        let root = tempfile::tempdir().expect("temp dir");
        set_mode(root.path(), 0o755);
        let data = root.path().join("data");
        let ledger = data.join("ledger");
        let created = create_private_dir(&ledger).expect("creates");
        assert_eq!(created, vec![data.clone(), ledger.clone()]);
        assert_eq!(mode_of(&data), 0o700);
        assert_eq!(mode_of(&ledger), 0o700);
        assert_eq!(
            mode_of(root.path()),
            0o755,
            "a pre-existing parent keeps its mode"
        );
    }

    #[test]
    fn create_private_dir_leaves_an_existing_directory_as_it_is() {
        let root = tempfile::tempdir().expect("temp dir");
        let data = root.path().join("data");
        std::fs::create_dir(&data).expect("mkdir");
        set_mode(&data, 0o750);
        let created = create_private_dir(&data.join("ledger")).expect("creates");
        assert_eq!(created, vec![data.join("ledger")]);
        assert_eq!(mode_of(&data), 0o750);
        assert_eq!(
            create_private_dir(&data).expect("exists"),
            Vec::<PathBuf>::new()
        );
        assert_eq!(mode_of(&data), 0o750);
    }

    #[test]
    fn only_entries_that_appeared_after_the_listing_are_made_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = dir.path().join("old");
        std::fs::write(&old, b"x").expect("writes");
        set_mode(&old, 0o644);
        let before = DirectoryEntries::read(dir.path()).expect("lists");
        let new_file = dir.path().join("snap.0001");
        let new_dir = dir.path().join("blobs");
        std::fs::write(&new_file, b"x").expect("writes");
        std::fs::create_dir(&new_dir).expect("mkdir");
        std::fs::write(new_dir.join("1"), b"x").expect("writes");
        for path in [&new_file, &new_dir, &new_dir.join("1")] {
            set_mode(path, 0o755);
        }
        before.make_new_entries_private().expect("tightens");
        assert_eq!(mode_of(&new_file), 0o600);
        assert_eq!(mode_of(&new_dir), 0o700);
        assert_eq!(mode_of(&new_dir.join("1")), 0o600);
        assert_eq!(
            mode_of(&old),
            0o644,
            "an entry that was there is only reported"
        );
    }

    #[test]
    fn too_open_reports_any_group_or_other_bit_and_nothing_for_private_modes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("db");
        std::fs::write(&file, b"x").expect("writes");
        for (mode, reported) in [
            (0o600, false),
            (0o400, false),
            (0o700, false),
            (0o640, true),
            (0o604, true),
            (0o610, true),
            (0o644, true),
        ] {
            set_mode(&file, mode);
            let found = too_open(&file).expect("checks");
            assert_eq!(found.is_some(), reported, "mode {mode:o}");
            if let Some(found) = found {
                assert_eq!(found.mode, mode);
                assert_eq!(found.fix_command(), format!("chmod 600 {}", file.display()));
            }
        }
    }

    #[test]
    fn too_open_within_lists_the_open_directory_and_files_below_it_and_skips_links() {
        let root = tempfile::tempdir().expect("temp dir");
        let data = root.path().join("data");
        let ledger = data.join("ledger");
        std::fs::create_dir_all(&ledger).expect("mkdir");
        std::fs::write(data.join("admin-token"), b"x").expect("writes");
        std::fs::write(ledger.join("db"), b"x").expect("writes");
        std::os::unix::fs::symlink("/etc", ledger.join("link")).expect("links");
        set_mode(&data, 0o755);
        set_mode(&ledger, 0o700);
        set_mode(&data.join("admin-token"), 0o600);
        set_mode(&ledger.join("db"), 0o644);
        let found = too_open_within(&data).expect("checks");
        let paths: Vec<&Path> = found.iter().map(|open| open.path.as_path()).collect();
        assert_eq!(paths, vec![data.as_path(), ledger.join("db").as_path()]);
        assert_eq!(
            found[0].fix_command(),
            format!("chmod 700 {}", data.display())
        );
        assert!(
            too_open_within(&root.path().join("absent"))
                .expect("a missing root is no error")
                .is_empty()
        );
    }
}
