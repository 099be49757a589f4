//! `stackledger-bench drive`: the portal's wiring (`App::build`) without HTTP, for crash tests.
//! It recovers every interrupted deployment, waits for them, deploys the given names one after
//! another, prints one JSON line per outcome, and optionally the crash-point counts.
//!
//! It never wires the portal by hand: it builds it from flags through `App::build`, so a crash
//! test exercises the server's own wiring.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use stackledger::app::App;
use stackledger::clock::SystemClock;
use stackledger::config::Cli;
use stackledger::ids::RandomIds;
use stackledger::orchestrator::Outcome;

#[derive(Debug, clap::Args)]
pub(crate) struct DriveArgs {
    /// The portal's data directory.
    #[arg(long)]
    data_dir: PathBuf,
    /// Dokploy (a simulator) origin.
    #[arg(long)]
    dokploy_url: String,
    /// Its key.
    #[arg(long)]
    api_key: String,
    /// Health URL template.
    #[arg(long)]
    health_url: String,
    /// Names to deploy after recovery, comma-separated.
    #[arg(long, value_delimiter = ',')]
    names: Vec<String>,
    /// Abort at POINT:N.
    #[arg(long)]
    crash_at: Option<String>,
    /// Print the crash-point counts at the end.
    #[arg(long)]
    print_counts: bool,
    /// The portal's `--checkpoint-events` (its default when not given).
    #[arg(long)]
    checkpoint_events: Option<u64>,
}

pub(crate) async fn run(args: DriveArgs) -> anyhow::Result<()> {
    let mut flags = vec![
        "stackledger".to_owned(),
        format!("--data-dir={}", args.data_dir.display()),
        format!("--dokploy-url={}", args.dokploy_url),
        format!("--dokploy-api-key={}", args.api_key),
        format!("--health-url={}", args.health_url),
        "--health-timeout=0s".to_owned(),
        "--health-interval=1ms".to_owned(),
        "--deploy-poll-interval=1ms".to_owned(),
    ];
    if let Some(crash_at) = &args.crash_at {
        flags.push(format!("--crash-at={crash_at}"));
    }
    if let Some(every) = args.checkpoint_events {
        flags.push(format!("--checkpoint-events={every}"));
    }
    let config = Cli::try_parse_from(flags)?.serve;
    let app = App::build(&config, Arc::new(SystemClock), Arc::new(RandomIds)).await?;
    let mut out = std::io::stdout();
    for task in app.orchestrator.recover().await.context("recovery")? {
        let outcome = task.await?.context("a recovered run")?;
        writeln!(out, "{}", json!({"recovered": describe(&outcome)}))?;
    }
    for name in &args.names {
        let started = app.orchestrator.deploy(name, "drive").await?;
        let outcome = started.task.await?.context("a run")?;
        writeln!(
            out,
            "{}",
            json!({"name": name, "outcome": describe(&outcome)})
        )?;
    }
    if args.print_counts {
        let counts: serde_json::Map<String, serde_json::Value> = app
            .orchestrator
            .crash_counts()
            .into_iter()
            .map(|(point, count)| (point.as_str().to_owned(), json!(count)))
            .collect();
        writeln!(out, "{}", json!({"counts": counts}))?;
    }
    app.ledger.shutdown().await;
    Ok(())
}

fn describe(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded(_) => "succeeded",
        Outcome::RolledBack { complete: true } => "rolled_back",
        Outcome::RolledBack { complete: false } => "partially_rolled_back",
    }
}
