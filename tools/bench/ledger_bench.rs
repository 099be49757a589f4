//! The ledger benchmark: raw disk and sled references, then the ledger beside them.
//!
//! It measures only in a fresh directory of its own under `--dir` (removed afterwards), so it
//! never opens or changes an existing ledger; an append counts only once it is acknowledged as
//! durable.

use std::fs::OpenOptions;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stackledger::clock::{Stopwatch, SystemClock};
use stackledger::ids::{IdGen, RandomIds, Seq, StreamVersion};
use stackledger::ledger::{
    DiskOptions, ExpectedVersion, Ledger, LedgerOptions, NewEvent, SledStore, Store,
};
use stackledger::projection::LiveReadModel;

use crate::load::event_at;

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

/// `stackledger-bench ledger`.
#[derive(Debug, clap::Args)]
pub(crate) struct LedgerArgs {
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
}

/// Runs every measurement in a fresh directory under `dir` and prints the report.
pub(crate) async fn run(args: LedgerArgs) -> anyhow::Result<()> {
    let work = args
        .dir
        .join(format!("ledger-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let result = measure(&work, &args).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn measure(work: &Path, args: &LedgerArgs) -> anyhow::Result<()> {
    println!("StackLedger ledger benchmark (work dir {})", work.display());
    println!();
    let raw = RawReferences::measure(work)?;
    raw.print();
    println!();
    let window = Duration::from_secs(args.seconds);
    println!(
        "ledger appends (durable: sled flush + fdatasync before each ack), median of {TRIALS} \
         trials of {window:?}"
    );
    println!(
        "  (as shipped, with the witness: one more fdatasync of its file per group commit; \
         beside it, the same sled store opened without a witness)"
    );
    let (mut group, mut ledger_rate, mut single_us) = (64.0, 0.0, 0.0);
    for &appenders in &args.appenders {
        let without = median_appends(work, appenders, window, Witnessed::No).await?;
        let with = median_appends(work, appenders, window, Witnessed::Yes).await?;
        let mirrored = median_appends(work, appenders, window, Witnessed::Mirrored).await?;
        with.print(appenders, &raw, "with witness    ");
        without.print(appenders, &raw, "without witness ");
        mirrored.print(appenders, &raw, "witness + mirror");
        println!(
            "      witness cost: {:.1}% of the throughput, median latency {:.2}x; \
             with the mirror (same disk): {:.1}%, {:.2}x",
            100.0 * (1.0 - with.rate / without.rate),
            with.median_us / without.median_us,
            100.0 * (1.0 - mirrored.rate / without.rate),
            mirrored.median_us / without.median_us
        );
        if appenders == 64 {
            (group, ledger_rate) = (with.events_per_flush, with.rate);
        }
        if appenders == 1 {
            single_us = with.median_us;
        }
    }
    println!();
    let beside = crate::peer_bench::Beside {
        ledger_rate,
        ledger_single_us: single_us,
        raw_by64: raw.by64,
        raw_single_us: raw.single.median_us,
        sled_rate: raw.sled_rate,
    };
    crate::peer_bench::measure(work, group.round() as usize, window, &beside)?;
    println!();
    open_figures(&work.join("open"), args.open_events).await
}

/// The raw limits of this disk, the references the ledger's figures are set beside.
struct RawReferences {
    /// One 200-byte record per fdatasync.
    single: RawFigures,
    /// 16 records per fdatasync (records per second).
    by16: f64,
    /// 64 records per fdatasync (records per second).
    by64: f64,
    /// sled inserts per second, no flush.
    sled_rate: f64,
}

impl RawReferences {
    fn measure(work: &Path) -> anyhow::Result<Self> {
        let raw = |per_sync, syncs| {
            median_of(TRIALS, |_| raw_fdatasync(work, per_sync, syncs), |f| f.rate)
        };
        let sled = |_| sled_inserts(&work.join("sled-raw"), 300_000);
        Ok(Self {
            single: raw(1, 3_000)?,
            by16: raw(16, 1_000)?.rate,
            by64: raw(64, 500)?.rate,
            sled_rate: median_of(TRIALS, sled, |r| *r)?,
        })
    }

    fn print(&self) {
        println!("raw references (median of {TRIALS} trials)");
        println!(
            "  write 200 B + fdatasync, 1 per sync:  {:>9.0} records/s   median {:>6.0} us/sync",
            self.single.rate, self.single.median_us
        );
        println!(
            "  write 200 B, 16 per fdatasync:        {:>9.0} records/s",
            self.by16
        );
        println!(
            "  write 200 B, 64 per fdatasync:        {:>9.0} records/s",
            self.by64
        );
        println!(
            "  sled insert 200 B, no flush:          {:>9.0} inserts/s",
            self.sled_rate
        );
    }
}

/// The median of [`TRIALS`] trials of `appenders` concurrent appenders, each in its own dir.
async fn median_appends(
    work: &Path,
    appenders: usize,
    window: Duration,
    witnessed: Witnessed,
) -> anyhow::Result<AppendFigures> {
    let mut trials = Vec::with_capacity(TRIALS);
    for trial in 0..TRIALS {
        let dir = work.join(format!("appenders-{appenders}-{witnessed:?}-{trial}"));
        trials.push(ledger_appends(&dir, appenders, window, witnessed).await?);
    }
    median_of(
        TRIALS,
        |trial| Ok(trials.remove(TRIALS - 1 - trial)),
        |f| f.rate,
    )
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
    let total = Stopwatch::start();
    let mut latencies = (0..syncs)
        .map(|_| write_and_sync(&mut file, per_sync))
        .collect::<std::io::Result<Vec<_>>>()?;
    let elapsed = total.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(RawFigures {
        rate: (syncs * per_sync) as f64 / elapsed,
        median_us: percentile_us(&mut latencies, 0.5),
    })
}

/// Writes `records` raw records and one fdatasync; returns how long that took.
fn write_and_sync(file: &mut std::fs::File, records: usize) -> std::io::Result<Duration> {
    let record = [0x5a_u8; RAW_RECORD_BYTES];
    let one = Stopwatch::start();
    for _ in 0..records {
        file.write_all(&record)?;
    }
    file.sync_data()?;
    Ok(one.elapsed())
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

impl AppendFigures {
    fn print(&self, appenders: usize, raw: &RawReferences, label: &str) {
        println!(
            "  {appenders:>2} appenders {label}: {:>9.0} events/s ({:>5.1}% of sled no-flush) \
             median {:>6.0} us p99 {:>6.0} us ({:.2}x one raw fdatasync), \
             {:.1} events per sync of {:.0} us",
            self.rate,
            100.0 * self.rate / raw.sled_rate,
            self.median_us,
            self.p99_us,
            self.median_us / raw.single.median_us,
            self.events_per_flush,
            self.sync_us,
        );
    }
}

/// Whether a measured ledger keeps its witness (as shipped) or is the bare store (the reference).
#[derive(Debug, Clone, Copy)]
enum Witnessed {
    Yes,
    No,
    /// As shipped with `--mirror` on the same disk (a directory beside the ledger's).
    Mirrored,
}

async fn ledger_appends(
    dir: &Path,
    appenders: usize,
    window: Duration,
    witnessed: Witnessed,
) -> anyhow::Result<AppendFigures> {
    let model = Arc::new(LiveReadModel::new());
    let ledger = match witnessed {
        Witnessed::Yes => Ledger::open(dir, Arc::new(SystemClock), model)?,
        Witnessed::Mirrored => {
            let mut disk = DiskOptions::new(dir);
            disk.mirror = Some(dir.with_extension("mirror"));
            Ledger::open_on_disk(&disk, Arc::new(SystemClock), model)?
        }
        Witnessed::No => Ledger::open_with(
            Arc::new(SledStore::open(dir)?),
            Arc::new(SystemClock),
            model,
            LedgerOptions::default(),
        )?,
    };
    let started = Stopwatch::start();
    let tasks: Vec<_> = (0..appenders)
        .map(|_| tokio::spawn(append_until(ledger.clone(), started, window)))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = ledger.stats();
    ledger.shutdown().await;
    drop(ledger);
    std::fs::remove_dir_all(dir)?;
    let mirror = dir.with_extension("mirror");
    if mirror.exists() {
        std::fs::remove_dir_all(mirror)?;
    }
    let batches = stats.batches.max(1) as f64;
    Ok(AppendFigures {
        rate: latencies.len() as f64 / elapsed,
        median_us: percentile_us(&mut latencies, 0.5),
        p99_us: percentile_us(&mut latencies, 0.99),
        events_per_flush: stats.events as f64 / batches,
        sync_us: stats.flush_total.as_secs_f64() * 1e6 / batches,
    })
}

/// One appender: durable appends to a fresh stream until `window` has passed since
/// `started`; returns the latency of each.
async fn append_until(
    ledger: Ledger,
    started: Stopwatch,
    window: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let stream = RandomIds.deployment_id();
    let mut latencies = Vec::new();
    let mut n = 0u64;
    while started.elapsed() < window {
        let version = ExpectedVersion::Exact(StreamVersion(u32::try_from(n)?));
        let event = NewEvent::new(event_at(stream, n));
        let one = Stopwatch::start();
        ledger.append_one(stream, version, event).await?;
        latencies.push(one.elapsed());
        n += 1;
    }
    Ok(latencies)
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
    let scan = RawScan::of(dir)?;
    let (deployments, open_secs) = open_and_fold(dir).await?;
    let raw_rate = scan.count as f64 / scan.secs;
    let open_rate = scan.count as f64 / open_secs;
    println!(
        "  sled raw scan (after reopen):  {raw_rate:>10.0} events/s ({:.2} s)",
        scan.secs
    );
    println!(
        "  ledger open+verify+fold:       {open_rate:>10.0} events/s ({open_secs:.2} s, \
         {deployments} deployments) = {:.0}% of the raw scan",
        100.0 * open_rate / raw_rate
    );
    print_disk(dir, &scan)?;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

/// Disk bytes per event beside encoded bytes per event, and the process's peak memory.
fn print_disk(dir: &Path, scan: &RawScan) -> anyhow::Result<()> {
    let encoded = scan.record_bytes as f64 / scan.count as f64;
    let on_disk = dir_bytes(dir)? as f64 / scan.count as f64;
    println!(
        "  disk: {on_disk:.0} bytes/event for {encoded:.0} encoded bytes/event = {:.2}x",
        on_disk / encoded
    );
    println!(
        "  peak resident memory of this process: {} MiB",
        peak_rss_mib()
    );
    Ok(())
}

/// sled's own scan of a log: the reference for opening it.
struct RawScan {
    count: u64,
    record_bytes: u64,
    secs: f64,
}

impl RawScan {
    fn of(dir: &Path) -> anyhow::Result<Self> {
        let store = SledStore::open(dir)?;
        let scan = Stopwatch::start();
        let (mut count, mut record_bytes) = (0u64, 0u64);
        store.scan(Seq::ZERO, &mut |_, record| {
            count += 1;
            record_bytes += record.len() as u64;
            ControlFlow::Continue(())
        })?;
        Ok(Self {
            count,
            record_bytes,
            secs: scan.elapsed().as_secs_f64(),
        })
    }
}

/// Opens the log with the read model: the deployments folded and the seconds the open took
/// (only the open is timed; closing the ledger afterwards is not part of opening it).
async fn open_and_fold(dir: &Path) -> anyhow::Result<(u64, f64)> {
    let model = LiveReadModel::new();
    let open = Stopwatch::start();
    let ledger = Ledger::open(dir, Arc::new(SystemClock), Arc::new(model.clone()))?;
    let open_secs = open.elapsed().as_secs_f64();
    let deployments = model.read().summary().deployments;
    ledger.shutdown().await;
    drop(ledger);
    Ok((deployments, open_secs))
}

/// Writes `events` events in deployment-sized streams from 16 concurrent appenders.
pub(crate) async fn build_log(dir: &Path, events: u64) -> anyhow::Result<()> {
    const WRITERS: u64 = 16;
    let ledger = Ledger::open(dir, Arc::new(SystemClock), Arc::new(()))?;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let streams = (writer..events.div_ceil(EVENTS_PER_STREAM)).step_by(WRITERS as usize);
            tokio::spawn(write_streams(ledger.clone(), streams, events))
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    ledger.shutdown().await;
    Ok(())
}

/// Writes each stream of `streams` (by index) in one batch, the last one cut at `events`.
async fn write_streams(
    ledger: Ledger,
    streams: impl Iterator<Item = u64>,
    events: u64,
) -> anyhow::Result<()> {
    for index in streams {
        let stream = RandomIds.deployment_id();
        let count = EVENTS_PER_STREAM.min(events - index * EVENTS_PER_STREAM);
        let batch = (0..count)
            .map(|n| NewEvent::new(event_at(stream, n)))
            .collect();
        let empty = ExpectedVersion::Exact(StreamVersion::EMPTY);
        ledger.append(stream, empty, batch).await?;
    }
    Ok(())
}

pub(crate) fn percentile_us(latencies: &mut [Duration], quantile: f64) -> f64 {
    if latencies.is_empty() {
        return 0.0;
    }
    latencies.sort_unstable();
    let index = ((latencies.len() - 1) as f64 * quantile).round() as usize;
    latencies[index].as_secs_f64() * 1e6
}

pub(crate) fn dir_bytes(dir: &Path) -> anyhow::Result<u64> {
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
