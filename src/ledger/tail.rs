//! The tail-only open: verifies and folds only the events after a checkpoint, starting the
//! chain check from the checkpoint's head (the first tail event's prev_hash must be its
//! hash) and each stream's version from the stream index on disk.
//!
//! It checks the tail and the checkpoint's link only; the chain before the checkpoint is
//! verified elsewhere (`verify`, and in the background after open). It never folds an event
//! that did not verify.

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::ledger::chain::ChainCheck;
use crate::ledger::codec;
use crate::ledger::envelope::Envelope;
use crate::ledger::error::{Damage, StoreError};
use crate::ledger::shared::Shared;
use crate::ledger::store::{Head, Store};
use crate::ledger::verify::Verification;

/// Events folded per projector call.
const CHUNK: usize = 4096;

/// Verifies the log after `from` against its `recorded` head and folds what verifies into
/// `shared`.
pub(crate) fn verify_and_fold(
    store: &dyn Store,
    shared: &Shared,
    from: Head,
    recorded: Option<Head>,
) -> Result<Verification, StoreError> {
    let mut check = ChainCheck::resume(from);
    let mut chunk: Vec<Arc<Envelope>> = Vec::with_capacity(CHUNK);
    let mut damage = None;
    let mut failed = None;
    let scanned = store.scan(from.seq, &mut |seq, record| {
        if let Err(error) = seed(&mut check, shared, record) {
            failed = Some(error);
            return ControlFlow::Break(());
        }
        match check.check_record(seq, record) {
            Ok(envelope) => {
                chunk.push(Arc::new(envelope));
                if chunk.len() == CHUNK {
                    publish(shared, &mut chunk);
                }
                ControlFlow::Continue(())
            }
            Err(found) => {
                damage = Some(found);
                ControlFlow::Break(())
            }
        }
    });
    publish(shared, &mut chunk);
    if let Some(error) = failed {
        return Err(error);
    }
    let last = check.last();
    match scanned {
        Err(StoreError::MalformedKey { after }) if damage.is_none() => {
            let expected = after.next();
            damage = Some(Damage::SeqGap {
                expected,
                found: expected,
            });
        }
        Err(StoreError::MalformedKey { .. }) | Ok(()) => {}
        Err(other) => return Err(other),
    }
    if damage.is_none() {
        damage = compare_head(last, recorded);
    }
    Ok(Verification {
        last,
        damage,
        acknowledged: None,
    })
}

/// Gives the check the version the record's stream had before the tail, if it lacks it.
fn seed(check: &mut ChainCheck, shared: &Shared, record: &[u8]) -> Result<(), StoreError> {
    let Ok((body, hash)) = codec::split_record(record) else {
        return Ok(());
    };
    let Ok(envelope) = codec::decode_body(body, hash) else {
        return Ok(());
    };
    if !check.knows(envelope.stream) {
        check.seed(envelope.stream, shared.version(envelope.stream)?);
    }
    Ok(())
}

fn publish(shared: &Shared, chunk: &mut Vec<Arc<Envelope>>) {
    let Some(last) = chunk.last() else {
        return;
    };
    let head = Head {
        seq: last.seq,
        hash: last.hash,
    };
    shared.publish(head, chunk, None);
    shared.count_opened(chunk.len());
    chunk.clear();
}

/// Whether the verified tail ending at `last` agrees with the recorded head.
fn compare_head(last: Head, recorded: Option<Head>) -> Option<Damage> {
    let recorded = recorded?;
    if last.seq < recorded.seq {
        return Some(Damage::TailMissing {
            last: last.seq,
            head: recorded.seq,
        });
    }
    (last.seq == recorded.seq && last.hash != recorded.hash)
        .then_some(Damage::HeadMismatch { seq: recorded.seq })
}
