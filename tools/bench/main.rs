//! `stackledger-bench`: the benchmarks (`ledger`, `orchestrator`, `http`, `sse`) and the load
//! generators of the crash tests (`drive`, `append`). This file only parses the command line
//! and runs one subcommand; it never measures anything itself.
//!
//! `stackledger-bench ledger` measures, in one run on one disk, the raw limits (write +
//! fdatasync of 200-byte records, one and in batches; sled inserts with no flush), then the
//! ledger (1, 16 and 64 concurrent durable appenders; open + verify + fold of a large log next
//! to sled's raw scan of it; disk bytes per event), and prints each ledger figure beside its
//! raw reference and the ratio.
//!
//! `stackledger-bench verify` times the full check of a large log on one thread and on every
//! core, beside a raw scan of the same store.
//!
//! `stackledger-bench lookup` finds one project among 50,000 through `project.search` and
//! through the streamed `project.all`, printing answer bytes, time and peak memory growth.
//!
//! `stackledger-bench startup` times the release portal from spawn to its first `/health` 200
//! on data directories holding 0 and 1,000 interrupted deployments, in interleaved rounds.
//!
//! `stackledger-bench history` writes histories of N realistic finished deployments (10k, 100k,
//! 1M) through the ledger's append path and measures the restarted release portal on each:
//! time to serving, resident memory, ops query latency, disk per event.
//!
//! `stackledger-bench append --data-dir DIR` appends without end from several tasks and
//! prints every acknowledged seq on its own line, so that a test can kill it mid-stream and
//! check that every printed seq survived.

#![allow(clippy::print_stdout)]

mod drive;
mod history_bench;
mod history_build;
mod http_bench;
mod ledger_bench;
mod load;
mod lookup_bench;
mod orchestrator_bench;
mod peer_bench;
mod sse_bench;
mod stacks_bench;
mod startup_bench;
mod verify_bench;

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
    Ledger(ledger_bench::LedgerArgs),
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
    Http(http_bench::HttpArgs),
    /// SSE fan-out: many subscribers on one deployment that appends at a steady rate.
    Sse(sse_bench::SseArgs),
    /// Recovers what a crash interrupted, then deploys NAMES one after another through the
    /// portal's own wiring (crash tests run it with --crash-at).
    Drive(drive::DriveArgs),
    /// Appends from several tasks until killed, printing each acknowledged seq.
    Append(load::AppendArgs),
    /// Deployments per second at 1,000, 10,000 and 30,000 stacks already on Dokploy.
    Stacks(stacks_bench::StacksArgs),
    /// The client's project lookup among many projects: search, then the streamed listing.
    Lookup(lookup_bench::LookupArgs),
    /// Spawn to first `/health` 200 of the release portal with 0 and 1,000 interrupted
    /// deployments to recover (run `cargo build --release` first).
    Startup(startup_bench::StartupArgs),
    /// A restarted release portal on histories of N realistic finished deployments: time to
    /// serving, resident memory, ops query latency, disk per event (build --release first).
    History(history_bench::HistoryArgs),
    /// The full verification of a large log on one thread and on every core, side by side.
    Verify(verify_bench::VerifyArgs),
}

impl Command {
    async fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Ledger(args) => ledger_bench::run(args).await,
            Command::Orchestrator { dir, deployments } => {
                orchestrator_bench::run(&dir, deployments).await
            }
            Command::Http(args) => http_bench::requests(args).await,
            Command::Sse(args) => sse_bench::fan_out(args).await,
            Command::Drive(args) => drive::run(args).await,
            Command::Append(args) => load::append_until_killed(args).await,
            Command::Stacks(args) => stacks_bench::run(args).await,
            Command::Lookup(args) => lookup_bench::run(args).await,
            Command::Startup(args) => startup_bench::run(args).await,
            Command::History(args) => history_bench::run(args).await,
            Command::Verify(args) => verify_bench::run(args).await,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(cli.command.run())
}
