//! What a rollback's verification found left on Dokploy ([`Leftover`]), persisted inside
//! `RollbackVerified`: the evolution rules of `event.rs` hold.
//!
//! Nothing here is ever reshaped, and this file never performs I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::deployment::ResourceId;

/// What a rollback's verification found left on Dokploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftoverKind {
    /// A project row.
    Project,
    /// An application row.
    Application,
    /// A domain row.
    Domain,
    /// The stack's public URL still answers: a service and its route are still up.
    Route,
}

impl LeftoverKind {
    /// The wire name (`route`).
    pub fn as_str(self) -> &'static str {
        match self {
            LeftoverKind::Project => "project",
            LeftoverKind::Application => "application",
            LeftoverKind::Domain => "domain",
            LeftoverKind::Route => "route",
        }
    }
}

impl fmt::Display for LeftoverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a rollback left behind, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    /// What it is.
    pub kind: LeftoverKind,
    /// Its Dokploy id, when it has one (a route has none).
    pub id: Option<ResourceId>,
    /// What was found and what to do about it.
    pub detail: String,
}
