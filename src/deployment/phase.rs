//! The phase table and the overall status of a deployment (DESIGN §4): the order of the
//! forward phases, the progress each starts at, their wire names and titles.
//!
//! Both types are part of the persisted event form (bincode encodes variants by position):
//! never reorder, remove or rename a variant. This file performs no I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The deployment phases, in the order a deployment walks them (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Accepted, nothing called yet.
    Initializing,
    /// Finding or creating the Dokploy project.
    CreatingProject,
    /// Finding the project's default environment.
    GettingEnvironment,
    /// Finding or creating the application.
    CreatingApplication,
    /// Setting the Docker image on the application.
    ConfiguringApplication,
    /// Finding or creating the domain.
    CreatingDomain,
    /// Dokploy builds and starts the app.
    Deploying,
    /// Polling the app's health URL.
    VerifyingHealth,
    /// The stack is up.
    Completed,
    /// Undoing what this deployment created.
    RollingBack,
    /// Rolled back; the deployment is over.
    Failed,
}

impl Phase {
    /// Every phase, forward ones first.
    pub const ALL: [Phase; 11] = [
        Phase::Initializing,
        Phase::CreatingProject,
        Phase::GettingEnvironment,
        Phase::CreatingApplication,
        Phase::ConfiguringApplication,
        Phase::CreatingDomain,
        Phase::Deploying,
        Phase::VerifyingHealth,
        Phase::Completed,
        Phase::RollingBack,
        Phase::Failed,
    ];

    /// The progress (percent) a deployment shows when it enters this phase, if the phase has
    /// one. Rolling back and failing keep the progress the deployment had reached.
    pub fn progress(self) -> Option<u8> {
        match self {
            Phase::Initializing => Some(0),
            Phase::CreatingProject => Some(10),
            Phase::GettingEnvironment => Some(20),
            Phase::CreatingApplication => Some(30),
            Phase::ConfiguringApplication => Some(45),
            Phase::CreatingDomain => Some(60),
            Phase::Deploying => Some(70),
            Phase::VerifyingHealth => Some(90),
            Phase::Completed => Some(100),
            Phase::RollingBack | Phase::Failed => None,
        }
    }

    /// The wire name (`creating_project`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Initializing => "initializing",
            Phase::CreatingProject => "creating_project",
            Phase::GettingEnvironment => "getting_environment",
            Phase::CreatingApplication => "creating_application",
            Phase::ConfiguringApplication => "configuring_application",
            Phase::CreatingDomain => "creating_domain",
            Phase::Deploying => "deploying",
            Phase::VerifyingHealth => "verifying_health",
            Phase::Completed => "completed",
            Phase::RollingBack => "rolling_back",
            Phase::Failed => "failed",
        }
    }

    /// The step as a person reads it ("Creating project").
    pub fn title(self) -> &'static str {
        match self {
            Phase::Initializing => "Initializing",
            Phase::CreatingProject => "Creating project",
            Phase::GettingEnvironment => "Getting environment",
            Phase::CreatingApplication => "Creating application",
            Phase::ConfiguringApplication => "Configuring application",
            Phase::CreatingDomain => "Creating domain",
            Phase::Deploying => "Deploying",
            Phase::VerifyingHealth => "Verifying health",
            Phase::Completed => "Completed",
            Phase::RollingBack => "Rolling back",
            Phase::Failed => "Failed",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a deployment stands overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// Running, rolling back, or waiting for recovery.
    InProgress,
    /// The stack is up.
    Success,
    /// Failed and rolled back (completely or partially).
    Failure,
}

impl DeploymentStatus {
    /// The wire name (`in_progress`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::InProgress => "in_progress",
            DeploymentStatus::Success => "success",
            DeploymentStatus::Failure => "failure",
        }
    }

    /// Whether a deployment with this status holds its stack name (DESIGN §5: an
    /// `in_progress` or `success` deployment makes the name unavailable).
    pub fn holds_name(self) -> bool {
        matches!(
            self,
            DeploymentStatus::InProgress | DeploymentStatus::Success
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_progress_rises_along_the_forward_phases() {
        let forward: Vec<u8> = Phase::ALL.iter().filter_map(|p| p.progress()).collect();
        assert_eq!(forward, vec![0, 10, 20, 30, 45, 60, 70, 90, 100]);
    }

    #[test]
    fn phase_wire_names_match_serde() {
        for phase in Phase::ALL {
            let json = serde_json::to_string(&phase).expect("a phase serializes");
            assert_eq!(json, format!("\"{}\"", phase.as_str()));
        }
    }
}
