//! The simulated Dokploy's state and procedures, following `../shared/dokploy-api.md` §2 and §7:
//! 21-character nanoid ids, `appName` suffixes, duplicates allowed, `project.create` answering
//! `{project, environment}`, deploys queued and their rows moving `running` → `done` (or
//! `error`) as `deployment.all` is polled, lists newest first, Dokploy's 404 messages.
//!
//! Deterministic: ids come from a seeded generator and time from a counter, so a test sees the
//! same world every run.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// A Dokploy error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) issues: Option<Value>,
}

impl Failure {
    pub(crate) fn not_found(what: &str) -> Self {
        Self {
            status: 404,
            code: "NOT_FOUND",
            message: format!("{what} not found"),
            issues: None,
        }
    }

    pub(crate) fn bad_request(message: String) -> Self {
        Self {
            status: 400,
            code: "BAD_REQUEST",
            message,
            issues: None,
        }
    }

    fn invalid(issues: Vec<Value>) -> Self {
        Self {
            status: 400,
            code: "BAD_REQUEST",
            message: "Input validation failed".to_owned(),
            issues: Some(Value::Array(issues)),
        }
    }
}

/// What a procedure answers: a JSON body (as a value, or already encoded), or nothing (200
/// with an empty body).
pub(crate) enum Answer {
    Json(Value),
    Encoded(Vec<u8>),
    Empty,
}

/// `project.all`'s items, serialized straight from the records: the list grows with every
/// project, so building `Value` trees for it would make the simulator quadratic.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectOut<'a> {
    project_id: &'a str,
    name: &'a str,
    description: Option<&'a str>,
    created_at: &'a str,
    organization_id: &'a str,
    env: &'a str,
    environments: Vec<EnvironmentOut<'a>>,
    project_tags: [(); 0],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentOut<'a> {
    environment_id: &'a str,
    name: &'a str,
    is_default: bool,
    project_id: &'a str,
    created_at: &'a str,
    applications: Vec<AppItemOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppItemOut<'a> {
    application_id: &'a str,
    name: &'a str,
    application_status: &'a str,
    created_at: &'a str,
}

#[derive(Debug, Clone)]
struct ProjectRecord {
    id: String,
    name: String,
    created_at: String,
}

#[derive(Debug, Clone)]
struct EnvironmentRecord {
    id: String,
    project_id: String,
    created_at: String,
}

#[derive(Debug, Clone)]
struct ApplicationRecord {
    id: String,
    name: String,
    app_name: String,
    environment_id: String,
    status: String,
    docker_image: Option<String>,
    source_type: String,
    created_at: String,
}

#[derive(Debug, Clone)]
struct DomainRecord {
    id: String,
    host: String,
    application_id: String,
    port: u16,
    https: bool,
    certificate_type: String,
    path: String,
    created_at: String,
}

#[derive(Debug, Clone)]
struct DeploymentRecord {
    id: String,
    title: String,
    status: String,
    application_id: String,
    created_at: String,
    finished_at: Option<String>,
    /// Polls of `deployment.all` left before the final status shows.
    polls_left: u32,
    outcome: String,
}

#[derive(Debug, Clone)]
struct QueuedDeploy {
    application_id: String,
    title: String,
    outcome: String,
}

/// Everything the simulated Dokploy holds.
#[derive(Debug)]
pub(crate) struct World {
    rng: SmallRng,
    ticks: i64,
    deploy_polls: u32,
    projects: Vec<ProjectRecord>,
    environments: Vec<EnvironmentRecord>,
    applications: Vec<ApplicationRecord>,
    domains: Vec<DomainRecord>,
    deployments: Vec<DeploymentRecord>,
    queued: Vec<QueuedDeploy>,
}

const NANOID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const SUFFIX_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// 2026-01-01T00:00:00Z: the simulated clock starts here and ticks a second per write.
const EPOCH_MS: i64 = 1_767_225_600_000;

impl World {
    pub(crate) fn new(seed: u64, deploy_polls: u32) -> Self {
        Self {
            rng: SmallRng::seed_from_u64(seed),
            ticks: 0,
            deploy_polls,
            projects: Vec::new(),
            environments: Vec::new(),
            applications: Vec::new(),
            domains: Vec::new(),
            deployments: Vec::new(),
            queued: Vec::new(),
        }
    }

    fn random(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| char::from(alphabet[self.rng.random_range(0..alphabet.len())]))
            .collect()
    }

    fn id(&mut self) -> String {
        self.random(NANOID_ALPHABET, 21)
    }

    fn now(&mut self) -> String {
        self.ticks += 1;
        crate::projection::view::rfc3339(EPOCH_MS + self.ticks * 1_000)
    }

    /// Runs one procedure (already authenticated, method-checked and parsed).
    pub(crate) fn call(
        &mut self,
        procedure: &str,
        input: &Map<String, Value>,
        deploy_outcome: Option<String>,
    ) -> Result<Answer, Failure> {
        match procedure {
            "project.all" => Ok(Answer::Encoded(self.project_all())),
            "project.one" => self.project_one(&required(input, &["projectId"])?[0]),
            "project.create" => self.project_create(input),
            "project.remove" => self.project_remove(&required(input, &["projectId"])?[0]),
            "environment.one" => self.environment_one(&required(input, &["environmentId"])?[0]),
            "application.create" => self.application_create(input),
            "application.one" => {
                let id = &required(input, &["applicationId"])?[0];
                self.application(id).map(|app| Answer::Json(app_json(app)))
            }
            "application.savedockerprovider" => self.save_docker_provider(input),
            "application.deploy" => self.deploy(input, deploy_outcome),
            "application.delete" => {
                self.application_delete(&required(input, &["applicationId"])?[0])
            }
            "domain.create" => self.domain_create(input),
            "domain.byapplicationid" => {
                let id = &required(input, &["applicationId"])?[0];
                Ok(Answer::Json(self.domains_of(id)))
            }
            "domain.delete" => self.domain_delete(&required(input, &["domainId"])?[0]),
            "deployment.all" => {
                let id = &required(input, &["applicationId"])?[0];
                Ok(Answer::Json(self.deployment_all(id)))
            }
            other => unreachable!("the router only dispatches known procedures, not {other}"),
        }
    }

    fn project_all(&self) -> Vec<u8> {
        let items: Vec<ProjectOut<'_>> = self
            .projects
            .iter()
            .rev()
            .map(|project| ProjectOut {
                project_id: &project.id,
                name: &project.name,
                description: None,
                created_at: &project.created_at,
                organization_id: "sim-organization",
                env: "",
                environments: self.environments_out(&project.id),
                project_tags: [],
            })
            .collect();
        serde_json::to_vec(&items).expect("plain structs always serialize")
    }

    fn environments_out(&self, project_id: &str) -> Vec<EnvironmentOut<'_>> {
        self.environments
            .iter()
            .filter(|environment| environment.project_id == project_id)
            .map(|environment| EnvironmentOut {
                environment_id: &environment.id,
                name: "production",
                is_default: true,
                project_id: &environment.project_id,
                created_at: &environment.created_at,
                applications: self
                    .applications
                    .iter()
                    .filter(|app| app.environment_id == environment.id)
                    .map(|app| AppItemOut {
                        application_id: &app.id,
                        name: &app.name,
                        application_status: &app.status,
                        created_at: &app.created_at,
                    })
                    .collect(),
            })
            .collect()
    }

    fn project_json(&self, project: &ProjectRecord) -> Value {
        let environments: Vec<Value> = self
            .environments
            .iter()
            .filter(|environment| environment.project_id == project.id)
            .map(|environment| self.environment_json(environment))
            .collect();
        json!({
            "projectId": project.id, "name": project.name, "description": null,
            "createdAt": project.created_at, "organizationId": "sim-organization", "env": "",
            "environments": environments, "projectTags": [],
        })
    }

    fn environment_json(&self, environment: &EnvironmentRecord) -> Value {
        let applications: Vec<Value> = self
            .applications
            .iter()
            .filter(|app| app.environment_id == environment.id)
            .map(|app| {
                json!({
                    "applicationId": app.id, "name": app.name, "createdAt": app.created_at,
                    "applicationStatus": app.status, "description": null, "serverId": null,
                    "icon": null, "server": null,
                })
            })
            .collect();
        json!({
            "environmentId": environment.id, "name": "production",
            "description": "Production environment", "createdAt": environment.created_at,
            "env": "", "projectId": environment.project_id, "isDefault": true,
            "applications": applications, "compose": [], "postgres": [], "mysql": [],
            "mariadb": [], "mongo": [], "redis": [], "libsql": [],
        })
    }

    fn project_one(&self, id: &str) -> Result<Answer, Failure> {
        let project = self.projects.iter().find(|p| p.id == id);
        let project = project.ok_or_else(|| Failure::not_found("Project"))?;
        Ok(Answer::Json(self.project_json(project)))
    }

    fn project_create(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let name = required(input, &["name"])?.remove(0);
        let project = ProjectRecord {
            id: self.id(),
            name,
            created_at: self.now(),
        };
        let environment = EnvironmentRecord {
            id: self.id(),
            project_id: project.id.clone(),
            created_at: self.now(),
        };
        let answer = json!({
            "project": {
                "projectId": project.id, "name": project.name, "description": null,
                "createdAt": project.created_at, "organizationId": "sim-organization", "env": "",
            },
            "environment": {
                "environmentId": environment.id, "name": "production",
                "description": "Production environment", "createdAt": environment.created_at,
                "env": "", "projectId": project.id, "isDefault": true,
            },
        });
        self.projects.push(project);
        self.environments.push(environment);
        Ok(Answer::Json(answer))
    }

    fn project_remove(&mut self, id: &str) -> Result<Answer, Failure> {
        let index = self.projects.iter().position(|p| p.id == id);
        let index = index.ok_or_else(|| Failure::not_found("Project"))?;
        let project = self.projects.remove(index);
        // Rows go by foreign-key cascade, as in Dokploy.
        let environments: Vec<String> = self
            .environments
            .iter()
            .filter(|environment| environment.project_id == project.id)
            .map(|environment| environment.id.clone())
            .collect();
        self.environments.retain(|e| e.project_id != project.id);
        let applications: Vec<String> = self
            .applications
            .iter()
            .filter(|app| environments.contains(&app.environment_id))
            .map(|app| app.id.clone())
            .collect();
        for application in applications {
            self.remove_application_rows(&application);
        }
        Ok(Answer::Json(json!({
            "projectId": project.id, "name": project.name, "description": null,
            "createdAt": project.created_at, "organizationId": "sim-organization", "env": "",
        })))
    }

    fn environment_one(&self, id: &str) -> Result<Answer, Failure> {
        let environment = self.environments.iter().find(|e| e.id == id);
        let environment = environment.ok_or_else(|| Failure::not_found("Environment"))?;
        Ok(Answer::Json(self.environment_json(environment)))
    }

    fn application_create(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let mut fields = required(input, &["name", "environmentId"])?;
        let environment_id = fields.remove(1);
        let name = fields.remove(0);
        if !self.environments.iter().any(|e| e.id == environment_id) {
            return Err(Failure::not_found("Environment"));
        }
        let base = optional_string(input, "appName").unwrap_or_else(|| "app".to_owned());
        let suffix = self.random(SUFFIX_ALPHABET, 6);
        let app_name = format!("{}-{suffix}", base.to_lowercase().replace(' ', "-"));
        let source_type = optional_string(input, "sourceType").unwrap_or_else(|| "github".into());
        let application = ApplicationRecord {
            id: self.id(),
            name,
            app_name,
            environment_id,
            status: "idle".to_owned(),
            docker_image: None,
            source_type,
            created_at: self.now(),
        };
        let answer = app_json(&application);
        self.applications.push(application);
        Ok(Answer::Json(answer))
    }

    fn application(&self, id: &str) -> Result<&ApplicationRecord, Failure> {
        let found = self.applications.iter().find(|app| app.id == id);
        found.ok_or_else(|| Failure::not_found("Application"))
    }

    fn save_docker_provider(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let keys = [
            "applicationId",
            "dockerImage",
            "username",
            "password",
            "registryUrl",
        ];
        let missing: Vec<Value> = keys
            .iter()
            .filter(|key| !input.contains_key(**key))
            .map(|key| issue(key, "Required"))
            .collect();
        if !missing.is_empty() {
            return Err(Failure::invalid(missing));
        }
        let id = required(input, &["applicationId"])?.remove(0);
        let image = optional_string(input, "dockerImage");
        let application = self.applications.iter_mut().find(|app| app.id == id);
        let application = application.ok_or_else(|| Failure::not_found("Application"))?;
        application.docker_image = image;
        application.source_type = "docker".to_owned();
        application.status = "idle".to_owned();
        Ok(Answer::Json(Value::Bool(true)))
    }

    fn deploy(
        &mut self,
        input: &Map<String, Value>,
        outcome: Option<String>,
    ) -> Result<Answer, Failure> {
        let id = required(input, &["applicationId"])?.remove(0);
        self.application(&id)?;
        let title = optional_string(input, "title").unwrap_or_else(|| "Manual deployment".into());
        self.queued.push(QueuedDeploy {
            application_id: id,
            title,
            outcome: outcome.unwrap_or_else(|| "done".to_owned()),
        });
        Ok(Answer::Empty)
    }

    fn application_delete(&mut self, id: &str) -> Result<Answer, Failure> {
        let answer = app_json(self.application(id)?);
        self.remove_application_rows(id);
        Ok(Answer::Json(answer))
    }

    fn remove_application_rows(&mut self, id: &str) {
        self.applications.retain(|app| app.id != id);
        self.domains.retain(|domain| domain.application_id != id);
        self.deployments.retain(|row| row.application_id != id);
        self.queued.retain(|queued| queued.application_id != id);
    }

    fn domain_create(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let host = required(input, &["host"])?.remove(0).trim().to_owned();
        if !is_hostname(&host) {
            return Err(Failure::invalid(vec![issue("host", "Invalid hostname")]));
        }
        let application_id = optional_string(input, "applicationId").unwrap_or_default();
        if self.application(&application_id).is_err() {
            // Dokploy turns every handler error of domain.create into a 400.
            return Err(Failure::bad_request("Application not found".to_owned()));
        }
        let port = input.get("port").and_then(Value::as_u64).unwrap_or(3000);
        let port = u16::try_from(port)
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| Failure::invalid(vec![issue("port", "Invalid port")]))?;
        let domain = DomainRecord {
            id: self.id(),
            host,
            application_id,
            port,
            https: input.get("https").and_then(Value::as_bool).unwrap_or(false),
            certificate_type: optional_string(input, "certificateType")
                .unwrap_or_else(|| "none".to_owned()),
            path: optional_string(input, "path").unwrap_or_else(|| "/".to_owned()),
            created_at: self.now(),
        };
        let answer = self.domain_json(&domain);
        self.domains.push(domain);
        Ok(Answer::Json(answer))
    }

    fn domain_json(&self, domain: &DomainRecord) -> Value {
        json!({
            "domainId": domain.id, "host": domain.host, "https": domain.https,
            "port": domain.port, "customEntrypoint": null, "path": domain.path,
            "serviceName": null, "domainType": "application", "uniqueConfigKey": 1,
            "createdAt": domain.created_at, "composeId": null, "customCertResolver": null,
            "applicationId": domain.application_id, "previewDeploymentId": null,
            "certificateType": domain.certificate_type, "internalPath": "/",
            "stripPath": false, "middlewares": [], "forwardAuthEnabled": false, "enabled": true,
        })
    }

    fn domains_of(&self, application_id: &str) -> Value {
        let rows = self
            .domains
            .iter()
            .filter(|domain| domain.application_id == application_id)
            .map(|domain| {
                let mut row = self.domain_json(domain);
                if let (Some(row), Ok(app)) =
                    (row.as_object_mut(), self.application(application_id))
                {
                    row.insert(
                        "application".to_owned(),
                        json!({"applicationId": app.id, "appName": app.app_name, "name": app.name}),
                    );
                }
                row
            })
            .collect();
        Value::Array(rows)
    }

    fn domain_delete(&mut self, id: &str) -> Result<Answer, Failure> {
        let index = self.domains.iter().position(|domain| domain.id == id);
        let index = index.ok_or_else(|| Failure::not_found("Domain"))?;
        let domain = self.domains.remove(index);
        Ok(Answer::Json(self.domain_json(&domain)))
    }

    /// Advances this application's deploys by one poll, then lists its rows newest first.
    fn deployment_all(&mut self, application_id: &str) -> Value {
        self.advance_deploys(application_id);
        let rows = self
            .deployments
            .iter()
            .rev()
            .filter(|row| row.application_id == application_id)
            .map(deployment_json)
            .collect();
        Value::Array(rows)
    }

    fn advance_deploys(&mut self, application_id: &str) {
        let mut finished = Vec::new();
        for row in self
            .deployments
            .iter_mut()
            .filter(|row| row.application_id == application_id && row.status == "running")
        {
            if row.polls_left == 0 {
                row.status = row.outcome.clone();
                finished.push(row.status.clone());
            } else {
                row.polls_left -= 1;
            }
        }
        for status in finished {
            let now = self.now();
            if let Some(row) = self.deployments.iter_mut().find(|row| {
                row.application_id == application_id
                    && row.finished_at.is_none()
                    && row.status == status
            }) {
                row.finished_at = Some(now);
            }
            if let Some(app) = self
                .applications
                .iter_mut()
                .find(|a| a.id == application_id)
            {
                app.status = if status == "done" {
                    "done".into()
                } else {
                    "error".into()
                };
            }
        }
        // Dokploy's worker runs one job at a time: the oldest queued deploy starts.
        if let Some(index) = self
            .queued
            .iter()
            .position(|q| q.application_id == application_id)
        {
            let queued = self.queued.remove(index);
            let row = DeploymentRecord {
                id: self.id(),
                title: queued.title,
                status: "running".to_owned(),
                application_id: queued.application_id,
                created_at: self.now(),
                finished_at: None,
                polls_left: self.deploy_polls.saturating_sub(1),
                outcome: queued.outcome,
            };
            if let Some(app) = self
                .applications
                .iter_mut()
                .find(|a| a.id == application_id)
            {
                app.status = "running".to_owned();
            }
            self.deployments.push(row);
        }
    }

    /// Whether the application named `name` has a finished, successful deploy.
    pub(crate) fn app_health(&self, name: &str) -> Option<bool> {
        let app = self.applications.iter().find(|app| app.name == name)?;
        Some(
            self.deployments
                .iter()
                .any(|row| row.application_id == app.id && row.status == "done"),
        )
    }

    /// Everything, as Dokploy would list it.
    pub(crate) fn state(&self) -> Value {
        let projects: Vec<Value> = self.projects.iter().map(|p| self.project_json(p)).collect();
        let applications: Vec<Value> = self.applications.iter().map(app_json).collect();
        let domains: Vec<Value> = self.domains.iter().map(|d| self.domain_json(d)).collect();
        let deployments: Vec<Value> = self.deployments.iter().map(deployment_json).collect();
        json!({
            "projects": projects, "applications": applications,
            "domains": domains, "deployments": deployments,
        })
    }
}

fn app_json(app: &ApplicationRecord) -> Value {
    json!({
        "applicationId": app.id, "name": app.name, "appName": app.app_name,
        "description": null, "environmentId": app.environment_id,
        "applicationStatus": app.status, "sourceType": app.source_type,
        "dockerImage": app.docker_image, "username": null, "password": null,
        "registryUrl": null, "serverId": null, "replicas": 1, "buildType": "nixpacks",
        "createdAt": app.created_at, "env": null,
    })
}

fn deployment_json(row: &DeploymentRecord) -> Value {
    json!({
        "deploymentId": row.id, "title": row.title, "description": null,
        "status": row.status, "logPath": format!("/etc/dokploy/logs/{}.log", row.id),
        "pid": null, "applicationId": row.application_id, "composeId": null,
        "serverId": null, "isPreviewDeployment": false, "previewDeploymentId": null,
        "createdAt": row.created_at, "startedAt": row.created_at,
        "finishedAt": row.finished_at, "errorMessage": null,
    })
}

/// A zod-like issue.
fn issue(key: &str, message: &str) -> Value {
    json!({"code": "invalid_type", "path": [key], "message": message})
}

/// The non-empty string values of `keys`, or 400 `Input validation failed` naming the others.
fn required(input: &Map<String, Value>, keys: &[&str]) -> Result<Vec<String>, Failure> {
    let mut values = Vec::with_capacity(keys.len());
    let mut issues = Vec::new();
    for key in keys {
        match input.get(*key).and_then(Value::as_str) {
            Some(value) if !value.is_empty() => values.push(value.to_owned()),
            _ => issues.push(issue(key, "Required")),
        }
    }
    if issues.is_empty() {
        Ok(values)
    } else {
        Err(Failure::invalid(issues))
    }
}

fn optional_string(input: &Map<String, Value>, key: &str) -> Option<String> {
    input.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// RFC 1123: dot-separated labels of letters, digits and `-`, not starting or ending with `-`.
fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
