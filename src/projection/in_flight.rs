//! The deployments in flight (status `in_progress`), ordered by when each was requested: the
//! index behind the in-flight figures of `/health` and `/metrics` (issue 13: a deployment that
//! sits in "running" for hours must show).
//!
//! The read model keeps it as it folds: a deployment enters at its `DeploymentRequested`,
//! leaves when its status turns `success` or `failure`, and enters again at a
//! `RecoveryStarted`. Each change is O(log n), and the figures are read in O(log n), so an
//! answer never scans every deployment. Like every projection it is pure: it never reads a
//! clock (the age of the oldest is computed by the caller, from its own clock, at answer time).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::deployment::DeploymentStatus;
use crate::ids::DeploymentId;

/// The in-flight deployments, oldest request first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InFlight {
    /// (requested at, unix ms; id): the id breaks ties between requests of the same ms.
    by_request: BTreeSet<(i64, DeploymentId)>,
}

/// What the index says at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InFlightFigures {
    /// Deployments in progress.
    pub count: u64,
    /// When the oldest of them was requested (unix ms); None when none is in flight.
    pub oldest_requested_at: Option<i64>,
}

impl InFlightFigures {
    /// How long the oldest in-flight deployment has been going at `now_ms`; zero when its
    /// request time is after `now_ms` (a clock set back), None when none is in flight.
    pub fn oldest_age(&self, now_ms: i64) -> Option<Duration> {
        self.oldest_requested_at.map(|requested_at| {
            let age_ms = now_ms.saturating_sub(requested_at);
            Duration::from_millis(u64::try_from(age_ms).unwrap_or(0))
        })
    }
}

impl InFlight {
    /// Records that deployment `id`, requested at `requested_at` (unix ms), now has `status`:
    /// in the index while `in_progress`, out of it otherwise. Idempotent.
    pub fn track(&mut self, id: DeploymentId, requested_at: i64, status: DeploymentStatus) {
        let key = (requested_at, id);
        match status {
            DeploymentStatus::InProgress => self.by_request.insert(key),
            DeploymentStatus::Success | DeploymentStatus::Failure => self.by_request.remove(&key),
        };
    }

    /// How many are in flight and when the oldest was requested.
    pub fn figures(&self) -> InFlightFigures {
        InFlightFigures {
            count: self.by_request.len() as u64,
            oldest_requested_at: self.by_request.first().map(|(at, _)| *at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::Event;
    use crate::projection::ReadModel;
    use crate::projection::fixture::{envelope, requested, stream};

    fn succeeded() -> Event {
        Event::DeploymentSucceeded {
            url: "https://a.example".into(),
        }
    }

    fn rolled_back() -> Event {
        Event::RollbackFinished { complete: true }
    }

    fn recovering() -> Event {
        Event::RecoveryStarted {
            reason: "restart".into(),
        }
    }

    fn figures(count: u64, oldest: Option<i64>) -> InFlightFigures {
        InFlightFigures {
            count,
            oldest_requested_at: oldest,
        }
    }

    #[test]
    fn in_flight_counts_requests_and_names_the_oldest_when_folded_in_seq_order() {
        let log = [
            envelope(stream(2), 1, 1_000, requested("b")),
            envelope(stream(1), 2, 2_000, requested("a")),
            envelope(stream(3), 3, 3_000, requested("c")),
        ];
        assert_eq!(
            ReadModel::fold(&log).in_flight(),
            figures(3, Some(1_000)),
            "the oldest is the first requested, whatever its id"
        );
    }

    #[test]
    fn in_flight_drops_a_deployment_when_it_succeeds_or_finishes_rolling_back() {
        let log = [
            envelope(stream(1), 1, 1_000, requested("a")),
            envelope(stream(2), 2, 2_000, requested("b")),
            envelope(stream(3), 3, 3_000, requested("c")),
            envelope(stream(1), 4, 4_000, succeeded()),
        ];
        let model = ReadModel::fold(&log);
        assert_eq!(model.in_flight(), figures(2, Some(2_000)));
        let mut model = model;
        model.apply(&envelope(stream(2), 5, 5_000, rolled_back()));
        assert_eq!(model.in_flight(), figures(1, Some(3_000)));
        model.apply(&envelope(stream(3), 6, 6_000, succeeded()));
        assert_eq!(model.in_flight(), figures(0, None));
    }

    #[test]
    fn in_flight_keeps_a_failed_deployment_until_its_rollback_finishes() {
        let failed = Event::DeploymentFailed {
            phase: crate::deployment::Phase::CreatingProject,
            code: "dokploy_unavailable".into(),
            message: "503".into(),
        };
        let log = [
            envelope(stream(1), 1, 1_000, requested("a")),
            envelope(stream(1), 2, 2_000, failed),
            envelope(stream(1), 3, 3_000, Event::RollbackStarted),
        ];
        assert_eq!(
            ReadModel::fold(&log).in_flight(),
            figures(1, Some(1_000)),
            "a rollback is still in flight: its status is in_progress"
        );
    }

    #[test]
    fn in_flight_counts_a_recovered_deployment_once_from_its_request_time() {
        let log = [
            envelope(stream(1), 1, 1_000, requested("a")),
            envelope(stream(2), 2, 2_000, requested("b")),
            envelope(stream(1), 3, 9_000, recovering()),
        ];
        assert_eq!(
            ReadModel::fold(&log).in_flight(),
            figures(2, Some(1_000)),
            "a recovery neither counts it twice nor restarts its age"
        );
    }

    #[test]
    fn in_flight_takes_back_a_finished_deployment_that_recovery_starts_again() {
        let log = [
            envelope(stream(1), 1, 1_000, requested("a")),
            envelope(stream(1), 2, 2_000, rolled_back()),
            envelope(stream(1), 3, 3_000, recovering()),
        ];
        assert_eq!(ReadModel::fold(&log).in_flight(), figures(1, Some(1_000)));
    }

    #[test]
    fn in_flight_ignores_the_system_stream_and_events_folded_twice() {
        let started = Event::ServerStarted {
            version: "0.2.0".into(),
        };
        let mut model = ReadModel::fold(&[
            envelope(crate::ids::DeploymentId::SYSTEM, 1, 500, started),
            envelope(stream(1), 2, 1_000, requested("a")),
            envelope(stream(1), 3, 2_000, succeeded()),
        ]);
        model.apply(&envelope(stream(1), 2, 1_000, requested("a")));
        assert_eq!(model.in_flight(), figures(0, None));
    }

    #[test]
    fn oldest_age_is_measured_at_the_given_time_and_never_negative() {
        let some = figures(2, Some(10_000));
        assert_eq!(some.oldest_age(12_500), Some(Duration::from_millis(2_500)));
        assert_eq!(some.oldest_age(9_000), Some(Duration::ZERO));
        assert_eq!(figures(0, None).oldest_age(12_500), None);
    }
}
