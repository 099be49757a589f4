//! Dokploy's `application` router, but for `application.deploy` (`deployment.rs`): the
//! application rows, their JSON shape, and `application.create` (a 6-character suffix on
//! `appName`, duplicates allowed, `apiCreateApplication`'s checks, the server rules),
//! `application.one`, `application.saveDockerProvider` (every key required and typed, as
//! Dokploy's schema has it) and `application.delete`.
//!
//! Deleting an application (`routers/application.ts:223-286`) removes its row, its domain and
//! deployment rows, its waiting jobs, its routes and its service; a build of it that is
//! already running goes on (and recreates the service if it ends `done`). It must never leave
//! a row that points at an application that is gone.

use serde_json::{Map, Value, json};

use super::World;
use super::deployment::deployment_json;
use super::domain::domain_json;
use super::input::required_one;
use super::table::Row;
use super::zod::{self, Field, Kind, NON_EMPTY, Presence, TextCheck};
use crate::simulator::answer::{Answer, Failure};

/// One application row.
#[derive(Debug, Clone)]
pub(super) struct ApplicationRecord {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) app_name: String,
    pub(super) environment_id: String,
    pub(super) status: String,
    pub(super) docker_image: Option<String>,
    pub(super) source_type: String,
    /// The remote server it runs on (`None`: Dokploy's own).
    pub(super) server_id: Option<String>,
    pub(super) created_at: String,
}

/// `apiCreateApplication` (`schema/application.ts`), in its key order.
const CREATE: &[Field] = &[
    Field::new("name", NON_EMPTY, Presence::Required),
    Field::new("appName", Kind::Text(APP_NAME), Presence::Optional),
    Field::new("description", Kind::Text(&[]), Presence::Nullish),
    // No `min(1)`: an empty id reaches the lookup and is 404 `Environment not found`.
    Field::new("environmentId", Kind::Text(&[]), Presence::Required),
    Field::new("serverId", Kind::Text(&[]), Presence::Nullish),
    Field::new("sourceType", Kind::OneOf(SOURCE_TYPES), Presence::Optional),
];

/// `appName`: 1 to 63 characters of `APP_NAME_REGEX` (`schema/utils.ts`).
const APP_NAME: &[TextCheck] = &[
    TextCheck::Min(1, None),
    TextCheck::Max(63),
    TextCheck::Pattern {
        test: is_app_name,
        pattern: "/^[a-zA-Z0-9._-]+$/",
        message: "App name can only contain letters, numbers, dots, underscores and hyphens",
    },
];

const SOURCE_TYPES: &[&str] = &[
    "github",
    "docker",
    "git",
    "gitlab",
    "bitbucket",
    "gitea",
    "drop",
];

/// `apiSaveDockerProvider`: a `.required()` pick, so every key must be there; the image and
/// the credentials may be `null` (drizzle-zod 0.5.1 makes nullable columns nullable).
const DOCKER_PROVIDER: &[Field] = &[
    Field::new(
        "dockerImage",
        Kind::Text(&[]),
        Presence::Present { nullable: true },
    ),
    Field::new(
        "applicationId",
        Kind::Text(&[]),
        Presence::Present { nullable: false },
    ),
    Field::new(
        "username",
        Kind::Text(&[]),
        Presence::Present { nullable: true },
    ),
    Field::new(
        "password",
        Kind::Text(&[]),
        Presence::Present { nullable: true },
    ),
    Field::new(
        "registryUrl",
        Kind::Text(&[]),
        Presence::Present { nullable: true },
    ),
];

impl Row for ApplicationRecord {
    fn id(&self) -> &str {
        &self.id
    }

    fn parent(&self) -> &str {
        &self.environment_id
    }

    /// The name the health route looks an application up by.
    fn label(&self) -> Option<&str> {
        Some(&self.name)
    }
}

impl World {
    /// `application.create` (`routers/application.ts:83-140`): the environment must exist, the
    /// server rules must admit the `serverId`, and the drawn `appName` must be free (409).
    pub(super) fn application_create(
        &mut self,
        input: &Map<String, Value>,
    ) -> Result<Answer, Failure> {
        let input = zod::parse(CREATE, input)?;
        let environment_id = zod::text(&input, "environmentId").unwrap_or_default();
        if !self.environments.contains(environment_id) {
            return Err(Failure::not_found("Environment"));
        }
        let server_id = zod::text(&input, "serverId").filter(|id| !id.is_empty());
        self.servers.admit(server_id)?;
        let app_name = self.new_app_name(zod::text(&input, "appName"));
        if self.app_names.contains(&app_name) {
            return Err(Failure::new(
                409,
                "CONFLICT",
                "Application with this 'AppName' already exists",
            ));
        }
        let application = ApplicationRecord {
            id: self.id(),
            name: zod::text(&input, "name").unwrap_or_default().to_owned(),
            app_name,
            environment_id: environment_id.to_owned(),
            status: "idle".to_owned(),
            docker_image: None,
            source_type: zod::text(&input, "sourceType")
                .unwrap_or("github")
                .to_owned(),
            server_id: server_id.map(str::to_owned),
            created_at: self.now(),
        };
        let answer = app_json(&application);
        self.app_names.insert(application.app_name.clone());
        self.applications.push(application);
        Ok(Answer::Json(answer))
    }

    /// `application.one`: the application with its relations (`findApplicationById`).
    pub(super) fn application_one(&self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let id = required_one(input, "applicationId")?;
        let application = self.application(&id)?;
        Ok(Answer::Json(self.application_nested(application)))
    }

    /// The application with this id, or Dokploy's 404.
    pub(super) fn application(&self, id: &str) -> Result<&ApplicationRecord, Failure> {
        let found = self.applications.get(id);
        found.ok_or_else(|| Failure::not_found("Application"))
    }

    /// Sets the status of the application with this id, if there is one.
    pub(super) fn set_application_status(&mut self, id: &str, status: &str) {
        if let Some(app) = self.applications.get_mut(id) {
            app.status = status.to_owned();
        }
    }

    /// `application.saveDockerProvider`: the image to deploy (`""` is kept as no image, as
    /// Dokploy's deploy treats it); the application turns `docker` and `idle`.
    pub(super) fn save_docker_provider(
        &mut self,
        input: &Map<String, Value>,
    ) -> Result<Answer, Failure> {
        let input = zod::parse(DOCKER_PROVIDER, input)?;
        let id = zod::text(&input, "applicationId").unwrap_or_default();
        let image = zod::text(&input, "dockerImage").filter(|image| !image.is_empty());
        let application = self.applications.get_mut(id);
        let application = application.ok_or_else(|| Failure::not_found("Application"))?;
        application.docker_image = image.map(str::to_owned);
        application.source_type = "docker".to_owned();
        application.status = "idle".to_owned();
        Ok(Answer::Json(Value::Bool(true)))
    }

    /// `application.delete`: answers the application as it was read before, then removes
    /// its rows, drops its waiting jobs, and removes its routes and its service.
    pub(super) fn application_delete(
        &mut self,
        input: &Map<String, Value>,
    ) -> Result<Answer, Failure> {
        let id = required_one(input, "applicationId")?;
        let application = self.application(&id)?;
        let answer = self.application_nested(application);
        let app_name = application.app_name.clone();
        self.remove_application_rows(&id);
        self.queue.drop_waiting_of(&id);
        self.remove_routes_and_service(&app_name);
        Ok(Answer::Json(answer))
    }

    /// Removes the application row with this id and every row that points at it (rows
    /// only: its jobs, routes and service are the caller's business).
    pub(super) fn remove_application_rows(&mut self, id: &str) {
        for domain in self.domains.child_ids(id) {
            self.domains.remove(&domain);
        }
        for row in self.deployments.child_ids(id) {
            self.deployments.remove(&row);
        }
        if let Some(application) = self.applications.remove(id) {
            self.app_names.remove(&application.app_name);
        }
    }

    /// An application with the relations `findApplicationById` reads: its environment with
    /// its project, its domains and deployments (oldest first, as the database gives them),
    /// and its other (empty) relations.
    fn application_nested(&self, app: &ApplicationRecord) -> Value {
        let mut shape = app_json(app);
        let environment = self.environments.get(&app.environment_id);
        let project = environment.and_then(|e| self.projects.get(&e.project_id));
        shape["environment"] = match (environment, project) {
            (Some(environment), Some(project)) => {
                json!({
                    "environmentId": environment.id, "name": "production",
                    "description": "Production environment",
                    "createdAt": environment.created_at, "env": "",
                    "projectId": environment.project_id, "isDefault": true,
                    "project": {
                        "projectId": project.id, "name": project.name, "description": null,
                        "createdAt": project.created_at, "organizationId": "sim-organization",
                        "env": "",
                    },
                })
            }
            _ => Value::Null,
        };
        let domains = self.domains.children(&app.id).map(domain_json);
        shape["domains"] = Value::Array(domains.collect());
        let deployments = self.deployments.children(&app.id).map(deployment_json);
        shape["deployments"] = Value::Array(deployments.collect());
        for relation in [
            "mounts",
            "redirects",
            "security",
            "ports",
            "previewDeployments",
        ] {
            shape[relation] = json!([]);
        }
        shape["server"] = Value::Null;
        shape["registry"] = Value::Null;
        shape
    }
}

/// An application as `application.one` shows it.
pub(super) fn app_json(app: &ApplicationRecord) -> Value {
    json!({
        "applicationId": app.id, "name": app.name, "appName": app.app_name,
        "description": null, "environmentId": app.environment_id,
        "applicationStatus": app.status, "sourceType": app.source_type,
        "dockerImage": app.docker_image, "username": null, "password": null,
        "registryUrl": null, "serverId": app.server_id, "replicas": 1, "buildType": "nixpacks",
        "createdAt": app.created_at, "env": null,
    })
}

/// `APP_NAME_REGEX`: `^[a-zA-Z0-9._-]+$`.
fn is_app_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::super::Health;
    use super::super::given::{Given, text};
    use crate::deployment::Procedure;

    #[test]
    fn deleting_an_app_drops_its_waiting_job_and_it_never_gets_a_row() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        let a = given.stack("alpha");
        let b = given.stack("beta");
        given.deploy(&a.application_id, "a1");
        given.deploy(&b.application_id, "b1");
        assert_eq!(given.queued(), vec!["b1"]);
        let delete = json!({"applicationId": b.application_id});
        given.ok(Procedure::ApplicationDelete, delete.clone());
        assert_eq!(given.queued(), Vec::<String>::new());
        assert_eq!(given.until_final(&a.application_id), "done");
        let state = given.state();
        let deployments = state["deployments"].as_array().expect("rows");
        assert_eq!(deployments.len(), 1, "only a1 ever got a row");
        let services: Vec<String> = state["services"]
            .as_array()
            .expect("services")
            .iter()
            .map(|service| text(&service["appName"]))
            .collect();
        assert_eq!(services, vec![a.app_name]);
        assert_eq!(given.call(Procedure::ApplicationDelete, delete), Err(404));
    }

    #[test]
    fn a_build_running_when_its_app_is_deleted_recreates_the_service_as_an_orphan() {
        let mut given = Given::new(1, 1, Duration::from_secs(10));
        let a = given.stack("alpha");
        given.deploy(&a.application_id, "a1");
        let running = vec![("a1".to_owned(), "running".to_owned())];
        assert_eq!(given.rows(&a.application_id), running, "not yet: 10 s");
        given.wait(Duration::from_secs(10));
        assert_eq!(given.until_final(&a.application_id), "done");
        given.deploy(&a.application_id, "a2");
        let deleted = given.ok(
            Procedure::ApplicationDelete,
            json!({"applicationId": a.application_id}),
        );
        assert_eq!(text(&deleted["appName"]), a.app_name);
        let state = given.state();
        assert_eq!(
            state["services"],
            json!([]),
            "application.delete removes it"
        );
        assert_eq!(state["routes"], json!([]));
        given.wait(Duration::from_secs(10));
        let state = given.state();
        assert_eq!(state["applications"], json!([]));
        assert_eq!(state["deployments"], json!([]));
        let orphan = json!([{"appName": a.app_name, "applicationId": a.application_id,
                             "image": "nginx:1.27", "running": true}]);
        assert_eq!(state["services"], orphan, "the running build ended done");
        assert_eq!(
            given.health("alpha"),
            Health::Unknown,
            "no route leads to it"
        );
    }

    #[test]
    fn the_delete_answer_is_the_app_as_it_was_with_its_relations() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        let a = given.stack("alpha");
        given.deploy(&a.application_id, "a1");
        given.until_final(&a.application_id);
        let id = json!({"applicationId": a.application_id});
        let deleted = given.ok(Procedure::ApplicationDelete, id.clone());
        assert_eq!(text(&deleted["applicationId"]), a.application_id);
        assert_eq!(text(&deleted["applicationStatus"]), "done");
        let project = &deleted["environment"]["project"];
        assert_eq!(text(&project["projectId"]), a.project_id);
        assert_eq!(text(&deleted["domains"][0]["domainId"]), a.domain_id);
        assert_eq!(text(&deleted["deployments"][0]["title"]), "a1");
        assert_eq!(
            given.ok(Procedure::DomainByApplicationId, id.clone()),
            json!([])
        );
        assert_eq!(given.ok(Procedure::DeploymentAll, id.clone()), json!([]));
        assert_eq!(given.call(Procedure::ApplicationDelete, id), Err(404));
    }
}
