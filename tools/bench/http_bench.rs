//! The HTTP benchmarks: `GET /api/deployment/:id` against a minimal axum JSON handler, and the
//! SSE fan-out of one deployment's events to thousands of subscribers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use stackledger::app::App;
use stackledger::clock::{Stopwatch, SystemClock};
use stackledger::config::Cli;
use stackledger::ids::{IdGen, RandomIds};

/// Builds the portal on a fresh data dir under `dir` (simulated Dokploy, fast intervals) and
/// serves it on a loopback port.
async fn portal(
    dir: &std::path::Path,
) -> anyhow::Result<(App, SocketAddr, tokio::sync::watch::Sender<bool>)> {
    let flags = [
        "stackledger".to_owned(),
        format!("--data-dir={}", dir.display()),
        "--health-interval=1ms".to_owned(),
        "--deploy-poll-interval=1ms".to_owned(),
        "--sse-max=100000".to_owned(),
    ];
    let config = Cli::try_parse_from(flags)?.serve;
    let app = App::build(&config, Arc::new(SystemClock), Arc::new(RandomIds)).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let service = app
        .router(stopped)
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, service).await;
    });
    Ok((app, address, stop))
}

/// Requests per second and latency percentiles of GETs on `url` from `connections` loops.
async fn load(
    url: String,
    connections: usize,
    window: Duration,
) -> anyhow::Result<(f64, f64, f64)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let started = Stopwatch::start();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < window {
                let one = Stopwatch::start();
                let response = client.get(&url).send().await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "status {}",
                    response.status()
                );
                response.bytes().await?;
                latencies.push(one.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    Ok((rate, at(0.5), at(0.99)))
}

/// `GET /api/deployment/:id` against a minimal JSON handler, same load, same machine.
pub(crate) async fn requests(
    dir: &std::path::Path,
    seconds: u64,
    connections: usize,
) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = dir.join(format!("http-bench-{}", std::process::id()));
    let (app, address, stop) = portal(&work).await?;
    let started = app.orchestrator.deploy("bench", "bench").await?;
    started.task.await?.context("the deployment")?;
    let minimal = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let minimal_address = minimal.local_addr()?;
    let router = axum::Router::new().route(
        "/minimal",
        axum::routing::get(|| async { axum::Json(serde_json::json!({"success": true, "ok": 1})) }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(minimal, router).await;
    });
    let window = Duration::from_secs(seconds);
    let (base, base_p50, base_p99) = load(
        format!("http://{minimal_address}/minimal"),
        connections,
        window,
    )
    .await?;
    let url = format!("http://{address}/api/deployment/{}", started.id);
    let (rate, p50, p99) = load(url, connections, window).await?;
    println!(
        "StackLedger HTTP benchmark ({connections} keep-alive connections, {seconds} s each, client in the same process)"
    );
    println!(
        "  minimal axum JSON handler:     {base:>9.0} req/s  p50 {base_p50:.2} ms  p99 {base_p99:.2} ms"
    );
    println!(
        "  GET /api/deployment/:id:       {rate:>9.0} req/s  p50 {p50:.2} ms  p99 {p99:.2} ms  = {:.0}% of minimal (target >= 50%)",
        100.0 * rate / base
    );
    let _ = stop.send(true);
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// SSE fan-out: `subscribers` streams on one deployment that appends `rate` events a second.
pub(crate) async fn fan_out(
    dir: &std::path::Path,
    subscribers: usize,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<()> {
    use stackledger::deployment::{Event, Phase};
    use stackledger::ledger::{ExpectedVersion, NewEvent};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = dir.join(format!("sse-bench-{}", std::process::id()));
    let (app, address, stop) = portal(&work).await?;
    // A deployment that stays in progress: its events are appended here, not by a run.
    let id = RandomIds.deployment_id();
    let requested = Event::DeploymentRequested {
        name: "fanout".into(),
        image: "nginx".into(),
        domain: "fanout.example".into(),
        port: 8080,
        client: "bench".into(),
        server_version: "bench".into(),
    };
    let mut version = app
        .ledger
        .append_one(
            id,
            ExpectedVersion::Exact(stackledger::ids::StreamVersion(0)),
            NewEvent::new(requested),
        )
        .await?
        .version;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let delivered = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sent_at: Arc<std::sync::Mutex<std::collections::HashMap<u64, Stopwatch>>> = Arc::default();
    let mut readers = Vec::new();
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel::<()>(subscribers);
    for _ in 0..subscribers {
        let client = client.clone();
        let url = format!("http://{address}/api/status/{id}");
        let delivered = Arc::clone(&delivered);
        let latencies = Arc::clone(&latencies);
        let sent_at = Arc::clone(&sent_at);
        let opened = opened_tx.clone();
        readers.push(tokio::spawn(async move {
            let mut response = client.get(url).send().await?;
            let _ = opened.send(()).await;
            let mut pending = String::new();
            let mut last_id = 0u64;
            let mut gaps = 0u64;
            while let Some(chunk) = response.chunk().await? {
                pending.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = pending.find("\n\n") {
                    let message: String = pending.drain(..end + 2).collect();
                    let Some(seq) = message
                        .lines()
                        .find_map(|l| l.strip_prefix("id: "))
                        .and_then(|v| v.trim().parse::<u64>().ok())
                    else {
                        continue;
                    };
                    if last_id != 0 && seq != last_id + 1 {
                        gaps += 1;
                    }
                    last_id = seq;
                    delivered.fetch_add(1, Ordering::Relaxed);
                    if let Some(watch) = sent_at
                        .lock()
                        .map_err(|_| anyhow::anyhow!("poisoned"))?
                        .get(&seq)
                    {
                        latencies
                            .lock()
                            .map_err(|_| anyhow::anyhow!("poisoned"))?
                            .push(watch.elapsed());
                    }
                    if message.contains("event: complete") {
                        return anyhow::Ok((last_id, gaps));
                    }
                }
            }
            anyhow::Ok((last_id, gaps))
        }));
    }
    drop(opened_tx);
    let mut opened = 0;
    while opened < subscribers && opened_rx.recv().await.is_some() {
        opened += 1;
    }
    let events = rate * seconds;
    let interval = Duration::from_micros(1_000_000 / rate.max(1));
    let run = Stopwatch::start();
    let mut ticker = tokio::time::interval(interval);
    for n in 0..events {
        ticker.tick().await;
        let event = if n + 1 == events {
            Event::DeploymentSucceeded {
                url: "https://fanout.example".into(),
            }
        } else {
            Event::PhaseEntered {
                phase: Phase::Deploying,
            }
        };
        let expected_seq = app.ledger.head().seq.0 + 1;
        sent_at
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .insert(expected_seq, Stopwatch::start());
        let written = app
            .ledger
            .append_one(id, ExpectedVersion::Exact(version), NewEvent::new(event))
            .await?;
        version = written.version;
    }
    let mut complete = 0;
    let mut gaps = 0;
    for reader in readers {
        let (last, reader_gaps) = reader.await??;
        gaps += reader_gaps;
        if last == app.ledger.head().seq.0 {
            complete += 1;
        }
    }
    let took = run.elapsed().as_secs_f64();
    let delivered = delivered.load(Ordering::Relaxed);
    let mut latencies = latencies
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * q) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "StackLedger SSE fan-out benchmark ({opened} subscribers, {rate} events/s for {seconds} s, one process)"
    );
    println!(
        "  deliveries:             {delivered} in {took:.1} s = {:.0} per second",
        delivered as f64 / took
    );
    println!(
        "  append-to-delivery:     p50 {:.1} ms  p99 {:.1} ms (target p99 <= 100 ms)",
        at(0.5),
        at(0.99)
    );
    println!("  complete streams:       {complete} of {subscribers}; gaps or duplicates: {gaps}");
    let _ = stop.send(true);
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
