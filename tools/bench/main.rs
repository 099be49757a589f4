//! `stackledger-bench`: the ledger benchmark, and a load generator used by the crash tests.
//!
//! `stackledger-bench ledger` measures, in one run on one disk, the raw limits (write +
//! fdatasync of 200-byte records, one and in batches; sled inserts with no flush), then the
//! ledger (1, 16 and 64 concurrent durable appenders; open + verify + fold of a large log next
//! to sled's raw scan of it; disk bytes per event), and prints each ledger figure beside its
//! raw reference and the ratio.
//!
//! `stackledger-bench append --data-dir DIR` appends without end from several tasks and
//! prints every acknowledged seq on its own line, so that a test can kill it mid-stream and
//! check that every printed seq survived.

#![allow(clippy::print_stdout)]

mod drive;
mod http_bench;
mod ledger_bench;
mod load;
mod orchestrator_bench;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "stackledger-bench",
    about = "StackLedger benchmarks and load generators"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The ledger benchmark (figures for README's Performance section).
    Ledger {
        /// Directory on the disk to measure (a temporary directory inside it is used).
        #[arg(long, default_value = "target/bench")]
        dir: PathBuf,
        /// Events in the log that is reopened for the open + verify + fold figure.
        #[arg(long, default_value_t = 1_000_000)]
        open_events: u64,
        /// Seconds each trial of each concurrency level runs.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Concurrency levels to measure.
        #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
        appenders: Vec<usize>,
    },
    /// The orchestrator benchmark (figures for README's Performance section).
    Orchestrator {
        /// Directory for the ledger (a temporary directory inside it is used).
        #[arg(long, default_value = "target/bench")]
        dir: PathBuf,
        /// Concurrent deployments.
        #[arg(long, default_value_t = 1000)]
        deployments: usize,
    },
    /// `GET /api/deployment/:id` against a minimal axum JSON handler.
    Http {
        /// Directory for the ledger.
        #[arg(long, default_value = "target/bench")]
        dir: PathBuf,
        /// Seconds each side is loaded.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Concurrent keep-alive connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
    },
    /// SSE fan-out: many subscribers on one deployment that appends at a steady rate.
    Sse {
        /// Directory for the ledger.
        #[arg(long, default_value = "target/bench")]
        dir: PathBuf,
        /// Subscribers.
        #[arg(long, default_value_t = 5000)]
        subscribers: usize,
        /// Events appended per second.
        #[arg(long, default_value_t = 20)]
        rate: u64,
        /// Seconds of appending.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Recovers what a crash interrupted, then deploys NAMES one after another through the
    /// portal's own wiring (crash tests run it with --crash-at).
    Drive(drive::DriveArgs),
    /// Appends from several tasks until killed, printing each acknowledged seq.
    Append {
        /// The ledger directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Concurrent appenders.
        #[arg(long, default_value_t = 4)]
        appenders: usize,
        /// Stop after this many events per appender.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Ledger {
            dir,
            open_events,
            seconds,
            appenders,
        } => runtime.block_on(ledger_bench::run(&dir, open_events, seconds, &appenders)),
        Command::Orchestrator { dir, deployments } => {
            runtime.block_on(orchestrator_bench::run(&dir, deployments))
        }
        Command::Http {
            dir,
            seconds,
            connections,
        } => runtime.block_on(http_bench::requests(&dir, seconds, connections)),
        Command::Sse {
            dir,
            subscribers,
            rate,
            seconds,
        } => runtime.block_on(http_bench::fan_out(&dir, subscribers, rate, seconds)),
        Command::Drive(args) => runtime.block_on(drive::run(args)),
        Command::Append {
            data_dir,
            appenders,
            events,
        } => runtime.block_on(load::append_until_killed(&data_dir, appenders, events)),
    }
}
