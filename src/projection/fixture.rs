//! Test fixtures for the projection's unit tests: envelopes built by hand (no ledger, no hash
//! chain; the folds never look at hashes). Compiled only for tests.

use crate::deployment::Event;
use crate::ids::{DeploymentId, Seq, StreamVersion};
use crate::ledger::envelope::{Envelope, Hash};

/// The stream `n` (`Uuid::from_u128(n)`).
pub(crate) fn stream(n: u128) -> DeploymentId {
    DeploymentId::from_uuid(uuid::Uuid::from_u128(n))
}

/// An envelope of `event` on stream `stream` at `seq` and `at` (unix ms).
pub(crate) fn envelope(stream: DeploymentId, seq: u64, at: i64, event: Event) -> Envelope {
    Envelope {
        seq: Seq(seq),
        stream,
        version: StreamVersion(u32::try_from(seq).expect("a small seq")),
        at,
        cause: None,
        event,
        prev_hash: Hash::default(),
        hash: Hash::default(),
    }
}

/// The request that opens the deployment of `name` at `name.example`.
pub(crate) fn requested(name: &str) -> Event {
    Event::DeploymentRequested {
        name: name.to_owned(),
        image: "nginx".to_owned(),
        domain: format!("{name}.example"),
        port: 80,
        client: "c".to_owned(),
        server_version: "v".to_owned(),
    }
}
