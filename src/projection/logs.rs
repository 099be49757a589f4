//! The log view of a deployment: one human-readable line per event, the last 50 kept.
//!
//! Each line is derived from one event alone (plus the call it answers), so the view is the same
//! whether it was built live or replayed years later. Pure: no clock, no I/O.

use std::collections::VecDeque;

use serde::Serialize;

use crate::deployment::{EventKind, Phase};

/// How many log lines a deployment view keeps.
pub const LOG_ENTRIES_MAX: usize = 50;

/// How much a line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Progress as planned.
    Info,
    /// Something went wrong and is being handled (a retry, a failed poll, a recovery).
    Warn,
    /// The deployment failed or a rollback step failed.
    Error,
}

/// One line of a deployment's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The event's seq.
    pub seq: u64,
    /// Unix milliseconds of the event.
    pub at: i64,
    /// Its level.
    pub level: LogLevel,
    /// The phase the deployment was in.
    pub phase: Phase,
    /// The event kind.
    pub kind: EventKind,
    /// What a person reads.
    pub message: String,
    /// How long the step took, where the event says.
    pub duration_ms: Option<u64>,
}

impl LogEntry {
    /// The `action` field of the JSON view: the event kind in snake_case.
    pub fn action(&self) -> &'static str {
        match self.kind {
            EventKind::DeploymentRequested => "deployment_requested",
            EventKind::PhaseEntered => "phase_entered",
            EventKind::ApiCallStarted => "api_call_started",
            EventKind::ApiCallSucceeded => "api_call_succeeded",
            EventKind::ApiCallFailed => "api_call_failed",
            EventKind::ResourceFound => "resource_found",
            EventKind::ResourceCreated => "resource_created",
            EventKind::DeployQueued => "deploy_queued",
            EventKind::DeployFinished => "deploy_finished",
            EventKind::HealthCheckAttempt => "health_check_attempt",
            EventKind::HealthVerified => "health_verified",
            EventKind::DeploymentSucceeded => "deployment_succeeded",
            EventKind::DeploymentFailed => "deployment_failed",
            EventKind::RollbackStarted => "rollback_started",
            EventKind::RollbackStepSucceeded => "rollback_step_succeeded",
            EventKind::RollbackStepFailed => "rollback_step_failed",
            EventKind::RollbackFinished => "rollback_finished",
            EventKind::RecoveryStarted => "recovery_started",
            EventKind::CircuitOpened => "circuit_opened",
            EventKind::CircuitHalfOpened => "circuit_half_opened",
            EventKind::CircuitClosed => "circuit_closed",
            EventKind::ServerStarted => "server_started",
        }
    }
}

/// The last [`LOG_ENTRIES_MAX`] lines, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogView {
    entries: VecDeque<LogEntry>,
}

impl LogView {
    /// Adds a line, dropping the oldest beyond the cap.
    pub fn push(&mut self, entry: LogEntry) {
        if self.entries.len() == LOG_ENTRIES_MAX {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// The lines, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &LogEntry> {
        self.entries.iter()
    }

    /// The newest line.
    pub fn last(&self) -> Option<&LogEntry> {
        self.entries.back()
    }

    /// How many lines are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True before the first line.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Formats a duration in milliseconds the way the pages show it ("4 s", "1.5 s", "250 ms").
pub fn human_ms(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1_000) {
        format!("{} s", ms / 1_000)
    } else {
        format!("{:.1} s", ms as f64 / 1_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> LogEntry {
        LogEntry {
            seq,
            at: 0,
            level: LogLevel::Info,
            phase: Phase::Initializing,
            kind: EventKind::PhaseEntered,
            message: String::new(),
            duration_ms: None,
        }
    }

    #[test]
    fn log_view_keeps_the_last_fifty_lines_in_order() {
        let mut view = LogView::default();
        for seq in 1..=60 {
            view.push(entry(seq));
        }
        let seqs: Vec<u64> = view.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (11..=60).collect::<Vec<_>>());
    }

    #[test]
    fn human_ms_reads_naturally() {
        assert_eq!(human_ms(250), "250 ms");
        assert_eq!(human_ms(4_000), "4 s");
        assert_eq!(human_ms(1_500), "1.5 s");
    }
}
