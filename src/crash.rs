//! Crash points: named places where the process aborts on purpose, so that tests can prove
//! that recovery leaves nothing `in_progress` and nothing orphaned whatever the moment of a
//! crash. Off unless `--crash-at POINT:N` (`STACKLEDGER_CRASH_AT`) names a point and the
//! occurrence to abort at; `abort` skips destructors and buffered writes, like a power cut
//! does to the process (the disk keeps what was made durable).
//!
//! Without a configured point it never aborts: reaching a point only counts it.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// A place where the process may be made to crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashPoint {
    /// Just before a deployment event is appended.
    BeforeAppend,
    /// Just after a deployment event is durable.
    AfterAppend,
    /// After a Dokploy call's intent is durable, before the request leaves.
    BeforeCall,
    /// After Dokploy answered, before the outcome is recorded.
    AfterCall,
    /// Between two rollback steps.
    BetweenRollbackSteps,
    /// While recovering an interrupted deployment at startup.
    InRecovery,
    /// In the ledger writer, after a group commit is written to the store, before its sync.
    AfterStoreWrite,
    /// In the ledger, while a checkpoint is being stored (after its index write, before it is
    /// durable).
    InCheckpoint,
}

impl CrashPoint {
    /// Every point.
    pub const ALL: [CrashPoint; 8] = [
        CrashPoint::BeforeAppend,
        CrashPoint::AfterAppend,
        CrashPoint::BeforeCall,
        CrashPoint::AfterCall,
        CrashPoint::BetweenRollbackSteps,
        CrashPoint::InRecovery,
        CrashPoint::AfterStoreWrite,
        CrashPoint::InCheckpoint,
    ];

    /// Its name on the command line (`after_append`).
    pub fn as_str(self) -> &'static str {
        match self {
            CrashPoint::BeforeAppend => "before_append",
            CrashPoint::AfterAppend => "after_append",
            CrashPoint::BeforeCall => "before_call",
            CrashPoint::AfterCall => "after_call",
            CrashPoint::BetweenRollbackSteps => "between_rollback_steps",
            CrashPoint::InRecovery => "in_recovery",
            CrashPoint::AfterStoreWrite => "after_store_write",
            CrashPoint::InCheckpoint => "in_checkpoint",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POINT:N`: abort at the Nth time POINT is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashAt {
    /// The point.
    pub point: CrashPoint,
    /// The occurrence, from 1.
    pub occurrence: u64,
}

impl FromStr for CrashAt {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = || format!("expected POINT:N with POINT one of {}", names());
        let (point, occurrence) = text.split_once(':').ok_or_else(usage)?;
        let point = CrashPoint::ALL
            .into_iter()
            .find(|candidate| candidate.as_str() == point)
            .ok_or_else(usage)?;
        let occurrence = occurrence
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(usage)?;
        Ok(CrashAt { point, occurrence })
    }
}

fn names() -> String {
    let names: Vec<&str> = CrashPoint::ALL.iter().map(|p| p.as_str()).collect();
    names.join(", ")
}

/// Counts how often each point is reached and aborts at the configured one.
#[derive(Debug, Default)]
pub struct CrashPoints {
    target: Option<CrashAt>,
    counts: [AtomicU64; CrashPoint::ALL.len()],
}

impl CrashPoints {
    /// Points that count but never abort.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Points that abort at `target`.
    pub fn at(target: Option<CrashAt>) -> Self {
        Self {
            target,
            ..Self::default()
        }
    }

    /// Marks that `point` is reached; aborts the process if this is the configured occurrence.
    pub fn hit(&self, point: CrashPoint) {
        let reached = self.counts[point.index()].fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(target) = self.target
            && target.point == point
            && target.occurrence == reached
        {
            eprintln!("crash point {point}:{reached} reached: aborting on purpose");
            std::process::abort();
        }
    }

    /// How often each point was reached.
    pub fn counts(&self) -> Vec<(CrashPoint, u64)> {
        CrashPoint::ALL
            .iter()
            .map(|point| (*point, self.counts[point.index()].load(Ordering::SeqCst)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_at_parses_point_and_occurrence() {
        assert_eq!(
            "after_append:17".parse::<CrashAt>(),
            Ok(CrashAt {
                point: CrashPoint::AfterAppend,
                occurrence: 17
            })
        );
        for bad in [
            "",
            "after_append",
            "after_append:0",
            "nowhere:3",
            "before_call:x",
        ] {
            assert!(bad.parse::<CrashAt>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn points_count_without_a_target() {
        let points = CrashPoints::disabled();
        points.hit(CrashPoint::BeforeCall);
        points.hit(CrashPoint::BeforeCall);
        assert!(points.counts().contains(&(CrashPoint::BeforeCall, 2)));
    }
}
