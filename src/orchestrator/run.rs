//! One deployment's run: the forward phases, each skipped when its events say it is done,
//! each create preceded by a lookup.

use std::time::Duration;

use crate::deployment::Procedure;
use crate::deployment::{
    ApiAnswer, DeploymentStatus, Event, Phase, ResourceId, ResourceKind, clip,
};
use crate::dokploy::api::{AnswerExt, DokployApi, Request};
use crate::dokploy::caller::CallCounter;
use crate::ids::{DeploymentId, Seq};
use crate::ledger::error::LedgerError;
use crate::ledger::{NewEvent, StreamWriter};
use crate::orchestrator::error::{StepError, StepFailure};
use crate::orchestrator::{Inner, Outcome};
use crate::projection::DeploymentState;

/// The longest failure message written into `DeploymentFailed`.
const MESSAGE_BYTES_MAX: usize = 600;

/// A deployment being driven.
pub(super) struct Run<'a, A> {
    pub(super) inner: &'a Inner<A>,
    pub(super) id: DeploymentId,
    pub(super) name: String,
    pub(super) log: StreamWriter,
    pub(super) calls: CallCounter,
    /// The default environment learned from the project step, for the next step.
    environment: Option<ResourceId>,
}

fn phase_index(phase: Phase) -> usize {
    Phase::ALL
        .iter()
        .position(|candidate| *candidate == phase)
        .expect("Phase::ALL lists every phase")
}

impl<'a, A: DokployApi> Run<'a, A> {
    /// Loads a run from the deployment's folded state.
    pub(super) fn load(inner: &'a Inner<A>, id: DeploymentId) -> Option<Self> {
        let model = inner.read_model.read();
        let state = model.get(id)?;
        let log = StreamWriter::with_crash_points(
            inner.ledger.clone(),
            id,
            state.version,
            std::sync::Arc::clone(&inner.crash),
        );
        Some(Self {
            inner,
            id,
            name: state.name.clone(),
            calls: CallCounter::after(state.last_call()),
            log,
            environment: None,
        })
    }

    /// Reads the deployment's current state (the projection is updated before an append
    /// returns, so this is always what this run has written).
    pub(super) fn state<T>(&self, read: impl FnOnce(&DeploymentState) -> T) -> T {
        let model = self.inner.read_model.read();
        let state = model
            .get(self.id)
            .expect("a running deployment stays in the read model");
        read(state)
    }

    pub(super) fn status(&self) -> DeploymentStatus {
        self.state(|state| state.status)
    }

    /// The outcome of a deployment that is already over.
    pub(super) fn finished_outcome(&self) -> Outcome {
        self.state(|state| match state.status {
            DeploymentStatus::Success => Outcome::Succeeded(state.url.clone()),
            _ => Outcome::RolledBack {
                complete: state.rollback_outcome() == Some("complete"),
            },
        })
    }

    /// The seq of the recorded `DeploymentFailed`, if the deployment has failed already.
    pub(super) fn recorded_failure(&self) -> Option<Seq> {
        self.state(|state| state.error.as_ref().map(|failure| failure.seq))
    }

    pub(super) async fn append(
        &mut self,
        event: Event,
        cause: Option<Seq>,
    ) -> Result<Seq, LedgerError> {
        Ok(self.log.append(NewEvent { event, cause }).await?.seq)
    }

    pub(super) async fn call(
        &mut self,
        phase: Phase,
        request: Request,
    ) -> Result<ApiAnswer, StepError> {
        self.inner
            .caller
            .call(&mut self.log, &mut self.calls, &request)
            .await
            .map_err(|error| StepError::from_call(phase, error))
    }

    /// Records the failure; returns its seq (rollback steps point to it).
    pub(super) async fn fail(&mut self, failure: StepFailure) -> Result<Seq, LedgerError> {
        tracing::warn!(deployment = %self.id, phase = %failure.phase, code = failure.code, "deployment failed: {}", failure.message);
        let event = Event::DeploymentFailed {
            phase: failure.phase,
            code: failure.code.to_owned(),
            message: clip(&failure.message, MESSAGE_BYTES_MAX),
        };
        self.append(event, None).await
    }

    /// The failure of a deployment that recovery rolls back instead of resuming.
    pub(super) async fn interrupted(&mut self) -> StepError {
        let phase = self.state(|state| state.phase);
        StepError::failed(
            phase,
            "interrupted",
            "the server restarted during the deployment; the recovery policy rolls it back",
        )
    }

    async fn enter(&mut self, phase: Phase) -> Result<(), StepError> {
        let current = self.state(|state| state.phase);
        if phase_index(current) < phase_index(phase) {
            self.append(Event::PhaseEntered { phase }, None).await?;
        }
        Ok(())
    }

    fn passed(&self, phase: Phase) -> bool {
        phase_index(self.state(|state| state.phase)) > phase_index(phase)
    }

    /// Every forward phase, then success. Returns the stack's URL.
    pub(super) async fn forward(&mut self) -> Result<String, StepError> {
        self.ensure_project().await?;
        self.ensure_environment().await?;
        self.ensure_application().await?;
        self.configure_application().await?;
        self.ensure_domain().await?;
        self.deploy().await?;
        self.verify_health().await?;
        let url = format!("https://{}", self.inner.settings.host(&self.name));
        let succeeded = Event::DeploymentSucceeded { url: url.clone() };
        self.append(succeeded, None).await?;
        Ok(url)
    }

    /// Records a resource a lookup found: ours if this deployment had already tried to create
    /// it (the create's answer was lost), someone else's otherwise.
    async fn record_found(
        &mut self,
        kind: ResourceKind,
        id: ResourceId,
        create: Procedure,
    ) -> Result<(), StepError> {
        let ours = self.state(|state| state.attempted(create.name()));
        let event = if ours {
            Event::ResourceCreated { kind, id }
        } else {
            Event::ResourceFound { kind, id }
        };
        self.append(event, None).await?;
        Ok(())
    }

    async fn ensure_project(&mut self) -> Result<(), StepError> {
        if self.state(|state| state.has(ResourceKind::Project)) {
            return Ok(());
        }
        let phase = Phase::CreatingProject;
        self.enter(phase).await?;
        let name = self.name.clone();
        let found = self
            .call(phase, Request::FindProject { name: name.clone() })
            .await?;
        let found = found
            .project(Procedure::ProjectAll)
            .map_err(|e| StepError::mismatch(phase, e))?;
        let project = match found {
            Some(project) => {
                self.record_found(
                    ResourceKind::Project,
                    project.project_id.clone(),
                    Procedure::ProjectCreate,
                )
                .await?;
                project
            }
            None => {
                let created = self.call(phase, Request::CreateProject { name }).await?;
                let created = created
                    .project(Procedure::ProjectCreate)
                    .map_err(|e| StepError::mismatch(phase, e))?
                    .ok_or_else(|| {
                        StepError::failed(
                            phase,
                            "dokploy_bad_answer",
                            "project.create answered no project",
                        )
                    })?;
                let event = Event::ResourceCreated {
                    kind: ResourceKind::Project,
                    id: created.project_id.clone(),
                };
                self.append(event, None).await?;
                created
            }
        };
        self.environment = project.environment_id;
        Ok(())
    }

    async fn ensure_environment(&mut self) -> Result<(), StepError> {
        if self.state(|state| state.has(ResourceKind::Environment)) {
            return Ok(());
        }
        let phase = Phase::GettingEnvironment;
        self.enter(phase).await?;
        let environment = match self.environment.take() {
            Some(environment) => Some(environment),
            None => {
                let name = self.name.clone();
                let found = self.call(phase, Request::FindProject { name }).await?;
                let found = found
                    .project(Procedure::ProjectAll)
                    .map_err(|e| StepError::mismatch(phase, e))?;
                found.and_then(|project| project.environment_id)
            }
        };
        let environment = environment.ok_or_else(|| {
            StepError::failed(
                phase,
                "no_environment",
                "the project has no default environment",
            )
        })?;
        let event = Event::ResourceFound {
            kind: ResourceKind::Environment,
            id: environment,
        };
        self.append(event, None).await?;
        Ok(())
    }

    fn resource(&self, kind: ResourceKind) -> Option<ResourceId> {
        self.state(|state| match kind {
            ResourceKind::Project => state.resources.project_id.clone(),
            ResourceKind::Environment => state.resources.environment_id.clone(),
            ResourceKind::Application => state.resources.application_id.clone(),
            ResourceKind::Domain => state.resources.domain_id.clone(),
            ResourceKind::Deployment => None,
        })
    }

    fn required(&self, kind: ResourceKind, phase: Phase) -> Result<ResourceId, StepError> {
        self.resource(kind).ok_or_else(|| {
            StepError::failed(phase, "missing_resource", format!("no {kind} is recorded"))
        })
    }

    async fn ensure_application(&mut self) -> Result<(), StepError> {
        if self.state(|state| state.has(ResourceKind::Application)) {
            return Ok(());
        }
        let phase = Phase::CreatingApplication;
        self.enter(phase).await?;
        let environment_id = self.required(ResourceKind::Environment, phase)?;
        let find = Request::FindApplication {
            environment_id: environment_id.clone(),
            name: self.name.clone(),
        };
        let found = self.call(phase, find).await?;
        let found = found
            .application(Procedure::EnvironmentOne)
            .map_err(|e| StepError::mismatch(phase, e))?;
        if let Some(application) = found {
            return self
                .record_found(
                    ResourceKind::Application,
                    application.application_id,
                    Procedure::ApplicationCreate,
                )
                .await;
        }
        let create = Request::CreateApplication {
            environment_id,
            name: self.name.clone(),
        };
        let created = self.call(phase, create).await?;
        let created = created
            .application(Procedure::ApplicationCreate)
            .map_err(|e| StepError::mismatch(phase, e))?
            .ok_or_else(|| {
                StepError::failed(
                    phase,
                    "dokploy_bad_answer",
                    "application.create answered nothing",
                )
            })?;
        let event = Event::ResourceCreated {
            kind: ResourceKind::Application,
            id: created.application_id,
        };
        self.append(event, None).await?;
        Ok(())
    }

    async fn configure_application(&mut self) -> Result<(), StepError> {
        let phase = Phase::ConfiguringApplication;
        if self.passed(phase) {
            return Ok(());
        }
        self.enter(phase).await?;
        let application_id = self.required(ResourceKind::Application, phase)?;
        let save = Request::SaveDockerProvider {
            application_id,
            image: self.inner.settings.image.clone(),
        };
        self.call(phase, save).await?;
        Ok(())
    }

    async fn ensure_domain(&mut self) -> Result<(), StepError> {
        if self.state(|state| state.has(ResourceKind::Domain)) {
            return Ok(());
        }
        let phase = Phase::CreatingDomain;
        self.enter(phase).await?;
        let application_id = self.required(ResourceKind::Application, phase)?;
        let host = self.inner.settings.host(&self.name);
        let find = Request::FindDomain {
            application_id: application_id.clone(),
            host: host.clone(),
        };
        let found = self.call(phase, find).await?;
        let found = found
            .domain(Procedure::DomainByApplicationId)
            .map_err(|e| StepError::mismatch(phase, e))?;
        if let Some(domain) = found {
            return self
                .record_found(ResourceKind::Domain, domain, Procedure::DomainCreate)
                .await;
        }
        let create = Request::CreateDomain {
            application_id,
            host,
            port: self.inner.settings.port,
        };
        let created = self.call(phase, create).await?;
        let created = created
            .domain(Procedure::DomainCreate)
            .map_err(|e| StepError::mismatch(phase, e))?
            .ok_or_else(|| {
                StepError::failed(
                    phase,
                    "dokploy_bad_answer",
                    "domain.create answered nothing",
                )
            })?;
        let event = Event::ResourceCreated {
            kind: ResourceKind::Domain,
            id: created,
        };
        self.append(event, None).await?;
        Ok(())
    }

    /// Queues a deploy under a title unique to this deployment, then polls `deployment.all`
    /// for that row until it is final or the deploy timeout passes.
    async fn deploy(&mut self) -> Result<(), StepError> {
        let phase = Phase::Deploying;
        if let Some(status) = self.state(|state| state.deploy_status.clone()) {
            return deploy_verdict(phase, &status);
        }
        self.enter(phase).await?;
        let application_id = self.required(ResourceKind::Application, phase)?;
        let title = match self.state(|state| state.deploy_title.clone()) {
            Some(title) => title,
            None => {
                // Sending the deploy again after a crash is safe: it redeploys the same image.
                let title = format!("stackledger {}", self.id);
                let deploy = Request::Deploy {
                    application_id: application_id.clone(),
                    title: title.clone(),
                };
                self.call(phase, deploy).await?;
                self.append(
                    Event::DeployQueued {
                        title: title.clone(),
                    },
                    None,
                )
                .await?;
                title
            }
        };
        let clock = std::sync::Arc::clone(&self.inner.clock);
        let started = clock.now_ms();
        loop {
            let list = Request::ListDeployments {
                application_id: application_id.clone(),
            };
            let rows = self.call(phase, list).await?;
            let rows = rows
                .deployments(Procedure::DeploymentAll)
                .map_err(|e| StepError::mismatch(phase, e))?;
            let status = rows
                .iter()
                .find(|row| row.title == title)
                .map(|row| row.status.clone());
            if let Some(status) =
                status.filter(|s| matches!(s.as_str(), "done" | "error" | "cancelled"))
            {
                let finished = Event::DeployFinished {
                    dokploy_status: status.clone(),
                };
                self.append(finished, None).await?;
                return deploy_verdict(phase, &status);
            }
            let waited = elapsed(started, clock.now_ms());
            if waited + self.inner.settings.deploy_poll_interval
                > self.inner.settings.deploy_timeout
            {
                let message = format!(
                    "Dokploy did not finish the deploy within {}",
                    humantime::format_duration(self.inner.settings.deploy_timeout)
                );
                return Err(StepError::failed(phase, "deploy_timeout", message));
            }
            clock.sleep(self.inner.settings.deploy_poll_interval).await;
        }
    }

    /// Polls the stack's health URL until 200 or the health timeout.
    async fn verify_health(&mut self) -> Result<(), StepError> {
        let phase = Phase::VerifyingHealth;
        self.enter(phase).await?;
        let url = self.inner.settings.health_url_of(&self.name);
        let clock = std::sync::Arc::clone(&self.inner.clock);
        let settings = &self.inner.settings;
        let first = clock.now_ms();
        let mut n = self.state(|state| state.health_polls);
        loop {
            n += 1;
            let sent = clock.now_ms();
            let answer = self.inner.caller.api().probe_health(&url).await;
            let duration_ms = elapsed(sent, clock.now_ms()).as_millis() as u64;
            let (status, error) = match &answer {
                Ok(status) => (Some(*status), None),
                Err(error) => (None, Some(clip(&error.to_string(), MESSAGE_BYTES_MAX))),
            };
            let attempt = Event::HealthCheckAttempt {
                n,
                status,
                error,
                duration_ms,
            };
            self.append(attempt, None).await?;
            if status == Some(200) {
                let after_ms = elapsed(first, clock.now_ms()).as_millis() as u64;
                self.append(Event::HealthVerified { after_ms }, None)
                    .await?;
                return Ok(());
            }
            if elapsed(first, clock.now_ms()) + settings.health_interval > settings.health_timeout {
                let message = format!(
                    "{url} did not answer 200 within {}",
                    humantime::format_duration(settings.health_timeout)
                );
                return Err(StepError::failed(phase, "health_timeout", message));
            }
            clock.sleep(settings.health_interval).await;
        }
    }
}

fn deploy_verdict(phase: Phase, status: &str) -> Result<(), StepError> {
    match status {
        "done" => Ok(()),
        other => Err(StepError::failed(
            phase,
            "deploy_failed",
            format!("Dokploy reported the deploy as {other}"),
        )),
    }
}

fn elapsed(from_ms: i64, to_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(to_ms.saturating_sub(from_ms)).unwrap_or(0))
}
