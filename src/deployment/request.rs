//! Dokploy's protocol as the domain sees it: the typed [`Request`] enum (each request knows its
//! [`Procedure`], method and, for a create, its lookup), typed views of an [`ApiAnswer`], and
//! Dokploy's deploy status ([`DeployStatus`]).
//!
//! One request type (rather than one method per operation) lets the ledger recording, the
//! retry loop, the saga core and `stackledger-replay redrive` treat every call alike. This is
//! pure data: it never performs I/O and knows nothing of HTTP or Dokploy's wire format (that is
//! `dokploy::client`'s).

use std::fmt;

use crate::deployment::{
    ApiAnswer, ApplicationAnswer, DeploymentRow, HttpMethod, Procedure, ProjectAnswer, ResourceId,
    ServiceRef,
};

/// One operation against Dokploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `GET /api/project.search` (else `project.all`), filtered to the project named `name` (names are not unique;
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
    /// `GET /api/project.one`: every service the project holds, in any environment (a
    /// rollback looks before it removes a project, and verifies after).
    InspectProject {
        /// The project.
        project_id: ResourceId,
    },
    /// `GET /api/application.one`: whether the application is still there.
    InspectApplication {
        /// The application.
        application_id: ResourceId,
    },
    /// `GET /api/domain.one`: whether the domain is still there.
    InspectDomain {
        /// The domain.
        domain_id: ResourceId,
    },
}

impl Request {
    /// The Dokploy procedure this request calls.
    pub fn procedure(&self) -> Procedure {
        match self {
            Request::FindProject { .. } => Procedure::ProjectSearch,
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
            Request::InspectProject { .. } => Procedure::ProjectOne,
            Request::InspectApplication { .. } => Procedure::ApplicationOne,
            Request::InspectDomain { .. } => Procedure::DomainOne,
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
            Request::InspectProject { project_id: id() },
            Request::InspectApplication {
                application_id: id(),
            },
            Request::InspectDomain { domain_id: id() },
        ]
    }
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
    /// What a project holds.
    fn project_services(self, procedure: Procedure) -> Result<Vec<ServiceRef>, AnswerMismatch>;
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

    fn project_services(self, procedure: Procedure) -> Result<Vec<ServiceRef>, AnswerMismatch> {
        match self {
            ApiAnswer::ProjectServices(services) => Ok(services),
            answer => Err(AnswerMismatch { procedure, answer }),
        }
    }
}

/// The status of one of Dokploy's deployment rows (`deployment.all`), typed at the edge.
///
/// The persisted forms (`DeploymentRow.status`, `DeployFinished.dokploy_status`) stay the text
/// Dokploy sent; [`DeployStatus::parse`] reads it. A text this version does not know is not a
/// status: it is never final, so the deploy timeout bounds the wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeployStatus {
    /// Building or starting.
    Running,
    /// Finished well: the app runs.
    Done,
    /// The build or the start failed.
    Error,
    /// Cancelled (by an operator, or by Dokploy replacing it).
    Cancelled,
    /// Created and not started.
    Idle,
}

impl DeployStatus {
    /// Every status, in declaration order.
    pub const ALL: [DeployStatus; 5] = [
        DeployStatus::Running,
        DeployStatus::Done,
        DeployStatus::Error,
        DeployStatus::Cancelled,
        DeployStatus::Idle,
    ];

    /// The status Dokploy writes as `text`; None for a text this version does not know.
    pub fn parse(text: &str) -> Option<DeployStatus> {
        DeployStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// Dokploy's word for it (`done`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeployStatus::Running => "running",
            DeployStatus::Done => "done",
            DeployStatus::Error => "error",
            DeployStatus::Cancelled => "cancelled",
            DeployStatus::Idle => "idle",
        }
    }

    /// Whether the deploy is over (`done`, `error` or `cancelled`): polling stops.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeployStatus::Done | DeployStatus::Error | DeployStatus::Cancelled
        )
    }
}

impl fmt::Display for DeployStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DeploymentRow {
    /// The row's status, typed; None for a text this version does not know.
    pub fn deploy_status(&self) -> Option<DeployStatus> {
        DeployStatus::parse(&self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_statuses_round_trip_and_only_done_error_cancelled_are_final() {
        for status in DeployStatus::ALL {
            assert_eq!(DeployStatus::parse(status.as_str()), Some(status));
        }
        let finals: Vec<DeployStatus> = DeployStatus::ALL
            .into_iter()
            .filter(|status| status.is_final())
            .collect();
        assert_eq!(
            finals,
            vec![
                DeployStatus::Done,
                DeployStatus::Error,
                DeployStatus::Cancelled
            ]
        );
        assert_eq!(
            DeployStatus::parse("queued"),
            None,
            "unknown is not a status"
        );
        assert_eq!(
            DeployStatus::parse("Done"),
            None,
            "Dokploy writes lower case"
        );
    }

    #[test]
    fn only_creates_have_a_lookup_and_it_names_the_procedure_of_the_table() {
        for request in Request::examples() {
            let lookup = request.lookup();
            assert_eq!(
                lookup.as_ref().map(Request::procedure),
                request.procedure().lookup(),
                "{request:?}"
            );
            assert_eq!(request.method(), request.procedure().method());
        }
    }

    #[test]
    fn an_answer_of_the_wrong_kind_is_a_mismatch_naming_the_procedure() {
        let answer = ApiAnswer::Domain(None);
        let mismatch = answer
            .clone()
            .project(Procedure::ProjectAll)
            .expect_err("a domain is not a project");
        assert_eq!(
            mismatch,
            AnswerMismatch {
                procedure: Procedure::ProjectAll,
                answer
            }
        );
        assert!(
            mismatch
                .to_string()
                .starts_with("project.all was answered with")
        );
        assert_eq!(
            ApiAnswer::Domain(None).domain(Procedure::DomainCreate),
            Ok(None)
        );
    }
}
