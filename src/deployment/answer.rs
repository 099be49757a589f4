//! The answers of Dokploy calls as the orchestrator goes on with them ([`ApiAnswer`] and the
//! types inside it): persisted inside `ApiCallSucceeded`, so the same evolution rules as
//! `event.rs` hold: variants and fields are never reordered, removed or reshaped, only appended.
//!
//! This file performs no I/O and knows nothing of Dokploy's wire format.

use serde::{Deserialize, Serialize};

use crate::deployment::ResourceId;

/// A project as the orchestrator goes on with it: its id and its default environment's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectAnswer {
    /// `projectId`.
    pub project_id: ResourceId,
    /// `environmentId` of the default (production) environment, when the project has one.
    pub environment_id: Option<ResourceId>,
}

/// An application as the orchestrator goes on with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationAnswer {
    /// `applicationId`.
    pub application_id: ResourceId,
    /// `appName`, which Dokploy suffixes with random characters; None where the answer that
    /// found the application does not carry it (`environment.one`).
    pub app_name: Option<String>,
}

/// One row of `deployment.all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRow {
    /// `deploymentId`.
    pub deployment_id: ResourceId,
    /// The title given to `application.deploy`.
    pub title: String,
    /// `running`, `done`, `error`, `cancelled` or `idle`.
    pub status: String,
}

/// The typed result of a successful Dokploy call: exactly what the orchestrator went on with,
/// enough for `stackledger-replay redrive` to answer that call again without the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiAnswer {
    /// The call returns nothing the orchestrator uses (deploy, deletes, saving the provider).
    Empty,
    /// A project lookup (None: no project of that name) or creation.
    Project(Option<ProjectAnswer>),
    /// An application lookup or creation.
    Application(Option<ApplicationAnswer>),
    /// A domain lookup or creation: the domain's id.
    Domain(Option<ResourceId>),
    /// The deployments of an application, newest first.
    Deployments(Vec<DeploymentRow>),
    /// What a project holds (`project.one`): every service in any of its environments.
    ProjectServices(Vec<ServiceRef>),
}

/// One service a project holds, as `project.one` lists it (an application, a compose stack, a
/// database).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRef {
    /// Dokploy's kind of service (`application`, `compose`, `postgres`, …).
    pub kind: String,
    /// Its id.
    pub id: ResourceId,
    /// Its name.
    pub name: String,
}
