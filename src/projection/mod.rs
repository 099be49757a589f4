//! Projections: what users and operators see, folded from the ledger's events.
//!
//! Everything here is a pure function of envelopes: no clock, no I/O, no ids, no randomness.
//! The server's live read model and `stackledger-replay` run the same folds.

pub mod deployment;
pub mod logs;
pub mod read_model;
pub mod view;

pub use deployment::DeploymentState;
pub use read_model::{ListQuery, LiveReadModel, ReadModel};
pub use view::DeploymentView;
