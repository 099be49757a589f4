//! Load generation: realistic deployment events, and the append-until-killed child process of
//! the crash tests.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use stackledger::clock::SystemClock;
use stackledger::deployment::{
    ApiAnswer, Event, HttpMethod, Phase, Procedure, ProjectAnswer, ResourceId, ResourceKind,
};
use stackledger::ids::{DeploymentId, IdGen, RandomIds, StreamVersion};
use stackledger::ledger::{ExpectedVersion, Ledger, NewEvent};

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

/// The `n`th event of a deployment-like stream (after its request): calls, outcomes with
/// typed answers, phases, resources and health polls, in the proportions a deployment has.
pub(crate) fn deployment_event(n: u64) -> Event {
    let call = u32::try_from(n / 6 + 1).unwrap_or(u32::MAX);
    let id = || ResourceId(format!("prj_{:017}", n % 100_000_000_000_000_000));
    match n % 6 {
        0 => Event::ApiCallStarted {
            call,
            attempt: 1,
            method: HttpMethod::Post,
            endpoint: Procedure::ApplicationCreate.name().to_owned(),
        },
        1 => Event::ApiCallSucceeded {
            call,
            attempt: 1,
            status: 200,
            duration_ms: 14,
            answer: ApiAnswer::Project(Some(ProjectAnswer {
                project_id: id(),
                environment_id: Some(id()),
            })),
        },
        2 => Event::PhaseEntered {
            phase: Phase::CreatingApplication,
        },
        3 => Event::ResourceCreated {
            kind: ResourceKind::Application,
            id: id(),
        },
        4 => Event::HealthCheckAttempt {
            n: call,
            status: Some(503),
            error: None,
            duration_ms: 9,
        },
        _ => Event::ApiCallFailed {
            call,
            attempt: 1,
            status: Some(503),
            error: "Service Unavailable".to_owned(),
            duration_ms: 31,
            retry_in_ms: Some(2_000),
        },
    }
}

/// Appends from `appenders` tasks, `events` per task, printing every acknowledged seq.
pub(crate) async fn append_until_killed(
    dir: &Path,
    appenders: usize,
    events: u64,
) -> anyhow::Result<()> {
    let ledger = Ledger::open(dir, Arc::new(SystemClock), Arc::new(()))
        .with_context(|| format!("cannot open the ledger in {}", dir.display()))?;
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    let mut tasks = Vec::new();
    for _ in 0..appenders {
        let ledger = ledger.clone();
        let stdout = Arc::clone(&stdout);
        tasks.push(tokio::spawn(async move {
            let stream = RandomIds.deployment_id();
            for n in 0..events {
                let event = if n == 0 {
                    requested(stream)
                } else {
                    deployment_event(n)
                };
                let version = StreamVersion(u32::try_from(n)?);
                let written = ledger
                    .append_one(
                        stream,
                        ExpectedVersion::Exact(version),
                        NewEvent::new(event),
                    )
                    .await?;
                let mut out = stdout
                    .lock()
                    .map_err(|_| anyhow::anyhow!("stdout poisoned"))?;
                writeln!(out, "{}", written.seq)?;
                out.flush()?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    ledger.shutdown().await;
    Ok(())
}
