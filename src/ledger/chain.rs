//! The rules of the hash chain, in one place: seq contiguity from 1, each record's hash over
//! its exact bytes, each `prev_hash` link, the seq a record is stored under, and contiguous
//! versions in every stream.
//!
//! [`ChainCheck`] applies them all to a whole log fed in order (through
//! [`crate::ledger::verify`], the one verification); [`check_alone`] applies the ones a single
//! record can meet on its own, for reads of part of the log. Pure: no I/O, and it keeps only
//! what the next check needs. It never repairs or skips a record.

use std::collections::HashMap;

use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::codec;
use crate::ledger::envelope::{Envelope, Hash};
use crate::ledger::error::{CodecError, Damage};
use crate::ledger::store::Head;

/// Checks records one by one, in log order.
#[derive(Debug, Default, Clone)]
pub(crate) struct ChainCheck {
    last: Head,
    versions: HashMap<DeploymentId, StreamVersion>,
}

impl ChainCheck {
    /// A check of the log after `last` (a checkpoint's tail), given the versions its streams
    /// had there through [`ChainCheck::seed`].
    pub(crate) fn resume(last: Head) -> Self {
        Self {
            last,
            versions: HashMap::new(),
        }
    }

    /// Whether `stream`'s version is known.
    pub(crate) fn knows(&self, stream: DeploymentId) -> bool {
        self.versions.contains_key(&stream)
    }

    /// Records `stream`'s version before the first event checked.
    pub(crate) fn seed(&mut self, stream: DeploymentId, version: StreamVersion) {
        self.versions.insert(stream, version);
    }

    /// Checks the raw record stored under `key` and decodes it.
    pub(crate) fn check_record(&mut self, key: Seq, record: &[u8]) -> Result<Envelope, Damage> {
        self.check_prepared(key, record, prepare(record))
    }

    /// Checks the raw record stored under `key`, given what [`prepare`] found in it (possibly
    /// on another thread): the same answer as [`ChainCheck::check_record`] for every record.
    pub(crate) fn check_prepared(
        &mut self,
        key: Seq,
        record: &[u8],
        prepared: Prepared,
    ) -> Result<Envelope, Damage> {
        self.check_position(key)?;
        let (body, stored_hash) = split(key, record)?;
        let Prepared {
            decoded,
            self_linked,
        } = prepared;
        // Linked to the previous record: its own prev_hash is the last hash and it hashes right
        // against it (computed by `prepare`), or, where it names another prev_hash, against
        // the last hash itself.
        let linked = match &decoded {
            Ok(envelope) if envelope.prev_hash == self.last.hash => self_linked,
            _ => Hash::chain(&self.last.hash, body) == stored_hash,
        };
        let envelope = match decoded {
            Ok(envelope) => envelope,
            // Bytes that hash right but do not decode were written so; otherwise they changed.
            Err(source) if linked => return Err(Damage::Undecodable { seq: key, source }),
            Err(_) => return Err(Damage::HashMismatch { seq: key }),
        };
        if !linked {
            // Tell a broken link from an altered record: an intact record whose prev_hash points
            // elsewhere hashes correctly against its own prev_hash.
            return Err(if self_linked {
                Damage::ChainBroken { seq: key }
            } else {
                Damage::HashMismatch { seq: key }
            });
        }
        self.check_fields(key, &envelope)?;
        Ok(envelope)
    }

    /// Checks an envelope that arrived decoded (an NDJSON export): its hash is recomputed from
    /// its canonical encoding.
    pub(crate) fn check_envelope(&mut self, envelope: &Envelope) -> Result<(), Damage> {
        let key = envelope.seq;
        self.check_position(key)?;
        let body = codec::encode_envelope_body(envelope);
        if Hash::chain(&envelope.prev_hash, &body) != envelope.hash {
            return Err(Damage::HashMismatch { seq: key });
        }
        self.check_fields(key, envelope)
    }

    /// The last event checked (seq 0 and zeros before any).
    pub(crate) fn last(&self) -> Head {
        self.last
    }

    fn check_position(&self, key: Seq) -> Result<(), Damage> {
        let expected = self.last.seq.next();
        if key != expected {
            return Err(Damage::SeqGap {
                expected,
                found: key,
            });
        }
        Ok(())
    }

    fn check_fields(&mut self, key: Seq, envelope: &Envelope) -> Result<(), Damage> {
        check_key(key, envelope)?;
        if envelope.prev_hash != self.last.hash {
            return Err(Damage::ChainBroken { seq: key });
        }
        let version = self.versions.entry(envelope.stream).or_default();
        let expected = version.next();
        if envelope.version != expected {
            return Err(Damage::VersionGap {
                seq: key,
                stream: envelope.stream,
                expected,
                found: envelope.version,
            });
        }
        *version = expected;
        self.last = Head {
            seq: key,
            hash: envelope.hash,
        };
        Ok(())
    }
}

/// What one record shows on its own, before its place in the log is known: its decoded
/// envelope and whether its hash covers its bytes and its own `prev_hash`.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Its envelope, or why its body does not decode (a record that does not split is found
    /// again by [`ChainCheck::check_prepared`]).
    decoded: Result<Envelope, CodecError>,
    /// SHA-256(its prev_hash ‖ body) is its stored hash.
    self_linked: bool,
}

/// Decodes and hashes one record on its own: the costly part of a check, independent of every
/// other record, so that it can run on any thread.
pub(crate) fn prepare(record: &[u8]) -> Prepared {
    let Ok((body, stored_hash)) = codec::split_record(record) else {
        let decoded = Err(CodecError::TooShort { len: record.len() });
        return Prepared {
            decoded,
            self_linked: false,
        };
    };
    let decoded = codec::decode_body(body, stored_hash);
    let self_linked = decoded
        .as_ref()
        .is_ok_and(|envelope| Hash::chain(&envelope.prev_hash, body) == stored_hash);
    Prepared {
        decoded,
        self_linked,
    }
}

/// Checks one stored record on its own and decodes it: it decodes, its hash covers its exact
/// bytes and its own `prev_hash`, and it is the event its key says. Links to its neighbours are
/// the reader's to check.
pub(crate) fn check_alone(key: Seq, record: &[u8]) -> Result<Envelope, Damage> {
    let (body, stored_hash) = split(key, record)?;
    let envelope = codec::decode_body(body, stored_hash)
        .map_err(|source| Damage::Undecodable { seq: key, source })?;
    if Hash::chain(&envelope.prev_hash, body) != stored_hash {
        return Err(Damage::HashMismatch { seq: key });
    }
    check_key(key, &envelope)?;
    Ok(envelope)
}

fn split(key: Seq, record: &[u8]) -> Result<(&[u8], Hash), Damage> {
    codec::split_record(record).map_err(|source| Damage::Undecodable { seq: key, source })
}

fn check_key(key: Seq, envelope: &Envelope) -> Result<(), Damage> {
    if envelope.seq != key {
        return Err(Damage::SeqMismatch {
            key,
            recorded: envelope.seq,
        });
    }
    Ok(())
}

/// A valid log of `count` events on one stream, as stored records and as envelopes.
#[cfg(test)]
pub(crate) fn test_log(count: u64) -> (Vec<crate::ledger::store::StoredRecord>, Vec<Envelope>) {
    use crate::deployment::{Event, Phase};
    let stream = DeploymentId::SYSTEM;
    let event = Event::PhaseEntered {
        phase: Phase::Deploying,
    };
    let mut prev_hash = Hash::ZERO;
    let mut log = (Vec::new(), Vec::new());
    for n in 1..=count {
        let mut envelope = Envelope {
            seq: Seq(n),
            stream,
            version: StreamVersion(u32::try_from(n).expect("a short test log")),
            at: 1_700_000_000_000 + i64::try_from(n).expect("a short test log"),
            cause: None,
            event: event.clone(),
            prev_hash,
            hash: Hash::ZERO,
        };
        let body = codec::encode_envelope_body(&envelope);
        envelope.hash = Hash::chain(&prev_hash, &body);
        log.0.push(crate::ledger::store::StoredRecord {
            seq: Seq(n),
            bytes: codec::encode_record(&body, &envelope.hash),
        });
        prev_hash = envelope.hash;
        log.1.push(envelope);
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name, records under their keys, and the damage a check must find in them.
    type Case = (&'static str, Vec<(u64, Vec<u8>)>, Option<Damage>);

    /// Checks `stored` records in order; the first damage, if any.
    fn check(stored: &[(u64, Vec<u8>)]) -> Option<Damage> {
        let mut chain = ChainCheck::default();
        stored
            .iter()
            .find_map(|(key, record)| chain.check_record(Seq(*key), record).err())
    }

    /// Records stored under seqs 1, 2, 3, …
    fn keyed(records: Vec<Vec<u8>>) -> Vec<(u64, Vec<u8>)> {
        (1..).zip(records).collect()
    }

    #[test]
    fn each_kind_of_damage_is_named_at_its_seq() {
        let (records, _) = test_log(4);
        let bytes: Vec<Vec<u8>> = records.into_iter().map(|r| r.bytes).collect();
        let mut flipped = bytes.clone();
        flipped[1][0] ^= 0x01;
        let mut swapped = bytes.clone();
        swapped.swap(1, 2);
        let mut short = bytes.clone();
        short[2].truncate(10);
        let mut gap = keyed(bytes.clone());
        gap.remove(2);
        let mut repeated = keyed(bytes.clone());
        repeated[2].1 = bytes[1].clone();
        let cases: [Case; 6] = [
            ("intact", keyed(bytes.clone()), None),
            (
                "gap",
                gap,
                Some(Damage::SeqGap {
                    expected: Seq(3),
                    found: Seq(4),
                }),
            ),
            (
                "flipped",
                keyed(flipped),
                Some(Damage::HashMismatch { seq: Seq(2) }),
            ),
            (
                "swapped",
                keyed(swapped),
                Some(Damage::ChainBroken { seq: Seq(2) }),
            ),
            (
                "short",
                keyed(short),
                Some(Damage::Undecodable {
                    seq: Seq(3),
                    source: CodecError::TooShort { len: 10 },
                }),
            ),
            (
                "stored under another key",
                repeated,
                Some(Damage::ChainBroken { seq: Seq(3) }),
            ),
        ];
        for (name, stored, expected) in cases {
            assert_eq!(check(&stored), expected, "{name}");
        }
    }

    #[test]
    fn a_record_alone_is_checked_against_its_own_hash_and_key() {
        let (records, envelopes) = test_log(3);
        assert_eq!(
            check_alone(Seq(2), &records[1].bytes),
            Ok(envelopes[1].clone())
        );
        assert_eq!(
            check_alone(Seq(3), &records[1].bytes),
            Err(Damage::SeqMismatch {
                key: Seq(3),
                recorded: Seq(2)
            })
        );
        let mut flipped = records[2].bytes.clone();
        flipped[0] ^= 0x01;
        assert_eq!(
            check_alone(Seq(3), &flipped),
            Err(Damage::HashMismatch { seq: Seq(3) })
        );
    }

    #[test]
    fn a_decoded_envelope_is_checked_by_its_canonical_encoding() {
        let (_, envelopes) = test_log(3);
        let mut chain = ChainCheck::default();
        for envelope in &envelopes {
            assert_eq!(chain.check_envelope(envelope), Ok(()));
        }
        assert_eq!(
            chain.last(),
            Head {
                seq: Seq(3),
                hash: envelopes[2].hash
            }
        );
        let mut renumbered = envelopes[1].clone();
        renumbered.version = StreamVersion(7);
        let mut chain = ChainCheck::default();
        chain.check_envelope(&envelopes[0]).expect("verifies");
        assert_eq!(
            chain.check_envelope(&renumbered),
            Err(Damage::HashMismatch { seq: Seq(2) })
        );
    }
}
