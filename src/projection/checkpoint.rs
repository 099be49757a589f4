//! The read model's checkpoint (format [`stored::FORMAT`]): the index writes that move every
//! deployment finished since the last checkpoint to the index space, the snapshot of what stays
//! in memory, dropping what was written once it is in the store, and the restore at open.
//!
//! A snapshot restored and then given the events after it answers every query exactly like
//! the fold of the whole log. This never writes the store itself (the ledger writes
//! [`ProjectionCheckpoint::writes`]) and never drops a deployment that changed since it was
//! written.

use std::collections::HashSet;

use crate::deployment::DeploymentStatus;
use crate::ids::{DeploymentId, Seq};
use crate::ledger::envelope::Hash;
use crate::ledger::{IndexReader, IndexWrite, ProjectionCheckpoint};
use crate::projection::disk::Disk;
use crate::projection::metrics::{PhaseTotal, Totals};
use crate::projection::read_model::{CircuitState, ReadModel, Resident};
use crate::projection::stored::{self, Reader, SnapshotDeployment, Writer};

/// Stored deployments kept in memory after a checkpoint (the most recently stored).
pub const CACHE: usize = 256;

impl ReadModel {
    /// Gives the model its on-disk part. It starts over, empty: attached models keep each
    /// deployment's events from its first one (the ledger attaches before it restores or
    /// applies anything).
    pub fn attach(&mut self, reader: IndexReader) {
        *self = ReadModel {
            disk: Some(Disk::new(reader)),
            ..ReadModel::default()
        };
    }

    /// How many stored deployments stay in memory after a checkpoint (default [`CACHE`]); no
    /// effect before [`ReadModel::attach`].
    pub fn set_cache_limit(&mut self, limit: usize) {
        if let Some(disk) = &mut self.disk {
            disk.cache_limit = limit;
        }
    }

    /// The writes that store every deployment finished since the last checkpoint, and the
    /// snapshot of the rest. Without an attached index space: nothing.
    pub fn checkpoint(&mut self) -> ProjectionCheckpoint {
        let snapshot = self.snapshot_bytes();
        let Some(disk) = &mut self.disk else {
            return ProjectionCheckpoint::default();
        };
        let mut writes = Vec::new();
        let mut written = Vec::new();
        let mut named = HashSet::new();
        for (id, entry) in &self.resident {
            if entry.dirty && entry.state.is_finished() {
                let name = entry.state.name.as_str();
                let known = !named.insert(name) || entry.stored.is_some() || disk.names(name);
                writes.extend(record_writes(*id, entry, known));
                written.push((*id, entry.state.last_seq));
            }
        }
        disk.pending.push((self.summary.last_seq, written));
        ProjectionCheckpoint { snapshot, writes }
    }

    /// The checkpoint through `through` is in the store: what it wrote leaves memory, but for
    /// the [`CACHE`] most recently stored.
    pub fn checkpointed(&mut self, through: Seq) {
        let Some(disk) = &mut self.disk else {
            return;
        };
        let (done, left): (Vec<_>, Vec<_>) =
            disk.pending.drain(..).partition(|(at, _)| *at <= through);
        disk.pending = left;
        disk.holds |= done.iter().any(|(_, written)| !written.is_empty());
        for (id, seq) in done.into_iter().flat_map(|(_, written)| written) {
            let Some(entry) = self.resident.get_mut(&id) else {
                continue;
            };
            if entry.state.last_seq == seq {
                entry.dirty = false;
                entry.stored = Some(entry.state.status);
                disk.cache.push_back(id);
            }
        }
        while disk.cache.len() > disk.cache_limit {
            let Some(id) = disk.cache.pop_front() else {
                break;
            };
            let evictable = self.resident.get(&id).is_some_and(|entry| {
                !entry.dirty && entry.stored.is_some() && entry.state.is_finished()
            });
            if evictable && let Some(entry) = self.resident.remove(&id) {
                self.by_ordinal.remove(&entry.ordinal);
                // A stored holder is found on disk ([`ReadModel::holder`]).
                if self.holders.get(&entry.state.name) == Some(&id) {
                    self.holders.remove(&entry.state.name);
                }
            }
        }
    }

    fn snapshot_bytes(&self) -> Vec<u8> {
        let mut out = Writer::default();
        let summary = &self.summary;
        for figure in [summary.events, summary.last_seq.0, summary.deployments] {
            out.u64(figure);
        }
        out.bytes(&summary.head_hash.0);
        out.u64(summary.server_starts);
        out.u64(match summary.circuit {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
        });
        self.totals
            .by_status
            .iter()
            .for_each(|count| out.u64(*count));
        out.u64(self.totals.retries);
        for phase in &self.totals.phases {
            out.u64(phase.spent_ms);
            out.u64(phase.count);
        }
        let unfinished: Vec<&Resident> = self
            .resident
            .values()
            .filter(|entry| !entry.state.is_finished())
            .collect();
        out.u64(unfinished.len() as u64);
        for entry in unfinished {
            out.deployment(&SnapshotDeployment {
                ordinal: entry.ordinal,
                stored: entry.stored,
                events: entry.events.clone(),
            });
        }
        out.events(self.disk.as_ref().map_or(&[][..], |disk| &disk.ops));
        out.out
    }

    /// Replaces the model with the one `snapshot` summarises (its on-disk part is kept).
    pub fn restore(&mut self, snapshot: &[u8], through: Seq) -> Result<(), String> {
        let mut model = ReadModel {
            disk: self.disk.take(),
            ..ReadModel::default()
        };
        let result = read_snapshot(&mut model, &mut Reader { bytes: snapshot });
        let result = result.and_then(|()| match model.summary.last_seq == through {
            true => Ok(()),
            false => Err(format!(
                "the read model's snapshot is as of seq {}, the checkpoint says {}",
                model.summary.last_seq.0, through.0
            )),
        });
        match result {
            Ok(()) => {
                if let Some(disk) = &mut model.disk {
                    disk.holds = true;
                }
                *self = model;
            }
            Err(_) => self.disk = model.disk,
        }
        result
    }
}

/// The writes that store one finished deployment: its record, its postings, and its name's
/// suffixes unless `named` says they are written already.
fn record_writes(id: DeploymentId, entry: &Resident, named: bool) -> Vec<IndexWrite> {
    let (ordinal, status, name) = (entry.ordinal, entry.state.status, &entry.state.name);
    let posting = stored::posting(id, status, name);
    let at = |prefix: Vec<u8>| stored::posting_key(&prefix, ordinal);
    let mut writes = vec![
        IndexWrite::put(
            stored::record_key(id),
            stored::encode_record(ordinal, &entry.events),
        ),
        IndexWrite::put(at(stored::order_prefix()), posting.clone()),
        IndexWrite::put(at(stored::status_prefix(status)), posting.clone()),
        IndexWrite::put(at(stored::name_prefix(name)), posting),
    ];
    if !named {
        let suffixes = stored::suffix_keys(name).into_iter();
        writes.extend(suffixes.map(|key| IndexWrite::put(key, Vec::new())));
    }
    // A status posting written before (by this version, or one whose confirmation was lost)
    // goes: the other statuses' keys are deleted whether they exist or not.
    for other in [
        DeploymentStatus::InProgress,
        DeploymentStatus::Success,
        DeploymentStatus::Failure,
    ] {
        if other != status {
            writes.push(IndexWrite::delete(at(stored::status_prefix(other))));
        }
    }
    writes
}

fn read_snapshot(model: &mut ReadModel, input: &mut Reader<'_>) -> Result<(), String> {
    let summary = &mut model.summary;
    summary.events = input.u64()?;
    summary.last_seq = Seq(input.u64()?);
    summary.deployments = input.u64()?;
    summary.head_hash = Hash(
        input
            .bytes()?
            .try_into()
            .map_err(|_| "a hash of 32 bytes")?,
    );
    summary.server_starts = input.u64()?;
    summary.circuit = match input.u64()? {
        0 => CircuitState::Closed,
        1 => CircuitState::Open,
        2 => CircuitState::HalfOpen,
        other => return Err(format!("unknown circuit state {other}")),
    };
    let mut totals = Totals::default();
    for count in &mut totals.by_status {
        *count = input.u64()?;
    }
    totals.retries = input.u64()?;
    for phase in &mut totals.phases {
        *phase = PhaseTotal {
            spent_ms: input.u64()?,
            count: input.u64()?,
        };
    }
    model.totals = totals;
    for _ in 0..input.u64()? {
        let deployment = input.deployment()?;
        let state = stored::fold_events(&deployment.events)
            .ok_or("a deployment in the snapshot does not start with its request")?;
        let id = state.id;
        model.in_flight.track(id, state.started_at, state.status);
        model.admit(
            id,
            Resident {
                ordinal: deployment.ordinal,
                state,
                events: deployment.events,
                stored: deployment.stored,
                dirty: true,
            },
        );
        model.update_holder(id);
    }
    let ops = input.events()?;
    for envelope in &ops {
        model.operators.apply(envelope);
    }
    if let Some(disk) = &mut model.disk {
        disk.ops = ops;
    }
    if !input.bytes.is_empty() {
        return Err(format!("{} bytes after the snapshot", input.bytes.len()));
    }
    Ok(())
}
