//! Dokploy's deploy queue and `deployment` router: `application.deploy` queues a deploy and
//! answers an empty 200; each `deployment.all` poll advances that application's deploys by one
//! step, then lists its rows newest first. A row stays `running` for the configured number of
//! polls, then takes its outcome (`done`, or what a fault forced) and stamps `finishedAt`.
//!
//! Each poll starts at most one queued deploy, the oldest (Dokploy's worker runs one job at a
//! time). Time only moves when the world is polled or written, never by itself.

use serde_json::{Map, Value, json};

use super::World;
use super::input::{optional_string, required_one};
use crate::simulator::answer::{Answer, Failure};

/// One row of `deployment.all`.
#[derive(Debug, Clone)]
pub(super) struct DeploymentRecord {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) status: String,
    pub(super) application_id: String,
    pub(super) created_at: String,
    pub(super) finished_at: Option<String>,
    /// Polls of `deployment.all` left before the final status shows.
    pub(super) polls_left: u32,
    pub(super) outcome: String,
}

/// A deploy asked for that has no row yet.
#[derive(Debug, Clone)]
pub(super) struct QueuedDeploy {
    pub(super) application_id: String,
    pub(super) title: String,
    pub(super) outcome: String,
}

impl World {
    /// `application.deploy`: queues a deploy of an application that must exist; `outcome` is
    /// the final status a fault forces (`done` without one).
    pub(super) fn deploy(
        &mut self,
        input: &Map<String, Value>,
        outcome: Option<String>,
    ) -> Result<Answer, Failure> {
        let id = required_one(input, "applicationId")?;
        self.application(&id)?;
        let title = optional_string(input, "title").unwrap_or_else(|| "Manual deployment".into());
        self.queued.push(QueuedDeploy {
            application_id: id,
            title,
            outcome: outcome.unwrap_or_else(|| "done".to_owned()),
        });
        Ok(Answer::Empty)
    }

    /// `deployment.all`: advances this application's deploys by one poll, then lists its rows
    /// newest first.
    pub(super) fn deployment_all(&mut self, input: &Map<String, Value>) -> Result<Answer, Failure> {
        let application_id = required_one(input, "applicationId")?;
        self.advance_deploys(&application_id);
        let rows = self
            .deployments
            .iter()
            .rev()
            .filter(|row| row.application_id == application_id)
            .map(deployment_json)
            .collect();
        Ok(Answer::Json(Value::Array(rows)))
    }

    fn advance_deploys(&mut self, application_id: &str) {
        for status in self.count_down_running(application_id) {
            self.finish(application_id, &status);
        }
        self.start_oldest_queued(application_id);
    }

    /// Counts one poll off each running row; the rows whose count had run out take their
    /// outcome, and their new statuses are returned, in row order.
    fn count_down_running(&mut self, application_id: &str) -> Vec<String> {
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
        finished
    }

    /// Stamps the first unstamped row that ended with `status`, and gives the application
    /// the status it ends with.
    fn finish(&mut self, application_id: &str, status: &str) {
        let now = self.now();
        if let Some(row) = self.deployments.iter_mut().find(|row| {
            row.application_id == application_id
                && row.finished_at.is_none()
                && row.status == status
        }) {
            row.finished_at = Some(now);
        }
        let application_status = if status == "done" { "done" } else { "error" };
        self.set_application_status(application_id, application_status);
    }

    /// Dokploy's worker runs one job at a time: the oldest queued deploy starts.
    fn start_oldest_queued(&mut self, application_id: &str) {
        let Some(index) = self
            .queued
            .iter()
            .position(|queued| queued.application_id == application_id)
        else {
            return;
        };
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
        self.set_application_status(application_id, "running");
        self.deployments.push(row);
    }
}

/// A row as `deployment.all` shows it.
pub(super) fn deployment_json(row: &DeploymentRecord) -> Value {
    json!({
        "deploymentId": row.id, "title": row.title, "description": null,
        "status": row.status, "logPath": format!("/etc/dokploy/logs/{}.log", row.id),
        "pid": null, "applicationId": row.application_id, "composeId": null,
        "serverId": null, "isPreviewDeployment": false, "previewDeploymentId": null,
        "createdAt": row.created_at, "startedAt": row.created_at,
        "finishedAt": row.finished_at, "errorMessage": null,
    })
}
