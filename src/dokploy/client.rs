//! `DokployClient`: the HTTP implementation of [`DokployApi`] (reqwest).
//!
//! It follows `../shared/dokploy-api.md` §1: `x-api-key` on every call, queries as GET with URL
//! parameters, mutations as POST with a JSON body, success as a bare JSON body (an empty one for
//! `application.deploy`), errors as `{message, code, issues}`. Every request has a timeout and
//! every answer a size cap; a success whose body is not what the operation returns is a clear
//! error, never a panic. The API key is set as a header here and nowhere else.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::deployment::{
    ApiAnswer, ApplicationAnswer, DeploymentRow, Procedure, ProjectAnswer, ResourceId, ServiceRef,
};
use crate::dokploy::api::{Answered, DokployApi, Request};
use crate::dokploy::error::DokployError;
use crate::dokploy::retry::RetryAfter;
use crate::dokploy::wire;
use crate::scrub::Scrubber;
use crate::secret::ApiKey;

/// The longest Dokploy error message kept (the rest is cut, not stored).
pub(super) const MESSAGE_BYTES_MAX: usize = 512;

/// Settings of the client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per-request timeout (connect, send, answer).
    pub timeout: Duration,
    /// The largest answer body accepted (the listing excepted).
    pub body_bytes_max: usize,
    /// The largest `project.all` answer accepted; it is parsed as a stream, keeping only the
    /// project looked for, so memory does not grow with it (`--dokploy-list-bytes-max`).
    pub list_bytes_max: usize,
    /// The Dokploy server new applications are built on (`--dokploy-server-id`), sent as
    /// `serverId` on `application.create` when set.
    pub server_id: Option<String>,
    /// Secrets besides the API key that no text from Dokploy may carry (the admin tokens).
    pub also_secret: Vec<ApiKey>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: crate::defaults::DOKPLOY_TIMEOUT.value,
            body_bytes_max: 4 * 1024 * 1024,
            list_bytes_max: crate::defaults::DOKPLOY_LIST_BYTES_MAX.get(),
            server_id: None,
            also_secret: Vec::new(),
        }
    }
}

/// The Dokploy REST client.
#[derive(Debug, Clone)]
pub struct DokployClient {
    pub(super) http: reqwest::Client,
    /// `<origin>/api/`, ending in a slash so procedures join under it.
    api: Url,
    key: ApiKey,
    pub(super) options: ClientOptions,
    /// Removes the key and the admin tokens from every text Dokploy sends.
    pub(super) scrubber: Scrubber,
    /// Set once Dokploy answered that it has no `project.search` (before v0.28.3): the
    /// lookup lists `project.all` from then on.
    pub(super) search_missing: Arc<AtomicBool>,
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
        let scrubber = Scrubber::new(std::iter::once(&key).chain(&options.also_secret));
        Ok(Self {
            http,
            api,
            key,
            options,
            scrubber,
            search_missing: Arc::new(AtomicBool::new(false)),
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
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        procedure: Procedure,
        query: &[(&str, &str)],
    ) -> Result<T, DokployError> {
        let response = self
            .answer(procedure, self.get_request(procedure, query)?)
            .await?;
        let body = self.body(procedure, response).await?;
        self.parse(procedure, &body)
    }

    /// The GET request of a query procedure, not yet sent.
    pub(super) fn get_request(
        &self,
        procedure: Procedure,
        query: &[(&str, &str)],
    ) -> Result<reqwest::RequestBuilder, DokployError> {
        Ok(self.http.get(self.url(procedure)?).query(query))
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
        let response = self.answer(procedure, request).await?;
        self.body(procedure, response).await
    }

    /// Sends with the key; a success is returned unread, an error status becomes an error.
    pub(super) async fn answer(
        &self,
        procedure: Procedure,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DokployError> {
        let response = request
            .header("x-api-key", self.key.header_value())
            .send()
            .await
            .map_err(|error| self.transport(error))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(RetryAfter::parse);
        let body = self.body(procedure, response).await?;
        Err(self.status_error(procedure, status, &body, retry_after))
    }

    /// Reads a body up to the per-answer cap.
    async fn body(
        &self,
        procedure: Procedure,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, DokployError> {
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
        Ok(body)
    }

    /// A reqwest failure as a typed error; its whole cause chain, scrubbed and bounded.
    pub(super) fn transport(&self, error: reqwest::Error) -> DokployError {
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
            message: self.scrubber.clean(&message, MESSAGE_BYTES_MAX),
            sent,
        }
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
                    // A row without a status is recorded with an empty one, which no
                    // `DeployStatus` parses: unknown, so never final.
                    status: row.status.unwrap_or_default(),
                })
                .collect(),
        ))
    }

    async fn create_project(&self, name: &str) -> Result<ApiAnswer, DokployError> {
        let procedure = Procedure::ProjectCreate;
        let body = self.post(procedure, &json!({ "name": name })).await?;
        let created: wire::ProjectCreated = self.parse(procedure, &body)?;
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
            server_id: self.options.server_id.clone(),
        };
        let body = self.post(procedure, &to_json(&input)).await?;
        let row: wire::ApplicationRow = self.parse(procedure, &body)?;
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
            docker_image: image.to_owned(),
            username: String::new(),
            password: String::new(),
            registry_url: String::new(),
        };
        let body = self.post(procedure, &to_json(&input)).await?;
        let saved: bool = self.parse(procedure, &body)?;
        if !saved {
            return Err(self.unexpected(procedure, "answered false"));
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
        let row: wire::DomainRow = self.parse(procedure, &body)?;
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
            self.parse::<serde_json::Value>(procedure, &body)?;
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
        let _: serde_json::Map<String, serde_json::Value> = self.parse(procedure, &body)?;
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
