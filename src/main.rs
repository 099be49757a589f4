//! The `stackledger` server: config → tracing → settings (every refused value reported
//! together, naming its flag, never a secret) → open and verify the ledger → serve.
//!
//! A damaged ledger is refused with the first bad seq and a non-zero exit, unless the operator
//! starts read-only (`--read-only`): then what is intact is served for an audit, the damage is
//! logged loudly, and it never records a start or recovers a deployment (nothing is written).
//! SIGINT or SIGTERM stops accepting connections, lets queued appends land, and stops the
//! ledger writer. `stackledger restore` rebuilds a data directory's ledger from its mirror or an
//! export (the library does it; this prints what it did).
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

async fn run(config: Config) -> anyhow::Result<()> {
    let settings = Settings::from_config(&config).context("cannot start")?;
    tracing::info!(dir = %settings.ledger_dir().display(), "opening and verifying the ledger");
    let app = App::from_settings(&settings, Arc::new(SystemClock), Arc::new(RandomIds))
        .await
        .context("cannot start")?;
    announce(&app);
    match app.ledger.read_only() {
        Some(report) => announce_read_only(report),
        None => start_writing(&app).await?,
    }
    serve(&app, config.listen).await?;
    tracing::info!("shutting down: stopping runs where they stand, letting queued appends land");
    app.shutdown().await;
    tracing::info!(head = %app.ledger.head().seq, "ledger closed");
    Ok(())
}

/// Records the start and resumes the deployments a stop interrupted.
async fn start_writing(app: &App) -> anyhow::Result<()> {
    app.record_start()
        .await
        .context("cannot record the server start")?;
    let recovering = app
        .orchestrator
        .recover()
        .await
        .context("cannot start recovering interrupted deployments")?;
    if !recovering.is_empty() {
        tracing::warn!(
            count = recovering.len(),
            "recovering interrupted deployments"
        );
    }
    Ok(())
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

/// Serves the app on `listen` until SIGINT or SIGTERM, then gives open connections a bounded
/// time to finish.
async fn serve(app: &App, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    // Signal handlers are installed before the address is announced, so that a SIGTERM sent
    // as soon as the server is seen to listen is a clean shutdown, not the default kill.
    let shutdown = shutdown_signal().context("cannot install signal handlers")?;
    stackledger::http::server::reserve_descriptors(app.limits.connections_max.get())
        .context("cannot serve")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {}", listen))?;
    let address = listener.local_addr().context("no local address")?;
    tracing::info!(%address, "listening on http://{address}");
    let (stop_streams, streams_stop) = tokio::sync::watch::channel(false);
    let mut draining = streams_stop.clone();
    let router = app.router(streams_stop);
    let shutdown = async move {
        shutdown.await;
        let _ = stop_streams.send(true);
    };
    let server = stackledger::http::server::serve(listener, router, app.limits, shutdown);
    // Connections get a bounded time to finish once shutdown begins; then the server stops
    // regardless (every deployment is at a recorded point, and the next start recovers it).
    let drain_limit = async move {
        let _ = draining.wait_for(|stopping| *stopping).await;
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
