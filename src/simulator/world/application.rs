//! Dokploy's `application` router, but for `application.deploy` (`deployment.rs`): the
//! application rows, their JSON shape, and `application.create` (a 6-character suffix on
//! `appName`, duplicates allowed), `application.one`, `application.saveDockerProvider` (every
//! key required, as Dokploy's schema has it) and `application.delete`.
//!
//! Deleting an application removes its domains, deployment rows and queued deploys with it;
//! it must never leave a row that points at an application that is gone.

use serde_json::{Map, Value, json};

use super::input::{issue, optional_string, required, required_one};
use super::{SUFFIX_ALPHABET, World};
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
    pub(super) created_at: String,
}

/// The keys `application.saveDockerProvider` requires (present, whatever their value).
const DOCKER_PROVIDER_KEYS: [&str; 5] = [
    "applicationId",
    "dockerImage",
    "username",
    "password",
    "registryUrl",
];

impl World {
    /// `application.create`, in an environment that must exist.
    pub(super) fn application_create(
        &mut self,
        input: &Map<String, Value>,
    ) -> Result<Answer, Failure> {
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

    /// `application.saveDockerProvider`: the image to deploy; the application turns `docker`.
    pub(super) fn save_docker_provider(
        &mut self,
        input: &Map<String, Value>,
    ) -> Result<Answer, Failure> {
        let missing: Vec<Value> = DOCKER_PROVIDER_KEYS
            .iter()
            .filter(|key| !input.contains_key(**key))
            .map(|key| issue(key, "Required"))
            .collect();
        if !missing.is_empty() {
            return Err(Failure::invalid(missing));
        }
        let id = required_one(input, "applicationId")?;
        let image = optional_string(input, "dockerImage");
        let application = self.applications.iter_mut().find(|app| app.id == id);
        let application = application.ok_or_else(|| Failure::not_found("Application"))?;
        application.docker_image = image;
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
        "registryUrl": null, "serverId": null, "replicas": 1, "buildType": "nixpacks",
        "createdAt": app.created_at, "env": null,
    })
}
