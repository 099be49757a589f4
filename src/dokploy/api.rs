//! The operations the orchestrator needs from Dokploy, as one typed [`Request`] enum, and the
//! [`DokployApi`] trait that answers them.
//!
//! One request type (rather than one trait method per operation) lets the ledger recording,
//! the retry loop and `stackledger-replay redrive` treat every call alike: each request knows
//! its Dokploy procedure and method, and each answer is the typed [`ApiAnswer`] that goes into
//! the ledger. Typed accessors on the answer keep the orchestrator's code typed.

use std::future::Future;

use crate::deployment::{
    ApiAnswer, ApplicationAnswer, DeploymentRow, HttpMethod, Procedure, ProjectAnswer, ResourceId,
};
use crate::dokploy::error::DokployError;

/// One operation against Dokploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `GET /api/project.all`, filtered to the project named `name` (names are not unique;
    /// the oldest match wins) with its default environment.
    FindProject {
        /// The project name.
        name: String,
    },
    /// `POST /api/project.create`; answers the project and its default environment.
    CreateProject {
        /// The project name.
        name: String,
    },
    /// `GET /api/environment.one`, filtered to the application named `name`.
    FindApplication {
        /// The environment to look in.
        environment_id: ResourceId,
        /// The application's display name.
        name: String,
    },
    /// `POST /api/application.create` with `appName` = `name` (Dokploy suffixes it) and
    /// `sourceType` docker.
    CreateApplication {
        /// The environment to create it in.
        environment_id: ResourceId,
        /// Its display name and appName prefix.
        name: String,
    },
    /// `POST /api/application.saveDockerProvider` with all five keys.
    SaveDockerProvider {
        /// The application.
        application_id: ResourceId,
        /// The Docker image.
        image: String,
    },
    /// `GET /api/domain.byApplicationId`, filtered to `host`.
    FindDomain {
        /// The application.
        application_id: ResourceId,
        /// The host.
        host: String,
    },
    /// `POST /api/domain.create` with `https`, `certificateType: "letsencrypt"` and the port
    /// sent explicitly.
    CreateDomain {
        /// The application.
        application_id: ResourceId,
        /// The host.
        host: String,
        /// The container port Traefik forwards to.
        port: u16,
    },
    /// `GET /api/deployment.all`: the application's deployments, newest first.
    ListDeployments {
        /// The application.
        application_id: ResourceId,
    },
    /// `POST /api/application.deploy` with a unique title (answers 200 with an empty body).
    Deploy {
        /// The application.
        application_id: ResourceId,
        /// The unique title that finds this deploy's row later.
        title: String,
    },
    /// `POST /api/domain.delete`.
    DeleteDomain {
        /// The domain.
        domain_id: ResourceId,
    },
    /// `POST /api/application.delete` (also removes its domains, deployments and service).
    DeleteApplication {
        /// The application.
        application_id: ResourceId,
    },
    /// `POST /api/project.remove`.
    RemoveProject {
        /// The project.
        project_id: ResourceId,
    },
}

impl Request {
    /// The Dokploy procedure this request calls.
    pub fn procedure(&self) -> Procedure {
        match self {
            Request::FindProject { .. } => Procedure::ProjectAll,
            Request::CreateProject { .. } => Procedure::ProjectCreate,
            Request::FindApplication { .. } => Procedure::EnvironmentOne,
            Request::CreateApplication { .. } => Procedure::ApplicationCreate,
            Request::SaveDockerProvider { .. } => Procedure::ApplicationSaveDockerProvider,
            Request::FindDomain { .. } => Procedure::DomainByApplicationId,
            Request::CreateDomain { .. } => Procedure::DomainCreate,
            Request::ListDeployments { .. } => Procedure::DeploymentAll,
            Request::Deploy { .. } => Procedure::ApplicationDeploy,
            Request::DeleteDomain { .. } => Procedure::DomainDelete,
            Request::DeleteApplication { .. } => Procedure::ApplicationDelete,
            Request::RemoveProject { .. } => Procedure::ProjectRemove,
        }
    }

    /// GET for queries, POST for mutations (from the procedure table).
    pub fn method(&self) -> HttpMethod {
        self.procedure().method()
    }

    /// For a create, the lookup that finds what it would create: a create whose outcome is
    /// unknown is looked up again before it is resent, so a retry never duplicates.
    pub fn lookup(&self) -> Option<Request> {
        match self {
            Request::CreateProject { name } => Some(Request::FindProject { name: name.clone() }),
            Request::CreateApplication {
                environment_id,
                name,
            } => Some(Request::FindApplication {
                environment_id: environment_id.clone(),
                name: name.clone(),
            }),
            Request::CreateDomain {
                application_id,
                host,
                ..
            } => Some(Request::FindDomain {
                application_id: application_id.clone(),
                host: host.clone(),
            }),
            _ => None,
        }
    }

    /// One request of every kind (conformance tests, documentation).
    pub fn examples() -> Vec<Request> {
        let id = || ResourceId("xxxxxxxxxxxxxxxxxxxxx".to_owned());
        vec![
            Request::FindProject { name: "n".into() },
            Request::CreateProject { name: "n".into() },
            Request::FindApplication {
                environment_id: id(),
                name: "n".into(),
            },
            Request::CreateApplication {
                environment_id: id(),
                name: "n".into(),
            },
            Request::SaveDockerProvider {
                application_id: id(),
                image: "i".into(),
            },
            Request::FindDomain {
                application_id: id(),
                host: "h".into(),
            },
            Request::CreateDomain {
                application_id: id(),
                host: "h".into(),
                port: 8080,
            },
            Request::ListDeployments {
                application_id: id(),
            },
            Request::Deploy {
                application_id: id(),
                title: "t".into(),
            },
            Request::DeleteDomain { domain_id: id() },
            Request::DeleteApplication {
                application_id: id(),
            },
            Request::RemoveProject { project_id: id() },
        ]
    }
}

/// A successful answer: the HTTP status and what the orchestrator goes on with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The HTTP status (200 for every Dokploy success).
    pub status: u16,
    /// The typed answer.
    pub answer: ApiAnswer,
}

/// Answers Dokploy requests: the real client, and the recorded stand-in of `redrive`.
pub trait DokployApi: Send + Sync + 'static {
    /// Sends one request, once (no retry here).
    fn call(
        &self,
        request: &Request,
    ) -> impl Future<Output = Result<Answered, DokployError>> + Send;

    /// GETs a deployed app's health URL once and returns the status.
    fn probe_health(&self, url: &str) -> impl Future<Output = Result<u16, DokployError>> + Send;
}

/// Why an answer does not fit its request (a programming or recording error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{procedure} was answered with {answer:?}, which is not its kind of answer")]
pub struct AnswerMismatch {
    /// The procedure.
    pub procedure: Procedure,
    /// The answer received.
    pub answer: ApiAnswer,
}

/// Typed views of an answer.
pub trait AnswerExt {
    /// A project lookup or creation.
    fn project(self, procedure: Procedure) -> Result<Option<ProjectAnswer>, AnswerMismatch>;
    /// An application lookup or creation.
    fn application(self, procedure: Procedure)
    -> Result<Option<ApplicationAnswer>, AnswerMismatch>;
    /// A domain lookup or creation.
    fn domain(self, procedure: Procedure) -> Result<Option<ResourceId>, AnswerMismatch>;
    /// A deployment list.
    fn deployments(self, procedure: Procedure) -> Result<Vec<DeploymentRow>, AnswerMismatch>;
}

impl AnswerExt for ApiAnswer {
    fn project(self, procedure: Procedure) -> Result<Option<ProjectAnswer>, AnswerMismatch> {
        match self {
            ApiAnswer::Project(project) => Ok(project),
            answer => Err(AnswerMismatch { procedure, answer }),
        }
    }

    fn application(
        self,
        procedure: Procedure,
    ) -> Result<Option<ApplicationAnswer>, AnswerMismatch> {
        match self {
            ApiAnswer::Application(application) => Ok(application),
            answer => Err(AnswerMismatch { procedure, answer }),
        }
    }

    fn domain(self, procedure: Procedure) -> Result<Option<ResourceId>, AnswerMismatch> {
        match self {
            ApiAnswer::Domain(domain) => Ok(domain),
            answer => Err(AnswerMismatch { procedure, answer }),
        }
    }

    fn deployments(self, procedure: Procedure) -> Result<Vec<DeploymentRow>, AnswerMismatch> {
        match self {
            ApiAnswer::Deployments(rows) => Ok(rows),
            answer => Err(AnswerMismatch { procedure, answer }),
        }
    }
}
