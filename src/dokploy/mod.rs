//! Talking to Dokploy: the typed operations ([`api`]), the HTTP client ([`client`]), the retry
//! schedule ([`retry`]), the shared circuit breaker ([`breaker`]), and the [`caller`] that runs
//! every call through them and writes each attempt to the ledger.
//!
//! Only `client` speaks HTTP to Dokploy and sets the API key header, and the wire types
//! (`wire`) never leave this module: the rest of the crate sees the domain's typed requests and
//! answers only.

mod answer;
pub mod api;
pub mod breaker;
pub mod caller;
pub mod client;
pub mod error;
mod lookup;
pub mod recorded;
pub mod retry;
mod wire;

/// Which Dokploy the portal deploys to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DokployMode {
    /// A real Dokploy, from `--dokploy-url` and `--dokploy-api-key`.
    Remote,
    /// The built-in simulator, started in-process on a loopback port.
    Simulated,
}

impl DokployMode {
    /// `remote` or `simulated` (as `/health` shows it).
    pub fn as_str(self) -> &'static str {
        match self {
            DokployMode::Remote => "remote",
            DokployMode::Simulated => "simulated",
        }
    }
}
