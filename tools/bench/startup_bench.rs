//! `stackledger-bench startup`: the wall time from spawning the release `stackledger` binary
//! until its first `GET /health` that answers 200, on a data directory holding N interrupted
//! deployments (0 and 1,000 by default), measured side by side in interleaved rounds.
//!
//! Each data directory is written once per N with the library (a `Ledger` on `<dir>/ledger`;
//! per deployment `DeploymentRequested` on a new stream, then `PhaseEntered{Initializing}`) and
//! copied fresh for every round, so every round recovers the same N. The portal runs against an
//! in-process simulator whose builds last ten minutes, so recovered runs are still in flight
//! when `/health` first answers; the `deployments.inFlight` of that answer is printed beside the
//! time. `--finished N` adds a control row: N finished deployments, a log of the same size with
//! nothing to recover, which tells what the log's size alone costs the start. It never leaves a portal running: each round ends with SIGTERM and a bounded wait,
//! then SIGKILL.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures_util::StreamExt;
use serde_json::Value;
use stackledger::clock::SystemClock;
use stackledger::config::ApiKey;
use stackledger::deployment::{Event, Phase};
use stackledger::ids::{IdGen, RandomIds, StreamVersion};
use stackledger::ledger::{DiskOptions, ExpectedVersion, Ledger, LedgerOptions, NewEvent};
use stackledger::projection::LiveReadModel;
use stackledger::simulator::{Simulator, SimulatorOptions};

/// `stackledger-bench startup`.
#[derive(Debug, Args)]
pub(crate) struct StartupArgs {
    /// Directory for the data directories (a temporary directory inside it is used).
    #[arg(long, default_value = "target/bench")]
    dir: PathBuf,
    /// The numbers of interrupted deployments to measure at.
    #[arg(long, value_delimiter = ',', default_value = "0,1000")]
    interrupted: Vec<usize>,
    /// Rounds per number (interleaved: round r measures every number once).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Also measure, as a control, a data directory holding this many FINISHED deployments
    /// (the same events plus `DeploymentSucceeded`): what the log's size alone costs.
    #[arg(long)]
    finished: Option<usize>,
}

/// One data directory the rounds start on.
#[derive(Debug, Clone, Copy)]
struct Shape {
    deployments: usize,
    finished: bool,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.finished {
            "finished"
        } else {
            "interrupted"
        };
        write!(f, "{:>5} {state:<11}", self.deployments)
    }
}

impl StartupArgs {
    /// The interrupted numbers in order, then the control if asked for.
    fn shapes(&self) -> Vec<Shape> {
        let interrupted = self.interrupted.iter().map(|&deployments| Shape {
            deployments,
            finished: false,
        });
        let control = self.finished.map(|deployments| Shape {
            deployments,
            finished: true,
        });
        interrupted.chain(control).collect()
    }
}

pub(crate) const KEY: &str = "bench-simulator-key-0001";
/// The ops token the portal is started with (long enough to be a secret).
pub(crate) const ADMIN_TOKEN: &str = "startup-bench-admin-token-8c41e07b9f2d5a36";
/// The bound on one start, until `/health` answers 200.
const START_MAX: Duration = Duration::from_secs(30);
/// The bound on the wait for an exit after SIGTERM.
const STOP_MAX: Duration = Duration::from_secs(10);
/// The pause after a refused connection before the next try (a busy loop would take a core
/// from the portal it waits for).
const RETRY: Duration = Duration::from_millis(1);

/// One measured start: the time to the first 200 and that answer's in-flight count.
struct Start {
    elapsed: Duration,
    in_flight: u64,
}

/// Builds the data directories, measures the interleaved rounds and prints the figures.
pub(crate) async fn run(args: StartupArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    let binary = std::env::current_exe()?.with_file_name("stackledger");
    anyhow::ensure!(binary.exists(), "no portal binary at {}", binary.display());
    let work = args
        .dir
        .join(format!("startup-bench-{}", std::process::id()));
    let shapes = args.shapes();
    let result = measure(&shapes, args.rounds, &binary, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    let figures = result?;
    println!(
        "StackLedger startup benchmark: spawn to first /health 200, {} rounds each (interleaved)",
        args.rounds
    );
    for (shape, starts) in shapes.iter().zip(&figures) {
        let mut times: Vec<f64> = starts.iter().map(|s| s.elapsed.as_secs_f64()).collect();
        let in_flight: Vec<u64> = starts.iter().map(|s| s.in_flight).collect();
        println!(
            "  {shape}: median {:>6.1} ms, p90 {:>6.1} ms (inFlight at first answer: {in_flight:?})",
            percentile(&mut times, 50.0) * 1e3,
            percentile(&mut times, 90.0) * 1e3,
        );
    }
    let measured = args.interrupted.len();
    if let (Some(first), Some(last)) = (figures.first(), figures[..measured].last()) {
        let median = |starts: &[Start]| {
            let mut times: Vec<f64> = starts.iter().map(|s| s.elapsed.as_secs_f64()).collect();
            percentile(&mut times, 50.0)
        };
        println!(
            "  ratio median({})/median({}) = {:.2}",
            args.interrupted.last().copied().unwrap_or_default(),
            args.interrupted.first().copied().unwrap_or_default(),
            ratio(median(last), median(first))
        );
    }
    Ok(())
}

/// Every round of every number, in the order `interrupted` lists them; per number its starts.
async fn measure(
    shapes: &[Shape],
    rounds: usize,
    binary: &Path,
    work: &Path,
) -> anyhow::Result<Vec<Vec<Start>>> {
    let key = ApiKey::new(KEY).context("the bench key is a valid key")?;
    let mut options = SimulatorOptions::new(key, 13);
    options.build_duration = Duration::from_secs(600);
    let simulator = Simulator::start("127.0.0.1:0".parse()?, options).await?;
    let mut sources = Vec::new();
    for (k, &shape) in shapes.iter().enumerate() {
        let source = work.join(format!("source-{k}"));
        data_dir_of(&source, shape).await?;
        sources.push(source);
    }
    let mut figures: Vec<Vec<Start>> = shapes.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (source, starts) in sources.iter().zip(&mut figures) {
            let data_dir = work.join(format!("round-{round}"));
            copy_dir(source, &data_dir)?;
            starts.push(time_start(binary, &data_dir, &simulator).await?);
            std::fs::remove_dir_all(&data_dir)?;
        }
    }
    Ok(figures)
}

/// Leaves `shape.deployments` deployments in `<dir>/ledger` as a portal stopped in their first
/// phase leaves them (or, for the control, finished), written with the library as the portal
/// writes its ledger.
async fn data_dir_of(dir: &Path, shape: Shape) -> anyhow::Result<()> {
    let disk = DiskOptions {
        dir: dir.join("ledger"),
        limits: LedgerOptions::default(),
        mirror: None,
    };
    let ledger =
        Ledger::open_on_disk(&disk, Arc::new(SystemClock), Arc::new(LiveReadModel::new()))?;
    let written: Vec<anyhow::Result<()>> = futures_util::stream::iter(0..shape.deployments)
        .map(|k| write_one(&ledger, k, shape.finished))
        .buffer_unordered(32)
        .collect()
        .await;
    ledger.shutdown().await;
    drop(ledger);
    written.into_iter().collect()
}

async fn write_one(ledger: &Ledger, k: usize, finished: bool) -> anyhow::Result<()> {
    let name = format!("boot{k:04}");
    let requested = Event::DeploymentRequested {
        name: name.clone(),
        image: "ghcr.io/example/stack:1.0".to_owned(),
        domain: format!("{name}.ai.flexinit.nl"),
        port: 8080,
        client: "c1a2f3".to_owned(),
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let mut events = vec![
        requested,
        Event::PhaseEntered {
            phase: Phase::Initializing,
        },
    ];
    if finished {
        let url = format!("https://{name}.ai.flexinit.nl");
        events.push(Event::DeploymentSucceeded { url });
    }
    ledger
        .append(
            RandomIds.deployment_id(),
            ExpectedVersion::Exact(StreamVersion::EMPTY),
            events.into_iter().map(NewEvent::new).collect(),
        )
        .await?;
    Ok(())
}

/// Copies the directory tree `from` to `to` (files and directories only, as sled leaves them).
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Spawns the portal on `data_dir` and times it to its first `/health` 200; stops it after.
async fn time_start(
    binary: &Path,
    data_dir: &Path,
    simulator: &Simulator,
) -> anyhow::Result<Start> {
    let port = free_port()?;
    let mut command = portal_command(binary, data_dir, simulator, port);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let url = format!("http://127.0.0.1:{port}/health");
    let spawned = Instant::now();
    let mut child = command.spawn().context("the portal starts")?;
    let first = first_health(&http, &url, &mut child, spawned).await;
    stop(child).await?;
    first
}

/// A free loopback port (bound, then let go).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The release portal on `data_dir`, listening on `port`, against `simulator`, quiet.
pub(crate) fn portal_command(
    binary: &Path,
    data_dir: &Path,
    simulator: &Simulator,
    port: u16,
) -> Command {
    let mut command = Command::new(binary);
    command
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--data-dir={}", data_dir.display()))
        .arg(format!("--dokploy-url={}", simulator.origin()))
        .arg(format!("--dokploy-api-key={KEY}"))
        .arg(format!("--health-url={}", simulator.health_url_template()))
        .arg(format!("--admin-token={ADMIN_TOKEN}"))
        .env_remove("RUST_LOG")
        .env_remove("DOKPLOY_URL")
        .env_remove("DOKPLOY_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Polls `url` until it answers 200 (or the portal exits, or [`START_MAX`] passes).
async fn first_health(
    http: &reqwest::Client,
    url: &str,
    child: &mut Child,
    spawned: Instant,
) -> anyhow::Result<Start> {
    loop {
        if let Ok(response) = http.get(url).send().await
            && response.status() == 200
        {
            let elapsed = spawned.elapsed();
            let body: Value = response.json().await?;
            let in_flight = body["deployments"]["inFlight"]
                .as_u64()
                .with_context(|| format!("/health shows the deployments in flight: {body}"))?;
            return Ok(Start { elapsed, in_flight });
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the portal exited before /health answered 200: {status}");
        }
        anyhow::ensure!(
            spawned.elapsed() < START_MAX,
            "/health did not answer 200 within {START_MAX:?}"
        );
        tokio::time::sleep(RETRY).await;
    }
}

/// SIGTERM, then at most [`STOP_MAX`] for the exit, then SIGKILL.
async fn stop(child: Child) -> anyhow::Result<()> {
    stop_within(child, STOP_MAX).await
}

/// SIGTERM, then at most `wait` for the exit, then SIGKILL.
pub(crate) async fn stop_within(mut child: Child, wait: Duration) -> anyhow::Result<()> {
    use rustix::process::{Pid, Signal, kill_process};
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    kill_process(Pid::from_child(&child), Signal::TERM)?;
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill()?;
    child.wait()?;
    anyhow::bail!("the portal was still running {wait:?} after SIGTERM")
}

/// The `p`-th percentile (0..=100) of `values` by the nearest-rank method; 0 for none.
pub(crate) fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = (p / 100.0 * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// `numerator / denominator`, or NaN when the denominator is not positive.
pub(crate) fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::{percentile, ratio};

    #[test]
    fn the_median_and_p90_of_five_rounds_are_the_third_and_the_fifth_fastest() {
        let mut rounds = [40.0, 10.0, 50.0, 20.0, 30.0];
        assert_eq!(percentile(&mut rounds, 50.0), 30.0);
        assert_eq!(percentile(&mut rounds, 90.0), 50.0);
        let mut ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&mut ten, 50.0), 5.0);
        assert_eq!(percentile(&mut ten, 90.0), 9.0);
        assert_eq!(percentile(&mut [7.0], 90.0), 7.0);
        assert_eq!(percentile(&mut [], 50.0), 0.0);
    }

    #[test]
    fn the_ratio_of_two_medians_is_nan_when_the_baseline_is_zero() {
        assert_eq!(ratio(30.0, 20.0), 1.5);
        assert!(ratio(1.0, 0.0).is_nan());
    }
}
