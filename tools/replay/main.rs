//! `stackledger-replay`: rebuild, explain, verify and export deployments from the ledger
//! (DESIGN §7), with the same fold the server runs.
//!
//! Commands: list, show, timeline, verify, redrive, export, and ops (the operator actions).
//! Sources: `--data-dir DIR` (a stopped server's data directory), `--file FILE` (an NDJSON
//! export), or `--from URL --token T` (a running server's export endpoint). Exit codes: 0 ok,
//! 1 verification failure, 2 usage or I/O error.
//!
//! It never writes to the ledger it reads: a data directory is opened read-only, a server is
//! only sent GETs, and redrive runs on a scratch ledger in memory. The one file it writes is
//! `export --out`'s.

#![allow(clippy::print_stdout)]

mod ops;
mod redrive;
mod server;
mod show;
mod source;
mod timeline;
mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use stackledger::ids::DeploymentId;
use stackledger::ledger::envelope::{Envelope, Hash};

use show::{list, show};
use timeline::timeline;

#[derive(Debug, Parser)]
#[command(
    name = "stackledger-replay",
    version,
    about = "Rebuild, explain, verify and export StackLedger deployments"
)]
struct Cli {
    #[command(flatten)]
    source: source::SourceArgs,
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Deployments, newest first.
    List(ListArgs),
    /// A deployment's state rebuilt from the log, optionally as of a seq.
    Show {
        /// The deployment (`dep_…`).
        id: DeploymentId,
        /// Fold only the events up to this seq.
        #[arg(long)]
        at: Option<u64>,
    },
    /// Every event of a deployment with its time offset, phase, call, attempt and outcome.
    Timeline {
        /// The deployment.
        id: DeploymentId,
    },
    /// Hash chain, seq and version continuity; with --head, that the log still ends there.
    Verify {
        /// Only report on this deployment (the whole chain is still checked).
        id: Option<DeploymentId>,
        /// A receipt (`headHash`) the log must still end at.
        #[arg(long)]
        head: Option<Hash>,
    },
    /// Run the current orchestrator against the recorded Dokploy answers (never the network)
    /// and show where its calls or decisions first differ from the recorded ones.
    Redrive {
        /// The deployment.
        id: DeploymentId,
        /// Answer a recorded call differently: CALL=STATUS (for example 7=503).
        #[arg(long = "override")]
        overrides: Vec<String>,
        /// The health timeout the recorded run used.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        health_timeout: std::time::Duration,
        /// The health interval the recorded run used.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        health_interval: std::time::Duration,
    },
    /// Operator actions (tokens added or revoked, cancels asked, exports, verifications,
    /// refused authentication), oldest first.
    Ops,
    /// NDJSON of the whole log or of one deployment.
    Export {
        /// Only this deployment's events.
        id: Option<DeploymentId>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Only this status (in_progress, success, failure).
    #[arg(long)]
    status: Option<String>,
    /// Only names containing this text.
    #[arg(long)]
    name: Option<String>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(error) if error.is::<source::DamageFound>() => {
            eprintln!("stackledger-replay: FAILED: {error:#}");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("stackledger-replay: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let loaded = source::load(&cli.source)?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::List(args) => list(&loaded.events, &args, cli.json, &mut out),
        Command::Show { id, at } => show(&loaded.events, id, at, cli.json, &mut out),
        Command::Timeline { id } => timeline(&loaded.events, id, cli.json, &mut out),
        Command::Verify { id, head } => verify::run(&loaded, id, head, cli.json, &mut out),
        Command::Export { id, out: file } => export(&loaded.events, id, file, &mut out),
        Command::Ops => ops::ops(&loaded.events, cli.json, &mut out),
        Command::Redrive {
            id,
            overrides,
            health_timeout,
            health_interval,
        } => {
            let redriven = redrive::run(&redrive::Redrive {
                events: &loaded.events,
                id,
                overrides: &overrides,
                health_timeout,
                health_interval,
            })?;
            let diverged = redrive::report(&redriven, cli.json, &mut out)?;
            Ok(if diverged {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn export(
    events: &[Envelope],
    id: Option<DeploymentId>,
    file: Option<PathBuf>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    for envelope in events.iter().filter(|e| id.is_none_or(|id| e.stream == id)) {
        text.push_str(&serde_json::to_string(envelope)?);
        text.push('\n');
    }
    match file {
        Some(path) => std::fs::write(&path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => out.write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
