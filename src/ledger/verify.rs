//! The one verification of a log: seq contiguity from 1, every hash over the exact bytes,
//! every `prev_hash` link, contiguous stream versions, and (for a store) that the log ends
//! where its recorded head says.
//!
//! Every caller goes through it: the ledger's open, [`crate::ledger::Ledger::verify`] (the ops
//! endpoint), [`crate::ledger::LedgerReader`] and [`verify_envelopes`] (the replay tool), and
//! the golden tests through [`Verifier`]. It stops at the first damage and names it; it never
//! repairs, skips or reorders anything (what to do about events past the recorded head is the
//! opener's decision).

use std::ops::ControlFlow;

use crate::ids::Seq;
use crate::ledger::chain::ChainCheck;
use crate::ledger::codec;
use crate::ledger::envelope::Envelope;
use crate::ledger::error::{Damage, StoreError};
use crate::ledger::store::{Head, Store};

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The last event that verified (seq 0 and zeros when none did); every event from seq 1 up
    /// to it verified.
    pub last: Head,
    /// The first damage found; nothing after it was checked.
    pub damage: Option<Damage>,
    /// The last seq acknowledged, where a witness records it (a ledger on disk): a log that
    /// ends before it lost events.
    pub acknowledged: Option<Seq>,
}

impl Verification {
    /// Whether everything verified.
    pub fn is_intact(&self) -> bool {
        self.damage.is_none()
    }

    /// How many events verified.
    pub fn events(&self) -> u64 {
        self.last.seq.0
    }

    /// The first bad seq, if any.
    pub fn first_bad_seq(&self) -> Option<Seq> {
        self.damage.as_ref().map(Damage::first_bad_seq)
    }
}

/// Verifies a log fed to it in order, as stored records or as decoded envelopes, and keeps
/// the first damage: once damaged, every later call answers that damage.
#[derive(Debug, Default)]
pub struct Verifier {
    check: ChainCheck,
    damage: Option<Damage>,
}

impl Verifier {
    /// A verifier of a log starting at seq 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the raw record stored under `seq` and decodes it.
    pub fn record(&mut self, seq: Seq, bytes: &[u8]) -> Result<Envelope, Damage> {
        self.ensure_intact()?;
        self.check
            .check_record(seq, bytes)
            .inspect_err(|damage| self.damage = Some(damage.clone()))
    }

    /// Checks the next decoded envelope (an export's): its hash is recomputed from its
    /// canonical encoding, so an export verifies exactly as the stored log does.
    pub fn envelope(&mut self, envelope: &Envelope) -> Result<(), Damage> {
        self.ensure_intact()?;
        self.check
            .check_envelope(envelope)
            .inspect_err(|damage| self.damage = Some(damage.clone()))
    }

    /// What was found.
    pub fn finish(self) -> Verification {
        Verification {
            last: self.check.last(),
            damage: self.damage,
            acknowledged: None,
        }
    }

    fn ensure_intact(&self) -> Result<(), Damage> {
        match &self.damage {
            Some(damage) => Err(damage.clone()),
            None => Ok(()),
        }
    }
}

/// Verifies decoded envelopes (an export, a read of the log) as one log from seq 1.
pub fn verify_envelopes<'a>(envelopes: impl IntoIterator<Item = &'a Envelope>) -> Verification {
    let mut verifier = Verifier::new();
    for envelope in envelopes {
        if verifier.envelope(envelope).is_err() {
            break;
        }
    }
    verifier.finish()
}

/// The exact bytes a store keeps for `envelope`: its encoded body, then its hash. What the
/// golden logs hold, so that a test can prove the encoding never changed.
pub fn stored_bytes(envelope: &Envelope) -> Vec<u8> {
    codec::encode_record(&codec::encode_envelope_body(envelope), &envelope.hash)
}

/// Verifies `store` from seq 1 up to `until` and against its `recorded` head (None: the store
/// records none), visiting each event that verifies, in order.
pub(crate) fn verify_store(
    store: &dyn Store,
    until: Seq,
    recorded: Option<Head>,
    visit: &mut dyn FnMut(Envelope),
) -> Result<Verification, StoreError> {
    let mut verifier = Verifier::new();
    let scanned = store.scan(Seq::ZERO, &mut |seq, record| {
        if seq > until {
            return ControlFlow::Break(());
        }
        match verifier.record(seq, record) {
            Ok(envelope) => {
                visit(envelope);
                ControlFlow::Continue(())
            }
            Err(_) => ControlFlow::Break(()),
        }
    });
    let mut verification = verifier.finish();
    match scanned {
        // A key that is not a seq, or a group whose framing is broken: the event after the
        // last good one is not there.
        Err(StoreError::MalformedKey { after } | StoreError::MalformedGroup { after })
            if verification.is_intact() =>
        {
            let expected = after.next();
            verification.damage = Some(Damage::SeqGap {
                expected,
                found: expected,
            });
        }
        Err(StoreError::MalformedKey { .. } | StoreError::MalformedGroup { .. }) => {}
        Err(other) => return Err(other),
        Ok(()) => {}
    }
    if verification.is_intact() {
        verification.damage = compare_head(store, verification.last, recorded)?;
    }
    Ok(verification)
}

/// Whether a verified log ending at `last` agrees with the head recorded for it. Intact
/// events past the recorded head agree: a crash can come between writing events and
/// recording their head, before any appender was told they were durable.
fn compare_head(
    store: &dyn Store,
    last: Head,
    recorded: Option<Head>,
) -> Result<Option<Damage>, StoreError> {
    let Some(recorded) = recorded else {
        return Ok((last.seq != Seq::ZERO).then_some(Damage::HeadMissing { events: last.seq.0 }));
    };
    if recorded.seq > last.seq {
        return Ok(Some(Damage::TailMissing {
            last: last.seq,
            head: recorded.seq,
        }));
    }
    if recorded.seq == last.seq {
        return Ok((recorded.hash != last.hash).then_some(Damage::HeadMismatch { seq: last.seq }));
    }
    if recorded.seq == Seq::ZERO {
        return Ok(None);
    }
    let hash = store
        .get(recorded.seq)?
        .and_then(|record| codec::split_record(&record).ok().map(|(_, hash)| hash));
    Ok((hash != Some(recorded.hash)).then_some(Damage::HeadMismatch { seq: recorded.seq }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::chain::test_log;
    use crate::ledger::store::{MemoryStore, StoredRecord};

    fn store_of(records: &[StoredRecord], head: Option<Head>) -> MemoryStore {
        let store = MemoryStore::new();
        let head = head.unwrap_or_default();
        store.write(records, &head).expect("writes");
        store
    }

    fn verify(store: &MemoryStore) -> Verification {
        let recorded = store.head().expect("head");
        verify_store(store, Seq(u64::MAX), recorded, &mut |_| {}).expect("reads")
    }

    #[test]
    fn an_intact_log_verifies_to_its_last_event_raw_and_decoded() {
        let (records, envelopes) = test_log(5);
        let last = Head {
            seq: Seq(5),
            hash: envelopes[4].hash,
        };
        let verification = verify(&store_of(&records, Some(last)));
        assert_eq!(
            verification,
            Verification {
                last,
                damage: None,
                acknowledged: None
            }
        );
        assert_eq!(verify_envelopes(&envelopes), verification);
        for (record, envelope) in records.iter().zip(&envelopes) {
            assert_eq!(stored_bytes(envelope), record.bytes, "canonical encoding");
        }
    }

    #[test]
    fn the_recorded_head_must_match_the_log_it_heads() {
        let (records, envelopes) = test_log(4);
        let at = |seq: u64, hash| Head {
            seq: Seq(seq),
            hash,
        };
        let cases = [
            (Some(at(6, envelopes[3].hash)), Some(Seq(5))),
            (Some(at(4, envelopes[2].hash)), Some(Seq(4))),
            (Some(at(2, envelopes[0].hash)), Some(Seq(2))),
            (Some(at(2, envelopes[1].hash)), None),
            (None, Some(Seq(1))),
        ];
        for (recorded, first_bad) in cases {
            let store = store_of(&records, None);
            let verification =
                verify_store(&store, Seq(u64::MAX), recorded, &mut |_| {}).expect("reads");
            assert_eq!(verification.first_bad_seq(), first_bad, "{recorded:?}");
            assert_eq!(verification.last.seq, Seq(4), "every event verified");
        }
    }

    #[test]
    fn verification_stops_at_the_first_damage_and_keeps_it() {
        let (mut records, envelopes) = test_log(5);
        records[2].bytes[3] ^= 0x01;
        let mut seen = Vec::new();
        let store = store_of(&records, None);
        let verification =
            verify_store(&store, Seq(u64::MAX), None, &mut |e| seen.push(e.seq.0)).expect("reads");
        assert_eq!(
            verification.damage,
            Some(Damage::HashMismatch { seq: Seq(3) })
        );
        assert_eq!(seen, vec![1, 2], "only verified events are visited");
        let mut verifier = Verifier::new();
        let mut altered = envelopes[1].clone();
        altered.at += 1;
        assert!(verifier.envelope(&envelopes[0]).is_ok());
        assert!(verifier.envelope(&altered).is_err());
        assert_eq!(
            verifier.envelope(&envelopes[2]),
            Err(Damage::HashMismatch { seq: Seq(2) }),
            "the first damage stands"
        );
    }

    #[test]
    fn a_store_verification_stops_at_its_bound() {
        let (records, envelopes) = test_log(5);
        let store = store_of(&records, None);
        let head = Head {
            seq: Seq(3),
            hash: envelopes[2].hash,
        };
        let verification = verify_store(&store, Seq(3), Some(head), &mut |_| {}).expect("reads");
        assert_eq!(verification.last, head);
        assert!(verification.is_intact());
    }
}
