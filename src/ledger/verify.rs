//! The one verification of a log: seq contiguity from 1, every hash over the exact bytes,
//! every `prev_hash` link, contiguous stream versions, and (for a store) that the log ends
//! where its recorded head says.
//!
//! Every caller goes through it: the ledger's open, [`crate::ledger::Ledger::verify`] (the ops
//! endpoint), [`crate::ledger::LedgerReader`] and [`verify_envelopes`] (the replay tool), and
//! the golden tests through [`Verifier`]. A store's full check runs on every core (`parallel`),
//! with the sequential check's answers. It stops at the first damage and names it; it never
//! repairs, skips or reorders anything (what to do about events past the recorded head is the
//! opener's decision).

mod parallel;

use std::ops::ControlFlow;

use crate::ids::Seq;
use crate::ledger::chain::{ChainCheck, Prepared};
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

    /// Checks the raw record stored under `seq`, given what [`crate::ledger::chain::prepare`]
    /// found in it.
    pub(crate) fn prepared(
        &mut self,
        seq: Seq,
        bytes: &[u8],
        prepared: Prepared,
    ) -> Result<Envelope, Damage> {
        self.ensure_intact()?;
        self.check
            .check_prepared(seq, bytes, prepared)
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

/// How many threads a store's full check runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckThreads {
    /// The calling thread alone.
    One,
    /// A reader, and a hashing worker on each other core (one thread alone on a single core).
    EveryCore,
}

impl CheckThreads {
    /// Hashing workers beside the reader; None: check on the calling thread.
    fn workers(self) -> Option<usize> {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        (self == Self::EveryCore && cores > 1).then(|| cores - 1)
    }
}

/// Verifies `store` from seq 1 against the head it records, on `threads`: the full check
/// `verify` and the benchmark run. Damage is in the answer; an error means the store could not
/// be read.
pub fn verify_stored(store: &dyn Store, threads: CheckThreads) -> Result<Verification, StoreError> {
    let recorded = store.head()?;
    verify_store_on(store, Seq(u64::MAX), recorded, threads, &mut |_| {})
}

/// Verifies `store` from seq 1 up to `until` and against its `recorded` head (None: the store
/// records none), visiting each event that verifies, in order, on every core.
pub(crate) fn verify_store(
    store: &dyn Store,
    until: Seq,
    recorded: Option<Head>,
    visit: &mut dyn FnMut(Envelope),
) -> Result<Verification, StoreError> {
    verify_store_on(store, until, recorded, CheckThreads::EveryCore, visit)
}

fn verify_store_on(
    store: &dyn Store,
    until: Seq,
    recorded: Option<Head>,
    threads: CheckThreads,
    visit: &mut dyn FnMut(Envelope),
) -> Result<Verification, StoreError> {
    let verification = verify_store_watched(store, until, recorded, threads, &mut |envelope| {
        visit(envelope);
        ControlFlow::Continue(())
    })?;
    Ok(verification.expect("a check whose visits never break runs to its end"))
}

/// [`verify_store`] on `threads`, for a check that may be called off (the background audit):
/// None when `visit` broke before the end.
pub(crate) fn verify_store_watched(
    store: &dyn Store,
    until: Seq,
    recorded: Option<Head>,
    threads: CheckThreads,
    visit: &mut dyn FnMut(Envelope) -> ControlFlow<()>,
) -> Result<Option<Verification>, StoreError> {
    let mut verifier = Verifier::new();
    let mut called_off = false;
    let visit = &mut |envelope| {
        let flow = visit(envelope);
        called_off |= flow.is_break();
        flow
    };
    let scanned = match threads.workers() {
        Some(workers) => parallel::scan(
            store,
            until,
            workers,
            parallel::CHUNK_RECORDS,
            &mut verifier,
            visit,
        ),
        None => scan_sequential(store, until, &mut verifier, visit),
    };
    if called_off {
        return Ok(None);
    }
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
    Ok(Some(verification))
}

fn scan_sequential(
    store: &dyn Store,
    until: Seq,
    verifier: &mut Verifier,
    visit: &mut dyn FnMut(Envelope) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    store.scan(Seq::ZERO, &mut |seq, record| {
        if seq > until {
            return ControlFlow::Break(());
        }
        match verifier.record(seq, record) {
            Ok(envelope) => visit(envelope),
            Err(_) => ControlFlow::Break(()),
        }
    })
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

    /// One kind of damage done to a stored log.
    #[derive(Debug, Clone)]
    enum Harm {
        Flip { at: usize, byte: usize, bit: u8 },
        Remove { at: usize },
        Swap { at: usize, with: usize },
        Truncate { at: usize, len: usize },
        Repeat { at: usize },
        HeadBack { by: u64 },
        HeadAhead { by: u64 },
    }

    fn harm() -> impl proptest::strategy::Strategy<Value = Harm> {
        use proptest::prelude::*;
        prop_oneof![
            (any::<usize>(), any::<usize>(), 0u8..8).prop_map(|(at, byte, bit)| Harm::Flip {
                at,
                byte,
                bit
            }),
            any::<usize>().prop_map(|at| Harm::Remove { at }),
            (any::<usize>(), any::<usize>()).prop_map(|(at, with)| Harm::Swap { at, with }),
            (any::<usize>(), 0usize..40).prop_map(|(at, len)| Harm::Truncate { at, len }),
            any::<usize>().prop_map(|at| Harm::Repeat { at }),
            (1u64..4).prop_map(|by| Harm::HeadBack { by }),
            (1u64..4).prop_map(|by| Harm::HeadAhead { by }),
        ]
    }

    /// A store holding a log of `count` events with `harms` done to it.
    fn harmed(count: u64, harms: &[Harm]) -> MemoryStore {
        let (mut records, envelopes) = test_log(count);
        let mut head = Head {
            seq: Seq(count),
            hash: envelopes[envelopes.len() - 1].hash,
        };
        let len = records.len();
        for harm in harms {
            match *harm {
                Harm::Flip { at, byte, bit } => {
                    let bytes = &mut records[at % len].bytes;
                    let byte = byte % bytes.len();
                    bytes[byte] ^= 1 << bit;
                }
                Harm::Remove { at } => records[at % len].seq = Seq(u64::MAX),
                Harm::Swap { at, with } => {
                    let (at, with) = (at % len, with % len);
                    let bytes = records[at].bytes.clone();
                    records[at].bytes = std::mem::replace(&mut records[with].bytes, bytes);
                }
                Harm::Truncate { at, len: keep } => records[at % len].bytes.truncate(keep),
                Harm::Repeat { at } => {
                    let at = at % len;
                    records[at].bytes = records[at.saturating_sub(1)].bytes.clone();
                }
                Harm::HeadBack { by } => head.seq = Seq(head.seq.0.saturating_sub(by)),
                Harm::HeadAhead { by } => head.seq = Seq(head.seq.0 + by),
            }
        }
        records.retain(|record| record.seq != Seq(u64::MAX));
        store_of(&records, Some(head))
    }

    proptest::proptest! {
        #[test]
        fn the_parallel_check_answers_as_the_sequential_one_on_any_damage(
            count in 1u64..60,
            harms in proptest::collection::vec(harm(), 0..3),
            chunk in 1usize..9,
            workers in 1usize..4,
            until in proptest::option::of(1u64..70),
        ) {
            let store = harmed(count, &harms);
            let recorded = store.head().expect("head");
            let until = until.map_or(Seq(u64::MAX), Seq);
            let mut sequential_seen = Vec::new();
            let mut verifier = Verifier::new();
            let sequential_scan = scan_sequential(
                &store, until, &mut verifier, &mut |e| {
                    sequential_seen.push(e.seq);
                    ControlFlow::Continue(())
                },
            );
            let sequential = (sequential_scan.is_ok(), verifier.finish());
            let mut parallel_seen = Vec::new();
            let mut verifier = Verifier::new();
            let parallel_scan = parallel::scan(
                &store, until, workers, chunk, &mut verifier, &mut |e| {
                    parallel_seen.push(e.seq);
                    ControlFlow::Continue(())
                },
            );
            let parallel = (parallel_scan.is_ok(), verifier.finish());
            proptest::prop_assert_eq!(&parallel, &sequential);
            proptest::prop_assert_eq!(parallel_seen, sequential_seen);
            let whole = |threads| {
                verify_store_on(&store, until, recorded, threads, &mut |_| {}).expect("reads")
            };
            proptest::prop_assert_eq!(whole(CheckThreads::EveryCore), whole(CheckThreads::One));
        }
    }
}
