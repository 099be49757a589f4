//! The ledger benchmark: raw disk and sled references, then the ledger beside them.

use std::fs::OpenOptions;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stackledger::clock::{Stopwatch, SystemClock};
use stackledger::ids::{IdGen, RandomIds, Seq, StreamVersion};
use stackledger::ledger::{ExpectedVersion, Ledger, NewEvent, SledStore, Store};
use stackledger::projection::LiveReadModel;

use crate::load::{deployment_event, requested};

/// Every throughput figure is the median of this many trials: this machine's disk is noisy.
const TRIALS: usize = 3;

/// Runs `trial` `trials` times and returns the result with the median `key`.
fn median_of<T>(
    trials: usize,
    mut trial: impl FnMut(usize) -> anyhow::Result<T>,
    key: impl Fn(&T) -> f64,
) -> anyhow::Result<T> {
    let mut results = (0..trials)
        .map(&mut trial)
        .collect::<anyhow::Result<Vec<T>>>()?;
    results.sort_by(|a, b| key(a).total_cmp(&key(b)));
    Ok(results.swap_remove(results.len() / 2))
}

/// Size of a raw reference record.
const RAW_RECORD_BYTES: usize = 200;

/// Runs every measurement in a fresh directory under `dir` and prints the report.
pub(crate) async fn run(
    dir: &Path,
    open_events: u64,
    seconds: u64,
    levels: &[usize],
) -> anyhow::Result<()> {
    let work = dir.join(format!("ledger-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let result = measure(&work, open_events, Duration::from_secs(seconds), levels).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn measure(
    work: &Path,
    open_events: u64,
    window: Duration,
    levels: &[usize],
) -> anyhow::Result<()> {
    println!("StackLedger ledger benchmark (work dir {})", work.display());
    println!();
    println!("raw references (median of {TRIALS} trials)");
    let single = median_of(TRIALS, |_| raw_fdatasync(work, 1, 3_000), |f| f.rate)?;
    let by16 = median_of(TRIALS, |_| raw_fdatasync(work, 16, 1_000), |f| f.rate)?;
    let by64 = median_of(TRIALS, |_| raw_fdatasync(work, 64, 500), |f| f.rate)?;
    let sled_rate = median_of(
        TRIALS,
        |_| sled_inserts(&work.join("sled-raw"), 300_000),
        |r| *r,
    )?;
    println!(
        "  write 200 B + fdatasync, 1 per sync:  {:>9.0} records/s   median {:>6.0} us/sync",
        single.rate, single.median_us
    );
    println!(
        "  write 200 B, 16 per fdatasync:        {:>9.0} records/s",
        by16.rate
    );
    println!(
        "  write 200 B, 64 per fdatasync:        {:>9.0} records/s",
        by64.rate
    );
    println!("  sled insert 200 B, no flush:          {sled_rate:>9.0} inserts/s");
    println!();
    println!(
        "ledger appends (durable: sled flush + fdatasync before each ack), median of {TRIALS} \
         trials of {window:?}"
    );
    for &appenders in levels {
        let mut trials = Vec::with_capacity(TRIALS);
        for trial in 0..TRIALS {
            let dir = work.join(format!("appenders-{appenders}-{trial}"));
            trials.push(ledger_appends(&dir, appenders, window).await?);
        }
        let figures = median_of(
            TRIALS,
            |trial| Ok(trials.remove(TRIALS - 1 - trial)),
            |f| f.rate,
        )?;
        println!(
            "  {appenders:>2} appenders: {:>9.0} events/s ({:>5.1}% of sled no-flush) \
             median {:>6.0} us p99 {:>6.0} us ({:.2}x one raw fdatasync), \
             {:.1} events per sync of {:.0} us",
            figures.rate,
            100.0 * figures.rate / sled_rate,
            figures.median_us,
            figures.p99_us,
            figures.median_us / single.median_us,
            figures.events_per_flush,
            figures.sync_us,
        );
    }
    println!();
    open_figures(&work.join("open"), open_events).await
}

/// Records per second and the median time of one fdatasync.
struct RawFigures {
    rate: f64,
    median_us: f64,
}

fn raw_fdatasync(work: &Path, per_sync: usize, syncs: usize) -> anyhow::Result<RawFigures> {
    let path = work.join(format!("raw-{per_sync}"));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let record = [0x5a_u8; RAW_RECORD_BYTES];
    let mut latencies = Vec::with_capacity(syncs);
    let total = Stopwatch::start();
    for _ in 0..syncs {
        let one = Stopwatch::start();
        for _ in 0..per_sync {
            file.write_all(&record)?;
        }
        file.sync_data()?;
        latencies.push(one.elapsed());
    }
    let elapsed = total.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(RawFigures {
        rate: (syncs * per_sync) as f64 / elapsed,
        median_us: percentile_us(&mut latencies, 0.5),
    })
}

fn sled_inserts(path: &Path, count: u64) -> anyhow::Result<f64> {
    let db = sled::Config::new().path(path).open()?;
    let tree = db.open_tree("raw")?;
    let value = [0x5a_u8; RAW_RECORD_BYTES];
    let total = Stopwatch::start();
    for key in 0..count {
        tree.insert(key.to_be_bytes(), &value[..])?;
    }
    let rate = count as f64 / total.elapsed().as_secs_f64();
    drop(tree);
    drop(db);
    std::fs::remove_dir_all(path)?;
    Ok(rate)
}

struct AppendFigures {
    rate: f64,
    median_us: f64,
    p99_us: f64,
    events_per_flush: f64,
    sync_us: f64,
}

async fn ledger_appends(
    dir: &Path,
    appenders: usize,
    window: Duration,
) -> anyhow::Result<AppendFigures> {
    let ledger = Ledger::open(dir, Arc::new(SystemClock), Arc::new(LiveReadModel::new()))?;
    let started = Stopwatch::start();
    let mut tasks = Vec::new();
    for _ in 0..appenders {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let stream = RandomIds.deployment_id();
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while started.elapsed() < window {
                let event = if n == 0 {
                    requested(stream)
                } else {
                    deployment_event(n)
                };
                let version = StreamVersion(u32::try_from(n)?);
                let one = Stopwatch::start();
                ledger
                    .append_one(
                        stream,
                        ExpectedVersion::Exact(version),
                        NewEvent::new(event),
                    )
                    .await?;
                latencies.push(one.elapsed());
                n += 1;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = ledger.stats();
    ledger.shutdown().await;
    drop(ledger);
    std::fs::remove_dir_all(dir)?;
    Ok(AppendFigures {
        rate: latencies.len() as f64 / elapsed,
        median_us: percentile_us(&mut latencies, 0.5),
        p99_us: percentile_us(&mut latencies, 0.99),
        events_per_flush: stats.events as f64 / stats.batches.max(1) as f64,
        sync_us: stats.flush_total.as_secs_f64() * 1e6 / stats.batches.max(1) as f64,
    })
}

/// Events per deployment stream in the large log (about what a deployment writes).
const EVENTS_PER_STREAM: u64 = 64;

async fn open_figures(dir: &Path, events: u64) -> anyhow::Result<()> {
    let built = Stopwatch::start();
    build_log(dir, events).await?;
    println!(
        "open + verify + fold of a {events}-event ledger (built in {:.1} s)",
        built.elapsed().as_secs_f64()
    );
    let store = SledStore::open(dir)?;
    let scan = Stopwatch::start();
    let mut count = 0u64;
    let mut record_bytes = 0u64;
    store.scan(Seq::ZERO, &mut |_, record| {
        count += 1;
        record_bytes += record.len() as u64;
        ControlFlow::Continue(())
    })?;
    let scan_secs = scan.elapsed().as_secs_f64();
    drop(store);
    let model = LiveReadModel::new();
    let open = Stopwatch::start();
    let ledger = Ledger::open(dir, Arc::new(SystemClock), Arc::new(model.clone()))?;
    let open_secs = open.elapsed().as_secs_f64();
    let deployments = model.read().summary().deployments;
    ledger.shutdown().await;
    drop(ledger);
    let raw_rate = count as f64 / scan_secs;
    let open_rate = count as f64 / open_secs;
    println!("  sled raw scan (after reopen):  {raw_rate:>10.0} events/s ({scan_secs:.2} s)");
    println!(
        "  ledger open+verify+fold:       {open_rate:>10.0} events/s ({open_secs:.2} s, \
         {deployments} deployments) = {:.0}% of the raw scan",
        100.0 * open_rate / raw_rate
    );
    let disk = dir_bytes(dir)?;
    let encoded = record_bytes as f64 / count as f64;
    let on_disk = disk as f64 / count as f64;
    println!(
        "  disk: {on_disk:.0} bytes/event for {encoded:.0} encoded bytes/event = {:.2}x",
        on_disk / encoded
    );
    println!(
        "  peak resident memory of this process: {} MiB",
        peak_rss_mib()
    );
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

/// Writes `events` events in deployment-sized streams from 16 concurrent appenders.
async fn build_log(dir: &Path, events: u64) -> anyhow::Result<()> {
    let ledger = Ledger::open(dir, Arc::new(SystemClock), Arc::new(()))?;
    let streams = events.div_ceil(EVENTS_PER_STREAM);
    let writers = 16u64;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream_index = writer;
            while stream_index < streams {
                let stream = RandomIds.deployment_id();
                let count = EVENTS_PER_STREAM.min(events - stream_index * EVENTS_PER_STREAM);
                let batch = (0..count)
                    .map(|n| {
                        if n == 0 {
                            requested(stream)
                        } else {
                            deployment_event(n)
                        }
                    })
                    .map(NewEvent::new)
                    .collect();
                ledger
                    .append(stream, ExpectedVersion::Exact(StreamVersion::EMPTY), batch)
                    .await?;
                stream_index += writers;
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

fn percentile_us(latencies: &mut [Duration], quantile: f64) -> f64 {
    if latencies.is_empty() {
        return 0.0;
    }
    latencies.sort_unstable();
    let index = ((latencies.len() - 1) as f64 * quantile).round() as usize;
    latencies[index].as_secs_f64() * 1e6
}

fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    let mut pending: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path)? {
            let entry = entry?;
            let metadata = entry.metadata()?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                total += metadata.len();
            }
        }
    }
    Ok(total)
}

pub(crate) fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib / 1024)
}
