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
    /// The ledger that owned the store is gone (an [`crate::ledger::IndexReader`] outlived it).
    #[error("the ledger is closed")]
    Closed,
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
    /// A format-2 group value's framing is broken: the events after `after` cannot be read
    /// from it.
    #[error("malformed group of events after seq {after}")]
    MalformedGroup {
        /// The last seq before the first one the broken group fails to give.
        after: Seq,
    },
    /// The storage engine found its own files damaged (its data file, its snapshot, or its
    /// configuration) and refuses to open them.
    #[error(
        "the ledger store in {path} is damaged: sled refuses to open it: {}; {NEXT_STEPS}",
        .refusal.describe(path)
    )]
    Corrupt {
        /// The ledger directory.
        path: String,
        /// Which of sled's files, and what sled said.
        refusal: SledRefusal,
    },
    /// The mirror could not be written or synced: a storage failure like the store's own.
    #[error(transparent)]
    Mirror(Box<MirrorError>),
    /// An entry of the ledger's own index (a checkpoint's claims, a stream's first event)
    /// does not read as it must.
    #[error("malformed ledger index entry: {what}")]
    MalformedIndex {
        /// Which entry.
        what: &'static str,
    },
    /// The stored head metadata is not 40 bytes.
    #[error("malformed head metadata ({len} bytes)")]
    MalformedHead {
        /// Its length.
        len: usize,
    },
}

/// Which of sled's files sled refuses to open, and what it said (named inside the ledger
/// directory only when shown, so the same refusal can be named for another directory: a
/// read-only open's private copy is named as its original).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SledRefusal {
    /// Its log is damaged at this place (sled's own words).
    LogAt(String),
    /// One of its files is damaged, sled does not say which.
    SomeFile,
    /// Its configuration file is damaged or not its own (sled's own words).
    Configuration(String),
}

impl SledRefusal {
    /// The refusal, naming the files inside the ledger directory `dir`.
    pub fn describe(&self, dir: &str) -> String {
        match self {
            Self::LogAt(at) => format!("its data file {dir}/db is damaged at {at}"),
            Self::SomeFile => format!(
                "its data file {dir}/db, its snapshot {dir}/snap.* or its configuration {dir}/conf is damaged"
            ),
            Self::Configuration(why) => {
                format!("its configuration file {dir}/conf is damaged or not its own ({why})")
            }
        }
    }
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
    /// The log ends before the head the witness says was acknowledged: events were lost.
    #[error(
        "events were acknowledged up to seq {acknowledged} but the store holds only {held}: events {}-{acknowledged} are lost",
        held.0 + 1
    )]
    Lost {
        /// The last intact event the store holds.
        held: Seq,
        /// The last event acknowledged, as the witness recorded it.
        acknowledged: Seq,
    },
    /// The event at the witnessed head is not the one that was acknowledged there.
    #[error(
        "event {seq} is not the event that was acknowledged at seq {seq} (its hash differs from the witness's)"
    )]
    NotWitnessed {
        /// The witnessed seq.
        seq: Seq,
    },
    /// Events exist but the metadata that records the head is gone.
    #[error("the ledger metadata is missing although {events} events exist")]
    HeadMissing {
        /// How many events were found.
        events: u64,
    },
    /// The checkpoint the open would start from does not match the chain: its pointer or
    /// snapshot does not decode, its digest differs from the `CheckpointTaken` recorded at
    /// `seq`, or that event is not a `CheckpointTaken` for it. Never rebuilt silently.
    #[error("the checkpoint recorded at event {seq} does not match what is stored: {reason}")]
    Checkpoint {
        /// The seq of the `CheckpointTaken` the pointer names.
        seq: Seq,
        /// What did not match.
        reason: &'static str,
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
            | Damage::HeadMismatch { seq }
            | Damage::NotWitnessed { seq } => *seq,
            Damage::Lost { held, .. } => held.next(),
            Damage::SeqMismatch { key, .. } => *key,
            Damage::TailMissing { last, .. } => last.next(),
            Damage::HeadMissing { .. } => Seq(1),
            Damage::Checkpoint { seq, .. } => *seq,
        }
    }
}

pub use crate::ledger::mirror::MirrorError;

/// What an operator can do about a refused ledger; every refusal ends with it.
pub const NEXT_STEPS: &str = "StackLedger wrote nothing (sled's own recovery may already have \
overwritten the unreadable end of its log and replaced its snapshot). Next: restore the ledger from a mirror or an export \
(`stackledger restore --data-dir DIR --mirror MIRROR_DIR`, or `--export FILE`), or start with --read-only \
to serve and audit what is intact";

/// The witness of acknowledged heads is missing, damaged or unreadable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WitnessError {
    /// The ledger was witnessed, but its witness file is gone.
    #[error(
        "the witness file {path} is missing, although this ledger has kept one {}: \
         what was acknowledged cannot be checked; {NEXT_STEPS}",
        if since.0 == 0 { "since it was created".to_owned() } else { format!("since seq {since} (when it was upgraded from 0.1.0)") }
    )]
    Missing {
        /// The witness file.
        path: String,
        /// The seq from which the store says it was witnessed.
        since: Seq,
    },
    /// The store is gone (or empty) but its witness remains.
    #[error(
        "the ledger store next to {path} holds no events, but the witness says events 1-{acknowledged} were acknowledged: \
         the store was lost; {NEXT_STEPS}"
    )]
    StoreGone {
        /// The witness file.
        path: String,
        /// The last acknowledged seq.
        acknowledged: Seq,
    },
    /// The witness file's bytes are not a witness.
    #[error("the witness file {path} is damaged at offset {offset}: {reason}; {NEXT_STEPS}")]
    Damaged {
        /// The witness file.
        path: String,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The witness file could not be read.
    #[error("cannot {operation} the witness file {path}: {source}")]
    Io {
        /// The witness file.
        path: String,
        /// What was being done.
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// A stored log refused at open: the damage, with what is intact and what was acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the ledger{} is damaged at event {first_bad}: {damage}; events 1-{intact} are intact{}; {NEXT_STEPS}",
    self.place(),
    self.acknowledged_text(),
    first_bad = damage.first_bad_seq(),
    intact = intact.0
)]
pub struct Refusal {
    /// The ledger directory, for a store on disk.
    pub dir: Option<String>,
    /// The first damage found.
    pub damage: Damage,
    /// The last event of the intact prefix.
    pub intact: Seq,
    /// The last acknowledged seq, when a witness records it.
    pub acknowledged: Option<Seq>,
}

impl Refusal {
    fn place(&self) -> String {
        self.dir
            .as_ref()
            .map_or_else(String::new, |dir| format!(" in {dir}"))
    }

    fn acknowledged_text(&self) -> String {
        match self.acknowledged {
            _ if matches!(self.damage, Damage::Lost { .. }) => String::new(),
            Some(acknowledged) if acknowledged > self.intact => format!(
                ", events {}-{acknowledged} were acknowledged and are lost or damaged",
                self.intact.0 + 1
            ),
            Some(acknowledged) => {
                format!(", every acknowledged event (up to seq {acknowledged}) among them")
            }
            None => String::new(),
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
    /// A cancel of a deployment that is over, already failing (its rollback runs) or already
    /// cancelled: the first cancel is the one that takes effect. Nothing was written.
    #[error("deployment {stream} cannot be cancelled: it is over, failing or already cancelled")]
    NotCancellable {
        /// The deployment.
        stream: DeploymentId,
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
    /// Only the ledger itself records this kind (`CheckpointTaken`). Nothing was written.
    #[error("{kind:?} is recorded by the ledger itself, never appended")]
    LedgerOnly {
        /// The event's kind.
        kind: EventKind,
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
    /// The stored log is damaged or holds less than was acknowledged; opening it is refused.
    #[error(transparent)]
    Refused(Box<Refusal>),
    /// The witness of acknowledged heads is missing or damaged; opening is refused.
    #[error(transparent)]
    Witness(#[from] WitnessError),
    /// The mirror is damaged, in use, or disagrees with the ledger; opening is refused.
    #[error("{0}{next}", next = .0.next_step_at_open())]
    Mirror(Box<MirrorError>),
    /// The data directory was written by a format this build does not read.
    #[error("the ledger format is version {found}; this build reads version {supported}")]
    UnsupportedFormat {
        /// The stored version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The ledger was opened read-only (`--read-only`, to audit it): no writer runs and nothing
    /// is appended. A deploy gets 503 `read_only`.
    #[error(
        "the ledger is open read-only (--read-only, to audit it): nothing can be appended until the portal is restarted without it"
    )]
    ReadOnly,
    /// The background verification found the stored chain damaged after the open: nothing
    /// more is appended (HTTP 503 `ledger_damaged`); the next open refuses the same damage.
    #[error(
        "the ledger is damaged at event {seq}: {damage}; events 1-{intact} are intact; the background \
         verification found it after the open, so nothing more is appended. Next: restore the ledger \
         from a mirror or an export (`stackledger restore --data-dir DIR --mirror MIRROR_DIR`, or \
         `--export FILE`), or start with --read-only to serve and audit what is intact",
        intact = intact.0
    )]
    ChainDamaged {
        /// The first bad seq.
        seq: Seq,
        /// What is wrong there.
        damage: Damage,
        /// The last event of the intact prefix.
        intact: Seq,
    },
}
