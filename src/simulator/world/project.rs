//! Dokploy's `project` and `environment` routers: the project and environment rows, their JSON
//! shapes, and `project.all`, `project.one`, `project.create`, `project.remove`,
//! `environment.one`. Every project gets one default `production` environment, and removing a
//! project removes its environments and their applications' rows, as Dokploy's foreign-key
//! cascade does, and nothing else: what those applications run stays up.
//!
//! Every list is walked through the tables' parent indexes, so `project.all` costs what it
//! answers, and it is serialized straight from the rows (building `Value` trees for a list
//! that grows with every project would be slow). It must never answer differently from
//! Dokploy for a shape StackLedger reads.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::World;
use super::input::required_one;
use super::table::Row;
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

impl Row for ProjectRecord {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Row for EnvironmentRecord {
    fn id(&self) -> &str {
        &self.id
    }

    fn parent(&self) -> &str {
        &self.project_id
    }
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

/// An environment in `project.all`: the three columns Dokploy selects and its service lists.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvironmentOut<'a> {
    name: &'a str,
    environment_id: &'a str,
    is_default: bool,
    applications: Vec<AppItemOut<'a>>,
    mariadb: [(); 0],
    mongo: [(); 0],
    mysql: [(); 0],
    postgres: [(); 0],
    redis: [(); 0],
    compose: [(); 0],
    libsql: [(); 0],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppItemOut<'a> {
    application_id: &'a str,
    name: &'a str,
    application_status: &'a str,
}

/// The service lists of an environment that the simulator never fills.
const EMPTY_SERVICES: [&str; 7] = [
    "compose", "postgres", "mysql", "mariadb", "mongo", "redis", "libsql",
];

impl World {
    /// `project.all`: every project, newest first, with its environments and applications
    /// (`routers/project.ts:337-400`), walked through the parent indexes.
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
        let environments = self.environments.children(project_id);
        environments
            .map(|environment| EnvironmentOut {
                name: "production",
                environment_id: &environment.id,
                is_default: true,
                applications: self
                    .applications
                    .children(&environment.id)
                    .map(|app| AppItemOut {
                        application_id: &app.id,
                        name: &app.name,
                        application_status: &app.status,
                    })
                    .collect(),
                mariadb: [],
                mongo: [],
                mysql: [],
                postgres: [],
                redis: [],
                compose: [],
                libsql: [],
            })
            .collect()
    }

    /// A project as `project.one` shows it (`findProjectById`): every environment column, its
    /// applications with Dokploy's service columns, and its (empty) other service lists.
    pub(super) fn project_json(&self, project: &ProjectRecord) -> Value {
        let environments: Vec<Value> = self
            .environments
            .children(&project.id)
            .map(|environment| {
                let mut shape = environment_head(environment);
                shape["applications"] = self.environment_apps(&environment.id, true);
                with_empty_services(shape)
            })
            .collect();
        let mut shape = project_head(project);
        shape["environments"] = Value::Array(environments);
        shape["projectTags"] = json!([]);
        shape
    }

    /// An environment as `environment.one` shows it (`findEnvironmentById`): its columns but
    /// `createdAt`, its applications, its (empty) other service lists, and its project.
    fn environment_json(&self, environment: &EnvironmentRecord) -> Value {
        let mut shape = environment_head(environment);
        if let Some(shape) = shape.as_object_mut() {
            shape.remove("createdAt");
        }
        shape["applications"] = self.environment_apps(&environment.id, false);
        if let Some(project) = self.projects.get(&environment.project_id) {
            shape["project"] = project_head(project);
        }
        with_empty_services(shape)
    }

    /// An environment's applications with the columns Dokploy selects (`appName` only in
    /// `project.one`).
    fn environment_apps(&self, environment_id: &str, with_app_name: bool) -> Value {
        let apps = self.applications.children(environment_id);
        let apps = apps.map(|app| {
            let mut item = json!({
                "applicationId": app.id, "name": app.name, "createdAt": app.created_at,
                "applicationStatus": app.status, "description": null, "serverId": null,
                "icon": null, "server": null,
            });
            if with_app_name {
                item["appName"] = json!(app.app_name);
            }
            item
        });
        Value::Array(apps.collect())
    }

    /// `project.one`.
    pub(super) fn project_one(&self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let id = required_one(input, "projectId")?;
        let project = self.projects.get(&id);
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
        self.project_names.insert(&project.id, &project.name);
        self.projects.push(project);
        self.environments.push(environment);
        Ok(Answer::Json(answer))
    }

    /// `project.remove`: the project row goes, and its environments, applications, domains
    /// and deployments by foreign-key cascade (`services/project.ts:123-131`). Rows only:
    /// Dokploy removes no service, route or queued job here (M1).
    pub(super) fn project_remove(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let id = required_one(input, "projectId")?;
        let project = self.projects.remove(&id);
        let project = project.ok_or_else(|| Failure::not_found("Project"))?;
        self.project_names.remove(&project.id, &project.name);
        for environment in self.environments.child_ids(&project.id) {
            for application in self.applications.child_ids(&environment) {
                self.remove_application_rows(&application);
            }
            self.environments.remove(&environment);
        }
        Ok(Answer::Json(project_head(&project)))
    }

    /// `environment.one`.
    pub(super) fn environment_one(&self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let id = required_one(input, "environmentId")?;
        let environment = self.environments.get(&id);
        let environment = environment.ok_or_else(|| Failure::not_found("Environment"))?;
        // Dokploy's environment.one carries its project and no createdAt of its own.
        let mut shape = self.environment_json(environment);
        if let Some(fields) = shape.as_object_mut() {
            fields.remove("createdAt");
        }
        let project = self.projects.get(&environment.project_id);
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

/// `shape` with the service lists the simulator never fills.
fn with_empty_services(mut shape: Value) -> Value {
    for service in EMPTY_SERVICES {
        shape[service] = json!([]);
    }
    shape
}

/// The fields every shape of an environment has.
fn environment_head(environment: &EnvironmentRecord) -> Value {
    json!({
        "environmentId": environment.id, "name": "production",
        "description": "Production environment", "createdAt": environment.created_at,
        "env": "", "projectId": environment.project_id, "isDefault": true,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::super::Health;
    use super::super::given::{Given, text};
    use crate::deployment::Procedure;

    fn keys(value: &Value) -> Vec<String> {
        let mut keys: Vec<String> = value
            .as_object()
            .map(|object| object.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    #[test]
    fn removing_a_project_deletes_rows_only_and_its_app_still_answers() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        let a = given.stack("alpha");
        let b = given.stack("beta");
        given.deploy(&a.application_id, "a1");
        assert_eq!(given.until_final(&a.application_id), "done");
        let removed = given.ok(Procedure::ProjectRemove, json!({"projectId": a.project_id}));
        assert_eq!(text(&removed["projectId"]), a.project_id);
        let state = given.state();
        let apps: Vec<String> = state["applications"]
            .as_array()
            .expect("apps")
            .iter()
            .map(|app| text(&app["applicationId"]))
            .collect();
        assert_eq!(
            apps,
            vec![b.application_id.clone()],
            "the cascade took alpha's rows"
        );
        assert_eq!(state["deployments"], json!([]));
        assert_eq!(state["domains"].as_array().map(Vec::len), Some(1));
        assert_eq!(state["services"].as_array().map(Vec::len), Some(1));
        assert_eq!(state["routes"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            given.health("alpha"),
            Health::Up,
            "its container and route remain"
        );
        let delete = json!({"applicationId": a.application_id});
        assert_eq!(given.call(Procedure::ApplicationDelete, delete), Err(404));
        assert_eq!(
            given.health("alpha"),
            Health::Up,
            "and nothing can remove them now"
        );
        let again = json!({"projectId": a.project_id});
        assert_eq!(given.call(Procedure::ProjectRemove, again), Err(404));
    }

    #[test]
    fn a_job_queued_before_its_project_was_removed_fails_without_a_row() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        let a = given.stack("alpha");
        let b = given.stack("beta");
        given.deploy(&a.application_id, "a1");
        given.deploy(&b.application_id, "b1");
        given.ok(Procedure::ProjectRemove, json!({"projectId": b.project_id}));
        assert_eq!(
            given.queued(),
            vec!["b1"],
            "project.remove leaves the queue alone"
        );
        assert_eq!(given.until_final(&a.application_id), "done");
        assert_eq!(given.queued(), Vec::<String>::new());
        let state = given.state();
        assert_eq!(state["deployments"].as_array().map(Vec::len), Some(1));
        assert_eq!(state["services"].as_array().map(Vec::len), Some(1));
        given.deploy(&a.application_id, "a2");
        let rows = given.rows(&a.application_id);
        assert_eq!(
            rows[0],
            ("a2".to_owned(), "running".to_owned()),
            "the slot is free"
        );
    }

    #[test]
    fn lists_hold_only_their_own_children_among_many() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        let stacks: Vec<_> = (0..30).map(|n| given.stack(&format!("s{n}"))).collect();
        let chosen = &stacks[17];
        given.deploy(&chosen.application_id, "mine");
        given.deploy(&stacks[3].application_id, "theirs");
        let environment = given.ok(
            Procedure::EnvironmentOne,
            json!({"environmentId": chosen.environment_id}),
        );
        let apps = environment["applications"].as_array().expect("apps");
        assert_eq!(apps.len(), 1);
        assert_eq!(text(&apps[0]["applicationId"]), chosen.application_id);
        let rows = given.rows(&chosen.application_id);
        assert_eq!(rows, vec![("mine".to_owned(), "running".to_owned())]);
        let all = given.ok(Procedure::ProjectAll, json!({}));
        let names: Vec<String> = all
            .as_array()
            .expect("projects")
            .iter()
            .map(|project| text(&project["name"]))
            .collect();
        let expected: Vec<String> = (0..30).rev().map(|n| format!("s{n}")).collect();
        assert_eq!(names, expected, "newest first");
        let domains = json!({"applicationId": chosen.application_id});
        let domains = given.ok(Procedure::DomainByApplicationId, domains);
        assert_eq!(domains.as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn the_shapes_carry_dokploys_keys() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        let a = given.stack("alpha");
        let all = given.ok(Procedure::ProjectAll, json!({}));
        let environment = &all[0]["environments"][0];
        let expected = [
            "applications",
            "compose",
            "environmentId",
            "isDefault",
            "libsql",
            "mariadb",
            "mongo",
            "mysql",
            "name",
            "postgres",
            "redis",
        ];
        assert_eq!(keys(environment), expected);
        let app = &environment["applications"][0];
        assert_eq!(keys(app), ["applicationId", "applicationStatus", "name"]);
        let environment = given.ok(
            Procedure::EnvironmentOne,
            json!({"environmentId": a.environment_id}),
        );
        assert!(environment.get("createdAt").is_none());
        assert_eq!(text(&environment["project"]["projectId"]), a.project_id);
        assert_eq!(environment["compose"], json!([]));
        let project = given.ok(Procedure::ProjectOne, json!({"projectId": a.project_id}));
        let app = &project["environments"][0]["applications"][0];
        assert_eq!(text(&app["appName"]), a.app_name);
    }
}
