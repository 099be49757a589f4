//! Opening a stored log: the format check, the verifying scan that folds every event into the
//! projection (scan and fold on two threads), and the comparison with the recorded head. Damage
//! is refused with the first bad seq; nothing is repaired.

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::deployment::name::NameClaims;
use crate::ids::Seq;
use crate::ledger::Shared;
use crate::ledger::chain::ChainCheck;
use crate::ledger::codec;
use crate::ledger::envelope::Envelope;
use crate::ledger::error::{Damage, LedgerError};
use crate::ledger::store::{Head, Store};

/// Refuses a store written in another format; stamps a new one.
pub(super) fn check_format(store: &dyn Store) -> Result<(), LedgerError> {
    match store.format_version().map_err(LedgerError::Open)? {
        Some(found) if found == codec::FORMAT_VERSION => Ok(()),
        Some(found) => Err(LedgerError::UnsupportedFormat {
            found,
            supported: codec::FORMAT_VERSION,
        }),
        None => {
            let mut empty = true;
            store
                .scan(Seq::ZERO, &mut |_, _| {
                    empty = false;
                    ControlFlow::Break(())
                })
                .map_err(LedgerError::Open)?;
            let has_head = store.head().map_err(LedgerError::Open)?.is_some();
            if !empty || has_head {
                return Err(LedgerError::Damaged(Damage::HeadMissing {
                    events: u64::from(!empty),
                }));
            }
            store
                .set_format_version(codec::FORMAT_VERSION)
                .map_err(LedgerError::Open)
        }
    }
}

/// Events folded per projector call while opening.
const OPEN_CHUNK: usize = 4096;

/// Verified chunks waiting for the fold while opening.
const OPEN_CHUNKS_QUEUED_MAX: usize = 8;

/// Verifies every stored event and folds it into the projection, index and name claims.
///
/// Two threads share the work: this one scans, checks the chain and decodes; a second folds
/// the verified chunks, so opening a large log uses both cores. Only verified events are
/// folded; on damage the open fails and the partial fold is thrown away with the ledger.
pub(super) fn replay_stored(
    store: &dyn Store,
    shared: &Shared,
) -> Result<(ChainCheck, NameClaims), LedgerError> {
    let (to_fold, verified) =
        std::sync::mpsc::sync_channel::<Vec<Arc<Envelope>>>(OPEN_CHUNKS_QUEUED_MAX);
    std::thread::scope(|scope| {
        let folder = scope.spawn(move || {
            let mut claims = NameClaims::default();
            for chunk in verified {
                for envelope in &chunk {
                    claims.observe(envelope.stream, &envelope.event);
                }
                if let Some(last) = chunk.last() {
                    let head = Head {
                        seq: last.seq,
                        hash: last.hash,
                    };
                    shared.publish(head, &chunk, None);
                }
            }
            claims
        });
        let checked = scan_and_check(store, &to_fold);
        drop(to_fold);
        let claims = folder
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        checked.map(|check| (check, claims))
    })
}

/// Scans the store from the start, checking every record, and sends verified chunks on.
fn scan_and_check(
    store: &dyn Store,
    to_fold: &std::sync::mpsc::SyncSender<Vec<Arc<Envelope>>>,
) -> Result<ChainCheck, LedgerError> {
    let mut check = ChainCheck::new();
    let mut chunk: Vec<Arc<Envelope>> = Vec::with_capacity(OPEN_CHUNK);
    let mut damage = None;
    store
        .scan(
            Seq::ZERO,
            &mut |seq, record| match check.check_record(seq, record) {
                Ok(envelope) => {
                    chunk.push(Arc::new(envelope));
                    if chunk.len() == OPEN_CHUNK {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(OPEN_CHUNK));
                        // The folder only stops early by panicking, which join re-raises.
                        let _ = to_fold.send(full);
                    }
                    ControlFlow::Continue(())
                }
                Err(found) => {
                    damage = Some(found);
                    ControlFlow::Break(())
                }
            },
        )
        .map_err(|error| match error {
            crate::ledger::error::StoreError::MalformedKey { after } => {
                LedgerError::Damaged(Damage::SeqGap {
                    expected: after.next(),
                    found: after.next(),
                })
            }
            other => LedgerError::Open(other),
        })?;
    if let Some(found) = damage {
        return Err(LedgerError::Damaged(found));
    }
    if !chunk.is_empty() {
        let _ = to_fold.send(chunk);
    }
    Ok(check)
}

/// Compares the verified log with the head recorded in the metadata.
pub(super) fn reconcile_head(store: &dyn Store, check: &ChainCheck) -> Result<Head, LedgerError> {
    let last = Head {
        seq: check.last_seq(),
        hash: check.last_hash(),
    };
    let Some(recorded) = store.head().map_err(LedgerError::Open)? else {
        if last.seq == Seq::ZERO {
            return Ok(last);
        }
        return Err(LedgerError::Damaged(Damage::HeadMissing {
            events: last.seq.0,
        }));
    };
    if recorded.seq > last.seq {
        return Err(LedgerError::Damaged(Damage::TailMissing {
            last: last.seq,
            head: recorded.seq,
        }));
    }
    if recorded.seq == last.seq {
        if recorded.hash != last.hash {
            return Err(LedgerError::Damaged(Damage::HeadMismatch { seq: last.seq }));
        }
        return Ok(last);
    }
    // Intact events past the recorded head: a crash came between writing them and recording
    // the head, before any appender was told they were durable. They verify, so they stay.
    let record =
        store
            .get(recorded.seq)
            .map_err(LedgerError::Open)?
            .ok_or(LedgerError::Damaged(Damage::HeadMismatch {
                seq: recorded.seq,
            }))?;
    let (_, hash) = codec::split_record(&record).map_err(|source| {
        LedgerError::Damaged(Damage::Undecodable {
            seq: recorded.seq,
            source,
        })
    })?;
    if recorded.seq != Seq::ZERO && hash != recorded.hash {
        return Err(LedgerError::Damaged(Damage::HeadMismatch {
            seq: recorded.seq,
        }));
    }
    tracing::warn!(
        recorded = recorded.seq.0,
        last = last.seq.0,
        "events past the recorded head were never acknowledged but are intact; keeping them"
    );
    store.write(&[], &last).map_err(LedgerError::Open)?;
    store.sync().map_err(LedgerError::Open)?;
    Ok(last)
}
