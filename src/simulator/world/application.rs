//! Dokploy's `application` router, but for `application.deploy` (`deployment.rs`): the
//! application rows, their JSON shape, and `application.create` (a 6-character suffix on
//! `appName`, duplicates allowed, `apiCreateApplication`'s checks, the server rules),
//! `application.one`, `application.saveDockerProvider` (every key required and typed, as
//! Dokploy's schema has it) and `application.delete`.
//!
//! Deleting an application removes its domains, deployment rows and queued deploys with it;
//! it must never leave a row that points at an application that is gone.

use serde_json::{Map, Value, json};

use super::World;
use super::input::required_one;
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

impl World {
    /// `application.create` (`routers/application.ts:83-140`): the environment must exist, the
    /// server rules must admit the `serverId`, and the drawn `appName` must be free (409).
    pub(super) fn application_create(
        &mut self,
        input: &Map<String, Value>,
    ) -> Result<Answer, Failure> {
        let input = zod::parse(CREATE, input)?;
        let environment_id = zod::text(&input, "environmentId").unwrap_or_default();
        if !self.environments.iter().any(|e| e.id == environment_id) {
            return Err(Failure::not_found("Environment"));
        }
        let server_id = zod::text(&input, "serverId").filter(|id| !id.is_empty());
        self.servers.admit(server_id)?;
        let app_name = self.new_app_name(zod::text(&input, "appName"));
        if self.applications.iter().any(|app| app.app_name == app_name) {
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
        self.applications.push(application);
        Ok(Answer::Json(answer))
    }

    /// `application.one`.
    pub(super) fn application_one(&self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let id = required_one(input, "applicationId")?;
        self.application(&id).map(|app| Answer::Json(app_json(app)))
    }

    /// The application with this id, or Dokploy's 404.
    pub(super) fn application(&self, id: &str) -> Result<&ApplicationRecord, Failure> {
        let found = self.applications.iter().find(|app| app.id == id);
        found.ok_or_else(|| Failure::not_found("Application"))
    }

    /// Sets the status of the application with this id, if there is one.
    pub(super) fn set_application_status(&mut self, id: &str, status: &str) {
        if let Some(app) = self.applications.iter_mut().find(|app| app.id == id) {
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
        let application = self.applications.iter_mut().find(|app| app.id == id);
        let application = application.ok_or_else(|| Failure::not_found("Application"))?;
        application.docker_image = image.map(str::to_owned);
        application.source_type = "docker".to_owned();
        application.status = "idle".to_owned();
        Ok(Answer::Json(Value::Bool(true)))
    }

    /// `application.delete`: answers the application as it was, and removes its rows.
    pub(super) fn application_delete(
        &mut self,
        input: &Map<String, Value>,
    ) -> Result<Answer, Failure> {
        let id = required_one(input, "applicationId")?;
        let answer = app_json(self.application(&id)?);
        self.remove_application_rows(&id);
        Ok(Answer::Json(answer))
    }

    /// Removes the application with this id and every row that points at it.
    pub(super) fn remove_application_rows(&mut self, id: &str) {
        self.applications.retain(|app| app.id != id);
        self.domains.retain(|domain| domain.application_id != id);
        self.deployments.retain(|row| row.application_id != id);
        self.queued.retain(|queued| queued.application_id != id);
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
