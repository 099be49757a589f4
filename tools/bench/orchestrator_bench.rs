//! The orchestrator benchmark: N concurrent deployments against the in-process simulator with
//! no latency and millisecond intervals; wall time, events per deployment, process CPU per
//! deployment (simulator included) and peak memory.
//!
//! It never hides a failed run: the figures are printed, then the benchmark fails unless every
//! deployment succeeded.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use stackledger::app::App;
use stackledger::clock::{Stopwatch, SystemClock};
use stackledger::config::Cli;
use stackledger::ids::RandomIds;
use stackledger::orchestrator::Outcome;

pub(crate) async fn run(dir: &std::path::Path, deployments: usize) -> anyhow::Result<()> {
    let work = dir.join(format!("orchestrator-bench-{}", std::process::id()));
    let flags = [
        "stackledger".to_owned(),
        format!("--data-dir={}", work.display()),
        "--health-interval=1ms".to_owned(),
        "--deploy-poll-interval=1ms".to_owned(),
        format!("--running-max={deployments}"),
        // Builds that take no time: the figure is the portal's cost, not a build's.
        "--simulator-build-duration=0s".to_owned(),
    ];
    let config = Cli::try_parse_from(flags)?.serve;
    let app = App::build(&config, Arc::new(SystemClock), Arc::new(RandomIds)).await?;
    let cpu_before = process_cpu_ms();
    let wall = Stopwatch::start();
    let mut runs = Vec::with_capacity(deployments);
    for n in 0..deployments {
        let started = app
            .orchestrator
            .deploy(&format!("bench-{n}"), "bench")
            .await?;
        runs.push(started.task);
    }
    let mut succeeded = 0usize;
    for run in runs {
        if let Outcome::Succeeded(_) = run.await?.context("a run")? {
            succeeded += 1;
        }
    }
    let wall = wall.elapsed();
    let cpu_ms = process_cpu_ms().saturating_sub(cpu_before);
    let events = app.read_model.read().summary().events;
    app.ledger.shutdown().await;
    drop(app);
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "StackLedger orchestrator benchmark: {deployments} concurrent deployments, in-process simulator"
    );
    println!("  succeeded:              {succeeded} of {deployments}");
    println!("  wall time:              {:.2} s", wall.as_secs_f64());
    println!(
        "  events per deployment:  {:.1}",
        events as f64 / deployments as f64
    );
    println!(
        "  process CPU:            {cpu_ms} ms = {:.2} ms per deployment (target <= 5 ms, simulator included)",
        cpu_ms as f64 / deployments as f64
    );
    println!(
        "  peak resident memory:   {} MiB",
        crate::ledger_bench::peak_rss_mib()
    );
    anyhow::ensure!(succeeded == deployments, "not every deployment succeeded");
    Ok(())
}

/// User + system CPU time of this process so far, from /proc/self/stat (clock ticks of 10 ms).
fn process_cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the ')'.
    (ticks(11) + ticks(12)) * 10
}
