//! Why `stackledger restore` refused or failed. A refusal names what it checked (the source,
//! the witness, the ledger) and the range at stake; it never changes anything, and never hides
//! that acknowledged events would be lost.

use std::sync::Arc;

use crate::ids::Seq;
use crate::ledger::error::{Damage, MirrorError, StoreError, WitnessError};

/// Why a restore was refused or failed. A refusal changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A server holds the ledger (sled's lock) or the mirror.
    #[error("{0}; stop the server before restoring")]
    InUse(String),
    /// The mirror directory holds no mirror file.
    #[error("{path} does not exist: nothing to restore from")]
    NoMirror {
        /// The mirror file looked for.
        path: String,
    },
    /// The mirror cannot be read or is damaged.
    #[error("{0}; nothing was changed (restore from an export instead)")]
    Mirror(#[source] MirrorError),
    /// The export cannot be read.
    #[error("cannot read the export {path}: {source}")]
    ExportIo {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line of the export is not an envelope.
    #[error("line {line} of the export {path} is not an envelope: {reason}; nothing was changed")]
    ExportLine {
        /// The file.
        path: String,
        /// The line number, from 1.
        line: usize,
        /// serde's explanation.
        reason: String,
    },
    /// The export's chain does not verify.
    #[error("the export {path} is damaged: {damage}; nothing was changed")]
    ExportDamaged {
        /// The file.
        path: String,
        /// The first damage.
        #[source]
        damage: Damage,
    },
    /// The source holds no event.
    #[error("{source_name} holds no event: nothing to restore")]
    Empty {
        /// The source.
        source_name: String,
    },
    /// The witness left in the data directory cannot be read, so what was acknowledged is unknown.
    #[error(
        "{0}; restore refused, since what was acknowledged cannot be checked (to restore anyway, move the witness file aside, keeping it: the restore then checks the source against what the old ledger still holds, if anything)"
    )]
    Witness(#[source] WitnessError),
    /// The source holds less than was acknowledged: restoring it would give acknowledged seqs to new events.
    #[error(
        "{source_name} holds events 1-{held}, but {witness} shows events up to seq {acknowledged} were acknowledged: \
         events {}-{acknowledged} would be lost and their seqs reused; nothing was changed (restore from a source that holds them)",
        held.0 + 1
    )]
    Short {
        /// The source.
        source_name: String,
        /// Its last event.
        held: Seq,
        /// The last acknowledged seq.
        acknowledged: Seq,
        /// What shows it: the witness file, or the part of the old ledger that still verifies.
        witness: String,
    },
    /// The source's event at the acknowledged head is not the acknowledged one.
    #[error(
        "{source_name} holds another event at seq {seq} than the one acknowledged there ({witness} holds another); nothing was changed"
    )]
    NotWitnessed {
        /// The source.
        source_name: String,
        /// The acknowledged head's seq.
        seq: Seq,
        /// What holds the acknowledged event: the witness file, or the old ledger.
        witness: String,
    },
    /// The ledger is intact and holds everything the source holds.
    #[error(
        "nothing to restore: the ledger in {dir} is intact (verified against its witness) and holds events 1-{held}, {source_name} holds 1-{source_head}"
    )]
    Intact {
        /// The ledger directory.
        dir: String,
        /// Its last event.
        held: Seq,
        /// The source.
        source_name: String,
        /// The source's last event.
        source_head: Seq,
    },
    /// Writing the new ledger or moving the old one failed.
    #[error("cannot {operation} {path}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The new store could not be written.
    #[error("writing the restored ledger failed: {0}")]
    Store(#[source] StoreError),
    /// The restored ledger did not verify as written (the old ledger stays moved aside).
    #[error("the restored ledger in {dir} does not verify: {detail}")]
    Unverified {
        /// The ledger directory.
        dir: String,
        /// What the check found.
        detail: String,
    },
}
