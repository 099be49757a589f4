//! Dokploy's `deployment` rows and router, and `application.deploy`: a deploy only queues a
//! job (an empty 200, no row: `routers/application.ts:700-742`); the row is created when the
//! build queue starts the job (`queue.rs`), `running`, with Dokploy's title, log path and
//! times, after pruning the application's old rows as `removeLastTenDeployments` does
//! (`services/deployment.ts:692-756`: with more than 10 rows, all but the newest 10 go, so an
//! application never lists more than 11). `deployment.all` lists an application's rows newest
//! first and counts, for each build it showed `running`, one poll seen.
//!
//! A row's status only changes through the build queue; this file never finishes, cancels or
//! starts a build itself.

use serde_json::{Map, Value, json};

use super::World;
use super::input::{optional_string, required_one};
use super::queue::Job;
use super::table::Row;
use crate::simulator::answer::{Answer, Failure};

/// The rows an application keeps before a new one is added: Dokploy deletes the rest.
const ROWS_KEPT: usize = 10;

/// One row of `deployment.all`.
#[derive(Debug, Clone)]
pub(super) struct DeploymentRecord {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) status: String,
    pub(super) application_id: String,
    pub(super) log_path: String,
    pub(super) created_at: String,
    pub(super) finished_at: Option<String>,
}

impl Row for DeploymentRecord {
    fn id(&self) -> &str {
        &self.id
    }

    fn parent(&self) -> &str {
        &self.application_id
    }
}

impl World {
    /// `application.deploy`: queues a job for an application that must exist; `forced` is
    /// the final status a fault forces on it. The job has no row until it starts.
    pub(super) fn deploy(
        &mut self,
        input: &Map<String, Value>,
        forced: Option<String>,
    ) -> Result<Answer, Failure> {
        let id = required_one(input, "applicationId")?;
        self.application(&id)?;
        // Dokploy's router: `titleLog: input.title || "Manual deployment"`.
        let title = optional_string(input, "title").filter(|title| !title.is_empty());
        self.queue.push(Job {
            application_id: id,
            title: title.unwrap_or_else(|| "Manual deployment".to_owned()),
            forced,
        });
        Ok(Answer::Empty)
    }

    /// `deployment.all`: the application's rows, newest first (an unknown application has
    /// none); each of its builds shown `running` counts this poll.
    pub(super) fn deployment_all(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let application_id = required_one(input, "applicationId")?;
        let rows = self
            .deployments
            .children(&application_id)
            .rev()
            .map(deployment_json)
            .collect();
        self.queue.count_poll(&application_id);
        Ok(Answer::Json(Value::Array(rows)))
    }

    /// Creates the `running` row of a build that starts now, after pruning the application's
    /// old rows; gives the row's id.
    pub(super) fn create_row(
        &mut self,
        application_id: &str,
        app_name: &str,
        title: String,
    ) -> String {
        let rows = self.deployments.children_count(application_id);
        if rows > ROWS_KEPT {
            let oldest = self.deployments.child_ids(application_id);
            for id in oldest.iter().take(rows - ROWS_KEPT) {
                self.deployments.remove(id);
            }
        }
        let id = self.id();
        let created_at = self.now();
        let row = DeploymentRecord {
            id: id.clone(),
            title,
            status: "running".to_owned(),
            application_id: application_id.to_owned(),
            log_path: log_path(app_name, &created_at),
            created_at,
            finished_at: None,
        };
        self.deployments.push(row);
        id
    }
}

/// Dokploy's log file: `/etc/dokploy/logs/<appName>/<appName>-<yyyy-MM-dd:HH:mm:ss>.log`
/// (`services/deployment.ts` `createDeployment`), from an RFC 3339 time.
fn log_path(app_name: &str, created_at: &str) -> String {
    let date = created_at.get(..10).unwrap_or(created_at);
    let time = created_at.get(11..19).unwrap_or_default();
    format!("/etc/dokploy/logs/{app_name}/{app_name}-{date}:{time}.log")
}

/// A row as `deployment.all` shows it.
pub(super) fn deployment_json(row: &DeploymentRecord) -> Value {
    json!({
        "deploymentId": row.id, "title": row.title, "description": "",
        "status": row.status, "logPath": row.log_path,
        "pid": null, "applicationId": row.application_id, "composeId": null,
        "serverId": null, "isPreviewDeployment": false, "previewDeploymentId": null,
        "createdAt": row.created_at, "startedAt": row.created_at,
        "finishedAt": row.finished_at, "errorMessage": null, "scheduleId": null,
        "backupId": null, "rollbackId": null, "volumeBackupId": null, "buildServerId": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_path_is_dokploys() {
        assert_eq!(
            log_path("shop-abc123", "2026-01-01T00:00:07.000Z"),
            "/etc/dokploy/logs/shop-abc123/shop-abc123-2026-01-01:00:00:07.log"
        );
    }
}
