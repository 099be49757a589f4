//! Dokploy's JSON, as far as StackLedger reads it (`../shared/dokploy-api.md` §2). Unknown
//! fields are ignored (Dokploy returns whole rows); missing or mistyped fields we need are
//! errors.
//!
//! Private to the client (the simulator writes its own JSON): these types never leave
//! `dokploy::client`, so no event and no answer of ours depends on Dokploy's wire shapes.

use serde::{Deserialize, Serialize};

/// An application inside an environment listing.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppItem {
    pub(crate) application_id: String,
    pub(crate) name: String,
}

/// An environment of a project (`project.all`) or on its own (`environment.one`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Environment {
    pub(crate) environment_id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) is_default: bool,
    #[serde(default)]
    pub(crate) applications: Vec<AppItem>,
}

/// One item of `project.all`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Project {
    pub(crate) project_id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) environments: Vec<Environment>,
}

/// The id part of a row.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectRow {
    pub(crate) project_id: String,
}

/// The id part of an environment row.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvironmentRow {
    pub(crate) environment_id: String,
}

/// `project.create`'s answer (v0.25 and later).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ProjectCreated {
    pub(crate) project: ProjectRow,
    pub(crate) environment: EnvironmentRow,
}

/// `application.create`'s answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApplicationRow {
    pub(crate) application_id: String,
    pub(crate) app_name: String,
}

/// A domain row.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DomainRow {
    pub(crate) domain_id: String,
    pub(crate) host: String,
}

/// A deployment row.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentRow {
    pub(crate) deployment_id: String,
    #[serde(default)]
    pub(crate) title: Option<String>,
    pub(crate) status: String,
}

/// Dokploy's error body: `{message, code?, issues?}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) code: Option<String>,
}

/// `application.create`'s input.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateApplication {
    pub(crate) name: String,
    pub(crate) app_name: String,
    pub(crate) environment_id: String,
    pub(crate) source_type: String,
}

/// `application.saveDockerProvider`'s input: all five keys, nulls included.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SaveDockerProvider {
    pub(crate) application_id: String,
    pub(crate) docker_image: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) registry_url: Option<String>,
}

/// `domain.create`'s input, with the port and certificate sent explicitly.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateDomain {
    pub(crate) host: String,
    pub(crate) application_id: String,
    pub(crate) domain_type: String,
    pub(crate) port: u16,
    pub(crate) https: bool,
    pub(crate) certificate_type: String,
    pub(crate) path: String,
}

/// `project.one`'s answer, as far as a rollback reads it: what each environment holds.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ProjectOne {
    #[serde(default)]
    pub(crate) environments: Vec<EnvironmentServices>,
}

/// One environment of `project.one`: its service lists, each item with its id and name.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EnvironmentServices {
    #[serde(default)]
    applications: Vec<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    compose: Vec<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    mariadb: Vec<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    mongo: Vec<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    mysql: Vec<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    postgres: Vec<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    redis: Vec<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    libsql: Vec<serde_json::Map<String, serde_json::Value>>,
}

impl EnvironmentServices {
    /// Every service listed: its kind, its id and its name (Dokploy names each list's id key
    /// after the kind: `applicationId`, `composeId`, `postgresId`, …).
    pub(crate) fn services(&self) -> Vec<(&'static str, String, String)> {
        let lists = [
            ("application", &self.applications),
            ("compose", &self.compose),
            ("mariadb", &self.mariadb),
            ("mongo", &self.mongo),
            ("mysql", &self.mysql),
            ("postgres", &self.postgres),
            ("redis", &self.redis),
            ("libsql", &self.libsql),
        ];
        let text = |item: &serde_json::Map<String, serde_json::Value>, key: &str| {
            item.get(key)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        lists
            .into_iter()
            .flat_map(|(kind, items)| {
                items.iter().map(move |item| {
                    let id = text(item, &format!("{kind}Id"));
                    (kind, id, text(item, "name"))
                })
            })
            .collect()
    }
}
