//! The verification benchmark: the full check of a large log on one thread and on every core,
//! side by side, beside a raw scan of the same store.
//!
//! It builds its log in a fresh directory of its own under `--dir` (removed afterwards), so it
//! never opens or changes an existing ledger.

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Context;
use stackledger::clock::Stopwatch;
use stackledger::ids::Seq;
use stackledger::ledger::{CheckThreads, SledStore, Store, verify_stored};

use crate::ledger_bench::build_log;

/// Every figure is the median of this many trials.
const TRIALS: usize = 3;

/// `stackledger-bench verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// Directory on the disk to measure (a temporary directory inside it is used).
    #[arg(long, default_value = "target/bench")]
    dir: PathBuf,
    /// Events in the log that is verified.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
}

/// Builds the log, then prints events/s of a raw scan, the sequential and the parallel check.
pub(crate) async fn run(args: VerifyArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let dir = args
        .dir
        .join(format!("verify-bench-{}", std::process::id()));
    let built = Stopwatch::start();
    build_log(&dir, args.events).await?;
    println!(
        "full verification of a {}-event ledger (built in {:.1} s), median of {TRIALS}, warm cache",
        args.events,
        built.elapsed().as_secs_f64()
    );
    let store = SledStore::open(&dir)?;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let scan = median_secs(|| {
        let mut count = 0u64;
        store.scan(Seq::ZERO, &mut |_, _| {
            count += 1;
            ControlFlow::Continue(())
        })?;
        Ok(count)
    })?;
    let one = median_secs(|| checked(&store, CheckThreads::One))?;
    let every = median_secs(|| checked(&store, CheckThreads::EveryCore))?;
    let rate = |secs: f64| args.events as f64 / secs;
    println!(
        "  sled raw scan:             {:>10.0} events/s ({scan:.2} s)",
        rate(scan)
    );
    println!(
        "  verify, one thread:        {:>10.0} events/s ({one:.2} s)",
        rate(one)
    );
    println!(
        "  verify, every core ({cores}):   {:>10.0} events/s ({every:.2} s) = {:.2}x one thread",
        rate(every),
        one / every
    );
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The events a full check verified; an error unless all of them did.
fn checked(store: &SledStore, threads: CheckThreads) -> anyhow::Result<u64> {
    let verification = verify_stored(store, threads)?;
    anyhow::ensure!(
        verification.is_intact(),
        "the benchmark's log is damaged: {:?}",
        verification.damage
    );
    Ok(verification.events())
}

/// The median seconds of `TRIALS` runs of `trial`.
fn median_secs(mut trial: impl FnMut() -> anyhow::Result<u64>) -> anyhow::Result<f64> {
    let mut secs = Vec::with_capacity(TRIALS);
    for _ in 0..TRIALS {
        let started = Stopwatch::start();
        trial().context("a trial failed")?;
        secs.push(started.elapsed().as_secs_f64());
    }
    secs.sort_by(f64::total_cmp);
    Ok(secs[TRIALS / 2])
}
