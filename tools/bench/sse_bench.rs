//! The SSE fan-out benchmark: thousands of subscribers on one deployment that appends at a
//! steady rate; deliveries per second, append-to-delivery latency, and whether every stream
//! got every event once, in order.
//!
//! A gap or a repeated seq is never hidden: each reader counts every seq that is not the one
//! after its last, and the report prints the count.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use stackledger::app::App;
use stackledger::clock::Stopwatch;
use stackledger::deployment::{Event, Phase};
use stackledger::ids::{DeploymentId, IdGen, RandomIds, StreamVersion};
use stackledger::ledger::{ExpectedVersion, NewEvent};
use tokio::task::JoinHandle;

use crate::http_bench::portal;

/// `stackledger-bench sse`.
#[derive(Debug, clap::Args)]
pub(crate) struct SseArgs {
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
}

/// What the readers saw, shared with the appender.
#[derive(Default)]
struct Deliveries {
    /// Messages delivered, over every stream.
    delivered: AtomicU64,
    /// Append-to-delivery time of each delivery whose append was timed.
    latencies: Mutex<Vec<Duration>>,
    /// When each seq was appended.
    sent_at: Mutex<HashMap<u64, Stopwatch>>,
}

impl Deliveries {
    fn sent_at(&self) -> anyhow::Result<MutexGuard<'_, HashMap<u64, Stopwatch>>> {
        self.sent_at.lock().map_err(|_| anyhow::anyhow!("poisoned"))
    }

    fn latencies(&self) -> anyhow::Result<MutexGuard<'_, Vec<Duration>>> {
        self.latencies
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))
    }

    /// Counts the delivery of `seq` and its latency.
    fn record(&self, seq: u64) -> anyhow::Result<()> {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        let watch = self.sent_at()?.get(&seq).copied();
        if let Some(watch) = watch {
            self.latencies()?.push(watch.elapsed());
        }
        Ok(())
    }
}

/// What one reader saw: the last seq, and how many times a seq was not the one after the last.
type ReaderEnd = (u64, u64);

/// SSE fan-out: `subscribers` streams on one deployment that appends `rate` events a second.
pub(crate) async fn fan_out(args: SseArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = args.dir.join(format!("sse-bench-{}", std::process::id()));
    let (app, address, stop) = portal(&work).await?;
    let (id, version) = open_stream(&app).await?;
    let deliveries = Arc::new(Deliveries::default());
    let (readers, opened) = subscribe(address, id, args.subscribers, &deliveries).await?;
    let run = Stopwatch::start();
    append_steadily(&app, id, version, &args, &deliveries).await?;
    let (complete, gaps) = collect(readers, app.ledger.head().seq.0).await?;
    let took = run.elapsed().as_secs_f64();
    println!(
        "StackLedger SSE fan-out benchmark ({opened} subscribers, {} events/s for {} s, one process)",
        args.rate, args.seconds
    );
    report(&deliveries, took)?;
    println!(
        "  complete streams:       {complete} of {}; gaps or duplicates: {gaps}",
        args.subscribers
    );
    let _ = stop.send(true);
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// A deployment that stays in progress: its events are appended here, not by a run.
async fn open_stream(app: &App) -> anyhow::Result<(DeploymentId, StreamVersion)> {
    let id = RandomIds.deployment_id();
    let requested = Event::DeploymentRequested {
        name: "fanout".into(),
        image: "nginx".into(),
        domain: "fanout.example".into(),
        port: 8080,
        client: "bench".into(),
        server_version: "bench".into(),
    };
    let empty = ExpectedVersion::Exact(StreamVersion(0));
    let written = app
        .ledger
        .append_one(id, empty, NewEvent::new(requested))
        .await?;
    Ok((id, written.version))
}

/// Opens `subscribers` streams on `id`; returns their readers once all are open, and how many
/// opened.
async fn subscribe(
    address: SocketAddr,
    id: DeploymentId,
    subscribers: usize,
    deliveries: &Arc<Deliveries>,
) -> anyhow::Result<(Vec<JoinHandle<anyhow::Result<ReaderEnd>>>, usize)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let url = format!("http://{address}/api/status/{id}");
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel(subscribers.max(1));
    let readers = (0..subscribers)
        .map(|_| {
            let request = client.get(&url).send();
            let (opened, deliveries) = (opened_tx.clone(), Arc::clone(deliveries));
            tokio::spawn(async move {
                let response = request.await?;
                let _ = opened.send(()).await;
                read_stream(response, &deliveries).await
            })
        })
        .collect();
    drop(opened_tx);
    Ok((readers, count_opened(&mut opened_rx, subscribers).await))
}

/// Waits until `subscribers` streams said they are open (or every reader is gone).
async fn count_opened(opened: &mut tokio::sync::mpsc::Receiver<()>, subscribers: usize) -> usize {
    let mut count = 0;
    while count < subscribers && opened.recv().await.is_some() {
        count += 1;
    }
    count
}

/// Reads one stream until its `complete` message or its end.
async fn read_stream(
    mut response: reqwest::Response,
    deliveries: &Deliveries,
) -> anyhow::Result<ReaderEnd> {
    let mut pending = String::new();
    let (mut last_id, mut gaps) = (0u64, 0u64);
    while let Some(chunk) = response.chunk().await? {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(message) = take_message(&mut pending) {
            let Some(seq) = message_id(&message) else {
                continue;
            };
            if last_id != 0 && seq != last_id + 1 {
                gaps += 1;
            }
            last_id = seq;
            deliveries.record(seq)?;
            if message.contains("event: complete") {
                return Ok((last_id, gaps));
            }
        }
    }
    Ok((last_id, gaps))
}

/// The next whole message (up to its blank line) taken off the front of `pending`.
fn take_message(pending: &mut String) -> Option<String> {
    let end = pending.find("\n\n")?;
    Some(pending.drain(..end + 2).collect())
}

/// A message's `id:` (the ledger seq); None for keep-alive comments.
fn message_id(message: &str) -> Option<u64> {
    message
        .lines()
        .find_map(|line| line.strip_prefix("id: "))
        .and_then(|value| value.trim().parse().ok())
}

/// Appends `rate` events a second for `seconds`, the last one the deployment's success.
async fn append_steadily(
    app: &App,
    id: DeploymentId,
    mut version: StreamVersion,
    args: &SseArgs,
    deliveries: &Deliveries,
) -> anyhow::Result<()> {
    let events = args.rate * args.seconds;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / args.rate.max(1)));
    for n in 0..events {
        ticker.tick().await;
        let event = fan_out_event(n + 1 == events);
        let expected_seq = app.ledger.head().seq.0 + 1;
        deliveries
            .sent_at()?
            .insert(expected_seq, Stopwatch::start());
        let expected = ExpectedVersion::Exact(version);
        version = app
            .ledger
            .append_one(id, expected, NewEvent::new(event))
            .await?
            .version;
    }
    Ok(())
}

/// A phase change, or the success that ends every stream.
fn fan_out_event(last: bool) -> Event {
    if last {
        Event::DeploymentSucceeded {
            url: "https://fanout.example".into(),
        }
    } else {
        Event::PhaseEntered {
            phase: Phase::Deploying,
        }
    }
}

/// How many readers saw the stream to `head`, and their gaps in all.
async fn collect(
    readers: Vec<JoinHandle<anyhow::Result<ReaderEnd>>>,
    head: u64,
) -> anyhow::Result<(usize, u64)> {
    let (mut complete, mut gaps) = (0, 0);
    for reader in readers {
        let (last, reader_gaps) = reader.await??;
        gaps += reader_gaps;
        if last == head {
            complete += 1;
        }
    }
    Ok((complete, gaps))
}

fn report(deliveries: &Deliveries, took: f64) -> anyhow::Result<()> {
    let delivered = deliveries.delivered.load(Ordering::Relaxed);
    let mut latencies = deliveries.latencies()?.clone();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * q) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "  deliveries:             {delivered} in {took:.1} s = {:.0} per second",
        delivered as f64 / took
    );
    println!(
        "  append-to-delivery:     p50 {:.1} ms  p99 {:.1} ms (target p99 <= 100 ms)",
        at(0.5),
        at(0.99)
    );
    Ok(())
}
