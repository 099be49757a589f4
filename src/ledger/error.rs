//! The ledger's failures: refused appends, storage failures, and damage found in a stored log.
//!
//! A refused append ([`LedgerError::VersionConflict`], [`LedgerError::NameTaken`], …) writes
//! nothing. A storage failure stops the writer for good: the batch that failed and every later
//! append get an error, never a false acknowledgement, and the server must be restarted.
//! Damage is never repaired: the log is refused with the first bad seq.

use std::sync::Arc;

use crate::deployment::EventKind;
use crate::ids::{DeploymentId, Seq, StreamVersion};

/// A failure of the storage underneath the ledger.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another process has the data directory open (sled allows one process at a time).
    #[error(
        "the ledger in {path} is locked by another process (a running server?); stop it, or read it through the server's export endpoint"
    )]
    Locked {
        /// The data directory.
        path: String,
    },
    /// The directory holds no ledger (a read-only open never creates one).
    #[error("{path} holds no StackLedger ledger")]
    NotFound {
        /// The directory.
        path: String,
    },
    /// An I/O operation failed.
    #[error("ledger storage failed during {operation}: {source}")]
    Io {
        /// What was being done (`flush`, `fdatasync`, `read`, …).
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A key in the event tree is not an 8-byte seq.
    #[error("malformed event key after seq {after}")]
    MalformedKey {
        /// The last well-formed seq before it.
        after: Seq,
    },
    /// The stored head metadata is not 40 bytes.
    #[error("malformed head metadata ({len} bytes)")]
    MalformedHead {
        /// Its length.
        len: usize,
    },
}

/// Why stored bytes are not a record: too short, not decodable, or padded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The record is shorter than its hash.
    #[error("record of {len} bytes is too short to hold a hash")]
    TooShort {
        /// The record's length.
        len: usize,
    },
    /// The body does not decode as an envelope of this version.
    #[error("record body does not decode: {reason}")]
    Undecodable {
        /// bincode's explanation.
        reason: String,
    },
    /// The body decodes but has bytes left over.
    #[error("record body has {extra} bytes after the envelope")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

/// Damage found while verifying a stored log. Each names the first seq that is bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    /// An event is missing: the log jumps from `expected - 1` to `found`.
    #[error("event {expected} is missing (the log continues at {found})")]
    SeqGap {
        /// The seq that should come next.
        expected: Seq,
        /// The seq found instead.
        found: Seq,
    },
    /// A record's bytes do not match its stored hash (a changed byte).
    #[error("event {seq} was altered: its bytes do not match its hash")]
    HashMismatch {
        /// The altered event.
        seq: Seq,
    },
    /// A record's prev_hash is not the previous record's hash.
    #[error("the chain is broken at event {seq}: prev_hash does not match event {}", seq.0 - 1)]
    ChainBroken {
        /// The first event whose link is wrong.
        seq: Seq,
    },
    /// A record does not decode.
    #[error("event {seq} does not decode: {source}")]
    Undecodable {
        /// The event.
        seq: Seq,
        /// Why.
        #[source]
        source: CodecError,
    },
    /// A record stored under one key says it is another seq.
    #[error("the record stored as event {key} says it is event {recorded}")]
    SeqMismatch {
        /// The key it is stored under.
        key: Seq,
        /// The seq inside it.
        recorded: Seq,
    },
    /// A stream's versions are not contiguous.
    #[error("event {seq} has version {found} in stream {stream}, expected {expected}")]
    VersionGap {
        /// The event.
        seq: Seq,
        /// Its stream.
        stream: DeploymentId,
        /// The version that should come next.
        expected: StreamVersion,
        /// The version found.
        found: StreamVersion,
    },
    /// The log ends before the head the ledger last made durable (a cut-off tail).
    #[error("the log ends at event {last} but its head says {head}: event {} onwards is missing", last.0 + 1)]
    TailMissing {
        /// The last event present.
        last: Seq,
        /// The durable head recorded in the metadata.
        head: Seq,
    },
    /// The event at the recorded head has another hash than the one recorded.
    #[error("event {seq} is not the event the head recorded (hash differs)")]
    HeadMismatch {
        /// The head seq.
        seq: Seq,
    },
    /// Events exist but the metadata that records the head is gone.
    #[error("the ledger metadata is missing although {events} events exist")]
    HeadMissing {
        /// How many events were found.
        events: u64,
    },
}

impl Damage {
    /// The first seq that is bad.
    pub fn first_bad_seq(&self) -> Seq {
        match self {
            Damage::SeqGap { expected, .. } => *expected,
            Damage::HashMismatch { seq }
            | Damage::ChainBroken { seq }
            | Damage::Undecodable { seq, .. }
            | Damage::VersionGap { seq, .. }
            | Damage::HeadMismatch { seq } => *seq,
            Damage::SeqMismatch { key, .. } => *key,
            Damage::TailMissing { last, .. } => last.next(),
            Damage::HeadMissing { .. } => Seq(1),
        }
    }
}

/// Why an append or a read failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    /// The stream is not at the version the appender expected (someone else appended first).
    /// Nothing was written.
    #[error("stream {stream} is at version {actual}, not the expected {expected}")]
    VersionConflict {
        /// The stream.
        stream: DeploymentId,
        /// What the appender expected.
        expected: StreamVersion,
        /// Where the stream is.
        actual: StreamVersion,
    },
    /// An event's encoding exceeds the payload cap. Nothing was written.
    #[error("{kind:?} event is {size} bytes encoded, over the cap of {max}")]
    PayloadTooLarge {
        /// The event's kind.
        kind: EventKind,
        /// Its encoded size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// Another deployment holds the stack name. Nothing was written.
    #[error("the name {name:?} is held by deployment {holder}")]
    NameTaken {
        /// The name.
        name: String,
        /// The deployment that holds it.
        holder: DeploymentId,
    },
    /// The event does not belong on this stream (a system event on a deployment stream, a
    /// deployment stream not opened by `DeploymentRequested`, …). Nothing was written.
    #[error("{kind:?} cannot be appended to stream {stream} at version {version}")]
    WrongStream {
        /// The event's kind.
        kind: EventKind,
        /// The stream.
        stream: DeploymentId,
        /// The version it would have had.
        version: StreamVersion,
    },
    /// A cause must name an earlier event. Nothing was written.
    #[error("cause {cause} of event {seq} is not an earlier event")]
    InvalidCause {
        /// The seq the event would have had.
        seq: Seq,
        /// The cause given.
        cause: Seq,
    },
    /// An append with no events.
    #[error("an append needs at least one event")]
    EmptyAppend,
    /// This batch could not be made durable; the writer has stopped and the server must be
    /// restarted.
    #[error("the append could not be made durable, the ledger writer has stopped: {0}")]
    Storage(#[source] StoreError),
    /// The writer has stopped (after a storage failure, or for shutdown); nothing more is
    /// acknowledged.
    #[error("the ledger writer has stopped; nothing more can be appended until restart")]
    Stopped,
    /// A read from storage failed.
    #[error("reading the ledger failed: {0}")]
    Read(#[source] StoreError),
    /// Opening the storage failed.
    #[error("opening the ledger failed: {0}")]
    Open(#[source] StoreError),
    /// The stored log is damaged; it is refused, never repaired.
    #[error("the ledger is damaged at event {bad}: {damage}", bad = .0.first_bad_seq(), damage = .0)]
    Damaged(#[source] Damage),
    /// The data directory was written by a format this build does not read.
    #[error("the ledger format is version {found}; this build reads version {supported}")]
    UnsupportedFormat {
        /// The stored version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
}
