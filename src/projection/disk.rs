//! The read model's on-disk part as it is read: stored records by id, and the ops list walked
//! over memory and postings, newest first, stopping at the page's limit (the `name=` filter's
//! plan is [`crate::projection::substring`]'s).
//!
//! It only reads the index space (through the [`IndexReader`] the ledger attached); it never
//! writes (the ledger writes a checkpoint's writes) and never scans every deployment for a
//! filter: each filter has postings in request order. A memory copy of a deployment always wins
//! over its stored record.

use std::collections::VecDeque;
use std::ops::ControlFlow;

use crate::deployment::DeploymentStatus;
use crate::ids::{DeploymentId, Seq};
use crate::ledger::envelope::Envelope;
use crate::ledger::{IndexReader, ScanOrder};
use crate::projection::deployment::DeploymentState;
use crate::projection::read_model::{Found, ListQuery, ReadError, ReadModel};
use crate::projection::stored::{self, Posting};

/// The on-disk part: where it is read, and what memory keeps about it.
#[derive(Debug, Clone)]
pub(crate) struct Disk {
    /// Read access to the index space.
    pub reader: IndexReader,
    /// The ops stream's events (the snapshot rebuilds [`crate::projection::operator`] from them).
    pub ops: Vec<Envelope>,
    /// Stored deployments kept in memory, oldest stored first.
    pub cache: VecDeque<DeploymentId>,
    /// How many stored deployments stay in memory ([`crate::projection::checkpoint::CACHE`]).
    pub cache_limit: usize,
    /// Checkpoints whose writes are not yet known to be in the store: their seq and what each
    /// wrote (id, the deployment's last seq then).
    pub pending: Vec<(Seq, Vec<(DeploymentId, Seq)>)>,
    /// Whether the index may hold any of this model's deployments (a checkpoint was restored
    /// or stored). Until then every deployment is in memory and the index is never read, so
    /// a model whose ledger has closed still answers from memory.
    pub holds: bool,
    /// The most names a `name=` text may be in to be answered from their postings
    /// ([`crate::projection::substring::RARE_NAMES_MAX`]; tests lower it).
    pub rare_names_max: usize,
}

impl Disk {
    /// The on-disk part, if the index may hold anything of the model.
    pub(crate) fn in_use(disk: &Option<Disk>) -> Option<&Disk> {
        disk.as_ref().filter(|disk| disk.holds)
    }
}

pub(crate) fn unavailable(error: impl std::fmt::Display) -> ReadError {
    ReadError::Unavailable {
        reason: error.to_string(),
    }
}

pub(crate) fn corrupt(what: impl Into<String>, reason: impl Into<String>) -> ReadError {
    ReadError::Corrupt {
        what: what.into(),
        reason: reason.into(),
    }
}

impl Disk {
    /// Reads through `reader`.
    pub(crate) fn new(reader: IndexReader) -> Self {
        Self {
            reader,
            ops: Vec::new(),
            cache: VecDeque::new(),
            cache_limit: crate::projection::checkpoint::CACHE,
            pending: Vec::new(),
            holds: false,
            rare_names_max: crate::projection::substring::RARE_NAMES_MAX,
        }
    }

    fn raw(&self, id: DeploymentId) -> Result<Option<Vec<u8>>, ReadError> {
        self.reader
            .get(&stored::record_key(id))
            .map_err(unavailable)
    }

    /// `id`'s stored record: its ordinal and its events.
    pub(crate) fn load(&self, id: DeploymentId) -> Result<Option<(u64, Vec<Envelope>)>, ReadError> {
        let Some(bytes) = self.raw(id)? else {
            return Ok(None);
        };
        let record = stored::decode_record(&bytes)
            .map_err(|reason| corrupt(format!("record of deployment {id}"), reason))?;
        Ok(Some(record))
    }

    /// `id`'s stored state.
    pub(crate) fn state(&self, id: DeploymentId) -> Result<Option<DeploymentState>, ReadError> {
        let Some((_, events)) = self.load(id)? else {
            return Ok(None);
        };
        match stored::fold_events(&events) {
            Some(state) => Ok(Some(state)),
            None => Err(corrupt(
                format!("record of deployment {id}"),
                "its events do not start a deployment",
            )),
        }
    }

    /// `id`'s request order, from its stored record.
    fn ordinal(&self, id: DeploymentId) -> Result<Option<u64>, ReadError> {
        let Some(bytes) = self.raw(id)? else {
            return Ok(None);
        };
        let ordinal: [u8; 8] = bytes
            .get(..8)
            .and_then(|head| head.try_into().ok())
            .ok_or_else(|| corrupt(format!("record of deployment {id}"), "shorter than 8 bytes"))?;
        Ok(Some(u64::from_be_bytes(ordinal)))
    }

    /// Up to `limit` postings below `bound`, newest first, that pass the filters and that
    /// `skip` does not claim (deployments in memory answer from memory).
    fn postings(
        &self,
        query: Filters<'_>,
        bound: u64,
        limit: usize,
        skip: &dyn Fn(DeploymentId) -> bool,
    ) -> Result<Vec<Posting>, ReadError> {
        if let Some(text) = query.name {
            return self.postings_named(text, query.status, bound, limit, skip);
        }
        let prefix = match query.status {
            Some(status) => stored::status_prefix(status),
            None => stored::order_prefix(),
        };
        self.walk(&prefix, bound, limit, &|posting| !skip(posting.id))
    }

    /// The oldest stored deployment named exactly `name` whose status holds it, among those
    /// `resident` does not claim (memory answers for those).
    pub(crate) fn stored_holder(
        &self,
        name: &str,
        resident: &dyn Fn(DeploymentId) -> bool,
    ) -> Result<Option<DeploymentId>, ReadError> {
        let holding = self.walk(
            &stored::name_prefix(name),
            u64::MAX,
            usize::MAX,
            &|posting| posting.status.holds_name() && !resident(posting.id),
        )?;
        Ok(holding.last().map(|posting| posting.id))
    }

    /// Up to `limit` postings under `prefix` below `bound`, newest first, that `keep` keeps.
    pub(crate) fn walk(
        &self,
        prefix: &[u8],
        bound: u64,
        limit: usize,
        keep: &dyn Fn(&Posting) -> bool,
    ) -> Result<Vec<Posting>, ReadError> {
        let to = stored::posting_key(prefix, bound);
        let mut found = Vec::new();
        let mut damaged = None;
        let mut visit = |key: &[u8], value: &[u8]| {
            let Some(posting) = stored::decode_posting(prefix.len(), key, value) else {
                damaged = Some(key.to_vec());
                return ControlFlow::Break(());
            };
            if keep(&posting) {
                found.push(posting);
                if found.len() >= limit {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        };
        self.reader
            .scan(prefix, &to, ScanOrder::Backward, &mut visit)
            .map_err(unavailable)?;
        if let Some(key) = damaged {
            return Err(corrupt(
                format!("posting {key:02x?}"),
                "not an id, a status and a name",
            ));
        }
        Ok(found)
    }
}

/// The filters of a list query (an empty name filters nothing: every name contains it).
#[derive(Debug, Clone, Copy)]
struct Filters<'a> {
    status: Option<DeploymentStatus>,
    name: Option<&'a str>,
}

impl Filters<'_> {
    fn pass(&self, state: &DeploymentState) -> bool {
        self.status.is_none_or(|status| state.status == status)
            && self.name.is_none_or(|name| state.name.contains(name))
    }
}

/// `ReadModel::list`: memory and postings, merged newest first.
pub(crate) fn list<'m>(
    model: &'m ReadModel,
    query: &ListQuery,
) -> Result<Vec<Found<'m>>, ReadError> {
    let filters = Filters {
        status: query.status,
        name: query.name.as_deref().filter(|name| !name.is_empty()),
    };
    let bound = match query.before {
        None => u64::MAX,
        Some(before) => match ordinal_of(model, before)? {
            Some(ordinal) => ordinal,
            None => return Ok(Vec::new()),
        },
    };
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let memory: Vec<(u64, &DeploymentState)> = model
        .by_ordinal
        .range(..bound)
        .rev()
        .filter_map(|(ordinal, id)| Some((*ordinal, &model.resident.get(id)?.state)))
        .filter(|(_, state)| filters.pass(state))
        .take(query.limit)
        .collect();
    let Some(disk) = Disk::in_use(&model.disk) else {
        return Ok(memory
            .into_iter()
            .map(|(_, s)| Found::Borrowed(s))
            .collect());
    };
    let skip = |id| model.resident.contains_key(&id);
    let stored = disk.postings(filters, bound, query.limit, &skip)?;
    let (mut memory, mut stored) = (memory.into_iter().peekable(), stored.into_iter().peekable());
    let mut page = Vec::new();
    while page.len() < query.limit {
        let from_memory = match (memory.peek(), stored.peek()) {
            (Some((m, _)), Some(s)) => *m > s.ordinal,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if from_memory {
            let (_, state) = memory.next().expect("peeked just above");
            page.push(Found::Borrowed(state));
            continue;
        }
        let posting = stored.next().expect("peeked just above");
        let state = disk.state(posting.id)?.ok_or_else(|| {
            corrupt(
                format!("posting of deployment {}", posting.id),
                "its record is missing",
            )
        })?;
        page.push(Found::Owned(state));
    }
    Ok(page)
}

fn ordinal_of(model: &ReadModel, id: DeploymentId) -> Result<Option<u64>, ReadError> {
    if let Some(entry) = model.resident.get(&id) {
        return Ok(Some(entry.ordinal));
    }
    match Disk::in_use(&model.disk) {
        Some(disk) => disk.ordinal(id),
        None => Ok(None),
    }
}
