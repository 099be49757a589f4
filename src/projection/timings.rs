//! Phase timings: how long a deployment spent in each phase it has left, from the envelopes'
//! times (the metrics' phase durations read these).
//!
//! It never reads a clock or does I/O: a phase's time is the gap between the events that
//! entered and left it.

use std::slice;

use crate::deployment::Phase;

/// The time spent in each phase left so far, in order, and when the current phase began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseDurations {
    /// Each phase left, with the milliseconds spent in it.
    finished: Vec<(Phase, u64)>,
    /// When the current phase was entered (unix ms).
    since: i64,
}

impl PhaseDurations {
    /// Timings of a deployment whose first phase began at `at` (unix ms).
    pub fn starting(at: i64) -> Self {
        Self {
            finished: Vec::new(),
            since: at,
        }
    }

    /// Closes `current`'s time at `at` when the deployment moves on to another phase.
    pub fn switch(&mut self, current: Phase, next: Phase, at: i64) {
        if next != current {
            let spent = u64::try_from(at.saturating_sub(self.since)).unwrap_or(0);
            self.finished.push((current, spent));
            self.since = at;
        }
    }

    /// When the current phase was entered (unix ms).
    pub fn since(&self) -> i64 {
        self.since
    }

    /// Each phase left, with the milliseconds spent in it, in order.
    pub fn iter(&self) -> slice::Iter<'_, (Phase, u64)> {
        self.finished.iter()
    }
}

impl<'a> IntoIterator for &'a PhaseDurations {
    type Item = &'a (Phase, u64);
    type IntoIter = slice::Iter<'a, (Phase, u64)>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_durations_close_a_phase_only_when_the_phase_changes() {
        let mut timings = PhaseDurations::starting(1_000);
        timings.switch(Phase::Initializing, Phase::CreatingProject, 1_250);
        timings.switch(Phase::CreatingProject, Phase::CreatingProject, 1_300);
        timings.switch(Phase::CreatingProject, Phase::Completed, 2_000);
        let spent: Vec<_> = timings.iter().copied().collect();
        assert_eq!(
            spent,
            vec![(Phase::Initializing, 250), (Phase::CreatingProject, 750)]
        );
        assert_eq!(timings.since(), 2_000);
    }

    #[test]
    fn phase_durations_never_go_negative_when_times_run_backwards() {
        let mut timings = PhaseDurations::starting(5_000);
        timings.switch(Phase::Initializing, Phase::CreatingProject, 4_000);
        assert_eq!(timings.iter().next(), Some(&(Phase::Initializing, 0)));
    }
}
