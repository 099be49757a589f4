//! Talking to Dokploy: the typed operations ([`api`]), the HTTP client ([`client`]), the retry
//! schedule ([`retry`]), the shared circuit breaker ([`breaker`]), and the [`caller`] that runs
//! every call through them and writes each attempt to the ledger.

pub mod api;
pub mod breaker;
pub mod caller;
pub mod client;
pub mod error;
pub mod retry;
mod wire;
