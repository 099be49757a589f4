//! `DokployClient`: the HTTP implementation of [`DokployApi`] (reqwest).
//!
//! It follows `../shared/dokploy-api.md` §1: `x-api-key` on every call, queries as GET with URL
//! parameters, mutations as POST with a JSON body, success as a bare JSON body (an empty one for
//! `application.deploy`), errors as `{message, code, issues}`. Every request has a timeout and
//! every answer a size cap; a success whose body is not what the operation returns is a clear
//! error, never a panic. The API key is set as a header here and nowhere else.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::deployment::{
    ApiAnswer, ApplicationAnswer, DeploymentRow, Procedure, ProjectAnswer, ResourceId, ServiceRef,
    clip,
};
use crate::dokploy::api::{Answered, DokployApi, Request};
use crate::dokploy::error::DokployError;
use crate::dokploy::retry::RetryAfter;
use crate::dokploy::wire;
use crate::secret::ApiKey;

/// The longest Dokploy error message kept (the rest is cut, not stored).
const MESSAGE_BYTES_MAX: usize = 512;

/// Settings of the client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per-request timeout (connect, send, answer).
    pub timeout: Duration,
    /// The largest answer body accepted.
    pub body_bytes_max: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            body_bytes_max: 4 * 1024 * 1024,
        }
    }
}

/// The Dokploy REST client.
#[derive(Debug, Clone)]
pub struct DokployClient {
    http: reqwest::Client,
    /// `<origin>/api/`, ending in a slash so procedures join under it.
    api: Url,
    key: ApiKey,
    options: ClientOptions,
}

impl DokployClient {
    /// A client for the Dokploy at `origin` (`https://dokploy.example.com`; `/api` is added).
    pub fn new(origin: &Url, key: ApiKey, options: ClientOptions) -> Result<Self, DokployError> {
        // rustls needs one process-wide crypto provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .build()
            .map_err(|error| DokployError::Transport {
                message: format!("cannot build the HTTP client: {error}"),
                sent: false,
            })?;
        let mut api = origin.clone();
        let path = format!("{}/api/", api.path().trim_end_matches('/'));
        api.set_path(&path);
        Ok(Self {
            http,
            api,
            key,
            options,
        })
    }

    fn url(&self, procedure: Procedure) -> Result<Url, DokployError> {
        self.api
            .join(procedure.name())
            .map_err(|error| DokployError::Transport {
                message: format!("bad Dokploy URL for {procedure}: {error}"),
                sent: false,
            })
    }

    /// GET a query procedure with URL parameters and parse its JSON answer.
    async fn get<T: DeserializeOwned>(
        &self,
        procedure: Procedure,
        query: &[(&str, &str)],
    ) -> Result<T, DokployError> {
        let request = self.http.get(self.url(procedure)?).query(query);
        let body = self.send(procedure, request).await?;
        parse(procedure, &body)
    }

    /// POST a mutation with a JSON body and return the raw answer body.
    async fn post(
        &self,
        procedure: Procedure,
        input: &serde_json::Value,
    ) -> Result<Vec<u8>, DokployError> {
        let request = self
            .http
            .request(Method::POST, self.url(procedure)?)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .json(input);
        self.send(procedure, request).await
    }

    /// Sends with the key, reads the body up to the cap, and turns error statuses into errors.
    async fn send(
        &self,
        procedure: Procedure,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, DokployError> {
        let mut response = request
            .header("x-api-key", self.key.header_value())
            .send()
            .await
            .map_err(|error| self.transport(error))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(RetryAfter::parse);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport(e))? {
            if body.len() + chunk.len() > self.options.body_bytes_max {
                return Err(DokployError::ResponseTooLarge {
                    operation: procedure,
                    limit: self.options.body_bytes_max,
                });
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok(body);
        }
        Err(status_error(status, &body, retry_after))
    }

    fn transport(&self, error: reqwest::Error) -> DokployError {
        if error.is_timeout() {
            let timeout_ms = u64::try_from(self.options.timeout.as_millis()).unwrap_or(u64::MAX);
            return DokployError::Timeout { timeout_ms };
        }
        // Only a failed connect proves the request never left.
        let sent = !error.is_connect();
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        DokployError::Transport {
            message: clip(&message, MESSAGE_BYTES_MAX),
            sent,
        }
    }

    async fn find_project(&self, name: &str) -> Result<ApiAnswer, DokployError> {
        let projects: Vec<wire::Project> = self.get(Procedure::ProjectAll, &[]).await?;
        // project.all is newest first; of several projects with one name, keep the oldest.
        let found = projects.into_iter().rev().find(|p| p.name == name);
        Ok(ApiAnswer::Project(found.map(|project| {
            ProjectAnswer {
                environment_id: project
                    .environments
                    .iter()
                    .find(|environment| environment.is_default)
                    .map(|environment| ResourceId(environment.environment_id.clone())),
                project_id: ResourceId(project.project_id),
            }
        })))
    }

    async fn find_application(
        &self,
        environment_id: &ResourceId,
        name: &str,
    ) -> Result<ApiAnswer, DokployError> {
        let query = [("environmentId", environment_id.0.as_str())];
        let environment: wire::Environment = self.get(Procedure::EnvironmentOne, &query).await?;
        let found = environment
            .applications
            .into_iter()
            .find(|a| a.name == name);
        Ok(ApiAnswer::Application(found.map(|app| ApplicationAnswer {
            application_id: ResourceId(app.application_id),
            app_name: None,
        })))
    }

    async fn find_domain(
        &self,
        application_id: &ResourceId,
        host: &str,
    ) -> Result<ApiAnswer, DokployError> {
        let query = [("applicationId", application_id.0.as_str())];
        let domains: Vec<wire::DomainRow> =
            self.get(Procedure::DomainByApplicationId, &query).await?;
        let found = domains.into_iter().find(|domain| domain.host == host);
        Ok(ApiAnswer::Domain(found.map(|d| ResourceId(d.domain_id))))
    }

    async fn list_deployments(
        &self,
        application_id: &ResourceId,
    ) -> Result<ApiAnswer, DokployError> {
        let query = [("applicationId", application_id.0.as_str())];
        let rows: Vec<wire::DeploymentRow> = self.get(Procedure::DeploymentAll, &query).await?;
        Ok(ApiAnswer::Deployments(
            rows.into_iter()
                .map(|row| DeploymentRow {
                    deployment_id: ResourceId(row.deployment_id),
                    title: row.title.unwrap_or_default(),
                    status: row.status,
                })
                .collect(),
        ))
    }

    async fn create_project(&self, name: &str) -> Result<ApiAnswer, DokployError> {
        let procedure = Procedure::ProjectCreate;
        let body = self.post(procedure, &json!({ "name": name })).await?;
        let created: wire::ProjectCreated = parse(procedure, &body)?;
        Ok(ApiAnswer::Project(Some(ProjectAnswer {
            project_id: ResourceId(created.project.project_id),
            environment_id: Some(ResourceId(created.environment.environment_id)),
        })))
    }

    async fn create_application(
        &self,
        environment_id: &ResourceId,
        name: &str,
    ) -> Result<ApiAnswer, DokployError> {
        let procedure = Procedure::ApplicationCreate;
        let input = wire::CreateApplication {
            name: name.to_owned(),
            app_name: name.to_owned(),
            environment_id: environment_id.0.clone(),
            source_type: "docker".to_owned(),
        };
        let body = self.post(procedure, &to_json(&input)).await?;
        let row: wire::ApplicationRow = parse(procedure, &body)?;
        Ok(ApiAnswer::Application(Some(ApplicationAnswer {
            application_id: ResourceId(row.application_id),
            app_name: Some(row.app_name),
        })))
    }

    async fn save_docker_provider(
        &self,
        application_id: &ResourceId,
        image: &str,
    ) -> Result<ApiAnswer, DokployError> {
        let procedure = Procedure::ApplicationSaveDockerProvider;
        let input = wire::SaveDockerProvider {
            application_id: application_id.0.clone(),
            docker_image: Some(image.to_owned()),
            username: None,
            password: None,
            registry_url: None,
        };
        let body = self.post(procedure, &to_json(&input)).await?;
        let saved: bool = parse(procedure, &body)?;
        if !saved {
            return Err(unexpected(procedure, "answered false"));
        }
        Ok(ApiAnswer::Empty)
    }

    async fn create_domain(
        &self,
        application_id: &ResourceId,
        host: &str,
        port: u16,
    ) -> Result<ApiAnswer, DokployError> {
        let procedure = Procedure::DomainCreate;
        let input = wire::CreateDomain {
            host: host.to_owned(),
            application_id: application_id.0.clone(),
            domain_type: "application".to_owned(),
            port,
            https: true,
            certificate_type: "letsencrypt".to_owned(),
            path: "/".to_owned(),
        };
        let body = self.post(procedure, &to_json(&input)).await?;
        let row: wire::DomainRow = parse(procedure, &body)?;
        Ok(ApiAnswer::Domain(Some(ResourceId(row.domain_id))))
    }

    async fn deploy(
        &self,
        application_id: &ResourceId,
        title: &str,
    ) -> Result<ApiAnswer, DokployError> {
        let procedure = Procedure::ApplicationDeploy;
        let input = json!({ "applicationId": application_id.0, "title": title });
        let body = self.post(procedure, &input).await?;
        // Self-hosted Dokploy answers with an empty body; Cloud answers `true`.
        if !body.iter().all(u8::is_ascii_whitespace) {
            parse::<serde_json::Value>(procedure, &body)?;
        }
        Ok(ApiAnswer::Empty)
    }

    /// `project.one`: every service of every environment of the project.
    async fn inspect_project(&self, project_id: &ResourceId) -> Result<ApiAnswer, DokployError> {
        let query = [("projectId", project_id.0.as_str())];
        let project: wire::ProjectOne = self.get(Procedure::ProjectOne, &query).await?;
        let services = project
            .environments
            .iter()
            .flat_map(wire::EnvironmentServices::services)
            .map(|(kind, id, name)| ServiceRef {
                kind: kind.to_owned(),
                id: ResourceId(id),
                name,
            })
            .collect();
        Ok(ApiAnswer::ProjectServices(services))
    }

    /// `application.one`: the application, while it exists.
    async fn inspect_application(
        &self,
        application_id: &ResourceId,
    ) -> Result<ApiAnswer, DokployError> {
        let query = [("applicationId", application_id.0.as_str())];
        let row: wire::ApplicationRow = self.get(Procedure::ApplicationOne, &query).await?;
        Ok(ApiAnswer::Application(Some(ApplicationAnswer {
            application_id: ResourceId(row.application_id),
            app_name: Some(row.app_name),
        })))
    }

    /// `domain.one`: the domain, while it exists.
    async fn inspect_domain(&self, domain_id: &ResourceId) -> Result<ApiAnswer, DokployError> {
        let query = [("domainId", domain_id.0.as_str())];
        let row: wire::DomainRow = self.get(Procedure::DomainOne, &query).await?;
        Ok(ApiAnswer::Domain(Some(ResourceId(row.domain_id))))
    }

    /// A delete answers the deleted row; it must be a JSON object.
    async fn delete(
        &self,
        procedure: Procedure,
        input: serde_json::Value,
    ) -> Result<ApiAnswer, DokployError> {
        let body = self.post(procedure, &input).await?;
        let _: serde_json::Map<String, serde_json::Value> = parse(procedure, &body)?;
        Ok(ApiAnswer::Empty)
    }
}

impl DokployApi for DokployClient {
    async fn call(&self, request: &Request) -> Result<Answered, DokployError> {
        let answer = match request {
            Request::FindProject { name } => self.find_project(name).await?,
            Request::CreateProject { name } => self.create_project(name).await?,
            Request::FindApplication {
                environment_id,
                name,
            } => self.find_application(environment_id, name).await?,
            Request::CreateApplication {
                environment_id,
                name,
            } => self.create_application(environment_id, name).await?,
            Request::SaveDockerProvider {
                application_id,
                image,
            } => self.save_docker_provider(application_id, image).await?,
            Request::FindDomain {
                application_id,
                host,
            } => self.find_domain(application_id, host).await?,
            Request::CreateDomain {
                application_id,
                host,
                port,
            } => self.create_domain(application_id, host, *port).await?,
            Request::ListDeployments { application_id } => {
                self.list_deployments(application_id).await?
            }
            Request::Deploy {
                application_id,
                title,
            } => self.deploy(application_id, title).await?,
            Request::DeleteDomain { domain_id } => {
                let input = json!({ "domainId": domain_id.0 });
                self.delete(Procedure::DomainDelete, input).await?
            }
            Request::DeleteApplication { application_id } => {
                let input = json!({ "applicationId": application_id.0 });
                self.delete(Procedure::ApplicationDelete, input).await?
            }
            Request::RemoveProject { project_id } => {
                let input = json!({ "projectId": project_id.0 });
                self.delete(Procedure::ProjectRemove, input).await?
            }
            Request::InspectProject { project_id } => self.inspect_project(project_id).await?,
            Request::InspectApplication { application_id } => {
                self.inspect_application(application_id).await?
            }
            Request::InspectDomain { domain_id } => self.inspect_domain(domain_id).await?,
        };
        Ok(Answered {
            status: StatusCode::OK.as_u16(),
            answer,
        })
    }

    async fn probe_health(&self, url: &str) -> Result<u16, DokployError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|error| self.transport(error))?;
        Ok(response.status().as_u16())
    }
}

fn to_json<T: serde::Serialize>(input: &T) -> serde_json::Value {
    serde_json::to_value(input).expect("request DTOs are plain data and always serialize")
}

fn parse<T: DeserializeOwned>(procedure: Procedure, body: &[u8]) -> Result<T, DokployError> {
    serde_json::from_slice(body).map_err(|error| {
        let preview = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        unexpected(procedure, &format!("{error} (body starts {preview:?})"))
    })
}

fn unexpected(procedure: Procedure, reason: &str) -> DokployError {
    DokployError::UnexpectedResponse {
        operation: procedure,
        reason: clip(reason, MESSAGE_BYTES_MAX),
    }
}

/// An error status with Dokploy's body (or none) turned into a typed error.
fn status_error(status: StatusCode, body: &[u8], retry_after: Option<RetryAfter>) -> DokployError {
    let parsed: Option<wire::ErrorBody> = serde_json::from_slice(body).ok();
    if status == StatusCode::UNAUTHORIZED && parsed.as_ref().is_none_or(|b| b.code.is_none()) {
        return DokployError::Unauthorized;
    }
    let (message, code) = match parsed {
        Some(body) => (body.message, body.code),
        None => {
            let reason = status.canonical_reason().unwrap_or("error");
            (reason.to_owned(), None)
        }
    };
    DokployError::Status {
        status: status.as_u16(),
        message: clip(&message, MESSAGE_BYTES_MAX),
        code,
        retry_after,
    }
}
