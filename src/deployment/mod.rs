//! The domain: what a deployment is, below every other module but time, ids and defaults.
//!
//! It owns the event vocabulary and every type inside an event ([`event`], with the answers of
//! Dokploy calls in [`answer`] and a rollback's leftovers in [`leftover`]), the phase table
//! ([`phase`]), the table of Dokploy procedures ([`procedure`]), Dokploy's protocol as pure data
//! ([`request`]: requests, typed answers, deploy status), the stack-name rules with the
//! name-claim rule ([`name`]), the outcome of a rollback ([`rollback`]), and the saga: the
//! decision state folded from one deployment's stream ([`saga`]) and the pure function that
//! decides the next step from it ([`plan`]). The ledger stores these events without
//! interpreting them beyond asking the claim rule; the orchestrator executes what the plan
//! decides; the projection renders the events.
//!
//! It must never do I/O, read a clock, or know about storage, HTTP or Dokploy's wire format.

pub mod answer;
pub mod event;
pub mod kind;
pub mod leftover;
pub mod name;
pub mod phase;
pub mod plan;
pub mod procedure;
pub mod request;
pub mod rollback;
pub mod saga;

pub use answer::*;
pub use event::*;
pub use kind::EventKind;
pub use leftover::{Leftover, LeftoverKind};
pub use phase::{DeploymentStatus, Phase};
pub use procedure::Procedure;
pub use request::{DeployStatus, Request};
pub use rollback::RollbackOutcome;
