//! The figures `GET /metrics` reports about deployments, folded from the read model:
//! deployments by status, retried attempts, and the time spent in each phase left.
//!
//! Pure: this only sums what the deployment states hold. It never writes Prometheus text (that
//! is the HTTP layer's job) and never reads anything but the states it is given.

use crate::deployment::{DeploymentStatus, Phase};
use crate::projection::deployment::DeploymentState;

/// The time deployments spent in one phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTotal {
    /// Milliseconds, summed over every deployment that left the phase.
    pub spent_ms: u64,
    /// How many times a deployment left the phase.
    pub count: u64,
}

/// Deployment figures for the metrics page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    /// Deployments by status, in the order in_progress, success, failure.
    pub by_status: [(DeploymentStatus, u64); 3],
    /// Failed attempts that were retried, over every deployment.
    pub retries: u64,
    /// Time spent per phase, in phase order; only phases some deployment has left.
    pub phases: Vec<(Phase, PhaseTotal)>,
}

impl Figures {
    /// The figures of `deployments`.
    pub fn of<'a>(deployments: impl IntoIterator<Item = &'a DeploymentState>) -> Self {
        let mut by_status = [
            (DeploymentStatus::InProgress, 0),
            (DeploymentStatus::Success, 0),
            (DeploymentStatus::Failure, 0),
        ];
        let mut retries = 0;
        let mut phases = Phase::ALL.map(|phase| (phase, PhaseTotal::default()));
        for deployment in deployments {
            if let Some((_, count)) = by_status
                .iter_mut()
                .find(|(status, _)| *status == deployment.status)
            {
                *count += 1;
            }
            retries += u64::from(deployment.retries);
            for (left, spent_ms) in &deployment.phase_durations {
                if let Some((_, total)) = phases.iter_mut().find(|(phase, _)| phase == left) {
                    total.spent_ms += spent_ms;
                    total.count += 1;
                }
            }
        }
        Self {
            by_status,
            retries,
            phases: phases
                .into_iter()
                .filter(|(_, total)| total.count > 0)
                .collect(),
        }
    }
}

/// The figures of every deployment, kept as running sums so that none has to be in memory:
/// each state's share is added when it changes and taken away before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Deployments by status, as in [`Figures::by_status`].
    pub by_status: [u64; 3],
    /// Retried attempts.
    pub retries: u64,
    /// Per phase, in [`Phase::ALL`] order.
    pub phases: [PhaseTotal; Phase::ALL.len()],
}

impl Default for Totals {
    fn default() -> Self {
        Self {
            by_status: [0; 3],
            retries: 0,
            phases: [PhaseTotal::default(); Phase::ALL.len()],
        }
    }
}

impl Totals {
    /// Adds `state`'s share.
    pub fn add(&mut self, state: &DeploymentState) {
        self.change(state, true);
    }

    /// Takes `state`'s share away (it was added before).
    pub fn remove(&mut self, state: &DeploymentState) {
        self.change(state, false);
    }

    fn change(&mut self, state: &DeploymentState, add: bool) {
        let step = |total: &mut u64, by: u64| {
            *total = if add {
                total.saturating_add(by)
            } else {
                total.saturating_sub(by)
            };
        };
        let slot = match state.status {
            DeploymentStatus::InProgress => 0,
            DeploymentStatus::Success => 1,
            DeploymentStatus::Failure => 2,
        };
        step(&mut self.by_status[slot], 1);
        step(&mut self.retries, u64::from(state.retries));
        for (left, spent_ms) in &state.phase_durations {
            if let Some(index) = Phase::ALL.iter().position(|phase| phase == left) {
                step(&mut self.phases[index].spent_ms, *spent_ms);
                step(&mut self.phases[index].count, 1);
            }
        }
    }

    /// The figures `/metrics` reports.
    pub fn figures(&self) -> Figures {
        Figures {
            by_status: [
                (DeploymentStatus::InProgress, self.by_status[0]),
                (DeploymentStatus::Success, self.by_status[1]),
                (DeploymentStatus::Failure, self.by_status[2]),
            ],
            retries: self.retries,
            phases: Phase::ALL
                .into_iter()
                .zip(self.phases)
                .filter(|(_, total)| total.count > 0)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::Event;
    use crate::projection::ReadModel;
    use crate::projection::fixture::{envelope, requested, stream};

    #[test]
    fn figures_sum_statuses_retries_and_phase_times_over_every_deployment() {
        let enter = |phase| Event::PhaseEntered { phase };
        let retried = Event::ApiCallFailed {
            call: 1,
            attempt: 1,
            status: Some(503),
            error: "unavailable".into(),
            duration_ms: 1,
            retry_in_ms: Some(1_000),
        };
        let done = Event::DeploymentSucceeded {
            url: "https://a.example".into(),
        };
        let log = [
            envelope(stream(1), 1, 0, requested("a")),
            envelope(stream(2), 2, 0, requested("b")),
            envelope(stream(1), 3, 100, enter(Phase::CreatingProject)),
            envelope(stream(2), 4, 300, enter(Phase::CreatingProject)),
            envelope(stream(1), 5, 400, retried),
            envelope(stream(1), 6, 600, done),
        ];
        let model = ReadModel::fold(&log);
        let figures = model.figures();
        assert_eq!(
            figures.by_status,
            [
                (DeploymentStatus::InProgress, 1),
                (DeploymentStatus::Success, 1),
                (DeploymentStatus::Failure, 0)
            ]
        );
        assert_eq!(figures.retries, 1);
        let initializing = PhaseTotal {
            spent_ms: 400,
            count: 2,
        };
        let creating = PhaseTotal {
            spent_ms: 500,
            count: 1,
        };
        assert_eq!(
            figures.phases,
            vec![
                (Phase::Initializing, initializing),
                (Phase::CreatingProject, creating)
            ]
        );
    }
}
