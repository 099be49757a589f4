//! The log view of a deployment: one line per event, the last 50 kept.
//!
//! Each line's sentence comes from the one renderer ([`crate::projection::render`]), so the view
//! reads the same whether it was built live or replayed years later. Pure: no clock, no I/O.
//! It never keeps more than [`LOG_ENTRIES_MAX`] lines and never words an event itself.

use std::collections::VecDeque;

use crate::deployment::Phase;
use crate::projection::render::Line;

/// How many log lines a deployment view keeps.
pub const LOG_ENTRIES_MAX: usize = 50;

/// One line of a deployment's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The event's seq.
    pub seq: u64,
    /// Unix milliseconds of the event.
    pub at: i64,
    /// The phase the deployment was in once the event was folded.
    pub phase: Phase,
    /// The rendered event.
    pub line: Line,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::render::LogLevel;

    fn entry(seq: u64) -> LogEntry {
        LogEntry {
            seq,
            at: 0,
            phase: Phase::Initializing,
            line: Line {
                level: LogLevel::Info,
                action: "phase_entered",
                text: String::new(),
                duration_ms: None,
                note: None,
            },
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
}
