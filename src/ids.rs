//! Identifiers: deployment ids, ledger positions, and the [`IdGen`] that mints ids.
//!
//! A [`DeploymentId`] is a UUID v7 (time-ordered) and is shown to people as `dep_<32 hex>`.
//! The nil UUID is the system stream ([`DeploymentId::SYSTEM`]), which carries events that are
//! not about one deployment, and the max UUID the ops stream ([`DeploymentId::OPS`]) of operator
//! actions. [`Seq`] is a global ledger position and [`StreamVersion`] a
//! position within one stream; neither crosses a module boundary as a bare integer.
//!
//! This is the only file that may create random UUIDs, and [`SequentialIds`] never draws
//! randomness or reads the clock, so a test sees the same ids every run.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The id of one deployment, which is also the id of its event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeploymentId(Uuid);

impl DeploymentId {
    /// The system stream: breaker transitions, server starts, recovery runs.
    pub const SYSTEM: DeploymentId = DeploymentId(Uuid::nil());

    /// Wraps a UUID.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID inside.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// The ops stream: operator actions (tokens added or revoked, cancels asked, exports,
    /// verifications, refused authentication). The max UUID, which no UUID v7 ever is.
    pub const OPS: DeploymentId = DeploymentId(Uuid::max());

    /// True for the system stream.
    pub fn is_system(&self) -> bool {
        self.0.is_nil()
    }

    /// True for the ops stream.
    pub fn is_ops(&self) -> bool {
        self.0 == Uuid::max()
    }

    /// True for a deployment's stream (neither the system nor the ops stream).
    pub fn is_deployment(&self) -> bool {
        !self.is_system() && !self.is_ops()
    }
}

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dep_{}", self.0.simple())
    }
}

/// Why a text is not a deployment id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a deployment id (expected dep_ followed by 32 hex digits): {input:?}")]
pub struct ParseDeploymentIdError {
    input: String,
}

impl FromStr for DeploymentId {
    type Err = ParseDeploymentIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseDeploymentIdError {
            input: text.chars().take(64).collect(),
        };
        let hex = text.strip_prefix("dep_").ok_or_else(error)?;
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(error());
        }
        Uuid::try_parse(hex).map(Self).map_err(|_| error())
    }
}

/// A global ledger position: 1, 2, 3, … with no gaps. 0 means "before the first event".
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Seq(pub u64);

impl Seq {
    /// Before the first event.
    pub const ZERO: Seq = Seq(0);

    /// The next position.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A position within one stream: 1, 2, 3, … 0 means "the stream has no events yet".
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct StreamVersion(pub u32);

impl StreamVersion {
    /// The version of an empty stream.
    pub const EMPTY: StreamVersion = StreamVersion(0);

    /// The next version.
    pub fn next(self) -> StreamVersion {
        StreamVersion(self.0 + 1)
    }
}

impl fmt::Display for StreamVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Mints deployment ids.
pub trait IdGen: Send + Sync + 'static {
    /// A new, never before seen deployment id.
    fn deployment_id(&self) -> DeploymentId;
}

/// Production ids: UUID v7, time-ordered, random in the low bits.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdGen for RandomIds {
    fn deployment_id(&self) -> DeploymentId {
        DeploymentId(Uuid::now_v7())
    }
}

/// A random seed (for jitter and the simulator's ids in production runs).
pub fn random_seed() -> u64 {
    let (high, _) = Uuid::new_v4().as_u64_pair();
    high
}

/// A random secret of 64 hex digits (256 bits less the UUID version bits).
pub fn random_token() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// Predictable ids for tests: `Uuid::from_u128(1)`, `2`, `3`, … (ordered like v7 ids are).
#[derive(Debug, Default)]
pub struct SequentialIds {
    next: AtomicU64,
}

impl IdGen for SequentialIds {
    fn deployment_id(&self) -> DeploymentId {
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        DeploymentId(Uuid::from_u128(u128::from(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_id_round_trips_through_its_display_form() {
        let id = RandomIds.deployment_id();
        let shown = id.to_string();
        assert!(shown.starts_with("dep_") && shown.len() == 36, "{shown}");
        assert_eq!(shown.parse::<DeploymentId>(), Ok(id));
    }

    #[test]
    fn deployment_id_parse_refuses_malformed_text() {
        for bad in [
            "",
            "dep_",
            "dep_123",
            "0190a0b0c0d0e0f0a0b0c0d0e0f0a0b0",
            "dep_0190a0b0-c0d0-e0f0-a0b0-c0d0e0f0a0b0",
            "dep_zz90a0b0c0d0e0f0a0b0c0d0e0f0a0b0",
            "dep_0190a0b0c0d0e0f0a0b0c0d0e0f0a0b0c",
        ] {
            assert!(bad.parse::<DeploymentId>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn random_ids_are_version_7_and_time_ordered() {
        let first = RandomIds.deployment_id();
        let second = RandomIds.deployment_id();
        assert_eq!(first.as_uuid().get_version_num(), 7);
        assert!(first < second);
    }

    #[test]
    fn sequential_ids_count_from_one() {
        let ids = SequentialIds::default();
        assert_eq!(ids.deployment_id().as_uuid(), Uuid::from_u128(1));
        assert_eq!(ids.deployment_id().as_uuid(), Uuid::from_u128(2));
    }
}
