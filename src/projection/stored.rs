//! The read model's on-disk form, format `read-model/1`: the keys of its records and postings in
//! the index space, and the bytes of a record and of a checkpoint snapshot.
//!
//! A finished deployment is stored as its own envelopes (each in the ledger codec's record
//! form, `body ‖ hash`), not as its folded state: the event encoding is frozen by the golden
//! logs, while `DeploymentState` changes with the code, so a record written today folds into
//! whatever state a later version keeps. Postings carry `id ‖ status ‖ name` so that filters
//! never open a record to decide. This module never reads the store and never folds a stream
//! beyond [`fold_events`].
//!
//! Keys (all under [`IndexSpace::Projection`]):
//! - `d ‖ id` → the record: `ordinal (u64 BE) ‖ (len u32 BE ‖ envelope record)*`
//! - `o ‖ ordinal` → posting (request order)
//! - `s ‖ status ‖ ordinal` → posting (by status)
//! - `m ‖ len(name) u32 ‖ name ‖ ordinal` → posting (by exact name)
//! - `x ‖ suffix ‖ 0x00 ‖ head ‖ len(suffix) u32 BE` → empty, for every suffix of every stored
//!   name (`name = head ‖ suffix`): the suffix registry. The names containing a text are those
//!   with a suffix starting with it, so one prefix scan on `x ‖ text` finds them
//!   ([`crate::projection::substring`]).
//!
//! A posting's value is `id (16 bytes) ‖ status (1 byte) ‖ name (UTF-8)`.

use crate::deployment::DeploymentStatus;
use crate::ids::DeploymentId;
use crate::ledger::IndexSpace;
use crate::ledger::codec;
use crate::ledger::envelope::{Envelope, Hash};
use crate::projection::deployment::DeploymentState;

/// The name and version of the format (the projector's `checkpoint_format`).
pub(crate) const FORMAT: &str = "read-model/1";

/// Bytes of a posting value before the name: the id's 16 bytes and a status byte.
const POSTING_HEAD: usize = 17;

/// One status as a byte (stable: part of the format).
pub(crate) fn status_byte(status: DeploymentStatus) -> u8 {
    match status {
        DeploymentStatus::InProgress => 0,
        DeploymentStatus::Success => 1,
        DeploymentStatus::Failure => 2,
    }
}

fn status_of(byte: u8) -> Option<DeploymentStatus> {
    match byte {
        0 => Some(DeploymentStatus::InProgress),
        1 => Some(DeploymentStatus::Success),
        2 => Some(DeploymentStatus::Failure),
        _ => None,
    }
}

fn key(parts: &[&[u8]]) -> Vec<u8> {
    IndexSpace::Projection.key(&parts.concat())
}

/// The key of `id`'s record.
pub(crate) fn record_key(id: DeploymentId) -> Vec<u8> {
    key(&[b"d", id.as_uuid().as_bytes()])
}

/// The prefix of the request-order postings.
pub(crate) fn order_prefix() -> Vec<u8> {
    key(&[b"o"])
}

/// The prefix of `status`'s postings.
pub(crate) fn status_prefix(status: DeploymentStatus) -> Vec<u8> {
    key(&[b"s", &[status_byte(status)]])
}

/// The prefix of `name`'s postings.
pub(crate) fn name_prefix(name: &str) -> Vec<u8> {
    let len = u32::try_from(name.len()).unwrap_or(u32::MAX).to_be_bytes();
    key(&[b"m", &len, name.as_bytes()])
}

/// The suffix registry's keys for `name`: one per non-empty suffix.
pub(crate) fn suffix_keys(name: &str) -> Vec<Vec<u8>> {
    let bytes = name.as_bytes();
    (0..bytes.len())
        .map(|start| {
            let (head, suffix) = bytes.split_at(start);
            let len = u32::try_from(suffix.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes();
            key(&[b"x", suffix, &[0], head, &len])
        })
        .collect()
}

/// The prefix of the suffix registry's keys whose suffix starts with `text`.
pub(crate) fn suffix_prefix(text: &str) -> Vec<u8> {
    key(&[b"x", text.as_bytes()])
}

/// The end of the range starting at `prefix`: the first key above every key it starts
/// (None: no such key, the range runs to the end).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The name a suffix registry key under the registry's prefix (`prefix_len` bytes) names
/// (None: damaged).
pub(crate) fn decode_suffix_key(prefix_len: usize, key: &[u8]) -> Option<String> {
    let rest = key.get(prefix_len..)?;
    let (rest, len) = rest.split_at_checked(rest.len().checked_sub(4)?)?;
    let len = usize::try_from(u32::from_be_bytes(len.try_into().ok()?)).ok()?;
    let (suffix, rest) = rest.split_at_checked(len)?;
    let (separator, head) = rest.split_first()?;
    if *separator != 0 {
        return None;
    }
    String::from_utf8([head, suffix].concat()).ok()
}

/// `prefix ‖ ordinal`: a posting's key.
pub(crate) fn posting_key(prefix: &[u8], ordinal: u64) -> Vec<u8> {
    [prefix, &ordinal.to_be_bytes()].concat()
}

/// A posting's value.
pub(crate) fn posting(id: DeploymentId, status: DeploymentStatus, name: &str) -> Vec<u8> {
    [
        id.as_uuid().as_bytes().as_slice(),
        &[status_byte(status)],
        name.as_bytes(),
    ]
    .concat()
}

/// One posting, decoded: where it sorts, whose it is, its status and name when written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Posting {
    /// Request order.
    pub ordinal: u64,
    /// The deployment.
    pub id: DeploymentId,
    /// Its status.
    pub status: DeploymentStatus,
    /// Its name.
    pub name: String,
}

/// Decodes a posting under `prefix` (None: damaged).
pub(crate) fn decode_posting(prefix_len: usize, key: &[u8], value: &[u8]) -> Option<Posting> {
    let ordinal: [u8; 8] = key.get(prefix_len..)?.try_into().ok()?;
    let (head, name) = value.split_at_checked(POSTING_HEAD)?;
    let id: [u8; 16] = head[..16].try_into().ok()?;
    Some(Posting {
        ordinal: u64::from_be_bytes(ordinal),
        id: DeploymentId::from_uuid(uuid::Uuid::from_bytes(id)),
        status: status_of(head[16])?,
        name: std::str::from_utf8(name).ok()?.to_owned(),
    })
}

/// The bytes of a record: `ordinal ‖ events`.
pub(crate) fn encode_record(ordinal: u64, events: &[Envelope]) -> Vec<u8> {
    let mut out = ordinal.to_be_bytes().to_vec();
    put_events(&mut out, events);
    out
}

fn put_events(out: &mut Vec<u8>, events: &[Envelope]) {
    for envelope in events {
        let record = codec::encode_record(&codec::encode_envelope_body(envelope), &envelope.hash);
        put_bytes(out, &record);
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("an envelope record is far below 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Decodes a record into its ordinal and its events.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<(u64, Vec<Envelope>), String> {
    let mut reader = Reader { bytes };
    let ordinal = reader.u64()?;
    let mut events = Vec::new();
    while !reader.bytes.is_empty() {
        events.push(reader.envelope()?);
    }
    Ok((ordinal, events))
}

/// The state `events` fold into (None: they do not start a deployment).
pub(crate) fn fold_events(events: &[Envelope]) -> Option<DeploymentState> {
    let (first, rest) = events.split_first()?;
    let mut state = DeploymentState::start(first)?;
    for envelope in rest {
        state.apply(envelope);
    }
    Some(state)
}

/// A deployment that stays in memory across a checkpoint.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotDeployment {
    /// Request order.
    pub ordinal: u64,
    /// The status of its stored record, if one is on disk.
    pub stored: Option<DeploymentStatus>,
    /// Its events.
    pub events: Vec<Envelope>,
}

/// Appends plain figures and byte strings to a snapshot.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    /// The bytes so far.
    pub out: Vec<u8>,
}

impl Writer {
    /// Appends a u64.
    pub(crate) fn u64(&mut self, value: u64) {
        self.out.extend_from_slice(&value.to_be_bytes());
    }

    /// Appends a length-prefixed byte string.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        put_bytes(&mut self.out, bytes);
    }

    /// Appends a count and that many events.
    pub(crate) fn events(&mut self, events: &[Envelope]) {
        self.u64(events.len() as u64);
        put_events(&mut self.out, events);
    }

    /// Appends one deployment.
    pub(crate) fn deployment(&mut self, deployment: &SnapshotDeployment) {
        self.u64(deployment.ordinal);
        self.u64(
            deployment
                .stored
                .map_or(u64::MAX, |s| u64::from(status_byte(s))),
        );
        self.events(&deployment.events);
    }
}

/// Reads what [`Writer`] wrote; every error is a sentence.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    /// What is left.
    pub bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8], String> {
        if self.bytes.len() < len {
            return Err(format!("{len} bytes wanted, {} left", self.bytes.len()));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    /// Reads a u64.
    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        let bytes: [u8; 8] = self.take(8)?.try_into().map_err(|_| "short u64")?;
        Ok(u64::from_be_bytes(bytes))
    }

    /// Reads a length-prefixed byte string.
    pub(crate) fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let len: [u8; 4] = self.take(4)?.try_into().map_err(|_| "short length")?;
        let len = usize::try_from(u32::from_be_bytes(len)).map_err(|e| e.to_string())?;
        Ok(self.take(len)?.to_vec())
    }

    fn envelope(&mut self) -> Result<Envelope, String> {
        let record = self.bytes()?;
        let (body, hash): (&[u8], Hash) =
            codec::split_record(&record).map_err(|error| error.to_string())?;
        codec::decode_body(body, hash).map_err(|error| error.to_string())
    }

    /// Reads a count and that many events.
    pub(crate) fn events(&mut self) -> Result<Vec<Envelope>, String> {
        let count = self.u64()?;
        (0..count).map(|_| self.envelope()).collect()
    }

    /// Reads one deployment.
    pub(crate) fn deployment(&mut self) -> Result<SnapshotDeployment, String> {
        let ordinal = self.u64()?;
        let stored = match self.u64()? {
            u64::MAX => None,
            byte => Some(
                u8::try_from(byte)
                    .ok()
                    .and_then(status_of)
                    .ok_or_else(|| format!("unknown status byte {byte}"))?,
            ),
        };
        let events = self.events()?;
        Ok(SnapshotDeployment {
            ordinal,
            stored,
            events,
        })
    }
}
