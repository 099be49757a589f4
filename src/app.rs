//! The single wiring point for `main` and the tests: open the ledger with its read model,
//! choose Dokploy (a real one, or the built-in simulator), build the orchestrator, and build
//! the HTTP router over them.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{ApiKey, Config};
use crate::crash::CrashPoints;
use crate::dokploy::breaker::{BreakerOptions, CircuitBreaker};
use crate::dokploy::caller::Caller;
use crate::dokploy::client::{ClientOptions, DokployClient};
use crate::dokploy::error::DokployError;
use crate::dokploy::retry::{Jitter, RetryPolicy};
use crate::ids::{DeploymentId, IdGen, random_seed, random_token};
use crate::ledger::error::LedgerError;
use crate::ledger::event::Event;
use crate::ledger::{ExpectedVersion, Ledger, NewEvent};
use crate::orchestrator::{Orchestrator, Parts, Settings};
use crate::projection::LiveReadModel;
use crate::simulator::{Simulator, SimulatorOptions};

/// Which Dokploy the portal deploys to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DokployMode {
    /// A real Dokploy, from `--dokploy-url` and `--dokploy-api-key`.
    Remote,
    /// The built-in simulator, started in-process on a loopback port.
    Simulated,
}

impl DokployMode {
    /// `remote` or `simulated` (as `/health` shows it).
    pub fn as_str(self) -> &'static str {
        match self {
            DokployMode::Remote => "remote",
            DokployMode::Simulated => "simulated",
        }
    }
}

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
        let ledger_dir = config.ledger_dir();
        let read_model = LiveReadModel::new();
        let projector = Arc::new(read_model.clone());
        let open_clock = Arc::clone(&clock);
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
        let caller = Caller::new(
            Arc::new(client),
            CircuitBreaker::new(
                BreakerOptions {
                    failures_max: config.breaker_failures.max(1),
                    open_for: config.breaker_open_for,
                },
                Arc::clone(&clock),
            ),
            RetryPolicy {
                retries_max: config.retries_max,
                base: config.retry_base,
                backoff_max: config.retry_delay_max,
                ..RetryPolicy::default()
            },
            Arc::new(Jitter::seeded(random_seed())),
            Arc::clone(&clock),
            ledger.clone(),
        );
        let settings = Settings {
            image: config.stack_image.clone(),
            domain_suffix: config.domain_suffix.clone(),
            port: config.stack_port,
            health_url,
            health_timeout: config.health_timeout,
            health_interval: config.health_interval,
            deploy_poll_interval: config.deploy_poll_interval,
            deploy_timeout: config.deploy_timeout,
            running_max: config.running_max,
            recovery: config.recovery,
        };
        let orchestrator = Orchestrator::new(Parts {
            ledger: ledger.clone(),
            read_model: read_model.clone(),
            caller,
            clock,
            ids,
            settings,
            crash: Arc::new(CrashPoints::at(config.crash_at)),
        });
        Ok(App {
            ledger,
            read_model,
            orchestrator,
            mode,
            simulator,
        })
    }

    /// Stops the runs where they stand and lets queued appends land, then closes the ledger.
    /// The next start recovers the stopped runs.
    pub async fn shutdown(&self) {
        self.orchestrator.stop_runs();
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
        crate::http::router(crate::http::AppState {
            ledger: self.ledger.clone(),
            read_model: self.read_model.clone(),
            orchestrator: self.orchestrator.clone(),
            mode: self.mode,
            client_key: Arc::from(random_token()),
            shutdown,
        })
    }
}
