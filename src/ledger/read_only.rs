//! The read-only open (`--read-only`, DESIGN §3: "unless the operator chooses to start
//! read-only"): a damaged ledger is served, for an audit, up to its first damage.
//!
//! It runs the checks of an ordinary open (`open.rs`: the witness, the format, the verification
//! that folds every verified event, the check against the witness) but keeps what they find
//! instead of refusing: the [`ReadOnlyReport`] holds the damage, worded exactly as an ordinary
//! open would have refused it, and the last event served. Only the intact prefix is folded:
//! every event before the first damage, or the whole log.
//!
//! It never writes to the ledger directory: no writer starts, and no event, head, format stamp,
//! witness or witness mark is written; appends answer [`LedgerError::ReadOnly`]. sled writes to
//! its files whenever it opens them, so it opens a private copy (see `store/sled_copy.rs`). It
//! never creates a ledger either. What cannot be opened at all (no store, a store sled refuses,
//! another format) fails with the ordinary open's error: there is nothing to serve.

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};

use crate::ids::Seq;
use crate::ledger::error::{LedgerError, Refusal, WitnessError};
use crate::ledger::open::{self, OnDisk};
use crate::ledger::shared::Shared;
use crate::ledger::store::{SledStore, Store};
use crate::ledger::verify::Verification;
use crate::ledger::witness::{self, Witnessed};
use crate::ledger::{DiskOptions, Ledger, Projector};

/// Why an ordinary open would have refused the ledger that a read-only open serves.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadOnlyDamage {
    /// The log is damaged, or holds less than was acknowledged.
    #[error(transparent)]
    Refused(Box<Refusal>),
    /// The witness of acknowledged heads is missing or damaged, or the store lost everything
    /// it witnessed.
    #[error(transparent)]
    Witness(WitnessError),
}

/// What a read-only open found.
#[derive(Debug, Clone)]
pub struct ReadOnlyReport {
    /// The damage, in the order an ordinary open meets it (its first is what that open refuses
    /// with): a damaged or missing witness, then damage to the log. Empty: the ledger verified
    /// whole, against its witness too.
    pub damage: Vec<ReadOnlyDamage>,
    /// The last event served: the end of the intact prefix (seq 0: none).
    pub intact_to: Seq,
}

impl ReadOnlyReport {
    /// The damage as an ordinary open words its refusal (each, when there is more), if any.
    pub fn damage_text(&self) -> Option<String> {
        let texts: Vec<String> = self.damage.iter().map(ToString::to_string).collect();
        (!texts.is_empty()).then(|| texts.join(" Also: "))
    }

    /// The first bad seq, where the damage names one.
    pub fn first_bad_seq(&self) -> Option<Seq> {
        self.damage.iter().find_map(|damage| match damage {
            ReadOnlyDamage::Refused(refusal) => Some(refusal.damage.first_bad_seq()),
            ReadOnlyDamage::Witness(WitnessError::StoreGone { .. }) => Some(Seq(1)),
            ReadOnlyDamage::Witness(_) => None,
        })
    }

    /// One sentence for people who did not ask for the details: what was found and what is
    /// served, without paths.
    pub fn summary(&self) -> String {
        let served = match self.intact_to {
            Seq::ZERO => "no event is served".to_owned(),
            Seq(last) => format!("events 1-{last} are served"),
        };
        match (self.damage.is_empty(), self.first_bad_seq()) {
            (true, _) => format!("The ledger verified whole: {served}"),
            (false, Some(bad)) => format!("The ledger is damaged at event {bad}: {served}"),
            (false, None) => format!(
                "The ledger's witness of acknowledged events is missing or damaged, so nothing proves the log is complete: {served}"
            ),
        }
    }

    /// Adds the damage found at open to a verification of the intact prefix (which, alone,
    /// verifies), so that a verify of a read-only ledger reports what the open found.
    pub(super) fn mark(&self, verification: &mut Verification) {
        let refused = self.damage.iter().find_map(|damage| match damage {
            ReadOnlyDamage::Refused(refusal) => Some(refusal),
            ReadOnlyDamage::Witness(_) => None,
        });
        if let Some(refusal) = refused
            && verification.is_intact()
        {
            verification.damage = Some(refusal.damage.clone());
            verification.acknowledged = refusal.acknowledged;
        }
    }
}

/// Opens the ledger described by `disk` read-only (sled on a private copy made under
/// `scratch`) and folds its intact prefix into `projector`.
pub(super) fn open(
    disk: &DiskOptions,
    scratch: &Path,
    projector: Arc<dyn Projector>,
) -> Result<Ledger, LedgerError> {
    let dir = disk.dir.as_path();
    if !SledStore::exists_in(dir) {
        return Err(no_store(dir));
    }
    let store = Arc::new(SledStore::open_copy(dir, scratch).map_err(LedgerError::Open)?);
    open::refuse_other_format(store.as_ref())?;
    let (witnessed, witness_damage) = read_witness(dir, store.as_ref())?;
    let disk_view = OnDisk::with_store(dir, Arc::clone(&store), witnessed);
    let (live, _) = broadcast::channel(disk.limits.live_buffer_max.get());
    let shared = Arc::new(Shared::new(store.clone(), projector, live));
    let recorded = store.head().map_err(LedgerError::Open)?;
    let verification = open::verify_and_fold(store.as_ref(), &shared, recorded);
    let last = verification.map_err(LedgerError::Open)?;
    // Without a readable witness, `check` has nothing to check against: the witness's own
    // damage comes first, then whatever the log shows.
    let found = match last.damage {
        Some(chain) => Err(disk_view.refusal(chain, last.last.seq)),
        None => disk_view.check(last.last),
    };
    let log_damage = found.err().map(as_damage).transpose()?;
    let damage = witness_damage.into_iter().chain(log_damage).collect();
    shared.stop();
    let report = ReadOnlyReport {
        damage,
        intact_to: last.last.seq,
    };
    let (commands, _) = mpsc::channel(1);
    Ok(Ledger {
        store: store as Arc<dyn Store>,
        shared,
        commands,
        writer: Arc::new(Mutex::new(None)),
        mirror: None,
        read_only: Some(Arc::new(report)),
        audit: crate::ledger::audit::Audit::off("a read-only ledger is verified by its open"),
        checkpoints: false,
    })
}

/// What the witness says, and its damage as an ordinary open would name it first: a witness
/// that does not read, or none although the store was witnessed.
fn read_witness(
    dir: &Path,
    store: &SledStore,
) -> Result<(Option<Witnessed>, Option<ReadOnlyDamage>), LedgerError> {
    let path = witness::path_in(dir);
    let witnessed = match witness::read(&path) {
        Ok(witnessed) => witnessed,
        Err(error) => return Ok((None, Some(ReadOnlyDamage::Witness(error)))),
    };
    let since = store.witnessed_since().map_err(LedgerError::Open)?;
    let damage = match (witnessed, since) {
        (None, Some(since)) => Some(ReadOnlyDamage::Witness(WitnessError::Missing {
            path: path.display().to_string(),
            since,
        })),
        _ => None,
    };
    Ok((witnessed, damage))
}

/// The refusal of a directory with no store: the store is gone if its witness remains,
/// otherwise there is no ledger (a read-only open never creates one).
fn no_store(dir: &Path) -> LedgerError {
    let path = witness::path_in(dir);
    match witness::read(&path) {
        Ok(Some(witnessed)) if witnessed.head.seq > Seq::ZERO => {
            LedgerError::Witness(WitnessError::StoreGone {
                path: path.display().to_string(),
                acknowledged: witnessed.head.seq,
            })
        }
        Ok(_) => LedgerError::Open(crate::ledger::error::StoreError::NotFound {
            path: dir.display().to_string(),
        }),
        Err(error) => LedgerError::Witness(error),
    }
}

/// The damage an ordinary open refuses with; any other error (the store could not be read)
/// stands.
fn as_damage(error: LedgerError) -> Result<ReadOnlyDamage, LedgerError> {
    match error {
        LedgerError::Refused(refusal) => Ok(ReadOnlyDamage::Refused(refusal)),
        LedgerError::Witness(error) => Ok(ReadOnlyDamage::Witness(error)),
        other => Err(other),
    }
}
