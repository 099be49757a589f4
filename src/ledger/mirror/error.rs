//! Why the mirror (`--mirror DIR`) cannot be used: it cannot be read or written, another
//! process holds it, its bytes are damaged, or it disagrees with the ledger. Each names the
//! mirror file and, where it applies, the ledger directory and the seq.
//!
//! A mirror error is never repaired here: the caller refuses the open or the restore, or stops
//! the writer.

use std::sync::Arc;

use crate::ids::Seq;
use crate::ledger::error::Damage;

/// The mirror (`--mirror DIR`) cannot be read, written, or trusted beside the ledger.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MirrorError {
    /// Reading, writing or syncing the mirror failed; while serving, the writer stops.
    #[error("cannot {operation} the mirror {path}: {source}")]
    Io {
        /// The mirror file.
        path: String,
        /// What was being done.
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Another process has the mirror open (two ledgers must never share one mirror).
    #[error(
        "the mirror {path} is in use by another process; every ledger needs a mirror of its own"
    )]
    Locked {
        /// The mirror file.
        path: String,
    },
    /// The mirror's bytes are not frames of a mirror: a changed byte, or another file.
    #[error("the mirror {path} is damaged at offset {offset} (after event {after}): {reason}")]
    Damaged {
        /// The mirror file.
        path: String,
        /// Where the damage starts.
        offset: u64,
        /// The last event before it.
        after: Seq,
        /// What is wrong.
        reason: &'static str,
    },
    /// The mirror's frames are intact but its chain is not.
    #[error("the mirror {path} is damaged: {damage}")]
    Chain {
        /// The mirror file.
        path: String,
        /// The first damage.
        #[source]
        damage: Damage,
    },
    /// The mirror holds events the ledger does not: the ledger lost them.
    #[error(
        "the mirror {path} holds events up to seq {mirror_head} but the ledger in {dir} only up to {store_head}: \
         the ledger lost events {}-{mirror_head}; nothing was changed. Next: restore the ledger from the mirror \
         (`stackledger restore --data-dir DATA_DIR --mirror MIRROR_DIR`)",
        store_head.0 + 1
    )]
    Ahead {
        /// The mirror file.
        path: String,
        /// The ledger directory.
        dir: String,
        /// The mirror's last event.
        mirror_head: Seq,
        /// The ledger's last event.
        store_head: Seq,
    },
    /// The mirror and the ledger hold different events at one seq.
    #[error(
        "the mirror {path} and the ledger in {dir} hold different events from seq {seq} on; nothing was changed. \
         Next: if the ledger is the damaged copy, restore it from the mirror \
         (`stackledger restore --data-dir DATA_DIR --mirror MIRROR_DIR`); if the mirror is, move it aside and \
         start again to make a new one"
    )]
    Diverged {
        /// The mirror file.
        path: String,
        /// The ledger directory.
        dir: String,
        /// The first seq at which they differ.
        seq: Seq,
    },
}

impl MirrorError {
    /// What an operator does when this refuses an open (Ahead and Diverged say it themselves).
    pub(crate) fn next_step_at_open(&self) -> &'static str {
        match self {
            MirrorError::Damaged { .. } | MirrorError::Chain { .. } => {
                "; the ledger itself verified, and nothing was changed. Next: move the mirror aside \
                 (keep it) and start again: a new mirror is filled from the ledger"
            }
            _ => "",
        }
    }
}
