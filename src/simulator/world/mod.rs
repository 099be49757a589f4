//! The simulated Dokploy's state and the one dispatch of its procedures, following
//! `../shared/dokploy-behaviour.md`: 21-character nanoid ids, `appName` suffixes, duplicates
//! allowed, `project.create` answering `{project, environment}`, deploys going through one
//! server-wide build queue, lists newest first, Dokploy's 404 messages; and, apart from the
//! rows, what Dokploy runs (services and routes), which outlives rows the way Dokploy's does.
//!
//! One file per Dokploy router owns its rows, their JSON shapes and its procedures:
//! `project.rs` (with environments), `application.rs`, `domain.rs`, `deployment.rs`; `queue.rs`
//! is the build queue, `service.rs` the services, routes and health, `table.rs` the indexed
//! tables every lookup goes through (so a call costs what its answer costs, never what the
//! world holds), and `input.rs` validates inputs as Dokploy's zod schemas do. `call` below is
//! the only place that matches a procedure name.
//!
//! Deterministic: ids come from a seeded generator, row times from a counter, and build time
//! from the injected clock, so a test sees the same world every run. The world moves only
//! when it is called (`advance` at every call, health poll and state read): it never runs on
//! its own, never does I/O, never sleeps and knows nothing of HTTP or of the fault plan: it is
//! handed a parsed, authenticated call and gives an `Answer` or a `Failure`.

mod app_name;
mod application;
mod deployment;
mod domain;
mod input;
mod project;
mod queue;
mod search;
mod server;
mod service;
mod table;
mod zod;

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use super::SimulatorOptions;
use super::answer::{Answer, Failure};
use crate::clock::Clock;
use crate::deployment::Procedure;
use application::{ApplicationRecord, app_json};
use deployment::{DeploymentRecord, deployment_json};
use domain::DomainRecord;
use project::{EnvironmentRecord, ProjectRecord};
use queue::BuildQueue;
pub(super) use service::Health;
use service::{Route, Service};
use table::{Row, Table};

/// Everything the simulated Dokploy holds.
#[derive(Debug)]
pub(super) struct World {
    rng: SmallRng,
    ticks: i64,
    builds: BuildSettings,
    /// Dokploy's "remote servers only" setting and the remote server it knows.
    servers: server::Servers,
    /// Every application's `appName` (Dokploy's unique column), so a create checks it at once.
    app_names: std::collections::HashSet<String>,
    /// The last `uniqueConfigKey` a domain was given (Dokploy's serial).
    config_key: i64,
    /// The projects' names by trigram, for `project.search`.
    project_names: search::NameIndex,
    projects: Table<ProjectRecord>,
    environments: Table<EnvironmentRecord>,
    applications: Table<ApplicationRecord>,
    domains: Table<DomainRecord>,
    deployments: Table<DeploymentRecord>,
    queue: BuildQueue,
    services: Table<Service>,
    routes: Table<Route>,
}

/// How builds run.
struct BuildSettings {
    /// Builds at once (`buildsConcurrency`).
    slots: usize,
    /// Polls of `deployment.all` that must show a row `running` before it can end.
    deploy_polls: u32,
    /// How long a build runs, at least, on `clock`.
    duration: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for BuildSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildSettings")
            .field("slots", &self.slots)
            .field("deploy_polls", &self.deploy_polls)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

const NANOID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
/// 2026-01-01T00:00:00Z: the simulated clock starts here and ticks a second per write.
const EPOCH_MS: i64 = 1_767_225_600_000;

impl World {
    /// An empty world that builds as `options` say.
    pub(super) fn new(options: &SimulatorOptions) -> Self {
        let slots = usize::try_from(options.builds.get()).unwrap_or(usize::MAX);
        Self {
            rng: SmallRng::seed_from_u64(options.seed),
            ticks: 0,
            builds: BuildSettings {
                slots,
                deploy_polls: options.deploy_polls.get(),
                duration: options.build_duration,
                clock: Arc::clone(&options.clock),
            },
            servers: server::Servers::new(options.remote_servers_only, options.server_id.clone()),
            app_names: std::collections::HashSet::new(),
            config_key: 0,
            project_names: search::NameIndex::default(),
            projects: Table::default(),
            environments: Table::default(),
            applications: Table::default(),
            domains: Table::default(),
            deployments: Table::default(),
            queue: BuildQueue::default(),
            services: Table::default(),
            routes: Table::default(),
        }
    }

    /// A world for unit tests: seed 7, one build at a time, rows final on their first poll,
    /// and the given server rule.
    #[cfg(test)]
    pub(super) fn for_tests(remote_servers_only: bool, server_id: Option<&str>) -> Self {
        let key = crate::secret::ApiKey::new("sim-test-key-0001").expect("a valid key");
        let options = SimulatorOptions {
            remote_servers_only,
            server_id: server_id.map(str::to_owned),
            ..SimulatorOptions::new(key, 7)
        };
        Self::new(&options)
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

    /// Runs one procedure (already authenticated, method-checked and parsed), found in the
    /// procedure table. `deploy_outcome` is asked only by `application.deploy`: the status a
    /// scripted fault forces on that deploy. The world advances before and after, so a build
    /// that is over ends, and a queued job starts, as soon as anything is asked.
    pub(super) fn call(
        &mut self,
        procedure: Procedure,
        input: &Map<String, Value>,
        deploy_outcome: impl FnOnce() -> Option<String>,
    ) -> Result<Answer, Failure> {
        self.advance();
        let answer = self.dispatch(procedure, input, deploy_outcome);
        if answer.is_ok() {
            self.write_traefik(procedure, input);
        }
        self.advance();
        answer
    }

    fn dispatch(
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

    /// Traefik's side of a domain call that succeeded: `domain.create` writes its route in
    /// the same transaction as its row (`services/domain.ts:17-44`), `domain.delete` removes
    /// it. Kept here, after the row is written, so that `domain.rs` stays about rows.
    fn write_traefik(&mut self, procedure: Procedure, input: &Map<String, Value>) {
        match procedure {
            Procedure::DomainCreate => self.write_route_of_newest_domain(),
            Procedure::DomainDelete => {
                if let Some(domain_id) = input.get("domainId").and_then(Value::as_str) {
                    self.remove_route(domain_id);
                }
            }
            _ => {}
        }
    }

    /// Everything, as Dokploy would list it, and what it runs and queues.
    pub(super) fn state(&mut self) -> Value {
        self.advance();
        let projects: Vec<Value> = self.projects.iter().map(|p| self.project_json(p)).collect();
        let applications: Vec<Value> = self.applications.iter().map(app_json).collect();
        let domains: Vec<Value> = self.domains.iter().map(domain::domain_json).collect();
        let deployments: Vec<Value> = self.deployments.iter().map(deployment_json).collect();
        let queue: Vec<Value> = self
            .queue
            .waiting()
            .map(|job| json!({"applicationId": job.application_id, "title": job.title}))
            .collect();
        json!({
            "projects": projects, "applications": applications,
            "domains": domains, "deployments": deployments,
            "services": self.services_json(), "routes": self.routes_json(), "queue": queue,
        })
    }
}

/// A domain belongs to its application (`domain.rs` owns the row itself).
impl Row for DomainRecord {
    fn id(&self) -> &str {
        &self.id
    }

    fn parent(&self) -> &str {
        &self.application_id
    }
}

#[cfg(test)]
mod given;
