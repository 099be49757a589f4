//! `stackledger-replay`: rebuild, explain, verify and export deployments from the ledger
//! (DESIGN §7), with the same fold the server runs.
//!
//! Sources: `--data-dir DIR` (a stopped server's data directory), `--file FILE` (an NDJSON
//! export), or `--from URL --token T` (a running server's export endpoint). Exit codes: 0 ok,
//! 1 verification failure, 2 usage or I/O error.

#![allow(clippy::print_stdout)]

mod redrive;
mod server;
mod source;
mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use stackledger::deployment::{DeploymentStatus, Event};
use stackledger::ids::{DeploymentId, Seq};
use stackledger::ledger::envelope::{Envelope, Hash};
use stackledger::projection::{DeploymentState, DeploymentView, ListQuery, ReadModel};

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

fn list(
    events: &[Envelope],
    args: &ListArgs,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let status = match args.status.as_deref() {
        None => None,
        Some("in_progress") => Some(DeploymentStatus::InProgress),
        Some("success") => Some(DeploymentStatus::Success),
        Some("failure") => Some(DeploymentStatus::Failure),
        Some(other) => anyhow::bail!("unknown status {other:?} (in_progress, success, failure)"),
    };
    let model = ReadModel::fold(events);
    let query = ListQuery {
        status,
        name: args.name.clone(),
        limit: usize::MAX,
        before: None,
    };
    let found = model.list(&query);
    if json {
        let rows: Vec<_> = found
            .iter()
            .map(|state| DeploymentView::of(state))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        for state in found {
            writeln!(
                out,
                "{}  {:<12} {:<24} {:>3}%  {}",
                state.id,
                state.status.as_str(),
                state.phase.as_str(),
                state.progress,
                state.name
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn state_of(
    events: &[Envelope],
    id: DeploymentId,
    at: Option<u64>,
) -> anyhow::Result<DeploymentState> {
    let until = Seq(at.unwrap_or(u64::MAX));
    let model = ReadModel::fold_until(events, until);
    model.get(id).cloned().with_context(|| {
        format!(
            "no deployment {id} in this log{}",
            at.map(|s| format!(" as of seq {s}")).unwrap_or_default()
        )
    })
}

fn show(
    events: &[Envelope],
    id: DeploymentId,
    at: Option<u64>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let state = state_of(events, id, at)?;
    let view = DeploymentView::of(&state);
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "{}  {}  ({})", view.id, view.stack_name, view.url)?;
    writeln!(
        out,
        "status {:?}, phase {}, {}%: {}",
        view.status, view.phase, view.progress, view.message
    )?;
    if let Some(error) = &view.error {
        writeln!(
            out,
            "failed in {} ({}): {}; rollback {}",
            error.phase,
            error.code,
            error.message,
            view.rollback.unwrap_or("not finished")
        )?;
    }
    writeln!(
        out,
        "as of seq {}, receipt {}",
        view.last_seq, view.head_hash
    )?;
    Ok(ExitCode::SUCCESS)
}

fn timeline(
    events: &[Envelope],
    id: DeploymentId,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let own: Vec<&Envelope> = events.iter().filter(|e| e.stream == id).collect();
    let first = own
        .first()
        .with_context(|| format!("no deployment {id} in this log"))?;
    let start = first.at;
    let mut state: Option<DeploymentState> = None;
    let mut rows = Vec::new();
    for envelope in own {
        match state.as_mut() {
            Some(state) => state.apply(envelope),
            None => state = DeploymentState::start(envelope),
        }
        let phase = state.as_ref().map_or("initializing", |s| s.phase.as_str());
        let (mark, detail) = describe(&envelope.event);
        rows.push(json!({
            "seq": envelope.seq.0, "offsetMs": envelope.at - start, "phase": phase,
            "kind": envelope.event.kind().name(), "cause": envelope.cause.map(|c| c.0),
            "detail": detail, "mark": mark,
        }));
    }
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for row in rows {
        writeln!(
            out,
            "{:>8.3}s  #{:<6} {:<2} {:<24} {:<22} {}",
            row["offsetMs"].as_i64().unwrap_or(0) as f64 / 1000.0,
            row["seq"],
            row["mark"].as_str().unwrap_or(""),
            row["phase"].as_str().unwrap_or(""),
            row["kind"].as_str().unwrap_or(""),
            row["detail"].as_str().unwrap_or("")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A mark that makes retries, breaker trips, polls and rollback steps stand out, and a detail.
fn describe(event: &Event) -> (&'static str, String) {
    match event {
        Event::ApiCallStarted {
            call,
            attempt,
            method,
            endpoint,
        } => (
            "",
            format!(
                "call {call} attempt {attempt}: {} {endpoint}",
                method.as_str()
            ),
        ),
        Event::ApiCallSucceeded {
            call,
            attempt,
            status,
            duration_ms,
            ..
        } => (
            "",
            format!("call {call} attempt {attempt}: {status} in {duration_ms} ms"),
        ),
        Event::ApiCallFailed {
            call,
            attempt,
            status,
            error,
            duration_ms,
            retry_in_ms,
        } => {
            let status = status.map_or("no answer".to_owned(), |s| s.to_string());
            match retry_in_ms {
                Some(delay) => (
                    "↻",
                    format!(
                        "call {call} attempt {attempt}: {status} in {duration_ms} ms, retry in {delay} ms ({error})"
                    ),
                ),
                None => (
                    "✗",
                    format!(
                        "call {call} attempt {attempt}: {status} in {duration_ms} ms, given up ({error})"
                    ),
                ),
            }
        }
        Event::HealthCheckAttempt {
            n,
            status,
            error,
            duration_ms,
        } => {
            let answer =
                status.map_or_else(|| error.clone().unwrap_or_default(), |s| s.to_string());
            ("♥", format!("poll {n}: {answer} in {duration_ms} ms"))
        }
        Event::RollbackStepSucceeded { kind, id } => ("⟲", format!("deleted {kind} {id}")),
        Event::RollbackStepFailed { kind, id, error } => {
            ("⟲", format!("could not delete {kind} {id}: {error}"))
        }
        Event::RollbackStarted => ("⟲", "rollback started".to_owned()),
        Event::RollbackFinished { complete } => {
            ("⟲", format!("rollback finished, complete: {complete}"))
        }
        Event::DeploymentFailed {
            phase,
            code,
            message,
        } => ("✗", format!("{phase} failed ({code}): {message}")),
        Event::CircuitOpened | Event::CircuitHalfOpened | Event::CircuitClosed => {
            ("⚡", event.kind().name().to_owned())
        }
        other => ("", serde_json::to_string(other).unwrap_or_default()),
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
