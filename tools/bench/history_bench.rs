//! `stackledger-bench history`: what history costs a restarted portal. For each N (10k, 100k,
//! 1M deployments by default 10k and 100k), a data directory holding N realistic finished
//! deployments (see `history_build.rs`) is written once, then the release portal is started on
//! it: its first start (which may fold and checkpoint the whole log), then `--starts` restarts,
//! each timed from spawn to the first `/health` 200, with its resident memory (VmRSS) after
//! the start and after the queries, its peak (VmHWM), and the p50/p95 latency of the ops list
//! filters (`GET /api/deployments`, paged). Disk per event is the ledger directory's bytes over
//! the events' encoded bytes.
//!
//! The portal runs against an in-process simulator; nothing is deployed. It never leaves a
//! portal running (SIGTERM, a bounded wait, then SIGKILL), and with `--reuse` it never rebuilds
//! a directory whose build finished (its `built.json` says what it holds).

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::Value;
use stackledger::config::ApiKey;
use stackledger::simulator::{Simulator, SimulatorOptions};

use crate::history_build::{self, Built};
use crate::startup_bench::{
    ADMIN_TOKEN, KEY, free_port, percentile, portal_command, ratio, stop_within,
};

/// `stackledger-bench history`.
#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Directory for the data directories (`<dir>/<N>/`), kept for `--reuse`.
    #[arg(long, default_value = "target/bench/history")]
    dir: PathBuf,
    /// The numbers of finished deployments to measure at.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    deployments: Vec<usize>,
    /// Reuse a data directory whose build finished instead of writing it again.
    #[arg(long)]
    reuse: bool,
    /// Write the data directories, measure nothing.
    #[arg(long)]
    build_only: bool,
    /// Timed restarts per N, after the first start.
    #[arg(long, default_value_t = 3)]
    starts: usize,
    /// Requests per filter and restart.
    #[arg(long, default_value_t = 100)]
    requests: usize,
    /// The golden logs the deployments are copied from.
    #[arg(long, default_value = "events/golden")]
    templates: PathBuf,
}

/// The bound on one start until `/health` answers 200 (a first start may fold everything).
const START_MAX: Duration = Duration::from_secs(3600);
/// The bound on a stop (a clean stop may take a checkpoint).
const STOP_MAX: Duration = Duration::from_secs(300);

/// One restart's figures.
#[derive(Debug, Default)]
struct Restart {
    start_seconds: f64,
    rss_started_kib: u64,
    rss_queried_kib: u64,
    hwm_kib: u64,
    /// Per filter, its request latencies in milliseconds.
    latencies_ms: Vec<(String, Vec<f64>)>,
}

/// Builds what is missing, then measures each N and prints the figures.
pub(crate) async fn run(args: HistoryArgs) -> anyhow::Result<()> {
    let binary = std::env::current_exe()?.with_file_name("stackledger");
    anyhow::ensure!(binary.exists(), "no portal binary at {}", binary.display());
    let templates = history_build::templates(&args.templates)?;
    let mut built = Vec::new();
    for &n in &args.deployments {
        built.push((n, prepare(&args, n, &templates).await?));
    }
    if args.build_only {
        return Ok(());
    }
    let key = ApiKey::new(KEY).context("the bench key is a valid key")?;
    let simulator =
        Simulator::start("127.0.0.1:0".parse()?, SimulatorOptions::new(key, 17)).await?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut rows = Vec::new();
    for (n, built) in built {
        let data_dir = args.dir.join(n.to_string());
        let first = start(&binary, &data_dir, &simulator).await?;
        let (child, first_seconds, _) = first;
        stop_within(child, STOP_MAX).await?;
        let mut restarts = Vec::new();
        for _ in 0..args.starts {
            restarts.push(restart(&binary, &data_dir, &simulator, n, args.requests).await?);
        }
        let disk = dir_bytes(&data_dir.join("ledger"))?;
        print_row(n, &built, first_seconds, &restarts, disk);
        rows.push((n, restarts));
    }
    print_ratios(&rows);
    Ok(())
}

/// The data directory for `n`, written unless `--reuse` finds it built.
async fn prepare(
    args: &HistoryArgs,
    n: usize,
    templates: &[history_build::Template],
) -> anyhow::Result<Built> {
    let data_dir = args.dir.join(n.to_string());
    let marker = data_dir.join("built.json");
    if args.reuse
        && let Ok(text) = std::fs::read_to_string(&marker)
    {
        return Ok(serde_json::from_str(&text)?);
    }
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)?;
    }
    eprintln!("writing {n} deployments into {}", data_dir.display());
    let built = history_build::build(&data_dir.join("ledger"), n, templates).await?;
    eprintln!(
        "  {} events in {:.1} s ({:.0} events/s; {} failed)",
        built.events,
        built.seconds,
        built.events as f64 / built.seconds,
        built.failed
    );
    std::fs::write(&marker, serde_json::to_string(&built)?)?;
    Ok(built)
}

/// Spawns the portal on `data_dir` and waits for its first `/health` 200: the child, the
/// seconds it took, and its port.
async fn start(
    binary: &Path,
    data_dir: &Path,
    simulator: &Simulator,
) -> anyhow::Result<(Child, f64, u16)> {
    let port = free_port()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = format!("http://127.0.0.1:{port}/health");
    let spawned = Instant::now();
    let mut child = portal_command(binary, data_dir, simulator, port)
        .spawn()
        .context("the portal starts")?;
    loop {
        if let Ok(response) = http.get(&url).send().await
            && response.status() == 200
        {
            return Ok((child, spawned.elapsed().as_secs_f64(), port));
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the portal exited before /health answered 200: {status}");
        }
        if spawned.elapsed() > START_MAX {
            stop_within(child, STOP_MAX).await?;
            anyhow::bail!("/health did not answer 200 within {START_MAX:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One timed restart with its memory and query figures.
async fn restart(
    binary: &Path,
    data_dir: &Path,
    simulator: &Simulator,
    n: usize,
    requests: usize,
) -> anyhow::Result<Restart> {
    let (child, start_seconds, port) = start(binary, data_dir, simulator).await?;
    let measured = measure_running(&child, port, n, requests).await;
    stop_within(child, STOP_MAX).await?;
    let mut restart = measured?;
    restart.start_seconds = start_seconds;
    Ok(restart)
}

async fn measure_running(
    child: &Child,
    port: u16,
    n: usize,
    requests: usize,
) -> anyhow::Result<Restart> {
    let pid = child.id();
    let rss_started_kib = status_kib(pid, "VmRSS")?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = format!("http://127.0.0.1:{port}/api/deployments");
    let mut latencies_ms = Vec::new();
    for (label, query) in filters(&http, &base, n).await? {
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let sent = Instant::now();
            let page = list(&http, &base, &query).await?;
            times.push(sent.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(page["success"] == true, "{label}: {page}");
        }
        latencies_ms.push((label, times));
    }
    Ok(Restart {
        start_seconds: 0.0,
        rss_started_kib,
        rss_queried_kib: status_kib(pid, "VmRSS")?,
        hwm_kib: status_kib(pid, "VmHWM")?,
        latencies_ms,
    })
}

/// The filters measured: each supported filter, a rare and a common name, and a deep page.
async fn filters(
    http: &reqwest::Client,
    base: &str,
    n: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let rare = history_build::name_of(n / 2);
    let mut filters = vec![
        ("newest".to_owned(), "limit=50".to_owned()),
        (
            "status=success".to_owned(),
            "status=success&limit=50".to_owned(),
        ),
        (
            "status=failure".to_owned(),
            "status=failure&limit=50".to_owned(),
        ),
        (
            "status=in_progress".to_owned(),
            "status=in_progress&limit=50".to_owned(),
        ),
        (
            "name=<one of N>".to_owned(),
            format!("name={rare}&limit=50"),
        ),
        (
            "name=<stem, 1 in 16>".to_owned(),
            format!("name={}&limit=50", history_build::common_stem()),
        ),
    ];
    // The 20th page of the failures: walk there once, then time that page.
    let mut query = "status=failure&limit=50".to_owned();
    for _ in 0..19 {
        let page = list(http, base, &query).await?;
        let Some(next) = page["next"].as_str() else {
            break;
        };
        query = format!("status=failure&limit=50&before={next}");
    }
    filters.push(("status=failure, page 20".to_owned(), query));
    Ok(filters)
}

async fn list(http: &reqwest::Client, base: &str, query: &str) -> anyhow::Result<Value> {
    let response = http
        .get(format!("{base}?{query}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status == 200, "GET {base}?{query}: {status} {body}");
    Ok(body)
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{field} in /proc/{pid}/status"))
}

/// Every file's size under `dir`, summed.
fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        total += if entry.file_type()?.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            entry.metadata()?.len()
        };
    }
    Ok(total)
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    percentile(&mut values, 50.0)
}

fn print_row(n: usize, built: &Built, first_seconds: f64, restarts: &[Restart], disk: u64) {
    println!(
        "history of {n} deployments ({} events, {:.1} per deployment, {} failed; written at {:.0} events/s)",
        built.events,
        ratio(built.events as f64, built.deployments as f64),
        built.failed,
        built.events as f64 / built.seconds
    );
    println!("  first start to /health 200: {first_seconds:.2} s");
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "  restart to /health 200: median {:.3} s; RSS after start {:.1} MiB, after queries {:.1} MiB, peak {:.1} MiB (medians of {})",
        median(restarts.iter().map(|r| r.start_seconds)),
        median(restarts.iter().map(|r| mib(r.rss_started_kib))),
        median(restarts.iter().map(|r| mib(r.rss_queried_kib))),
        median(restarts.iter().map(|r| mib(r.hwm_kib))),
        restarts.len()
    );
    let labels = restarts.first().map(|r| r.latencies_ms.len()).unwrap_or(0);
    for k in 0..labels {
        let mut all: Vec<f64> = restarts
            .iter()
            .flat_map(|r| r.latencies_ms[k].1.iter().copied())
            .collect();
        let label = &restarts[0].latencies_ms[k].0;
        let p50 = percentile(&mut all, 50.0);
        let p95 = percentile(&mut all, 95.0);
        println!("  GET /api/deployments {label:<26} p50 {p50:>8.2} ms  p95 {p95:>8.2} ms");
    }
    println!(
        "  disk: {:.1} MiB for {:.1} MiB encoded = {:.2}x",
        disk as f64 / 1048576.0,
        built.encoded_bytes as f64 / 1048576.0,
        ratio(disk as f64, built.encoded_bytes as f64)
    );
}

fn print_ratios(rows: &[(usize, Vec<Restart>)]) {
    let Some((first_n, first)) = rows.first() else {
        return;
    };
    let start = |r: &[Restart]| median(r.iter().map(|r| r.start_seconds));
    let rss = |r: &[Restart]| median(r.iter().map(|r| r.rss_queried_kib as f64));
    for (n, restarts) in &rows[1..] {
        println!(
            "  {n} vs {first_n}: restart {:.2}x, RSS after queries {:.2}x",
            ratio(start(restarts), start(first)),
            ratio(rss(restarts), rss(first))
        );
    }
}
