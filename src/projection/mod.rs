//! Projections: the read side. What users and operators see, folded from the ledger's events:
//! the deployment view (`GET /api/deployment/:id`), the 50-entry log, phase timings, the
//! metrics' figures, and the read model the ops queries ask.
//!
//! Everything here is a pure function of envelopes: no clock, no I/O, no ids, no randomness.
//! The server's live read model and `stackledger-replay` run the same folds, and one renderer
//! ([`render`]) words every event for the log, the replay timeline and the audit page. It never
//! decides for the orchestrator and never imports `http` or `dokploy`.

pub mod answers;
pub mod checkpoint;
pub mod deployment;
pub(crate) mod disk;
#[cfg(test)]
mod fixture;
pub mod in_flight;
pub mod logs;
pub mod metrics;
pub mod operator;
pub mod read_model;
#[cfg(test)]
mod read_side_tests;
pub mod render;
pub(crate) mod stored;
pub(crate) mod substring;
pub mod timings;
pub mod view;

pub use deployment::DeploymentState;
pub use read_model::{Found, ListQuery, LiveReadModel, ReadError, ReadModel};
pub use render::{Line, LogLevel, Narrator};
pub use view::DeploymentView;
