//! The single wiring point for `main`, the tools and the tests: check the configuration once,
//! open the ledger with its read model, choose Dokploy (a real one, or the built-in
//! simulator), build the orchestrator, and build the HTTP router over them.
//!
//! Wiring only: every value comes checked from [`Settings`] and every default from
//! [`crate::defaults`], so it never clamps a value, writes a default of its own or reads the
//! environment.

mod data_dir;

use std::sync::Arc;

use reqwest::Url;

use crate::clock::Clock;
use crate::config::{
    BreakerSettings, Config, ConfigErrors, DokployTarget, RetrySettings, Settings,
};
use crate::defaults;
use crate::deployment::{Event, plan};
pub use crate::dokploy::DokployMode;
use crate::dokploy::breaker::BreakerOptions;
use crate::dokploy::client::{ClientOptions, DokployClient};
use crate::dokploy::error::DokployError;
use crate::dokploy::retry::RetryPolicy;
use crate::ids::{DeploymentId, IdGen, random_seed, random_token};
use crate::ledger::error::LedgerError;
use crate::ledger::{DiskOptions, ExpectedVersion, Ledger, NewEvent};
use crate::orchestrator::{self, Orchestrator};
use crate::projection::LiveReadModel;
use crate::secret::{ApiKey, InvalidSecret};
use crate::simulator::{Simulator, SimulatorOptions};

/// What an operator can do about an admin token file that cannot be used.
const ADMIN_TOKEN_NEXT_STEPS: &str = "the portal did not start and nothing was written. Next: put \
back the token the ops clients use, or delete the file to have a new token generated at the next \
start (the ops clients then need the new one), or pass --admin-token";

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Configured values are refused (all of them, each naming its flag).
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// The task opening the ledger did not finish (it panicked or was cancelled).
    #[error("the ledger open task failed: {0}")]
    LedgerTask(#[source] tokio::task::JoinError),
    /// The ledger could not be opened (or is damaged).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The Dokploy client could not be built.
    #[error(transparent)]
    Dokploy(#[from] DokployError),
    /// The simulator could not start.
    #[error("cannot start the Dokploy simulator: {0}")]
    Simulator(#[source] std::io::Error),
    /// The admin token file could not be read or written.
    #[error("admin token file {path} cannot be used: {source}; {ADMIN_TOKEN_NEXT_STEPS}")]
    AdminToken {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A read-only start found no admin token: it never writes one, and the ops API needs it.
    #[error(
        "a read-only start writes nothing, so it cannot generate the admin token: there is none in {path}; give --admin-token (ADMIN_TOKEN)"
    )]
    ReadOnlyWithoutAdminToken {
        /// The admin token file that is missing.
        path: String,
    },
    /// The admin token file holds a token that breaks a rule (what it holds is never shown).
    #[error(
        "admin token file {path} is refused (its content is not shown): {rule}; {ADMIN_TOKEN_NEXT_STEPS}"
    )]
    AdminTokenRefused {
        /// The file.
        path: String,
        /// The rule the token breaks.
        rule: InvalidSecret,
    },
    /// The admin token of an earlier start remains but the ledger is gone: starting would
    /// serve an empty ledger as if nothing had ever been acknowledged. Refused at start,
    /// before anything is created.
    #[error(
        "the ledger is gone: {ledger} does not exist, but the admin token {admin_token} of a \
         portal that ran on this data directory remains{}; refusing to start an empty ledger in \
         its place. Next: restore the ledger from a mirror or an export with `stackledger \
         restore`, or, to start a brand-new empty portal on purpose, delete {admin_token}",
        acknowledged.map_or_else(String::new, |seq| format!(
            ", and its witness says events 1-{seq} were acknowledged: events 1-{seq} are lost"
        ))
    )]
    LedgerGone {
        /// sled's data file, which is missing.
        ledger: String,
        /// The admin token file that remains.
        admin_token: String,
        /// The last seq acknowledged, when the ledger's witness remains.
        acknowledged: Option<u64>,
    },
}

/// The running application's parts.
#[derive(Clone)]
pub struct App {
    /// The event log.
    pub ledger: Ledger,
    /// The projection the ledger keeps current.
    pub read_model: LiveReadModel,
    /// Deployments.
    pub orchestrator: Orchestrator<DokployClient>,
    /// Which Dokploy it talks to.
    pub mode: DokployMode,
    /// The in-process simulator, in simulated mode.
    pub simulator: Option<Arc<Simulator>>,
    /// The ops API's bearer token.
    pub admin_token: ApiKey,
    /// Where the generated admin token is kept (None when it came from the configuration).
    pub admin_token_file: Option<std::path::PathBuf>,
    /// HTTP limits.
    pub limits: crate::http::Limits,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("mode", &self.mode).finish()
    }
}

impl App {
    /// Checks `config` once into [`Settings`] (every refusal together), then builds.
    pub async fn build(
        config: &Config,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
    ) -> Result<App, AppError> {
        let settings = Settings::from_config(config)?;
        Self::from_settings(&settings, clock, ids).await
    }

    /// Checks the data directory (warns about open modes, refuses a lost ledger), opens and
    /// verifies the ledger, then takes the admin token, chooses Dokploy and builds the
    /// orchestrator.
    pub async fn from_settings(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
    ) -> Result<App, AppError> {
        data_dir::warn_too_open(&settings.data_dir);
        let kept_token = data_dir::kept_admin_token(settings)?;
        data_dir::refuse_lost_ledger(settings)?;
        let mut disk = DiskOptions::new(&settings.ledger_dir());
        disk.limits.crash_at = settings.crash_at;
        disk.limits.checkpoint_events = settings.checkpoint_events;
        disk.mirror.clone_from(&settings.mirror);
        let (ledger, read_model) = open_ledger(settings, disk, Arc::clone(&clock)).await?;
        let (admin_token, admin_token_file) = data_dir::admin_token(settings, kept_token)?;
        let dokploy = ChosenDokploy::start(settings, Arc::clone(&clock)).await?;
        let parts = OrchestratorParts {
            ledger: ledger.clone(),
            clock: Arc::clone(&clock),
            ids,
            admin_token: admin_token.clone(),
        };
        let orchestrator = build_orchestrator(settings, &dokploy, parts)?;
        Ok(App {
            ledger,
            read_model,
            orchestrator,
            mode: dokploy.mode,
            simulator: dokploy.simulator,
            admin_token,
            admin_token_file,
            limits: settings.http,
            clock,
        })
    }

    /// Stops the runs where they stand and lets queued appends land, then closes the ledger.
    /// The next start recovers the stopped runs.
    pub async fn shutdown(&self) {
        self.orchestrator.stop_runs().await;
        self.ledger.shutdown().await;
    }

    /// Appends `ServerStarted` to the system stream.
    pub async fn record_start(&self) -> Result<(), LedgerError> {
        let event = Event::ServerStarted {
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        self.ledger
            .append_one(
                DeploymentId::SYSTEM,
                ExpectedVersion::Any,
                NewEvent::new(event),
            )
            .await
            .map(|_| ())
    }

    /// The HTTP router over this application; open SSE streams end when `shutdown` turns
    /// true (they would otherwise hold a graceful shutdown open).
    pub fn router(&self, shutdown: tokio::sync::watch::Receiver<bool>) -> axum::Router {
        let parts = crate::http::HttpParts {
            ledger: self.ledger.clone(),
            read_model: self.read_model.clone(),
            orchestrator: self.orchestrator.clone(),
            mode: self.mode,
            admin_token: self.admin_token.clone(),
            limits: self.limits,
            clock: Arc::clone(&self.clock),
        };
        crate::http::router(crate::http::AppState::new(parts, shutdown))
    }
}

/// Opens and verifies the ledger (and its mirror, if any; blocking work, off the async threads)
/// with its read model: to write, or read-only (`--read-only`) to audit it.
async fn open_ledger(
    settings: &Settings,
    disk: DiskOptions,
    clock: Arc<dyn Clock>,
) -> Result<(Ledger, LiveReadModel), AppError> {
    let read_model = LiveReadModel::new();
    let projector = Arc::new(read_model.clone());
    let read_only = settings.read_only.then(|| settings.scratch_dir());
    let ledger = tokio::task::spawn_blocking(move || match read_only {
        Some(scratch) => Ledger::open_read_only(&disk, &scratch, projector),
        None => Ledger::open_on_disk(&disk, clock, projector),
    })
    .await
    .map_err(AppError::LedgerTask)??;
    Ok((ledger, read_model))
}

/// The Dokploy the orchestrator talks to.
struct ChosenDokploy {
    mode: DokployMode,
    origin: Url,
    key: ApiKey,
    /// The in-process simulator, in simulated mode (it stops when the last handle drops).
    simulator: Option<Arc<Simulator>>,
}

impl ChosenDokploy {
    /// The configured Dokploy, or the built-in simulator started on a loopback port with a
    /// fresh key, building one deploy at a time on the portal's clock.
    async fn start(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        if let DokployTarget::Remote { url, key } = &settings.dokploy {
            return Ok(Self {
                mode: DokployMode::Remote,
                origin: url.clone(),
                key: key.clone(),
                simulator: None,
            });
        }
        let key = ApiKey::new(random_token())
            .expect("a random token is 64 hex characters, which is a valid key");
        let options = SimulatorOptions {
            deploy_polls: defaults::SIMULATOR_DEPLOY_POLLS,
            builds: defaults::SIMULATOR_BUILDS,
            build_duration: settings.simulator_build_duration,
            clock,
            ..SimulatorOptions::new(key.clone(), random_seed())
        };
        let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let simulator = Simulator::start(loopback, options)
            .await
            .map_err(AppError::Simulator)?;
        Ok(Self {
            mode: DokployMode::Simulated,
            origin: simulator.origin(),
            key,
            simulator: Some(Arc::new(simulator)),
        })
    }

    /// The health URL template: the configured one, else the simulator's, else the default.
    fn health_url(&self, configured: Option<&str>) -> String {
        match (configured, &self.simulator) {
            (Some(template), _) => template.to_owned(),
            (None, Some(simulator)) => simulator.health_url_template(),
            (None, None) => defaults::HEALTH_URL.to_owned(),
        }
    }
}

/// What the orchestrator shares with the rest of the application.
struct OrchestratorParts {
    ledger: Ledger,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    /// The ops API's token: no text from Dokploy may carry it either.
    admin_token: ApiKey,
}

/// The orchestrator over `dokploy`: a client, behind the breaker and the retry policy, whose
/// calls are recorded in the ledger; wired by the one builder.
fn build_orchestrator(
    settings: &Settings,
    dokploy: &ChosenDokploy,
    parts: OrchestratorParts,
) -> Result<Orchestrator<DokployClient>, AppError> {
    let options = ClientOptions {
        list_bytes_max: settings.client.list_bytes_max.get(),
        server_id: settings.client.server_id.clone(),
        timeout: settings.client.timeout,
        also_secret: vec![parts.admin_token.clone()],
        ..ClientOptions::default()
    };
    let client = DokployClient::new(&dokploy.origin, dokploy.key.clone(), options)?;
    let health_url = dokploy.health_url(settings.stack.health_url.as_deref());
    Ok(
        Orchestrator::builder(Arc::new(client), parts.ledger, parts.clock)
            .ids(parts.ids)
            .settings(orchestrator_settings(settings, health_url))
            .breaker(breaker_options(&settings.breaker))
            .retry(retry_policy(&settings.retry))
            .jitter_seed(random_seed())
            .crash_at(settings.crash_at)
            .build(),
    )
}

/// The orchestrator's settings.
fn orchestrator_settings(settings: &Settings, health_url: String) -> orchestrator::Settings {
    orchestrator::Settings {
        plan: plan::Settings {
            image: settings.stack.image.clone(),
            domain_suffix: settings.stack.domain_suffix.clone(),
            port: settings.stack.port.get(),
            health_url,
            health_timeout: settings.timing.health_timeout,
            health_interval: settings.timing.health_interval,
            deploy_poll_interval: settings.timing.deploy_poll_interval,
            deploy_timeout: settings.timing.deploy_timeout,
            deploy_queue_timeout: settings.timing.deploy_queue_timeout,
            rollback_build_wait: settings.timing.rollback_build_wait,
            recovery: settings.recovery,
            deployment_deadline: settings.timing.deployment_deadline,
            on_outage: settings.on_outage,
        },
        running_max: settings.running_max,
        queue_max: settings.queue_max,
        dokploy_builds: settings.dokploy_builds,
    }
}

/// The retry policy; the limits that are not flags keep their defaults.
fn retry_policy(retry: &RetrySettings) -> RetryPolicy {
    RetryPolicy {
        retries_max: retry.retries_max,
        base: retry.base,
        backoff_max: retry.delay_max,
        retry_after_max: defaults::RETRY_AFTER_MAX,
        deadline: defaults::CALL_DEADLINE,
    }
}

/// The circuit breaker's options.
fn breaker_options(breaker: &BreakerSettings) -> BreakerOptions {
    BreakerOptions {
        failures_max: breaker.failures_max.get(),
        open_for: breaker.open_for,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn default_settings() -> Settings {
        let cli = crate::config::Cli::try_parse_from(["stackledger"]).expect("defaults parse");
        Settings::from_config(&cli.serve).expect("the defaults are valid")
    }

    #[test]
    fn the_binary_wires_the_same_defaults_as_the_library() {
        let settings = default_settings();
        assert_eq!(retry_policy(&settings.retry), RetryPolicy::default());
        assert_eq!(
            breaker_options(&settings.breaker),
            BreakerOptions::default()
        );
        let wired = orchestrator_settings(&settings, defaults::HEALTH_URL.to_owned());
        assert_eq!(
            format!("{wired:?}"),
            format!("{:?}", orchestrator::Settings::default()),
            "orchestrator::Settings::default() drifted from crate::defaults"
        );
    }

    #[test]
    fn the_limits_are_the_checked_values_unclamped() {
        let cli = crate::config::Cli::try_parse_from([
            "stackledger",
            "--deploy-rate=3",
            "--sse-max=7",
            "--trust-forwarded-for",
        ])
        .expect("parses");
        let settings = Settings::from_config(&cli.serve).expect("valid");
        let wired = settings.http;
        assert_eq!(wired.deploys_per_minute.get(), 3);
        assert_eq!(wired.sse_max.get(), 7);
        assert!(wired.trust_forwarded_for);
    }
}
