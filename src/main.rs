//! The `stackledger` server: config → tracing → settings (every refused value reported
//! together, naming its flag, never a secret) → signal handlers and the listener → open and
//! verify the ledger, record the start → serve, while the deployments a stop interrupted are
//! recovered in the background (serve first: startup takes as long with 0 interrupted
//! deployments as with 1,000). A port in use refuses the start before the data directory is
//! opened or anything is written.
//!
//! A damaged ledger is refused with the first bad seq and a non-zero exit, unless the operator
//! starts read-only (`--read-only`): then what is intact is served for an audit, the damage is
//! logged loudly, and it never records a start or recovers a deployment (nothing is written).
//! SIGINT or SIGTERM, at any point of the start or of the recovery, is a graceful shutdown: it
//! stops accepting connections and the recovery, stops the runs where they stand, lets queued
//! appends land, and stops the ledger writer (exit 0). `stackledger restore` rebuilds a data
//! directory's ledger from its mirror or an export (the library does it; this prints what it
//! did).
//! It never wires anything itself: `App` builds every part, exactly as it does for the tests.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use stackledger::app::{App, DokployMode};
use stackledger::clock::SystemClock;
use stackledger::config::{
    Cli, Command, Config, LogFormat, RestoreConfig, Settings, SimulateConfig,
};
use stackledger::ids::RandomIds;
use stackledger::ledger::RestoreSource;
use stackledger::ledger::error::LedgerError;
use stackledger::simulator::{Simulator, SimulatorOptions};

/// How long open connections may take to finish after a shutdown signal.
const DRAIN_MAX: std::time::Duration = std::time::Duration::from_secs(10);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Simulate(simulate)) => {
            init_tracing(simulate.log_format);
            simulate_dokploy(simulate).await
        }
        Some(Command::Restore(restore)) => {
            init_tracing(restore.log_format);
            restore_ledger(restore).await
        }
        Some(Command::Tokens(tokens)) => {
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            let code = stackledger::tokens_cli::run(&tokens, &mut out, &mut err).await;
            std::process::exit(i32::from(code))
        }
        None => {
            init_tracing(cli.serve.log_format);
            run(cli.serve).await
        }
    };
    if let Err(error) = &result {
        tracing::error!("{error:#}");
    }
    result
}

/// `stackledger simulate`: the Dokploy simulator on its own, until SIGINT or SIGTERM.
async fn simulate_dokploy(config: SimulateConfig) -> anyhow::Result<()> {
    let config = config.settings().context("cannot start")?;
    let shutdown = shutdown_signal().context("cannot install signal handlers")?;
    let options = SimulatorOptions {
        deploy_polls: config.deploy_polls,
        builds: config.builds,
        build_duration: config.build_duration,
        remote_servers_only: config.remote_servers_only,
        server_id: config.server_id,
        ..SimulatorOptions::new(config.api_key, config.seed)
    };
    let simulator = Simulator::start(config.listen, options)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = simulator.address();
    tracing::warn!(%address, "Dokploy SIMULATOR listening on http://{address} (not a real Dokploy)");
    shutdown.await;
    drop(simulator);
    Ok(())
}

/// `stackledger restore`: rebuilds the data directory's ledger from a mirror or an export, then
/// says what it did on stdout.
async fn restore_ledger(config: RestoreConfig) -> anyhow::Result<()> {
    use std::io::Write;
    let scratch = config.scratch_dir();
    let source = match (config.mirror, config.export) {
        (Some(mirror), None) => RestoreSource::Mirror(mirror),
        (None, Some(export)) => RestoreSource::Export(export),
        _ => anyhow::bail!("give exactly one source: --mirror DIR or --export FILE"),
    };
    let data_dir = config.data_dir;
    let restored = tokio::task::spawn_blocking(move || {
        stackledger::ledger::restore(&data_dir, &source, &scratch, &SystemClock)
    })
    .await
    .context("the restore task failed")?
    .context("restore refused")?;
    writeln!(std::io::stdout(), "{restored}").context("cannot write the report")?;
    Ok(())
}

/// Serve first, recover in the background (issue 13): signal handlers and the listener come
/// before anything else, so that a port in use refuses the start before the data directory is
/// touched and a SIGTERM at any point is a graceful shutdown. The ledger is opened and
/// verified, and the start recorded, before the first answer (the read model is complete by
/// then); interrupted deployments are recovered while the server serves.
async fn run(config: Config) -> anyhow::Result<()> {
    let settings = Settings::from_config(&config).context("cannot start")?;
    let stop = Stop::on_signals().context("cannot install signal handlers")?;
    let listener = bind(&settings).await?;
    tracing::info!(dir = %settings.ledger_dir().display(), "opening and verifying the ledger");
    let app = App::from_settings(&settings, Arc::new(SystemClock), Arc::new(RandomIds))
        .await
        .context("cannot start")?;
    announce(&app);
    let recovery = match app.ledger.read_only() {
        Some(report) => {
            announce_read_only(report);
            None
        }
        None if stop.requested() => None,
        None => match app.record_start().await {
            Ok(()) => Some(start_recovery(&app, &stop).await),
            // The background verification found damage before the start was recorded: serve
            // what the ledger holds, refusing writes, exactly as when it finds it later.
            Err(error @ LedgerError::ChainDamaged { .. }) => {
                tracing::error!(%error, "the start is not recorded; the portal serves without writes");
                None
            }
            Err(error) => {
                close(&app).await;
                return Err(error).context("cannot record the server start");
            }
        },
    };
    let served = if stop.requested() {
        Ok(())
    } else {
        serve(&app, listener, &stop).await
    };
    // However serving ended, a recovery still under way stops where it stands.
    stop.request();
    let recovered = match recovery {
        Some(task) => Some(task.await.unwrap_or(Recovery::Failed)),
        None => None,
    };
    close(&app).await;
    served?;
    if recovered == Some(Recovery::Failed) {
        anyhow::bail!(
            "stopped because recovering the interrupted deployments failed (the cause is logged \
             above); every deployment is at a recorded point, and the next start resumes them"
        );
    }
    Ok(())
}

/// Installs the descriptor reserve and binds `--listen`, before the data directory is touched:
/// a port in use (or one this user may not bind) refuses the start with nothing opened or
/// written.
async fn bind(settings: &Settings) -> anyhow::Result<tokio::net::TcpListener> {
    stackledger::http::server::reserve_descriptors(settings.http.connections_max.get())
        .context("cannot serve")?;
    let listen = settings.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot listen on {listen}: {error}; the portal did not start and its data \
                 directory {} was not opened. Next: stop what holds {listen}, or choose another \
                 address with --listen",
                settings.data_dir.display()
            )
        })?;
    let bound = listener.local_addr().context("no local address")?;
    tracing::info!(%bound, "bound {bound}; answering once the ledger is verified");
    Ok(listener)
}

/// How the background recovery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovery {
    /// Every interrupted deployment was handed to its run (or there was none).
    Resumed,
    /// A shutdown stopped it where it stood; the next start resumes the rest.
    Stopped,
    /// It failed (logged where it failed); the portal is shutting down.
    Failed,
}

/// Starts resuming the deployments a stop interrupted; the server serves meanwhile. Its first
/// step runs here, before the first answer: `recover` takes its list of interrupted
/// deployments when first polled, so that a deployment accepted once serving has begun is
/// never on it (it would be driven twice, by its own run and by a recovery). The rest runs in
/// a task: a shutdown stops it where it stands (a `RecoveryStarted` already asked for still
/// lands; the next start resumes what it had not reached). A failure is logged loudly and
/// shuts the portal down, so that it never goes on serving with interrupted deployments
/// silently left behind.
async fn start_recovery(app: &App, stop: &Stop) -> tokio::task::JoinHandle<Recovery> {
    let orchestrator = app.orchestrator.clone();
    let mut recovering = Box::pin(async move { orchestrator.recover().await });
    let first =
        std::future::poll_fn(|context| std::task::Poll::Ready(recovering.as_mut().poll(context)))
            .await;
    let stop = stop.clone();
    tokio::spawn(async move {
        let recovered = match first {
            std::task::Poll::Ready(recovered) => recovered,
            std::task::Poll::Pending => tokio::select! {
                recovered = recovering => recovered,
                () = stop.wait() => {
                    tracing::info!("recovery stopped by the shutdown; the next start resumes the rest");
                    return Recovery::Stopped;
                }
            },
        };
        reported(recovered, &stop)
    })
}

/// Logs how the recovery went; a failure asks the portal to stop.
fn reported<T, E>(recovered: Result<Vec<T>, E>, stop: &Stop) -> Recovery
where
    E: std::error::Error + Send + Sync + 'static,
{
    match recovered {
        Ok(recovering) => {
            if !recovering.is_empty() {
                tracing::warn!(
                    count = recovering.len(),
                    "recovering interrupted deployments"
                );
            }
            Recovery::Resumed
        }
        Err(error) => {
            let error = anyhow::Error::new(error);
            tracing::error!(
                "RECOVERY FAILED: cannot resume the interrupted deployments: {error:#}; shutting \
                 down (a restart tries again)"
            );
            stop.request();
            Recovery::Failed
        }
    }
}

/// Stops the runs where they stand, lets queued appends land and closes the ledger.
async fn close(app: &App) {
    tracing::info!("shutting down: stopping runs where they stand, letting queued appends land");
    app.shutdown().await;
    tracing::info!(head = %app.ledger.head().seq, "ledger closed");
}

/// Says loudly that this portal only serves its ledger for an audit, and what it found.
fn announce_read_only(report: &stackledger::ledger::ReadOnlyReport) {
    let served = report.intact_to.0;
    match report.damage_text() {
        Some(damage) => tracing::error!(
            intact_to = served,
            %damage,
            "READ-ONLY (--read-only): serving the intact part of a DAMAGED ledger for an audit; deploys are refused, nothing is recovered or written"
        ),
        None => tracing::warn!(
            intact_to = served,
            "READ-ONLY (--read-only): the ledger verified whole; serving it for an audit; deploys are refused, nothing is recovered or written"
        ),
    }
}

/// Serves the app on `listener` until the stop is requested, then gives open connections a
/// bounded time to finish.
async fn serve(app: &App, listener: tokio::net::TcpListener, stop: &Stop) -> anyhow::Result<()> {
    let address = listener.local_addr().context("no local address")?;
    tracing::info!(%address, "listening on http://{address}");
    let router = app.router(stop.subscribe());
    let server = stackledger::http::server::serve(listener, router, app.limits, stop.wait());
    // Connections get a bounded time to finish once shutdown begins; then the server stops
    // regardless (every deployment is at a recorded point, and the next start recovers it).
    let drain_limit = async {
        stop.wait().await;
        tokio::time::sleep(DRAIN_MAX).await;
    };
    tokio::select! {
        served = server => served.context("the HTTP server failed")?,
        () = drain_limit => tracing::warn!("connections still open after {DRAIN_MAX:?}; closing anyway"),
    }
    Ok(())
}

/// Logs what the portal runs on: the verified ledger, which Dokploy, where the admin token is.
fn announce(app: &App) {
    let summary = app.read_model.read().summary();
    let verified = match app.ledger.read_only() {
        Some(_) => "ledger opened read-only",
        None => "ledger verified",
    };
    tracing::info!(
        events = summary.events,
        deployments = summary.deployments,
        head = %summary.head_hash,
        "{verified}"
    );
    if app.mode == DokployMode::Simulated {
        tracing::warn!(
            "NO DOKPLOY CONFIGURED: deploying to the built-in Dokploy SIMULATOR. \
             Set --dokploy-url and --dokploy-api-key to deploy for real."
        );
    }
    match &app.admin_token_file {
        Some(path) => {
            tracing::info!(file = %path.display(), "the ops API's admin token is in this file (mode 0600)")
        }
        None => tracing::info!("the ops API's admin token comes from the configuration"),
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The request to shut down: set by the first SIGINT or SIGTERM (or by a failed recovery),
/// seen by the server, the open status streams and the background recovery.
#[derive(Debug, Clone)]
struct Stop {
    requested: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Stop {
    /// Registers the SIGINT and SIGTERM handlers (the default kill no longer applies once this
    /// returns) and turns the first signal into a stop request.
    fn on_signals() -> std::io::Result<Self> {
        let signal = shutdown_signal()?;
        let stop = Self {
            requested: Arc::new(tokio::sync::watch::Sender::new(false)),
        };
        let requester = stop.clone();
        tokio::spawn(async move {
            signal.await;
            requester.request();
        });
        Ok(stop)
    }

    /// Asks everything to stop.
    fn request(&self) {
        self.requested.send_replace(true);
    }

    /// Whether a stop was asked for.
    fn requested(&self) -> bool {
        *self.requested.borrow()
    }

    /// Resolves once a stop is asked for (at once if it already was).
    fn wait(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receiver = self.requested.subscribe();
        // The future keeps a sender, so the channel never closes while it waits.
        let sender = Arc::clone(&self.requested);
        async move {
            let _ = receiver.wait_for(|stop| *stop).await;
            drop(sender);
        }
    }

    /// A receiver that turns true on the stop (the router's streams end on it).
    fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.requested.subscribe()
    }
}

/// Resolves on the first SIGINT or SIGTERM. The handlers are registered when this returns.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}
