//! What a refused start rewrote in a data directory, and the proof that it was sled's own
//! recovery rather than StackLedger (issue 11: a refused start writes nothing).
//!
//! sled 0.34 writes while it opens a store, whoever then refuses it: recovering from a kill or
//! a damaged spot, it fills the rest of the segment after the last message it could read with
//! its "corrupted" marker and writes a new `snap.<lsn>` (removing the older one); reading
//! completes splits and consolidations of tree nodes, which it appends to its log and flushes
//! as the store closes. It never touches a file that is not its own. A change is accepted as
//! sled's only when a bare sled open of a copy of the directory as it was, doing only reads,
//! leaves the very same bytes; and in any case sled must hold the same trees, keys and values
//! (StackLedger writes to the store only by inserting). These checks never change the
//! directory they judge: sled is only ever opened on copies.

use std::collections::BTreeMap;
use std::path::Path;

use super::fault::{self, Fingerprint};

/// The reads StackLedger's open makes before it refuses (see `ledger/open.rs`), which a
/// bare sled open repeats to reproduce what sled wrote meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// None: sled refused to open, or the refusal came before any read.
    Nothing,
    /// The witness mark, then a refusal (a missing witness file).
    WitnessMark,
    /// The witness mark, the format, the head, then every event (a refusal after the whole
    /// verification, as for lost events).
    WholeLog,
}

impl Reads {
    const ALL: [Reads; 3] = [Reads::Nothing, Reads::WitnessMark, Reads::WholeLog];
}

/// What a refused start rewrote: one phrase per file, and whether sled alone reproduces it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rewrite {
    /// "ledger/db changed", "ledger/snap.* created", … (snapshot names vary, so `snap.*`).
    pub(crate) files: Vec<String>,
    /// The reads with which a bare sled open of the directory as it was leaves these bytes,
    /// or None when no such open reproduced them byte for byte.
    reproduced_by: Option<Reads>,
}

impl Rewrite {
    /// A phrase for the report ("" when nothing was rewritten).
    pub(crate) fn describe(&self) -> String {
        if self.files.is_empty() {
            return String::new();
        }
        let how = match self.reproduced_by {
            Some(Reads::Nothing) => "as a bare sled open does",
            Some(Reads::WitnessMark) => "as a sled open reading the witness mark does",
            Some(Reads::WholeLog) => "as a sled open reading the whole log does",
            None => "not reproduced byte for byte, same trees, keys and values",
        };
        format!("sled rewrote {} ({how})", self.files.join(", "))
    }
}

/// The files sled itself writes in the ledger directory.
fn is_sled_file(file: &Path) -> bool {
    let Ok(name) = file.strip_prefix("ledger") else {
        return false;
    };
    let name = name.to_string_lossy();
    name == "db" || name == "conf" || name.starts_with("snap.")
}

/// Checks that a refused start wrote nothing since `before` (`shadow` is a copy of the
/// directory as it was): every file that is not sled's is byte for byte the same, nothing but
/// sled's files appeared, and what sled rewrote leaves it holding the same trees, keys and
/// values. Returns what sled rewrote.
pub(crate) fn check_nothing_written(
    dir: &Path,
    shadow: &Path,
    before: &Fingerprint,
    context: &str,
) -> Rewrite {
    let after = fault::fingerprint(dir);
    for (file, hash) in before.iter().filter(|(file, _)| !is_sled_file(file)) {
        let found = after.get(file);
        assert_eq!(
            found,
            Some(hash),
            "{context}: a refused start wrote {}",
            file.display()
        );
    }
    for file in after.keys().filter(|file| !before.contains_key(*file)) {
        assert!(
            is_sled_file(file),
            "{context}: a refused start created {}",
            file.display()
        );
    }
    let files: Vec<String> = fault::changes(before, &after)
        .into_iter()
        .map(|change| match change.split_once("snap.") {
            // `snap.` and the 16 hex digits of an lsn.
            Some((head, tail)) => format!("{head}snap.*{}", tail.get(16..).unwrap_or_default()),
            None => change,
        })
        .collect();
    if files.is_empty() {
        return Rewrite::default();
    }
    let expected = sled_content(&shadow.join("ledger"));
    let found = sled_content(&dir.join("ledger"));
    assert!(
        found == expected,
        "{context}: a refused start changed what sled holds ({files:?}): {found:?} != {expected:?}"
    );
    let reproduced_by = Reads::ALL
        .into_iter()
        .find(|reads| sled_alone(shadow, *reads) == after);
    Rewrite {
        files,
        reproduced_by,
    }
}

/// The fingerprint a bare sled open of a copy of `shadow`, making `reads`, leaves.
fn sled_alone(shadow: &Path, reads: Reads) -> Fingerprint {
    let copy = tempfile::tempdir().expect("temp dir");
    fault::copy_dir(shadow, copy.path());
    let ledger = copy.path().join("ledger");
    if let Ok(db) = sled::Config::new().path(&ledger).open() {
        let (events, meta) = (
            db.open_tree("events").expect("opens"),
            db.open_tree("meta").expect("opens"),
        );
        if reads != Reads::Nothing {
            let _ = meta.get("witness");
        }
        if reads == Reads::WholeLog {
            let _ = (meta.get("format"), meta.get("head"));
            for entry in events.range(1u64.to_be_bytes()..) {
                if entry.is_err() {
                    break;
                }
            }
        }
        drop((events, meta, db));
    }
    if ledger.join("db").exists() {
        super::wait_released(&ledger);
    }
    fault::fingerprint(copy.path())
}

/// Every tree of the sled store in `ledger` with its keys and values, or sled's refusal.
type SledContent = Result<BTreeMap<Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>>, String>;

/// The content of the store in `ledger`, read from a copy.
fn sled_content(ledger: &Path) -> SledContent {
    let copy = tempfile::tempdir().expect("temp dir");
    fault::copy_dir(ledger, copy.path());
    let content = read_trees(copy.path());
    if copy.path().join("db").exists() {
        super::wait_released(copy.path());
    }
    content
}

fn read_trees(dir: &Path) -> SledContent {
    let failed = |error: sled::Error| format!("{error:?}");
    let db = sled::Config::new().path(dir).open().map_err(failed)?;
    let mut content = BTreeMap::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name).map_err(failed)?;
        let entries = tree
            .iter()
            .map(|entry| entry.map(|(key, value)| (key.to_vec(), value.to_vec())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?;
        content.insert(name.to_vec(), entries);
    }
    Ok(content)
}
