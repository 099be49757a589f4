//! StackLedger: a self-service deployment portal whose memory is an event-sourced ledger.
//!
//! Data flows one way. The orchestrator decides and appends; the [`ledger`] makes each event
//! durable (sled, hash-chained, group-committed), folds it into the [`projection`] and notifies
//! subscribers; HTTP and SSE only read the projection or the ledger. The projection is a pure
//! function of the events, and `stackledger-replay` folds the same events with the same code.
//!
//! Module map:
//! - [`clock`], [`ids`]: time and identifiers as injected inputs.
//! - [`ledger`]: event model, codec, hash chain, sled store, group-commit writer, catch-up
//!   subscriptions.
//! - [`projection`]: `DeploymentState::apply` and the read model (by id, by name, newest first).
//! - [`secret`]: API keys and the admin token, never printed, compared in constant time.
//! - [`defaults`]: every default value, once.
//! - [`config`]: flags and environment as given ([`config::Config`]), checked once into
//!   [`config::Settings`].
//! - [`app`], [`http`]: wiring, and the HTTP surface.

pub mod app;
pub mod clock;
pub mod config;
pub mod crash;
pub mod defaults;
pub mod deployment;
pub mod dokploy;
pub mod http;
pub mod ids;
pub mod ledger;
pub mod orchestrator;
pub mod projection;
pub mod secret;
pub mod simulator;
