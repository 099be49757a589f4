//! The read model: every deployment by id, the holder of each name, newest-first listing, the
//! deployments in flight by request time ([`crate::projection::in_flight`]), and
//! the ledger summary `/health` shows. Folded from envelopes only, in seq order.
//!
//! [`ReadModel`] is plain data with a pure `apply`; [`LiveReadModel`] shares one behind a lock
//! and is the [`Projector`] the ledger feeds after each durable append.
//!
//! It never folds an event twice (one at or before the last folded seq is ignored), and its
//! name holders only answer queries: who may claim a name is decided by the ledger writer with
//! [`crate::deployment::name::NameClaims`].

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use crate::deployment::{DeploymentStatus, Event};
use crate::ids::{DeploymentId, Seq};
use crate::ledger::envelope::{Envelope, Hash};
use crate::ledger::{IndexReader, ProjectionCheckpoint, Projector};
use crate::projection::deployment::DeploymentState;
use crate::projection::disk::Disk;
use crate::projection::in_flight::{InFlight, InFlightFigures};
use crate::projection::metrics::{Figures, Totals};
use crate::projection::operator::Operators;
use crate::projection::stored::fold_events;

/// The circuit breaker's state as the system stream last recorded it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls flow.
    #[default]
    Closed,
    /// Calls fail fast.
    Open,
    /// One probe may pass.
    HalfOpen,
}

/// Figures about the whole log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerSummary {
    /// Events folded.
    pub events: u64,
    /// The last seq folded.
    pub last_seq: Seq,
    /// Its hash.
    pub head_hash: Hash,
    /// Deployments known.
    pub deployments: u64,
    /// Server starts recorded.
    pub server_starts: u64,
    /// The breaker's last recorded state.
    pub circuit: CircuitState,
}

/// A page request for [`ReadModel::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only this status.
    pub status: Option<DeploymentStatus>,
    /// Only names containing this text.
    pub name: Option<String>,
    /// At most this many (the caller bounds it).
    pub limit: usize,
    /// Only deployments requested before this one (the previous page's last id).
    pub before: Option<DeploymentId>,
}

/// A read the model could not answer: the on-disk part is damaged or cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// A stored record or posting does not decode (HTTP 500, `read_model_corrupt`).
    #[error("the read model's stored {what} does not decode: {reason}")]
    Corrupt {
        /// Which record (a key, in words).
        what: String,
        /// Why.
        reason: String,
    },
    /// The index space cannot be read (HTTP 503, `read_model_unavailable`).
    #[error("the read model's index cannot be read: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// A deployment as an answer: borrowed from memory or decoded from disk.
pub type Found<'a> = Cow<'a, DeploymentState>;

/// A deployment in memory: in progress, finished since the last checkpoint, or cached.
#[derive(Debug, Clone)]
pub(crate) struct Resident {
    /// Request order (0 for the first deployment ever requested).
    pub ordinal: u64,
    /// Its folded state.
    pub state: DeploymentState,
    /// Its events (kept only while the model is attached to an index space).
    pub events: Vec<Envelope>,
    /// The status of its record on disk, if one was written.
    pub stored: Option<DeploymentStatus>,
    /// Changed since its record was written (or never written).
    pub dirty: bool,
}

/// Every deployment, folded: in memory the unfinished and a cache, the rest in the index space
/// once checkpointed ([`crate::projection::disk`]).
#[derive(Debug, Clone, Default)]
pub struct ReadModel {
    /// Deployments in memory, by id.
    pub(crate) resident: HashMap<DeploymentId, Resident>,
    /// Their ids by request order.
    pub(crate) by_ordinal: BTreeMap<u64, DeploymentId>,
    /// The deployment holding each name (in progress or succeeded): one per name held.
    pub(crate) holders: HashMap<String, DeploymentId>,
    /// The deployments in progress, by request time (`/health`, `/metrics`).
    pub(crate) in_flight: InFlight,
    pub(crate) summary: LedgerSummary,
    /// The ops stream's fold: named admin tokens and operator actions.
    pub(crate) operators: Operators,
    /// Figures over every deployment, stored or not.
    pub(crate) totals: Totals,
    /// The on-disk part, once attached.
    pub(crate) disk: Option<Disk>,
}

impl ReadModel {
    /// The fold of `envelopes` from nothing.
    pub fn fold<'a>(envelopes: impl IntoIterator<Item = &'a Envelope>) -> Self {
        let mut model = Self::default();
        for envelope in envelopes {
            model.apply(envelope);
        }
        model
    }

    /// The fold of the events up to and including `seq` (state as of that point).
    pub fn fold_until<'a>(envelopes: impl IntoIterator<Item = &'a Envelope>, seq: Seq) -> Self {
        Self::fold(
            envelopes
                .into_iter()
                .take_while(|envelope| envelope.seq <= seq),
        )
    }

    /// Folds one event (events must come in seq order; older ones are ignored).
    pub fn apply(&mut self, envelope: &Envelope) {
        if envelope.seq <= self.summary.last_seq {
            return;
        }
        self.summary.events += 1;
        self.summary.last_seq = envelope.seq;
        self.summary.head_hash = envelope.hash;
        if envelope.stream.is_system() {
            self.apply_system(&envelope.event);
            return;
        }
        if envelope.stream.is_ops() {
            self.operators.apply(envelope);
            if let Some(disk) = &mut self.disk {
                disk.ops.push(envelope.clone());
            }
            return;
        }
        let id = envelope.stream;
        if !self.resident.contains_key(&id) {
            self.reload(id);
        }
        let keep = self.disk.is_some();
        match self.resident.get_mut(&id) {
            Some(entry) => {
                self.totals.remove(&entry.state);
                entry.state.apply(envelope);
                self.totals.add(&entry.state);
                if keep {
                    entry.events.push(envelope.clone());
                }
                entry.dirty = true;
            }
            None => {
                let Some(state) = DeploymentState::start(envelope) else {
                    return;
                };
                let ordinal = self.summary.deployments;
                self.totals.add(&state);
                let events = if keep {
                    vec![envelope.clone()]
                } else {
                    Vec::new()
                };
                self.admit(
                    id,
                    Resident {
                        ordinal,
                        state,
                        events,
                        stored: None,
                        dirty: true,
                    },
                );
                self.summary.deployments += 1;
            }
        }
        self.update_holder(id);
        if envelope.event.status_effect().is_some() {
            self.update_in_flight(id);
        }
    }

    /// Brings a stored deployment back into memory to fold a new event of it.
    fn reload(&mut self, id: DeploymentId) {
        let Some(disk) = Disk::in_use(&self.disk) else {
            return;
        };
        match disk.load(id) {
            Ok(Some((ordinal, events))) => match fold_events(&events) {
                Some(state) => {
                    let stored = Some(state.status);
                    self.admit(
                        id,
                        Resident {
                            ordinal,
                            state,
                            events,
                            stored,
                            dirty: false,
                        },
                    );
                }
                None => tracing::error!(%id, "a stored deployment does not fold; event dropped"),
            },
            Ok(None) => {}
            Err(error) => tracing::error!(%id, %error, "a stored deployment could not be reloaded"),
        }
    }

    fn apply_system(&mut self, event: &Event) {
        match event {
            Event::CircuitOpened => self.summary.circuit = CircuitState::Open,
            Event::CircuitHalfOpened => self.summary.circuit = CircuitState::HalfOpen,
            Event::CircuitClosed => self.summary.circuit = CircuitState::Closed,
            Event::ServerStarted { .. } => self.summary.server_starts += 1,
            _ => {}
        }
    }

    /// Puts `id` in memory, at its request order.
    pub(crate) fn admit(&mut self, id: DeploymentId, resident: Resident) {
        self.by_ordinal.insert(resident.ordinal, id);
        self.resident.insert(id, resident);
    }

    /// Follows `id`'s hold on its name (memory's holders; a stored one is found on disk).
    pub(crate) fn update_holder(&mut self, id: DeploymentId) {
        let Some(entry) = self.resident.get(&id) else {
            return;
        };
        let state = &entry.state;
        if state.holds_name() {
            self.holders.entry(state.name.clone()).or_insert(id);
        } else if self.holders.get(&state.name) == Some(&id) {
            self.holders.remove(&state.name);
        }
    }

    fn update_in_flight(&mut self, id: DeploymentId) {
        if let Some(entry) = self.resident.get(&id) {
            let state = &entry.state;
            self.in_flight.track(id, state.started_at, state.status);
        }
    }

    /// One deployment: from memory, else from the index space.
    pub fn get(&self, id: DeploymentId) -> Result<Option<Found<'_>>, ReadError> {
        if let Some(entry) = self.resident.get(&id) {
            return Ok(Some(Cow::Borrowed(&entry.state)));
        }
        match Disk::in_use(&self.disk) {
            Some(disk) => Ok(disk.state(id)?.map(Cow::Owned)),
            None => Ok(None),
        }
    }

    /// The deployment holding `name`, if any: one in memory, else a stored one (a stored
    /// deployment is finished, so it holds its name only if it succeeded, and then for ever).
    pub fn holder(&self, name: &str) -> Result<Option<Found<'_>>, ReadError> {
        if let Some(id) = self.holders.get(name) {
            return self.get(*id);
        }
        let Some(disk) = Disk::in_use(&self.disk) else {
            return Ok(None);
        };
        match disk.stored_holder(name, &|id| self.resident.contains_key(&id))? {
            Some(id) => self.get(id),
            None => Ok(None),
        }
    }

    /// Deployments newest first, filtered and paged: memory and the index space's postings,
    /// each walked newest first and stopped at `limit`.
    pub fn list(&self, query: &ListQuery) -> Result<Vec<Found<'_>>, ReadError> {
        crate::projection::disk::list(self, query)
    }

    /// How many deployments are in memory (in progress, finished since the last checkpoint,
    /// and the cache).
    pub fn resident_deployments(&self) -> usize {
        self.resident.len()
    }

    /// Figures about the whole log.
    pub fn summary(&self) -> LedgerSummary {
        self.summary
    }

    /// The ops stream, folded: the named admin tokens in force and the operator actions.
    pub fn operators(&self) -> &Operators {
        &self.operators
    }

    /// How many deployments are in progress and when the oldest was requested (O(log n)).
    pub fn in_flight(&self) -> InFlightFigures {
        self.in_flight.figures()
    }

    /// The deployment figures `/metrics` reports.
    pub fn figures(&self) -> Figures {
        self.totals.figures()
    }
}

/// A [`ReadModel`] shared between the ledger writer (which folds) and readers.
#[derive(Debug, Clone, Default)]
pub struct LiveReadModel {
    model: Arc<RwLock<ReadModel>>,
}

impl LiveReadModel {
    /// An empty model; the ledger fills it at open.
    pub fn new() -> Self {
        Self::default()
    }

    /// A read guard on the current model. Hold it briefly: the writer waits for it.
    pub fn read(&self) -> RwLockReadGuard<'_, ReadModel> {
        self.model.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the current model (tests, replay comparisons).
    pub fn snapshot(&self) -> ReadModel {
        self.read().clone()
    }
}

impl LiveReadModel {
    /// How many stored deployments stay in memory after a checkpoint (tests, tools).
    pub fn set_cache_limit(&self, limit: usize) {
        self.write().set_cache_limit(limit);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, ReadModel> {
        self.model.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Projector for LiveReadModel {
    fn apply(&self, envelopes: &[Arc<Envelope>]) {
        let mut model = self.write();
        for envelope in envelopes {
            model.apply(envelope);
        }
    }

    fn attach(&self, index: IndexReader) {
        self.write().attach(index);
    }

    fn checkpoint_format(&self) -> Option<&'static str> {
        Some(crate::projection::stored::FORMAT)
    }

    fn checkpoint(&self) -> ProjectionCheckpoint {
        self.write().checkpoint()
    }

    fn checkpointed(&self, through: Seq) {
        self.write().checkpointed(through);
    }

    fn restore(&self, snapshot: &[u8], through: Seq) -> Result<(), String> {
        self.write().restore(snapshot, through)
    }
}
