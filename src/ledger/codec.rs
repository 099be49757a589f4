//! The binary encoding of the log, in one place (bincode 2 through serde, standard config).
//!
//! A stored record is the encoded envelope body (every envelope field but `hash`) followed by
//! the 32-byte hash. The hash is checked over the exact stored bytes, so a flipped byte is
//! caught even where it would still decode. Decoding is bounded, so a corrupt length prefix
//! cannot make the reader allocate without limit.
//!
//! The encoding is frozen: `events/golden/` holds logs written with it, and a test proves they
//! still decode to the same bytes. Never change [`CONFIG`].

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use serde::{Deserialize, Serialize};

use crate::deployment::Event;
use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::envelope::{Envelope, Hash};
use crate::ledger::error::CodecError;

/// The version of the store's on-disk layout, kept in the store's metadata: 2 keeps one sled
/// value per group commit. Format 1 (one value per event) is still opened and read as it is.
pub(crate) const FORMAT_VERSION: u32 = 2;

/// The oldest store layout this build opens.
pub(crate) const FORMAT_VERSION_MIN: u32 = 1;

/// The version of the record encoding (this module's), which the mirror's header records.
/// Unchanged since 0.1.0; never tied to [`FORMAT_VERSION`].
pub(crate) const RECORD_VERSION: u32 = 1;

/// The largest record the decoder accepts (the writer's payload cap is far below it).
const DECODE_BYTES_MAX: usize = 1 << 20;

type Config = Configuration<LittleEndian, Varint, Limit<DECODE_BYTES_MAX>>;

/// The bincode configuration of the log. Frozen.
const CONFIG: Config = bincode::config::standard().with_limit::<DECODE_BYTES_MAX>();

/// The hashed part of an envelope, owned for decoding. Same fields in the same order as
/// [`BodyFields`]: bincode encodes a struct as its fields in order, names aside.
#[derive(Deserialize)]
struct Body {
    seq: Seq,
    stream: DeploymentId,
    version: StreamVersion,
    at: i64,
    cause: Option<Seq>,
    event: Event,
    prev_hash: Hash,
}

/// The fields of an envelope that are hashed, before the hash exists. Their order is the
/// encoding's: never reorder them.
#[derive(Debug, Clone, Copy, Serialize)]
struct BodyFields<'a> {
    /// Global position.
    seq: Seq,
    /// Stream.
    stream: DeploymentId,
    /// Position in the stream.
    version: StreamVersion,
    /// Unix milliseconds.
    at: i64,
    /// The event answered.
    cause: Option<Seq>,
    /// The payload.
    event: &'a Event,
    /// The previous hash.
    prev_hash: Hash,
}

/// Encodes the hashed part of an envelope.
fn encode_body(fields: BodyFields<'_>) -> Vec<u8> {
    bincode::serde::encode_to_vec(fields, CONFIG)
        .expect("encoding plain serde data into a Vec cannot fail")
}

/// Encodes the hashed part of an envelope: every field but its hash.
pub(crate) fn encode_envelope_body(envelope: &Envelope) -> Vec<u8> {
    encode_body(BodyFields {
        seq: envelope.seq,
        stream: envelope.stream,
        version: envelope.version,
        at: envelope.at,
        cause: envelope.cause,
        event: &envelope.event,
        prev_hash: envelope.prev_hash,
    })
}

/// The largest index-space value decoded (a checkpoint's state grows with what it holds).
const VALUE_BYTES_MAX: usize = 1 << 28;

const VALUE_CONFIG: Configuration<LittleEndian, Varint, Limit<VALUE_BYTES_MAX>> =
    bincode::config::standard().with_limit::<VALUE_BYTES_MAX>();

/// Encodes the ledger's own index-space values (checkpoint pointer, ledger state).
pub(crate) fn encode_value<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, VALUE_CONFIG)
        .expect("encoding plain serde data into a Vec cannot fail")
}

/// Decodes a value [`encode_value`] wrote; None when the bytes are not one.
pub(crate) fn decode_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    match bincode::serde::decode_from_slice::<T, _>(bytes, VALUE_CONFIG) {
        Ok((value, used)) if used == bytes.len() => Some(value),
        _ => None,
    }
}

/// A stored record: `body ‖ hash`.
pub(crate) fn encode_record(body: &[u8], hash: &Hash) -> Vec<u8> {
    let mut record = Vec::with_capacity(body.len() + hash.0.len());
    record.extend_from_slice(body);
    record.extend_from_slice(&hash.0);
    record
}

/// Splits a stored record into its body bytes and its stored hash, without decoding.
pub(crate) fn split_record(record: &[u8]) -> Result<(&[u8], Hash), CodecError> {
    let Some(body_len) = record.len().checked_sub(32) else {
        return Err(CodecError::TooShort { len: record.len() });
    };
    let (body, hash) = record.split_at(body_len);
    let hash: [u8; 32] = hash.try_into().expect("split_at left exactly 32 bytes");
    Ok((body, Hash(hash)))
}

/// Decodes a record body into an envelope carrying `hash`.
pub(crate) fn decode_body(body: &[u8], hash: Hash) -> Result<Envelope, CodecError> {
    let (decoded, used): (Body, usize) =
        bincode::serde::decode_from_slice(body, CONFIG).map_err(|error| {
            CodecError::Undecodable {
                reason: error.to_string(),
            }
        })?;
    if used != body.len() {
        return Err(CodecError::TrailingBytes {
            extra: body.len() - used,
        });
    }
    Ok(Envelope {
        seq: decoded.seq,
        stream: decoded.stream,
        version: decoded.version,
        at: decoded.at,
        cause: decoded.cause,
        event: decoded.event,
        prev_hash: decoded.prev_hash,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::Phase;

    /// Decodes a stored record without checking its hash.
    fn decode_record(record: &[u8]) -> Result<Envelope, CodecError> {
        let (body, hash) = split_record(record)?;
        decode_body(body, hash)
    }

    fn sample(event: &Event) -> Vec<u8> {
        encode_body(BodyFields {
            seq: Seq(7),
            stream: DeploymentId::SYSTEM,
            version: StreamVersion(3),
            at: 1_700_000_000_000,
            cause: Some(Seq(5)),
            event,
            prev_hash: Hash([9; 32]),
        })
    }

    #[test]
    fn record_round_trips() {
        let event = Event::PhaseEntered {
            phase: Phase::Deploying,
        };
        let body = sample(&event);
        let hash = Hash::chain(&Hash([9; 32]), &body);
        let envelope = decode_record(&encode_record(&body, &hash)).expect("decodes");
        assert_eq!(envelope.event, event);
        assert_eq!(envelope.seq, Seq(7));
        assert_eq!(envelope.cause, Some(Seq(5)));
        assert_eq!(envelope.hash, hash);
        assert_eq!(
            encode_envelope_body(&envelope),
            body,
            "encoding is canonical"
        );
    }

    #[test]
    fn decode_refuses_short_truncated_and_padded_records() {
        assert_eq!(
            decode_record(&[1, 2, 3]),
            Err(CodecError::TooShort { len: 3 })
        );
        let body = sample(&Event::RollbackStarted);
        let hash = Hash::ZERO;
        let truncated = encode_record(&body[..body.len() - 2], &hash);
        assert!(matches!(
            decode_record(&truncated),
            Err(CodecError::Undecodable { .. })
        ));
        let mut padded = body.clone();
        padded.push(0);
        assert_eq!(
            decode_record(&encode_record(&padded, &hash)),
            Err(CodecError::TrailingBytes { extra: 1 })
        );
    }

    #[test]
    fn decode_refuses_an_unknown_event_variant() {
        let body = sample(&Event::RollbackStarted);
        let mut mangled = body.clone();
        // seq(1) stream(1+16) version(1) at(9) cause(2) → the variant index follows.
        let variant_at = 1 + 17 + 1 + 9 + 2;
        mangled[variant_at] = 200;
        assert!(decode_record(&encode_record(&mangled, &Hash::ZERO)).is_err());
    }
}
