//! How a finished rollback went (DESIGN §4, §6): `complete` when nothing this deployment
//! created is left, `partial` when something could not be deleted.
//!
//! This is the read side's word for the `complete: bool` of `RollbackFinished`; the persisted
//! event keeps its bool and never changes shape. It serializes as the wire names the SSE
//! `error` message, the deployment view and the ops list have always used. No I/O here.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The outcome of a finished rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackOutcome {
    /// Everything this deployment created is gone.
    Complete,
    /// Some resource could not be deleted.
    Partial,
}

impl RollbackOutcome {
    /// The outcome `RollbackFinished { complete }` records.
    pub fn of(complete: bool) -> Self {
        if complete {
            Self::Complete
        } else {
            Self::Partial
        }
    }

    /// Whether nothing is left behind.
    pub fn is_complete(self) -> bool {
        self == Self::Complete
    }

    /// The wire name: `complete` or `partial`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Partial => "partial",
        }
    }
}

impl fmt::Display for RollbackOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_outcome_serializes_as_the_wire_names_when_written_as_json() {
        for (complete, wire) in [(true, "complete"), (false, "partial")] {
            let outcome = RollbackOutcome::of(complete);
            assert_eq!(
                serde_json::to_value(outcome).expect("serializes"),
                serde_json::json!(wire)
            );
            assert_eq!(outcome.as_str(), wire);
            assert_eq!(outcome.to_string(), wire);
            assert_eq!(outcome.is_complete(), complete);
        }
    }
}
