//! Load generation: realistic deployment events, and the append-until-killed child process of
//! the crash tests.
//!
//! The appender never prints a seq before the ledger acknowledged it as durable, so a printed
//! seq that a restart does not find is a lost acknowledgement.

use std::io::Write;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use stackledger::clock::SystemClock;
use stackledger::crash::CrashAt;
use stackledger::deployment::{
    ApiAnswer, Event, HttpMethod, Phase, Procedure, ProjectAnswer, ResourceId, ResourceKind,
};
use stackledger::ids::{DeploymentId, IdGen, RandomIds, StreamVersion};
use stackledger::ledger::{DiskOptions, ExpectedVersion, Ledger, NewEvent, Projector};
use stackledger::projection::LiveReadModel;

/// `stackledger-bench append`: appends until killed, printing each acknowledged seq.
#[derive(Debug, clap::Args)]
pub(crate) struct AppendArgs {
    /// The ledger directory.
    #[arg(long)]
    data_dir: PathBuf,
    /// Concurrent appenders.
    #[arg(long, default_value_t = 4)]
    appenders: usize,
    /// Stop after this many events per appender.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Abort at this crash point's Nth occurrence (`POINT:N`, as the portal's `--crash-at`).
    #[arg(long)]
    crash_at: Option<CrashAt>,
    /// Take a checkpoint every this many events (0: never), with the portal's read model as
    /// the projector so that the checkpoints hold a snapshot a reopen restores.
    #[arg(long, default_value_t = 0)]
    checkpoint_events: u64,
}

/// The request that opens a load stream.
pub(crate) fn requested(stream: DeploymentId) -> Event {
    let name = format!("load-{}", &stream.as_uuid().simple().to_string()[20..]);
    Event::DeploymentRequested {
        domain: format!("{name}.ai.flexinit.nl"),
        name,
        image: "ghcr.io/example/stack:1.0".to_owned(),
        port: 8080,
        client: "9f2c4e1ab37d5c60".to_owned(),
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// The `n`th event (from 0) of a load stream: its request, then deployment-like events.
pub(crate) fn event_at(stream: DeploymentId, n: u64) -> Event {
    if n == 0 {
        requested(stream)
    } else {
        deployment_event(n)
    }
}

/// The `n`th event of a deployment-like stream (after its request): calls, outcomes with
/// typed answers, phases, resources and health polls, in the proportions a deployment has.
pub(crate) fn deployment_event(n: u64) -> Event {
    let call = u32::try_from(n / 6 + 1).unwrap_or(u32::MAX);
    let id = ResourceId(format!("prj_{:017}", n % 100_000_000_000_000_000));
    match n % 6 {
        0 => call_started(call),
        1 => call_succeeded(call, id),
        2 => Event::PhaseEntered {
            phase: Phase::CreatingApplication,
        },
        3 => Event::ResourceCreated {
            kind: ResourceKind::Application,
            id,
        },
        4 => health_failed(call),
        _ => call_retried(call),
    }
}

fn call_started(call: u32) -> Event {
    Event::ApiCallStarted {
        call,
        attempt: 1,
        method: HttpMethod::Post,
        endpoint: Procedure::ApplicationCreate.name().to_owned(),
    }
}

fn call_succeeded(call: u32, id: ResourceId) -> Event {
    let project = ProjectAnswer {
        project_id: id.clone(),
        environment_id: Some(id),
    };
    Event::ApiCallSucceeded {
        call,
        attempt: 1,
        status: 200,
        duration_ms: 14,
        answer: ApiAnswer::Project(Some(project)),
    }
}

fn health_failed(n: u32) -> Event {
    Event::HealthCheckAttempt {
        n,
        status: Some(503),
        error: None,
        duration_ms: 9,
    }
}

fn call_retried(call: u32) -> Event {
    Event::ApiCallFailed {
        call,
        attempt: 1,
        status: Some(503),
        error: "Service Unavailable".to_owned(),
        duration_ms: 31,
        retry_in_ms: Some(2_000),
    }
}

/// Appends from `appenders` tasks, `events` per task, printing every acknowledged seq.
pub(crate) async fn append_until_killed(args: AppendArgs) -> anyhow::Result<()> {
    let dir = &args.data_dir;
    let mut disk = DiskOptions::new(dir);
    disk.limits.crash_at = args.crash_at;
    disk.limits.checkpoint_events = NonZeroU64::new(args.checkpoint_events);
    let projector: Arc<dyn Projector> = match disk.limits.checkpoint_events {
        Some(_) => Arc::new(LiveReadModel::new()),
        None => Arc::new(()),
    };
    let ledger = Ledger::open_on_disk(&disk, Arc::new(SystemClock), projector)
        .with_context(|| format!("cannot open the ledger in {}", dir.display()))?;
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    let tasks: Vec<_> = (0..args.appenders)
        .map(|_| {
            tokio::spawn(append_printing(
                ledger.clone(),
                Arc::clone(&stdout),
                args.events,
            ))
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    ledger.shutdown().await;
    Ok(())
}

/// One appender: a fresh stream of `events` events, each seq printed once acknowledged.
async fn append_printing(
    ledger: Ledger,
    stdout: Arc<Mutex<std::io::Stdout>>,
    events: u64,
) -> anyhow::Result<()> {
    let stream = RandomIds.deployment_id();
    for n in 0..events {
        let version = ExpectedVersion::Exact(StreamVersion(u32::try_from(n)?));
        let event = NewEvent::new(event_at(stream, n));
        let written = ledger.append_one(stream, version, event).await?;
        let mut out = stdout
            .lock()
            .map_err(|_| anyhow::anyhow!("stdout poisoned"))?;
        writeln!(out, "{}", written.seq)?;
        out.flush()?;
    }
    Ok(())
}
