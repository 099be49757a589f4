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

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use crate::deployment::{DeploymentStatus, Event};
use crate::ids::{DeploymentId, Seq};
use crate::ledger::Projector;
use crate::ledger::envelope::{Envelope, Hash};
use crate::projection::deployment::DeploymentState;
use crate::projection::in_flight::{InFlight, InFlightFigures};
use crate::projection::metrics::Figures;
use crate::projection::operator::Operators;

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

/// Every deployment, folded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadModel {
    deployments: HashMap<DeploymentId, DeploymentState>,
    /// Ids in request order (oldest first).
    order: Vec<DeploymentId>,
    /// Position of each id in `order`.
    ordinals: HashMap<DeploymentId, usize>,
    /// The deployment holding each name (in progress or succeeded).
    holders: HashMap<String, DeploymentId>,
    /// The deployments in progress, by request time (`/health`, `/metrics`).
    in_flight: InFlight,
    summary: LedgerSummary,
    /// The ops stream's fold: named admin tokens and operator actions.
    operators: Operators,
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
            return;
        }
        let id = envelope.stream;
        match self.deployments.get_mut(&id) {
            Some(state) => state.apply(envelope),
            None => {
                let Some(state) = DeploymentState::start(envelope) else {
                    return;
                };
                self.ordinals.insert(id, self.order.len());
                self.order.push(id);
                self.deployments.insert(id, state);
                self.summary.deployments += 1;
            }
        }
        self.update_holder(id);
        if envelope.event.status_effect().is_some() {
            self.update_in_flight(id);
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

    fn update_holder(&mut self, id: DeploymentId) {
        let Some(state) = self.deployments.get(&id) else {
            return;
        };
        if state.holds_name() {
            self.holders.entry(state.name.clone()).or_insert(id);
        } else if self.holders.get(&state.name) == Some(&id) {
            self.holders.remove(&state.name);
        }
    }

    fn update_in_flight(&mut self, id: DeploymentId) {
        if let Some(state) = self.deployments.get(&id) {
            self.in_flight.track(id, state.started_at, state.status);
        }
    }

    /// One deployment.
    pub fn get(&self, id: DeploymentId) -> Option<&DeploymentState> {
        self.deployments.get(&id)
    }

    /// The deployment holding `name`, if any.
    pub fn holder(&self, name: &str) -> Option<&DeploymentState> {
        self.holders
            .get(name)
            .and_then(|id| self.deployments.get(id))
    }

    /// Deployments newest first, filtered and paged.
    pub fn list(&self, query: &ListQuery) -> Vec<&DeploymentState> {
        let end = match query.before {
            Some(before) => self.ordinals.get(&before).copied().unwrap_or(0),
            None => self.order.len(),
        };
        self.order[..end]
            .iter()
            .rev()
            .filter_map(|id| self.deployments.get(id))
            .filter(|state| query.status.is_none_or(|status| state.status == status))
            .filter(|state| {
                query
                    .name
                    .as_deref()
                    .is_none_or(|name| state.name.contains(name))
            })
            .take(query.limit)
            .collect()
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
        Figures::of(self.deployments.values())
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

impl Projector for LiveReadModel {
    fn apply(&self, envelopes: &[Arc<Envelope>]) {
        let mut model = self.model.write().unwrap_or_else(PoisonError::into_inner);
        for envelope in envelopes {
            model.apply(envelope);
        }
    }
}
