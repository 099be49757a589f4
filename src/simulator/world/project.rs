//! Dokploy's `project` and `environment` routers: the project and environment rows, their JSON
//! shapes, and `project.all`, `project.one`, `project.create`, `project.remove`,
//! `environment.one`. Every project gets one default `production` environment, and removing a
//! project removes its environments and their applications' rows, as Dokploy's foreign-key
//! cascade does.
//!
//! `project.all` is serialized straight from the rows: the list grows with every project, so
//! building `Value` trees for it would make the simulator quadratic. It must never answer
//! differently from Dokploy for a shape StackLedger reads.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::World;
use super::input::required_one;
use crate::simulator::answer::{Answer, Failure};

/// One project row.
#[derive(Debug, Clone)]
pub(super) struct ProjectRecord {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) created_at: String,
}

/// One environment row (always the default `production` one).
#[derive(Debug, Clone)]
pub(super) struct EnvironmentRecord {
    pub(super) id: String,
    pub(super) project_id: String,
    pub(super) created_at: String,
}

/// `project.all`'s items.
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
    // Dokploy lists every kind of service; the simulator has applications only.
    compose: [(); 0],
    mariadb: [(); 0],
    mongo: [(); 0],
    mysql: [(); 0],
    postgres: [(); 0],
    redis: [(); 0],
    libsql: [(); 0],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppItemOut<'a> {
    application_id: &'a str,
    name: &'a str,
    application_status: &'a str,
    created_at: &'a str,
}

/// The service lists of an environment that the simulator never fills.
const EMPTY_SERVICES: [&str; 7] = [
    "compose", "postgres", "mysql", "mariadb", "mongo", "redis", "libsql",
];

impl World {
    /// `project.all`: every project, newest first, with its environments and applications.
    pub(super) fn project_all(&self) -> Answer {
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
        Answer::Encoded(serde_json::to_vec(&items).expect("plain structs always serialize"))
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
                compose: [],
                mariadb: [],
                mongo: [],
                mysql: [],
                postgres: [],
                redis: [],
                libsql: [],
            })
            .collect()
    }

    /// A project as `project.one` shows it: with its environments and their applications.
    pub(super) fn project_json(&self, project: &ProjectRecord) -> Value {
        let environments: Vec<Value> = self
            .environments
            .iter()
            .filter(|environment| environment.project_id == project.id)
            .map(|environment| self.environment_json(environment))
            .collect();
        let mut shape = project_head(project);
        shape["environments"] = Value::Array(environments);
        shape["projectTags"] = json!([]);
        shape
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
        let mut shape = environment_head(environment);
        shape["applications"] = Value::Array(applications);
        for service in EMPTY_SERVICES {
            shape[service] = json!([]);
        }
        shape
    }

    /// `project.one`.
    pub(super) fn project_one(&self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let id = required_one(input, "projectId")?;
        let project = self.projects.iter().find(|p| p.id == id);
        let project = project.ok_or_else(|| Failure::not_found("Project"))?;
        Ok(Answer::Json(self.project_json(project)))
    }

    /// `project.create`: the project and its default environment, answered as
    /// `{project, environment}` without their lists.
    pub(super) fn project_create(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let name = required_one(input, "name")?;
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
            "project": project_head(&project),
            "environment": environment_head(&environment),
        });
        self.projects.push(project);
        self.environments.push(environment);
        Ok(Answer::Json(answer))
    }

    /// `project.remove`: the project goes, and its rows with it.
    pub(super) fn project_remove(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let id = required_one(input, "projectId")?;
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
        Ok(Answer::Json(project_head(&project)))
    }

    /// `environment.one`.
    pub(super) fn environment_one(&self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let id = required_one(input, "environmentId")?;
        let environment = self.environments.iter().find(|e| e.id == id);
        let environment = environment.ok_or_else(|| Failure::not_found("Environment"))?;
        // Dokploy's environment.one carries its project and no createdAt of its own.
        let mut shape = self.environment_json(environment);
        if let Some(fields) = shape.as_object_mut() {
            fields.remove("createdAt");
        }
        let project = self
            .projects
            .iter()
            .find(|p| p.id == environment.project_id);
        shape["project"] = project.map_or(Value::Null, project_head);
        Ok(Answer::Json(shape))
    }
}

/// The fields every shape of a project has.
fn project_head(project: &ProjectRecord) -> Value {
    json!({
        "projectId": project.id, "name": project.name, "description": null,
        "createdAt": project.created_at, "organizationId": "sim-organization", "env": "",
    })
}

/// The fields every shape of an environment has.
fn environment_head(environment: &EnvironmentRecord) -> Value {
    json!({
        "environmentId": environment.id, "name": "production",
        "description": "Production environment", "createdAt": environment.created_at,
        "env": "", "projectId": environment.project_id, "isDefault": true,
    })
}
