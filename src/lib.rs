//! StackLedger: a self-service deployment portal whose memory is an event-sourced ledger.
//!
//! Data flows one way. The orchestrator asks the pure saga core what to do next, does it, and
//! appends every decision and every Dokploy call to the [`ledger`], which makes each event
//! durable (sled, hash-chained, group-committed), folds it into the [`projection`] and
//! notifies subscribers; HTTP and SSE only read the projection or the ledger.
//! `stackledger-replay` folds the same events with the same code.
//!
//! Module map (each module's own docs say what it owns and what it must never do):
//! - [`deployment`]: the domain, below everything but time, ids and defaults: the event
//!   vocabulary, the phase table, Dokploy's procedures and requests as data, the stack-name and
//!   name-claim rules, and the saga core (`SagaState` folded from one stream, `plan::next`).
//! - [`ledger`]: a generic, hash-chained, durable log of envelopes: stores (sled, memory), the
//!   group-commit writer, the one verification, read-only opening, catch-up subscriptions.
//! - [`projection`]: the read side: the deployment view, its 50-line log, phase timings,
//!   metrics figures, the read model for the ops queries, and the one event renderer.
//! - [`orchestrator`]: the effect runner: executes the plan's steps through the Dokploy
//!   caller and the ledger; recovery at startup; the one builder.
//! - [`dokploy`]: the `DokployApi` trait, its HTTP client, retry policy, circuit breaker, the
//!   recording caller and the recorded stand-in that `redrive` uses.
//! - [`simulator`]: the Dokploy simulator (never kinder than Dokploy) with fault injection.
//! - [`http`]: the HTTP and SSE surface, its edges (limits, timeouts, connection cap) and
//!   the one error path.
//! - [`config`]: flags and environment as given ([`config::Config`]), checked once into
//!   [`config::Settings`]; [`defaults`]: every default value, once; [`secret`]: API keys and
//!   the admin token, never printed, compared in constant time; [`scrub`]: those secrets
//!   removed, in every echoed form, from whatever Dokploy says.
//! - [`app`]: the single wiring point for `main`, the tools and the tests; [`tokens_cli`]:
//!   `stackledger tokens`, the named admin tokens of a running portal over its HTTP API.
//! - [`private_files`]: the data directory's modes (directories 0700, files 0600) on
//!   creation, and the check of what is found too open.
//! - [`clock`], [`ids`]: time and identifiers as injected inputs; [`crash`]: named crash
//!   points for the crash tests.
//!
//! This file holds the map and the module list only; it never holds code.

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
pub mod private_files;
pub mod projection;
pub mod scrub;
pub mod secret;
pub mod simulator;
pub mod tokens_cli;
