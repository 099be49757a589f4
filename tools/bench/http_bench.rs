//! The HTTP benchmark: `GET /api/deployment/:id` against a minimal axum JSON handler on the
//! same machine, and the portal both HTTP benchmarks serve (the SSE one is `sse_bench`).
//!
//! An answer that is not a success never counts as a request served: it ends the run with an
//! error, so refusals can never inflate a rate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use stackledger::app::App;
use stackledger::clock::{Stopwatch, SystemClock};
use stackledger::config::{Cli, Settings};
use stackledger::http::server::serve;
use stackledger::ids::RandomIds;

/// Builds the portal on a fresh data dir under `dir` (simulated Dokploy, fast intervals) and
/// serves it on a loopback port.
pub(crate) async fn portal(
    dir: &std::path::Path,
) -> anyhow::Result<(App, SocketAddr, tokio::sync::watch::Sender<bool>)> {
    let flags = [
        "stackledger".to_owned(),
        format!("--data-dir={}", dir.display()),
        "--health-interval=1ms".to_owned(),
        "--deploy-poll-interval=1ms".to_owned(),
        "--sse-max=100000".to_owned(),
        // Every benchmark client comes from 127.0.0.1: one client's share is the whole cap.
        "--sse-client-max=100000".to_owned(),
        "--connections-max=12000".to_owned(),
    ];
    let config = Cli::try_parse_from(flags)?.serve;
    let app = App::build(&config, Arc::new(SystemClock), Arc::new(RandomIds)).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    // The portal's own accept loop and limits, as `main` serves them.
    let router = app.router(stopped);
    let limits = app.limits;
    tokio::spawn(async move {
        let _ = serve(listener, router, limits, std::future::pending()).await;
    });
    Ok((app, address, stop))
}

/// `stackledger-bench http`.
#[derive(Debug, clap::Args)]
pub(crate) struct HttpArgs {
    /// Directory for the ledger.
    #[arg(long, default_value = "target/bench")]
    dir: PathBuf,
    /// Seconds each side is loaded.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
}

/// Requests per second and the p50 and p99 latencies (ms) of one load.
struct Figures {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// GETs on `url` from `connections` keep-alive loops for `window`.
async fn load(url: String, connections: usize, window: Duration) -> anyhow::Result<Figures> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let started = Stopwatch::start();
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(get_until(client.clone(), url.clone(), started, window)))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    Ok(Figures {
        rate,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    })
}

/// One connection's loop: GET `url` until `window` has passed since `started`.
async fn get_until(
    client: reqwest::Client,
    url: String,
    started: Stopwatch,
    window: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    while started.elapsed() < window {
        let one = Stopwatch::start();
        let response = client.get(&url).send().await?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "status {status}");
        response.bytes().await?;
        latencies.push(one.elapsed());
    }
    Ok(latencies)
}

/// Serves `{"success": true, "ok": 1}` at `/minimal` on a loopback port through the same
/// accept loop and limits as the portal: the reference.
async fn minimal_server() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let router = axum::Router::new().route(
        "/minimal",
        axum::routing::get(|| async { axum::Json(serde_json::json!({"success": true, "ok": 1})) }),
    );
    let config = Cli::try_parse_from(["stackledger"])?.serve;
    let limits = Settings::from_config(&config)?.http;
    tokio::spawn(async move {
        let _ = serve(listener, router, limits, std::future::pending()).await;
    });
    Ok(address)
}

/// `GET /api/deployment/:id` against a minimal JSON handler, same load, same machine.
pub(crate) async fn requests(args: HttpArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = args.dir.join(format!("http-bench-{}", std::process::id()));
    let (app, address, stop) = portal(&work).await?;
    let started = app.orchestrator.deploy("bench", "bench").await?;
    started.task.await?.context("the deployment")?;
    let window = Duration::from_secs(args.seconds);
    let minimal = format!("http://{}/minimal", minimal_server().await?);
    let base = load(minimal, args.connections, window).await?;
    let url = format!("http://{address}/api/deployment/{}", started.id);
    let portal = load(url, args.connections, window).await?;
    report(&args, &base, &portal);
    let _ = stop.send(true);
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn report(args: &HttpArgs, base: &Figures, portal: &Figures) {
    let (connections, seconds) = (args.connections, args.seconds);
    println!(
        "StackLedger HTTP benchmark ({connections} keep-alive connections, {seconds} s each, client in the same process)"
    );
    println!(
        "  minimal axum JSON handler:     {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms",
        base.rate, base.p50_ms, base.p99_ms
    );
    println!(
        "  GET /api/deployment/:id:       {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  = {:.0}% of minimal (target >= 50%)",
        portal.rate,
        portal.p50_ms,
        portal.p99_ms,
        100.0 * portal.rate / base.rate
    );
}
