//! The single wiring point for `main` and the tests: open the ledger with its read model,
//! choose Dokploy (a real one, or the built-in simulator), build the orchestrator, and build
//! the HTTP router over them.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{ApiKey, Config};
use crate::deployment::Event;
pub use crate::dokploy::DokployMode;
use crate::dokploy::breaker::BreakerOptions;
use crate::dokploy::client::{ClientOptions, DokployClient};
use crate::dokploy::error::DokployError;
use crate::dokploy::retry::RetryPolicy;
use crate::ids::{DeploymentId, IdGen, random_seed, random_token};
use crate::ledger::error::LedgerError;
use crate::ledger::{ExpectedVersion, Ledger, NewEvent};
use crate::orchestrator::{NonZeroDuration, Orchestrator, Settings};
use crate::projection::LiveReadModel;
use crate::simulator::{Simulator, SimulatorOptions};

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A configuration value is wrong.
    #[error("{0}")]
    Config(String),
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
    #[error("admin token file {path}: {source}")]
    AdminToken {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
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
    /// Opens and verifies the ledger, chooses Dokploy and builds the orchestrator.
    pub async fn build(
        config: &Config,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
    ) -> Result<App, AppError> {
        let dokploy = config.dokploy().map_err(AppError::Config)?;
        let (admin_token, admin_token_file) = admin_token(config)?;
        let ledger_dir = config.ledger_dir();
        let read_model = LiveReadModel::new();
        let projector = Arc::new(read_model.clone());
        let open_clock = Arc::clone(&clock);
        let open_clock_for_app = Arc::clone(&clock);
        let ledger =
            tokio::task::spawn_blocking(move || Ledger::open(&ledger_dir, open_clock, projector))
                .await
                .map_err(|error| {
                    AppError::Config(format!("the ledger open task failed: {error}"))
                })??;
        let (mode, origin, key, simulator) = match dokploy {
            Some((origin, key)) => (DokployMode::Remote, origin, key, None),
            None => {
                let key =
                    ApiKey::new(random_token()).map_err(|e| AppError::Config(e.to_string()))?;
                let options = SimulatorOptions {
                    api_key: key.clone(),
                    seed: random_seed(),
                    deploy_polls: 1,
                };
                let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
                let simulator = Simulator::start(loopback, options)
                    .await
                    .map_err(AppError::Simulator)?;
                (
                    DokployMode::Simulated,
                    simulator.origin(),
                    key,
                    Some(Arc::new(simulator)),
                )
            }
        };
        let health_url = match (&config.health_url, &simulator) {
            (Some(template), _) => template.clone(),
            (None, Some(simulator)) => simulator.health_url_template(),
            (None, None) => Settings::default().health_url,
        };
        let client = DokployClient::new(&origin, key, ClientOptions::default())?;
        let settings = Settings {
            image: config.stack_image.clone(),
            domain_suffix: config.domain_suffix.clone(),
            port: config.stack_port,
            health_url,
            health_timeout: config.health_timeout,
            health_interval: non_zero(config.health_interval, "--health-interval")?,
            deploy_poll_interval: non_zero(config.deploy_poll_interval, "--deploy-poll-interval")?,
            deploy_timeout: config.deploy_timeout,
            running_max: std::num::NonZeroUsize::new(config.running_max)
                .ok_or_else(|| AppError::Config("--running-max must be at least 1".to_owned()))?,
            recovery: config.recovery,
        };
        let orchestrator = Orchestrator::builder(Arc::new(client), ledger.clone(), clock)
            .ids(ids)
            .settings(settings)
            .breaker(BreakerOptions {
                failures_max: config.breaker_failures.max(1),
                open_for: config.breaker_open_for,
            })
            .retry(RetryPolicy {
                retries_max: config.retries_max,
                base: config.retry_base,
                backoff_max: config.retry_delay_max,
                ..RetryPolicy::default()
            })
            .jitter_seed(random_seed())
            .crash_at(config.crash_at)
            .build();
        Ok(App {
            ledger,
            read_model,
            orchestrator,
            mode,
            simulator,
            admin_token,
            admin_token_file,
            limits: crate::http::Limits {
                deploys_per_minute: config.deploy_rate.max(1),
                trust_forwarded_for: config.trust_forwarded_for,
                sse_max: config.sse_max.max(1),
            },
            clock: open_clock_for_app,
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

/// A duration that must not be zero (an interval of zero would poll without a pause).
fn non_zero(duration: std::time::Duration, flag: &str) -> Result<NonZeroDuration, AppError> {
    NonZeroDuration::new(duration)
        .ok_or_else(|| AppError::Config(format!("{flag} must be more than 0s")))
}

/// The admin token: from the configuration, else the one kept in `<data-dir>/admin-token`,
/// else a new one written there with mode 0600 (readable by the server's user only).
fn admin_token(config: &Config) -> Result<(ApiKey, Option<std::path::PathBuf>), AppError> {
    if let Some(token) = &config.admin_token {
        return Ok((token.clone(), None));
    }
    let path = config.data_dir.join("admin-token");
    let failed = |source: std::io::Error| AppError::AdminToken {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let token = ApiKey::new(text.trim())
                .map_err(|e| failed(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
            Ok((token, Some(path)))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::create_dir_all(&config.data_dir).map_err(failed)?;
            let token = ApiKey::new(random_token())
                .map_err(|e| failed(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(failed)?;
            file.write_all(token.expose().as_bytes()).map_err(failed)?;
            file.sync_all().map_err(failed)?;
            Ok((token, Some(path)))
        }
        Err(error) => Err(failed(error)),
    }
}
