//! The writer's state and where it lives: the stream index (stream ‖ version → seq) of what a
//! checkpoint covers is in the store's index space ([`IndexSpace::Ledger`]) and read on
//! demand; memory holds only each stream's tail since the last checkpoint, the name claims
//! changed since it and the set of unfinished deployments ([`LedgerState`], in the
//! checkpoint's snapshot).
//!
//! A stream's on-disk entries are exactly its versions up to the first one memory holds, so a
//! read never counts an event twice. It must never write the index itself: only a checkpoint
//! does, in one atomic write with its pointer.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::deployment::name::{ClaimsBase, NameClaims};
use crate::deployment::{DeploymentStatus, Event};
use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::envelope::Envelope;
use crate::ledger::error::StoreError;
use crate::ledger::store::{IndexSpace, IndexWrite, ScanOrder, Store};

/// The first byte of a stream-index key after the space's.
const STREAM_TAG: u8 = b's';

/// The key of `stream`'s event at `version`.
fn stream_key(stream: DeploymentId, version: u32) -> Vec<u8> {
    let mut suffix = Vec::with_capacity(21);
    suffix.push(STREAM_TAG);
    suffix.extend_from_slice(stream.as_uuid().as_bytes());
    suffix.extend_from_slice(&version.to_be_bytes());
    IndexSpace::Ledger.key(&suffix)
}

/// The seq stored under a stream-index value.
fn seq_of(value: &[u8]) -> Option<Seq> {
    let bytes: [u8; 8] = value.try_into().ok()?;
    Some(Seq(u64::from_be_bytes(bytes)))
}

/// The seqs of `stream`'s events on disk with version at most `through` and seq after
/// `after`, up to `limit`, in order.
pub(crate) fn disk_seqs(
    store: &dyn Store,
    stream: DeploymentId,
    through: u32,
    after: Seq,
    limit: usize,
) -> Result<Vec<Seq>, StoreError> {
    let mut seqs = Vec::new();
    if through == 0 || limit == 0 {
        return Ok(seqs);
    }
    let (from, to) = (stream_key(stream, 1), stream_key(stream, through + 1));
    store.scan_index(&from, &to, ScanOrder::Forward, &mut |_, value| {
        match seq_of(value) {
            Some(seq) if seq > after => seqs.push(seq),
            _ => {}
        }
        if seqs.len() >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    Ok(seqs)
}

/// `stream`'s version on disk: its last indexed version (0 when none).
pub(crate) fn disk_version(store: &dyn Store, stream: DeploymentId) -> Result<u32, StoreError> {
    let (from, to) = (stream_key(stream, 0), stream_key(stream, u32::MAX));
    let mut version = 0;
    store.scan_index(&from, &to, ScanOrder::Backward, &mut |key, _| {
        let tail: Option<[u8; 4]> = key
            .get(key.len().saturating_sub(4)..)
            .and_then(|t| t.try_into().ok());
        version = tail.map_or(0, u32::from_be_bytes);
        ControlFlow::Break(())
    })?;
    Ok(version)
}

/// One stream's events since the last checkpoint.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// The version of the last event.
    last: u32,
    seqs: Vec<Seq>,
}

impl Tail {
    /// The last version on disk, below the first one here.
    fn base(&self) -> u32 {
        let held = u32::try_from(self.seqs.len()).expect("a stream holds fewer than 2^32 events");
        self.last - held
    }
}

/// The stream index's tails: what memory holds of it.
#[derive(Debug, Default)]
pub(crate) struct Tails {
    streams: HashMap<DeploymentId, Tail>,
}

impl Tails {
    pub(crate) fn add(&mut self, envelope: &Envelope) {
        let tail = self.streams.entry(envelope.stream).or_default();
        tail.seqs.push(envelope.seq);
        tail.last = envelope.version.0;
    }

    /// `stream`'s version: its tail's, else the one on disk.
    pub(crate) fn version(
        &self,
        store: &dyn Store,
        stream: DeploymentId,
    ) -> Result<StreamVersion, StoreError> {
        match self.streams.get(&stream) {
            Some(tail) => Ok(StreamVersion(tail.last)),
            None => disk_version(store, stream).map(StreamVersion),
        }
    }

    /// Up to `limit` seqs of `stream` after `after`: the disk's below the tail, then the tail's.
    pub(crate) fn seqs_after(
        &self,
        store: &dyn Store,
        stream: DeploymentId,
        after: Seq,
        limit: usize,
    ) -> Result<Vec<Seq>, StoreError> {
        let (base, held): (u32, &[Seq]) = match self.streams.get(&stream) {
            Some(tail) => (tail.base(), &tail.seqs),
            None => (u32::MAX - 1, &[]),
        };
        let mut seqs = disk_seqs(store, stream, base, after, limit)?;
        let start = held.partition_point(|seq| *seq <= after);
        let room = limit - seqs.len();
        seqs.extend(held[start..].iter().take(room).copied());
        Ok(seqs)
    }

    /// The versions memory holds and the seq of each stream's last event, for the writer's
    /// start.
    pub(crate) fn versions(&self) -> HashMap<DeploymentId, (StreamVersion, Seq)> {
        self.streams
            .iter()
            .filter_map(|(stream, tail)| {
                let last = tail.seqs.last()?;
                Some((*stream, (StreamVersion(tail.last), *last)))
            })
            .collect()
    }

    /// The index writes that move every entry with seq at most `through` to disk.
    pub(crate) fn writes_through(&self, through: Seq) -> Vec<IndexWrite> {
        let mut writes = Vec::new();
        for (stream, tail) in &self.streams {
            let base = tail.base();
            for (version, seq) in (base + 1..).zip(tail.seqs.iter().take_while(|s| **s <= through))
            {
                writes.push(IndexWrite::put(
                    stream_key(*stream, version),
                    seq.0.to_be_bytes().to_vec(),
                ));
            }
        }
        writes
    }

    /// Forgets the entries with seq at most `through` (they are on disk now).
    pub(crate) fn forget_through(&mut self, through: Seq) {
        self.streams.retain(|_, tail| {
            let gone = tail.seqs.partition_point(|seq| *seq <= through);
            tail.seqs.drain(..gone);
            !tail.seqs.is_empty()
        });
    }
}

/// What the writer needs to decide and stays small: the name claims changed since the last
/// checkpoint (the rest are on disk, `claims.rs`) and the unfinished deployments. Part of
/// every checkpoint.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct LedgerState {
    pub(crate) claims: NameClaims,
    /// Deployments whose last event is not a final one (recovery resumes them).
    pub(crate) unfinished: BTreeSet<DeploymentId>,
}

impl LedgerState {
    /// Follows one durable event, reading from `base` what the claims no longer hold.
    pub(crate) fn observe<B: ClaimsBase>(
        &mut self,
        envelope: &Envelope,
        base: &B,
    ) -> Result<(), B::Error> {
        self.claims.load(envelope.stream, &envelope.event, base)?;
        self.claims
            .observe(envelope.seq, envelope.stream, &envelope.event);
        if !envelope.stream.is_deployment() {
            return Ok(());
        }
        let finished = matches!(
            envelope.event.status_effect(),
            Some(DeploymentStatus::Success | DeploymentStatus::Failure)
        );
        if finished {
            self.unfinished.remove(&envelope.stream);
        } else if !matches!(envelope.event, Event::CheckpointTaken { .. }) {
            self.unfinished.insert(envelope.stream);
        }
        Ok(())
    }
}
