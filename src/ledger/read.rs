//! Reads of part of the durable log: a range after a seq, and chosen seqs (one stream's).
//!
//! Every record read is checked on its own (hash over its exact bytes, its key) and, within a
//! range, against its predecessor's hash, so a read never hands out damaged history. A read
//! never goes past the durable head it is given and never writes.

use std::ops::ControlFlow;

use crate::ids::Seq;
use crate::ledger::chain;
use crate::ledger::envelope::{Envelope, Hash};
use crate::ledger::error::{Damage, LedgerError};
use crate::ledger::store::Store;

/// Up to `limit` events after `after` and at most `durable`, in order.
pub(crate) fn range(
    store: &dyn Store,
    durable: Seq,
    after: Seq,
    limit: usize,
) -> Result<Vec<Envelope>, LedgerError> {
    let mut envelopes = Vec::new();
    let mut failure = None;
    let mut prev_hash: Option<Hash> = None;
    store
        .scan(after, &mut |seq, record| {
            if seq > durable || envelopes.len() >= limit {
                return ControlFlow::Break(());
            }
            match linked(seq, record, prev_hash) {
                Ok(envelope) => {
                    prev_hash = Some(envelope.hash);
                    envelopes.push(envelope);
                    ControlFlow::Continue(())
                }
                Err(damage) => {
                    failure = Some(damage);
                    ControlFlow::Break(())
                }
            }
        })
        .map_err(LedgerError::Read)?;
    match failure {
        Some(damage) => Err(LedgerError::Damaged(damage)),
        None => Ok(envelopes),
    }
}

/// The events at `seqs`, each of which the published index says is durable.
pub(crate) fn at(store: &dyn Store, seqs: &[Seq]) -> Result<Vec<Envelope>, LedgerError> {
    seqs.iter()
        .map(|&seq| {
            let record = store
                .get(seq)
                .map_err(LedgerError::Read)?
                .ok_or(LedgerError::Damaged(Damage::SeqGap {
                    expected: seq,
                    found: seq.next(),
                }))?;
            chain::check_alone(seq, &record).map_err(LedgerError::Damaged)
        })
        .collect()
}

/// A record checked on its own and, if its predecessor was read, against its hash.
fn linked(seq: Seq, record: &[u8], prev_hash: Option<Hash>) -> Result<Envelope, Damage> {
    let envelope = chain::check_alone(seq, record)?;
    if prev_hash.is_some_and(|prev| prev != envelope.prev_hash) {
        return Err(Damage::ChainBroken { seq });
    }
    Ok(envelope)
}
