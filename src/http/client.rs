//! Who a request came from, as the ledger may keep it: a keyed hash of the client's address.
//!
//! The ledger cannot forget, so it must never hold an address itself; the key is random per
//! process (`AppState::client_key`), so the hash tells one client from another within a run
//! and nothing more.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

/// A keyed hash of the requester's address: 16 hex digits of SHA-256(key ‖ address).
pub(crate) fn client_hash(key: &str, client: IpAddr) -> String {
    let mut hasher = Sha256::new();
    hasher.update(key.as_bytes());
    hasher.update(client.to_string().as_bytes());
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
