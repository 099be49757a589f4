//! `stackledger restore`: rebuilds a data directory's ledger from its mirror (`--mirror`) or from
//! an NDJSON export (`GET /api/ledger/events`, `stackledger-replay export`).
//!
//! The source is verified whole with the ledger's own chain verification, then checked against
//! the witness left in `DATA/ledger/witness`: a source that holds less than was acknowledged, or
//! another event at the acknowledged head, is refused, because a seq once acknowledged must never
//! be given to another event. The new store holds the exact record bytes (an export's events are
//! re-encoded with the codec, and each recomputed hash must equal the exported one), so every
//! hash and every receipt ever handed out still verifies. It is built beside the old ledger,
//! stamped with its format and a new witness at its head, and only then put in place.
//!
//! It never deletes anything it did not create: an existing ledger is moved aside to
//! `ledger.damaged-<unix secs>`, and only its own half-built `ledger.restoring-<unix secs>` is
//! removed when building it fails.
//! It never writes to its source, never touches the admin token, refuses a ledger a running
//! server holds, and refuses to replace a ledger that is intact and holds all the source holds.

use std::fmt;
use std::io::BufRead;
use std::ops::ControlFlow;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod error;

use crate::clock::Clock;
use crate::ids::Seq;
use crate::ledger::codec;
use crate::ledger::envelope::{Envelope, Hash};
use crate::ledger::error::{MirrorError, StoreError};
use crate::ledger::mirror::{self, Visit};
use crate::ledger::reader::LedgerReader;
use crate::ledger::store::{Head, SledStore, Store, StoredRecord};
use crate::ledger::verify;
use crate::ledger::verify::{Verifier, stored_bytes};
use crate::ledger::witness::{self, Witness};

pub use error::RestoreError;

/// Records written to the new store per batch.
const WRITE_CHUNK: usize = 1024;

/// Where a restore reads the log from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreSource {
    /// A mirror directory (`--mirror DIR`), holding `stackledger.mirror`.
    Mirror(PathBuf),
    /// An NDJSON export: one envelope per line, in seq order from seq 1.
    Export(PathBuf),
}

impl fmt::Display for RestoreSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreSource::Mirror(dir) => {
                write!(f, "the mirror {}", mirror::path_in(dir).display())
            }
            RestoreSource::Export(file) => write!(f, "the export {}", file.display()),
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Where the events came from.
    pub source: RestoreSource,
    /// The restored ledger directory.
    pub ledger: PathBuf,
    /// The restored log's last event (its seq is the number of events).
    pub head: Head,
    /// The acknowledged head the witness recorded, which the source reached.
    pub acknowledged: Option<Seq>,
    /// Where the previous ledger directory was moved, if there was one.
    pub moved_aside: Option<PathBuf>,
    /// Bytes of a partial frame at the mirror's end, never acknowledged, left out.
    pub torn_bytes: u64,
}

impl fmt::Display for Restored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "restored {} events from {} into {}",
            self.head.seq.0,
            self.source,
            self.ledger.display()
        )?;
        writeln!(f, "head: seq {}, hash {}", self.head.seq, self.head.hash)?;
        match self.acknowledged {
            Some(seq) => writeln!(
                f,
                "every event known to have been acknowledged (up to seq {seq}, by the witness or what the old ledger still holds) is restored"
            )?,
            None => writeln!(
                f,
                "nothing was left to check against (no witness, no old ledger): the source alone was trusted"
            )?,
        }
        if self.torn_bytes > 0 {
            let bytes = self.torn_bytes;
            writeln!(
                f,
                "left out a partial frame of {bytes} bytes at the mirror's end (never acknowledged)"
            )?;
        }
        match &self.moved_aside {
            Some(old) => writeln!(
                f,
                "the previous ledger was moved to {} (nothing was deleted)",
                old.display()
            )?,
            None => writeln!(f, "there was no previous ledger")?,
        }
        write!(
            f,
            "a new witness starts at seq {}; the admin token was left as it was",
            self.head.seq
        )
    }
}

/// What the target data directory holds.
enum Target {
    Absent,
    Intact(Head),
    /// Damaged, or refused; `intact` is the end of what still verifies (seq 0: nothing).
    Damaged {
        intact: Head,
    },
}

/// Restores `data_dir`'s ledger from `source`; `scratch` holds the private copy through which
/// the old ledger is examined (sled rewrites what it opens); `clock` names the moved-aside
/// directory.
pub fn restore(
    data_dir: &Path,
    source: &RestoreSource,
    scratch: &Path,
    clock: &dyn Clock,
) -> Result<Restored, RestoreError> {
    let ledger_dir = data_dir.join("ledger");
    let target = examine(&ledger_dir, scratch)?;
    let witness_path = witness::path_in(&ledger_dir);
    let witnessed = witness::read(&witness_path).map_err(RestoreError::Witness)?;
    let known = acknowledged_at_least(&ledger_dir, &target, witnessed.map(|w| w.head));
    let checked = check_source(source, known.as_ref().map(|(head, _)| head.seq))?;
    refuse_unfit(source, &ledger_dir, &target, &checked, known.as_ref())?;
    let acknowledged = known.map(|(head, _)| head);
    let secs = clock.now_ms().div_euclid(1000);
    let building = data_dir.join(format!("ledger.restoring-{secs}"));
    create_private_dir(data_dir, true)?;
    create_private_dir(&building, false)?;
    if let Err(error) = build(&building, source, checked.head) {
        // Only what this restore created, a moment ago, is removed: nothing else is touched.
        let _ = std::fs::remove_dir_all(&building);
        return Err(error);
    }
    let moved_aside = match target {
        Target::Absent => None,
        Target::Intact(_) | Target::Damaged { .. } => {
            let aside = data_dir.join(format!("ledger.damaged-{secs}"));
            rename(&ledger_dir, &aside)?;
            Some(aside)
        }
    };
    rename(&building, &ledger_dir)?;
    sync_dir(data_dir)?;
    confirm(&ledger_dir, checked.head)?;
    Ok(Restored {
        source: source.clone(),
        ledger: ledger_dir,
        head: checked.head,
        acknowledged: acknowledged.map(|head| head.seq),
        moved_aside,
        torn_bytes: checked.torn,
    })
}

/// Whether the target holds a ledger, whether it verifies (against its witness), and how far
/// it still verifies; read through a private copy, so the old ledger is left exactly as found.
fn examine(ledger_dir: &Path, scratch: &Path) -> Result<Target, RestoreError> {
    if !ledger_dir.exists() {
        return Ok(Target::Absent);
    }
    let nothing = Target::Damaged {
        intact: Head::default(),
    };
    let store = match SledStore::open_copy(ledger_dir, scratch) {
        Ok(store) => store,
        Err(error @ StoreError::Locked { .. }) => {
            return Err(RestoreError::InUse(error.to_string()));
        }
        Err(_) => return Ok(nothing),
    };
    let Ok(recorded) = store.head() else {
        return Ok(nothing);
    };
    let Ok(verification) = verify::verify_store(&store, Seq(u64::MAX), recorded, &mut |_| {})
    else {
        return Ok(nothing);
    };
    let witnessed = match witness::read(&witness::path_in(ledger_dir)) {
        Ok(witnessed) => witnessed,
        Err(_) => {
            return Ok(Target::Damaged {
                intact: verification.last,
            });
        }
    };
    let short = match witnessed {
        Some(witnessed) => !matches!(
            witness::compare(&store, verification.last.seq, witnessed.head),
            Ok(None)
        ),
        // A ledger that had a witness and lost it is refused at open, so it needs restoring.
        None => !matches!(store.witnessed_since(), Ok(None)),
    };
    Ok(if verification.is_intact() && !short {
        Target::Intact(verification.last)
    } else {
        Target::Damaged {
            intact: verification.last,
        }
    })
}

/// The highest head known to have been acknowledged, and what says so: the witness, or the
/// part of the old ledger that still verifies (every event in it was served, so acknowledged),
/// whichever reaches further. None when nothing is left to check against.
fn acknowledged_at_least(
    ledger_dir: &Path,
    target: &Target,
    witnessed: Option<Head>,
) -> Option<(Head, String)> {
    let kept = match target {
        Target::Intact(head) | Target::Damaged { intact: head } => *head,
        Target::Absent => Head::default(),
    };
    let witnessed = witnessed.unwrap_or_default();
    if kept.seq > witnessed.seq {
        let says = format!(
            "the ledger in {} (its events 1-{} still verify)",
            ledger_dir.display(),
            kept.seq
        );
        return Some((kept, says));
    }
    (witnessed.seq > Seq::ZERO).then(|| {
        let says = format!("the witness {}", witness::path_in(ledger_dir).display());
        (witnessed, says)
    })
}

/// What a verified pass over the source found.
struct Checked {
    head: Head,
    /// The source's hash at the acknowledged seq, if it reaches it.
    at_acknowledged: Option<Hash>,
    torn: u64,
}

fn check_source(
    source: &RestoreSource,
    acknowledged: Option<Seq>,
) -> Result<Checked, RestoreError> {
    let mut at_acknowledged = None;
    let (head, torn) = each_record(source, &mut |seq, _, hash| {
        if Some(seq) == acknowledged {
            at_acknowledged = Some(hash);
        }
        ControlFlow::Continue(())
    })?;
    Ok(Checked {
        head,
        at_acknowledged,
        torn,
    })
}

/// Refuses an empty source, one short of what is known to have been acknowledged or other
/// than it, and an intact target that holds everything the source holds.
fn refuse_unfit(
    source: &RestoreSource,
    ledger_dir: &Path,
    target: &Target,
    checked: &Checked,
    known: Option<&(Head, String)>,
) -> Result<(), RestoreError> {
    let source_name = source.to_string();
    if let Some((acknowledged, says)) = known {
        let witness = says.clone();
        if checked.head.seq < acknowledged.seq {
            return Err(RestoreError::Short {
                source_name,
                held: checked.head.seq,
                acknowledged: acknowledged.seq,
                witness,
            });
        }
        if checked.at_acknowledged != Some(acknowledged.hash) {
            let seq = acknowledged.seq;
            return Err(RestoreError::NotWitnessed {
                source_name,
                seq,
                witness,
            });
        }
    }
    if checked.head.seq == Seq::ZERO {
        return Err(RestoreError::Empty { source_name });
    }
    match target {
        Target::Intact(held) if held.seq >= checked.head.seq => Err(RestoreError::Intact {
            dir: ledger_dir.display().to_string(),
            held: held.seq,
            source_name,
            source_head: checked.head.seq,
        }),
        _ => Ok(()),
    }
}

/// Visits every record of the source, verified as one log from seq 1, with its exact stored
/// bytes; the last event and the bytes of a torn mirror frame left out.
fn each_record(source: &RestoreSource, visit: &mut Visit<'_>) -> Result<(Head, u64), RestoreError> {
    match source {
        RestoreSource::Mirror(dir) => {
            let path = mirror::path_in(dir);
            if !path.exists() {
                let path = path.display().to_string();
                return Err(RestoreError::NoMirror { path });
            }
            let _reading = mirror::open_to_read(&path).map_err(|error| match error {
                MirrorError::Locked { .. } => RestoreError::InUse(error.to_string()),
                other => RestoreError::Mirror(other),
            })?;
            let scanned = mirror::scan(&path, visit).map_err(RestoreError::Mirror)?;
            let scanned = scanned.ok_or_else(|| RestoreError::NoMirror {
                path: path.display().to_string(),
            })?;
            Ok((scanned.head, scanned.torn))
        }
        RestoreSource::Export(file) => Ok((each_exported(file, visit)?, 0)),
    }
}

/// The export's envelopes, each re-encoded with the codec and its hash recomputed.
fn each_exported(file: &Path, visit: &mut Visit<'_>) -> Result<Head, RestoreError> {
    let path = file.display().to_string();
    let io = |source| RestoreError::ExportIo {
        path: path.clone(),
        source,
    };
    let reader = std::io::BufReader::new(std::fs::File::open(file).map_err(io)?);
    let mut verifier = Verifier::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let envelope: Envelope =
            serde_json::from_str(&line).map_err(|error| RestoreError::ExportLine {
                path: path.clone(),
                line: index + 1,
                reason: error.to_string(),
            })?;
        verifier
            .envelope(&envelope)
            .map_err(|damage| RestoreError::ExportDamaged {
                path: path.clone(),
                damage,
            })?;
        if visit(envelope.seq, &stored_bytes(&envelope), envelope.hash).is_break() {
            break;
        }
    }
    Ok(verifier.finish().last)
}

/// Writes the source into a new store in `dir`, stamped with the format, marked witnessed, with
/// a new witness at `head`.
fn build(dir: &Path, source: &RestoreSource, head: Head) -> Result<(), RestoreError> {
    let store = SledStore::open(dir).map_err(RestoreError::Store)?;
    store
        .set_format_version(codec::FORMAT_VERSION)
        .map_err(RestoreError::Store)?;
    let mut chunk = Vec::with_capacity(WRITE_CHUNK);
    let mut written = Head::default();
    let mut failure = None;
    let flush = |chunk: &mut Vec<StoredRecord>, written: &Head| {
        let result = store.write(chunk, written);
        chunk.clear();
        result
    };
    let (read, _) = each_record(source, &mut |seq, bytes, hash| {
        chunk.push(StoredRecord {
            seq,
            bytes: bytes.to_vec(),
        });
        written = Head { seq, hash };
        if chunk.len() == WRITE_CHUNK {
            failure = flush(&mut chunk, &written).err();
        }
        if failure.is_some() || seq == head.seq {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    if let Some(error) = failure {
        return Err(RestoreError::Store(error));
    }
    flush(&mut chunk, &written).map_err(RestoreError::Store)?;
    if read != head {
        return Err(RestoreError::Unverified {
            dir: dir.display().to_string(),
            detail: format!(
                "the source changed while it was read (it ends at seq {} now)",
                read.seq
            ),
        });
    }
    store.sync().map_err(RestoreError::Store)?;
    store
        .mark_witnessed_since(head.seq)
        .map_err(RestoreError::Store)?;
    drop(store);
    Witness::create(&witness::path_in(dir), head).map_err(RestoreError::Store)?;
    Ok(())
}

/// Opens the restored ledger read-only and checks it verifies to `head`, witness included.
fn confirm(ledger_dir: &Path, head: Head) -> Result<(), RestoreError> {
    let unverified = |detail: String| RestoreError::Unverified {
        dir: ledger_dir.display().to_string(),
        detail,
    };
    let reader = LedgerReader::open(ledger_dir).map_err(|error| unverified(error.to_string()))?;
    let verification = reader
        .verify(&mut |_| {})
        .map_err(|error| unverified(error.to_string()))?;
    match verification.damage {
        Some(damage) => Err(unverified(damage.to_string())),
        None if verification.last != head => Err(unverified(format!(
            "it ends at seq {}, not {}",
            verification.last.seq, head.seq
        ))),
        None => Ok(()),
    }
}

fn create_private_dir(dir: &Path, existing_ok: bool) -> Result<(), RestoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o700).recursive(existing_ok);
    builder.create(dir).map_err(io_error("create", dir))
}

fn rename(from: &Path, to: &Path) -> Result<(), RestoreError> {
    if to.exists() {
        let exists = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
        return Err(io_error("move a directory to", to)(exists));
    }
    std::fs::rename(from, to).map_err(io_error("move a directory to", to))
}

fn sync_dir(dir: &Path) -> Result<(), RestoreError> {
    std::fs::File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(io_error("sync", dir))
}

fn io_error(operation: &'static str, path: &Path) -> impl Fn(std::io::Error) -> RestoreError {
    let path = path.display().to_string();
    move |source| RestoreError::Io {
        operation,
        path: path.clone(),
        source: Arc::new(source),
    }
}
