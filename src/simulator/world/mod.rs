//! The simulated Dokploy's state and the one dispatch of its procedures, following
//! `../shared/dokploy-api.md` §2 and §7: 21-character nanoid ids, `appName` suffixes,
//! duplicates allowed, `project.create` answering `{project, environment}`, deploys queued and
//! their rows moving `running` → `done` (or `error`) as `deployment.all` is polled, lists
//! newest first, Dokploy's 404 messages.
//!
//! One file per Dokploy router owns its rows, their JSON shapes and its procedures:
//! `project.rs` (with environments), `application.rs`, `domain.rs`, `deployment.rs`; `input.rs`
//! validates inputs as Dokploy's zod schemas do. `call` below is the only place that matches a
//! procedure name.
//!
//! Deterministic: ids come from a seeded generator and time from a counter, so a test sees the
//! same world every run. It never does I/O, never sleeps and knows nothing of HTTP or of the
//! fault plan: it is handed a parsed, authenticated call and gives an `Answer` or a `Failure`.

mod app_name;
mod application;
mod deployment;
mod domain;
mod input;
mod project;
mod search;
mod server;
mod zod;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use super::answer::{Answer, Failure};
use crate::deployment::Procedure;
use application::{ApplicationRecord, app_json};
use deployment::{DeploymentRecord, QueuedDeploy, deployment_json};
use domain::DomainRecord;
use project::{EnvironmentRecord, ProjectRecord};

/// Everything the simulated Dokploy holds.
#[derive(Debug)]
pub(super) struct World {
    rng: SmallRng,
    ticks: i64,
    deploy_polls: u32,
    projects: Vec<ProjectRecord>,
    environments: Vec<EnvironmentRecord>,
    applications: Vec<ApplicationRecord>,
    domains: Vec<DomainRecord>,
    deployments: Vec<DeploymentRecord>,
    queued: Vec<QueuedDeploy>,
    servers: server::Servers,
}

const NANOID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
/// 2026-01-01T00:00:00Z: the simulated clock starts here and ticks a second per write.
const EPOCH_MS: i64 = 1_767_225_600_000;

impl World {
    /// An empty world whose deploys stay `running` for `deploy_polls` polls.
    pub(super) fn new(seed: u64, deploy_polls: u32) -> Self {
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
            servers: server::Servers::default(),
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
        crate::clock::rfc3339(EPOCH_MS + self.ticks * 1_000)
    }

    /// Runs one procedure (already authenticated, method-checked and parsed), found in the procedure table. `deploy_outcome` is asked only by `application.deploy`:
    /// the status a scripted fault forces on that deploy.
    pub(super) fn call(
        &mut self,
        procedure: Procedure,
        input: &Map<String, Value>,
        deploy_outcome: impl FnOnce() -> Option<String>,
    ) -> Result<Answer, Failure> {
        match procedure {
            Procedure::ProjectAll => Ok(self.project_all()),
            Procedure::ProjectOne => self.project_one(input),
            Procedure::ProjectCreate => self.project_create(input),
            Procedure::ProjectRemove => self.project_remove(input),
            Procedure::EnvironmentOne => self.environment_one(input),
            Procedure::ApplicationCreate => self.application_create(input),
            Procedure::ApplicationOne => self.application_one(input),
            Procedure::ApplicationSaveDockerProvider => self.save_docker_provider(input),
            Procedure::ApplicationDeploy => self.deploy(input, deploy_outcome()),
            Procedure::ApplicationDelete => self.application_delete(input),
            Procedure::DomainCreate => self.domain_create(input),
            Procedure::DomainByApplicationId => self.domain_by_application_id(input),
            Procedure::DomainDelete => self.domain_delete(input),
            Procedure::DeploymentAll => self.deployment_all(input),
            Procedure::DomainOne => self.domain_one(input),
            Procedure::ProjectSearch => self.project_search(input),
        }
    }

    /// Whether the application named `name` has a finished, successful deploy.
    pub(super) fn app_health(&self, name: &str) -> Option<bool> {
        let app = self.applications.iter().find(|app| app.name == name)?;
        Some(
            self.deployments
                .iter()
                .any(|row| row.application_id == app.id && row.status == "done"),
        )
    }

    /// Everything, as Dokploy would list it.
    pub(super) fn state(&self) -> Value {
        let projects: Vec<Value> = self.projects.iter().map(|p| self.project_json(p)).collect();
        let applications: Vec<Value> = self.applications.iter().map(app_json).collect();
        let domains: Vec<Value> = self.domains.iter().map(domain::domain_json).collect();
        let deployments: Vec<Value> = self.deployments.iter().map(deployment_json).collect();
        json!({
            "projects": projects, "applications": applications,
            "domains": domains, "deployments": deployments,
        })
    }
}
