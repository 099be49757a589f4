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

/// A deployment row. Dokploy's `status` column is nullable (`schema/deployment.ts`): a row
/// without one is a deploy whose state is unknown, never a final one.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentRow {
    pub(crate) deployment_id: String,
    #[serde(default)]
    pub(crate) title: Option<String>,
    #[serde(default)]
    pub(crate) status: Option<String>,
}

/// Dokploy's error body: `{message, code?, data?: {path?, …}, issues?}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) data: Option<ErrorData>,
}

/// `data` of an error body: `path` names the procedure of a resource 404; a route 404 (an
/// unknown procedure or the wrong method) has none.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorData {
    #[serde(default)]
    pub(crate) path: Option<String>,
}

/// `project.search`'s answer (Dokploy v0.28.3 and later): one page of the projects whose name
/// contains the text, newest first, and how many match in all.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SearchPage {
    pub(crate) items: Vec<ProjectHead>,
    pub(crate) total: u64,
}

/// A project of a search page (no environments).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectHead {
    pub(crate) project_id: String,
    pub(crate) name: String,
}

/// `project.one`'s environments, as the project lookup reads them.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ProjectEnvironments {
    #[serde(default)]
    pub(crate) environments: Vec<EnvironmentHead>,
}

/// An environment's id, name and default flag (`isDefault` exists from Dokploy v0.26.1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvironmentHead {
    pub(crate) environment_id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) is_default: bool,
}

/// The default environment: the one marked `isDefault`, else (Dokploy v0.25.0-v0.26.0, which
/// has no such column) the one named `production`, which `project.create` makes.
pub(crate) fn default_environment<T>(
    environments: &[T],
    head: impl Fn(&T) -> (&str, bool),
) -> Option<&T> {
    environments
        .iter()
        .find(|environment| head(environment).1)
        .or_else(|| {
            environments
                .iter()
                .find(|environment| head(environment).0 == "production")
        })
}

/// `application.create`'s input.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateApplication {
    pub(crate) name: String,
    pub(crate) app_name: String,
    pub(crate) environment_id: String,
    pub(crate) source_type: String,
    /// The server to build on: required by Dokploy Cloud and by "remote servers only"
    /// installs (`--dokploy-server-id`); left out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_id: Option<String>,
}

/// `application.saveDockerProvider`'s input: all five keys. The unused credentials are `""`,
/// never `null`: both drizzle-zod generations Dokploy builds with accept `""`, and Dokploy
/// treats it as no credentials (`dokploy-behaviour.md` M7).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SaveDockerProvider {
    pub(crate) application_id: String,
    pub(crate) docker_image: String,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) registry_url: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_row_without_a_status_parses_as_unknown() {
        let row: DeploymentRow =
            serde_json::from_str(r#"{"deploymentId":"d","title":"t","status":null}"#)
                .expect("a nullable status parses");
        assert_eq!(row.status, None);
        let row: DeploymentRow =
            serde_json::from_str(r#"{"deploymentId":"d","status":"done"}"#).expect("parses");
        assert_eq!(row.status.as_deref(), Some("done"));
    }

    #[test]
    fn unused_registry_credentials_are_sent_as_empty_strings() {
        let input = SaveDockerProvider {
            application_id: "a".into(),
            docker_image: "nginx".into(),
            username: String::new(),
            password: String::new(),
            registry_url: String::new(),
        };
        let json = serde_json::to_value(&input).expect("serializes");
        for key in ["username", "password", "registryUrl"] {
            assert_eq!(json[key], "", "{key}");
        }
    }
}
