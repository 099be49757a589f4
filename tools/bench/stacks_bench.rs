//! The scale benchmark of issue 12: deployments per second through the portal's own wiring
//! (`App::build`, the real client over HTTP) against the simulator, measured at several numbers
//! of stacks that already exist on the simulated Dokploy (1,000, 10,000 and 30,000 by default).
//!
//! The existing stacks are written straight into the simulator through its Dokploy API (a
//! project, an application and a domain each, as a deployment leaves them), which takes seconds
//! instead of the minutes the portal would need; then one batch of deployments is timed at each
//! level, `--running-max` at a time. It never hides a failed run: every figure is printed, then
//! the benchmark fails unless every timed deployment succeeded.

use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser};
use futures_util::StreamExt;
use serde_json::{Value, json};
use stackledger::app::App;
use stackledger::clock::{Stopwatch, SystemClock};
use stackledger::config::{ApiKey, Cli};
use stackledger::deployment::Procedure;
use stackledger::ids::RandomIds;
use stackledger::orchestrator::Outcome;
use stackledger::simulator::{Simulator, SimulatorOptions};

/// `stackledger-bench stacks`.
#[derive(Debug, Args)]
pub(crate) struct StacksArgs {
    /// Directory for the ledgers (a temporary directory inside it is used per level).
    #[arg(long, default_value = "target/bench")]
    dir: std::path::PathBuf,
    /// The numbers of existing stacks to measure at, ascending.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,30000")]
    stacks: Vec<usize>,
    /// Deployments timed at each level.
    #[arg(long, default_value_t = 300)]
    deployments: usize,
    /// Deployments in flight at once (the portal's --running-max).
    #[arg(long, default_value_t = 16)]
    running_max: usize,
}

const KEY: &str = "bench-simulator-key-0001";

/// Seeds the simulator level by level and times a batch of deployments at each.
pub(crate) async fn run(args: StacksArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.stacks.windows(2).all(|pair| pair[0] <= pair[1]),
        "--stacks must be ascending"
    );
    let key = ApiKey::new(KEY).context("the bench key is a valid key")?;
    let simulator = Simulator::start(
        "127.0.0.1:0".parse().context("an address")?,
        SimulatorOptions::new(key, 12),
    )
    .await?;
    let api = simulator.origin().join("api/").context("the API URL")?;
    println!(
        "StackLedger scale benchmark: {} deployments ({} at once) at each number of existing stacks",
        args.deployments, args.running_max
    );
    let mut seeded = 0usize;
    let mut figures = Vec::new();
    for (level, &stacks) in args.stacks.iter().enumerate() {
        let seeding = Stopwatch::start();
        seed(&api, seeded, stacks).await?;
        seeded = stacks;
        let seeding = seeding.elapsed();
        let (rate, succeeded) = timed_batch(&args, &simulator, level).await?;
        println!(
            "  {stacks:>6} existing stacks: {rate:>7.1} deployments/s ({succeeded} of {} succeeded; seeding took {:.1} s)",
            args.deployments,
            seeding.as_secs_f64()
        );
        anyhow::ensure!(
            succeeded == args.deployments,
            "not every deployment succeeded"
        );
        figures.push((stacks, rate));
    }
    if let (Some(first), Some(last)) = (figures.first(), figures.last()) {
        let fastest = figures.iter().map(|f| f.1).fold(f64::MIN, f64::max);
        let slowest = figures.iter().map(|f| f.1).fold(f64::MAX, f64::min);
        println!(
            "  spread: slowest/fastest = {:.2} (target >= 0.80); {} stacks vs {}: {:.2}",
            slowest / fastest,
            last.0,
            first.0,
            last.1 / first.1
        );
    }
    Ok(())
}

/// Writes stacks `from..to` into the simulated Dokploy: a project, an application and a domain
/// each, 16 stacks at a time.
async fn seed(api: &reqwest::Url, from: usize, to: usize) -> anyhow::Result<()> {
    // rustls needs one process-wide crypto provider; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(from..to)
        .map(|n| seed_one(&http, api, n))
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn seed_one(http: &reqwest::Client, api: &reqwest::Url, n: usize) -> anyhow::Result<()> {
    let name = format!("existing-{n}");
    let created = post(http, api, Procedure::ProjectCreate, json!({ "name": name })).await?;
    let environment = created["environment"]["environmentId"].clone();
    let input = json!({
        "name": name, "appName": name, "environmentId": environment, "sourceType": "docker",
    });
    let application = post(http, api, Procedure::ApplicationCreate, input).await?;
    let input = json!({
        "host": format!("{name}.bench.example"), "applicationId": application["applicationId"],
        "domainType": "application", "port": 8080, "https": true,
        "certificateType": "letsencrypt", "path": "/",
    });
    post(http, api, Procedure::DomainCreate, input).await?;
    Ok(())
}

async fn post(
    http: &reqwest::Client,
    api: &reqwest::Url,
    procedure: Procedure,
    input: Value,
) -> anyhow::Result<Value> {
    let response = http
        .post(api.join(procedure.name())?)
        .header("x-api-key", KEY)
        .json(&input)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{procedure} answered {status}: {body}");
    Ok(body)
}

/// Deploys the batch of one level through a fresh portal on the simulator; the rate and how
/// many succeeded.
async fn timed_batch(
    args: &StacksArgs,
    simulator: &Simulator,
    level: usize,
) -> anyhow::Result<(f64, usize)> {
    let work = args
        .dir
        .join(format!("stacks-bench-{}-{level}", std::process::id()));
    let flags = [
        "stackledger".to_owned(),
        format!("--data-dir={}", work.display()),
        format!("--dokploy-url={}", simulator.origin()),
        format!("--dokploy-api-key={KEY}"),
        format!("--health-url={}", simulator.health_url_template()),
        "--health-interval=1ms".to_owned(),
        "--deploy-poll-interval=1ms".to_owned(),
        format!("--running-max={}", args.running_max),
        // The timed batch must never be refused by the portal's own rate limit.
        "--deploy-rate=1000000".to_owned(),
    ];
    let config = Cli::try_parse_from(flags)?.serve;
    let app = App::build(&config, Arc::new(SystemClock), Arc::new(RandomIds)).await?;
    let slots = Arc::new(tokio::sync::Semaphore::new(args.running_max));
    let wall = Stopwatch::start();
    let mut runs = Vec::with_capacity(args.deployments);
    for n in 0..args.deployments {
        let slot = Arc::clone(&slots).acquire_owned().await?;
        let started = app
            .orchestrator
            .deploy(&format!("timed-{level}-{n}"), "bench")
            .await?;
        runs.push(tokio::spawn(async move {
            let outcome = started.task.await;
            drop(slot);
            outcome
        }));
    }
    let mut succeeded = 0usize;
    for run in runs {
        if let Outcome::Succeeded(_) = run.await?.context("a run")?.context("a run")? {
            succeeded += 1;
        }
    }
    let rate = args.deployments as f64 / wall.elapsed().as_secs_f64().max(f64::EPSILON);
    app.ledger.shutdown().await;
    drop(app);
    let _ = std::fs::remove_dir_all(&work);
    Ok((rate, succeeded))
}
