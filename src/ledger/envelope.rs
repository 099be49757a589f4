//! The envelope around every event: its position in the log and in its stream, its time, its
//! cause, and the hash chain that makes any change, loss or reordering detectable.
//!
//! `hash = SHA-256(prev_hash ‖ encoded envelope without hash)`, where the encoding is the
//! bincode body of [`crate::ledger::codec`]. The first event's `prev_hash` is all zeros.
//!
//! An envelope is never changed once written, and both forms of a [`Hash`](struct@Hash) (32 raw
//! bytes in the binary log, 64 lowercase hex digits in JSON exports) are persisted: never change
//! either.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::deployment::Event;
use crate::ids::{DeploymentId, Seq, StreamVersion};

/// A SHA-256 digest. Shown and written in JSON as 64 lowercase hex digits; encoded as raw bytes
/// in the binary log.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The `prev_hash` of the first event.
    pub const ZERO: Hash = Hash([0; 32]);

    /// `SHA-256(prev ‖ body)`: the hash of an envelope whose encoded body is `body`.
    pub fn chain(prev: &Hash, body: &[u8]) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(prev.0);
        hasher.update(body);
        Hash(hasher.finalize().into())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// Why a text is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 hash (expected 64 hex digits)")]
pub struct ParseHashError;

impl FromStr for Hash {
    type Err = ParseHashError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return Err(ParseHashError);
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            let digits = std::str::from_utf8(pair).map_err(|_| ParseHashError)?;
            *byte = u8::from_str_radix(digits, 16).map_err(|_| ParseHashError)?;
        }
        Ok(Hash(bytes))
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(deserializer).map(Hash)
        }
    }
}

/// An event with its place in the ledger. Immutable once written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Global position: 1, 2, 3, … with no gaps. The SSE `id`.
    pub seq: Seq,
    /// The deployment this event is about, or [`DeploymentId::SYSTEM`].
    pub stream: DeploymentId,
    /// Position within the stream: 1, 2, 3, …
    pub version: StreamVersion,
    /// Unix milliseconds from the injected clock.
    pub at: i64,
    /// The seq of the event this one answers (an outcome's intent, a rollback's failure).
    pub cause: Option<Seq>,
    /// The fact itself.
    pub event: Event,
    /// The previous event's hash (all zeros for seq 1).
    pub prev_hash: Hash,
    /// `SHA-256(prev_hash ‖ encoded body)`.
    pub hash: Hash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trips_through_hex() {
        let hash = Hash::chain(&Hash::ZERO, b"body");
        let text = hash.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<Hash>(), Ok(hash));
        assert_eq!(
            serde_json::to_string(&hash).expect("serializes"),
            format!("\"{text}\"")
        );
    }

    #[test]
    fn hash_parse_refuses_wrong_length_and_non_hex() {
        assert!("ab".parse::<Hash>().is_err());
        assert!("zz".repeat(32).parse::<Hash>().is_err());
        assert!("é".repeat(32).parse::<Hash>().is_err());
    }

    #[test]
    fn chain_depends_on_the_previous_hash_and_every_byte() {
        let first = Hash::chain(&Hash::ZERO, b"body");
        assert_ne!(first, Hash::chain(&first, b"body"));
        assert_ne!(first, Hash::chain(&Hash::ZERO, b"bodz"));
    }
}
