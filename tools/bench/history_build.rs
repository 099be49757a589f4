//! The history the `history` benchmark measures: N realistic deployments written through the
//! ledger's own append path, as fast as group commit allows.
//!
//! "Realistic" means the event mix of real deployments: the templates are the finished
//! deployments of the golden logs in `events/golden/` (written by the portal's own runs against
//! the simulator: successes, failed deploys with their rollbacks, retried calls, queued builds,
//! cancels, deadlines), each copied under a new stream id and a new stack name. Causes are kept:
//! an event whose cause is in the same stream is appended after its cause is durable, so every
//! copied cause points at the copy of the original cause (and a cancel after what preceded it,
//! since the writer decides a cancel on what is durable). Many deployments are written at once,
//! so one group commit takes hundreds of appends. It never writes a template that did not finish
//! (a restarted portal would recover it and call the simulator), and never reuses a name. The
//! portal's read model folds it and checkpoints are taken on the portal's default, so the data
//! directory is the one a portal that lived through the history would leave.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use futures_util::StreamExt;
use stackledger::clock::SystemClock;
use stackledger::deployment::{DeploymentStatus, Event};
use stackledger::ids::{IdGen, RandomIds, Seq, StreamVersion};
use stackledger::ledger::envelope::Envelope;
use stackledger::ledger::{
    DiskOptions, ExpectedVersion, Ledger, LedgerOptions, NewEvent, Verifier,
};
use stackledger::projection::LiveReadModel;

/// Deployments written at once (each waits for its own appends to be durable).
const WRITERS: usize = 512;
/// Of ten deployments, how many succeed (the rest fail and roll back).
const SUCCEEDED_PER_TEN: usize = 8;
/// The stack names' stems: a realistic spread of words, so that a `name=` filter on a stem
/// matches one deployment in this many, and on a whole name exactly one.
const STEMS: [&str; 16] = [
    "shop", "blog", "wiki", "crm", "chat", "docs", "api", "pay", "mail", "forum", "cart", "maps",
    "news", "game", "auth", "feed",
];

/// One finished deployment of a golden log: its events in order.
pub(crate) struct Template {
    events: Vec<Envelope>,
    status: DeploymentStatus,
}

/// What was written: counts for the report.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Built {
    /// Deployments written.
    pub(crate) deployments: usize,
    /// Their events.
    pub(crate) events: u64,
    /// The events' encoded size (what the store is asked to keep).
    pub(crate) encoded_bytes: u64,
    /// Of the deployments, how many failed (the rest succeeded).
    pub(crate) failed: usize,
    /// Seconds the writing took.
    pub(crate) seconds: f64,
}

/// The stack name of deployment `k`: a stem and a number, a valid DNS label.
pub(crate) fn name_of(k: usize) -> String {
    format!("{}-{k:07}", STEMS[k % STEMS.len()])
}

/// A stem every `STEMS.len()`-th deployment's name contains (a common `name=` filter).
pub(crate) fn common_stem() -> &'static str {
    STEMS[1]
}

/// The finished deployments of every golden log in `dir`, verified as they are read.
pub(crate) fn templates(dir: &Path) -> anyhow::Result<Vec<Template>> {
    let mut found = Vec::new();
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("the golden logs in {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    logs.sort();
    for log in logs {
        found.extend(finished_streams(&read_log(&log)?));
    }
    anyhow::ensure!(
        !found.is_empty(),
        "no finished deployment in {}",
        dir.display()
    );
    let failed = found
        .iter()
        .filter(|t| t.status == DeploymentStatus::Failure)
        .count();
    eprintln!(
        "templates: {} finished deployments of {} ({failed} failed)",
        found.len(),
        dir.display()
    );
    Ok(found)
}

/// A golden log's envelopes: one record per line, `<seq> <hex>`, verified in order.
fn read_log(path: &Path) -> anyhow::Result<Vec<Envelope>> {
    let text = std::fs::read_to_string(path)?;
    let mut verifier = Verifier::new();
    let mut envelopes = Vec::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        let (seq, hex) = line
            .split_once(' ')
            .with_context(|| format!("{}: a line is `<seq> <hex>`", path.display()))?;
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(hex.get(at..at + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()?;
        let envelope = verifier
            .record(Seq(seq.parse()?), &bytes)
            .map_err(|damage| anyhow::anyhow!("{}: {damage}", path.display()))?;
        envelopes.push(envelope);
    }
    Ok(envelopes)
}

/// The deployment streams of `envelopes` that end succeeded or failed.
fn finished_streams(envelopes: &[Envelope]) -> Vec<Template> {
    let mut streams: Vec<Vec<Envelope>> = Vec::new();
    let mut at: HashMap<_, usize> = HashMap::new();
    for envelope in envelopes {
        let k = *at.entry(envelope.stream).or_insert_with(|| {
            streams.push(Vec::new());
            streams.len() - 1
        });
        streams[k].push(envelope.clone());
    }
    streams
        .into_iter()
        .filter(|events| {
            matches!(
                events.first().map(|e| &e.event),
                Some(Event::DeploymentRequested { .. })
            )
        })
        .filter_map(|events| {
            let status = events.iter().rev().find_map(|e| e.event.status_effect())?;
            (status != DeploymentStatus::InProgress).then_some(Template { events, status })
        })
        .collect()
}

/// Writes `deployments` copies of `templates` (see [`pick`]) into the ledger directory `dir`.
pub(crate) async fn build(
    dir: &Path,
    deployments: usize,
    templates: &[Template],
) -> anyhow::Result<Built> {
    let limits = LedgerOptions {
        batch_events_max: std::num::NonZeroUsize::new(8192).context("not zero")?,
        queue_max: std::num::NonZeroUsize::new(16384).context("not zero")?,
        // As a portal on its defaults: its read model, checkpointed every so many events,
        // so the history on disk is what a portal that lived through it would leave.
        checkpoint_events: std::num::NonZeroU64::new(stackledger::defaults::CHECKPOINT_EVENTS),
        ..LedgerOptions::default()
    };
    let disk = DiskOptions {
        dir: dir.to_path_buf(),
        limits,
        mirror: None,
    };
    let projector = Arc::new(LiveReadModel::new());
    let ledger = Ledger::open_on_disk(&disk, Arc::new(SystemClock), projector)?;
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let written = AtomicUsize::new(0);
    let writers = futures_util::stream::iter(0..WRITERS)
        .map(|_| async {
            let mut built = Built::default();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= deployments {
                    return Ok::<Built, anyhow::Error>(built);
                }
                let template = pick(templates, k);
                let (events, bytes) = write_copy(&ledger, template, &name_of(k)).await?;
                built.deployments += 1;
                built.events += events;
                built.encoded_bytes += bytes;
                built.failed += usize::from(template.status == DeploymentStatus::Failure);
                let done = written.fetch_add(1, Ordering::Relaxed) + 1;
                if done.is_multiple_of(10_000) {
                    eprintln!("  {done}/{deployments} deployments written");
                }
            }
        })
        .buffer_unordered(WRITERS)
        .collect::<Vec<_>>()
        .await;
    ledger.shutdown().await;
    drop(ledger);
    let mut total = Built::default();
    for built in writers {
        let built = built?;
        total.deployments += built.deployments;
        total.events += built.events;
        total.encoded_bytes += built.encoded_bytes;
        total.failed += built.failed;
    }
    total.seconds = started.elapsed().as_secs_f64();
    Ok(total)
}

/// The template of deployment `k`: a success for [`SUCCEEDED_PER_TEN`] in ten, a failure
/// (with its rollback) for the rest, round robin within each.
fn pick(templates: &[Template], k: usize) -> &Template {
    let failed = k % 10 >= SUCCEEDED_PER_TEN;
    let of_kind: Vec<&Template> = templates
        .iter()
        .filter(|t| (t.status == DeploymentStatus::Failure) == failed)
        .collect();
    let chosen = if of_kind.is_empty() {
        templates.iter().collect()
    } else {
        of_kind
    };
    chosen[(k / 10) % chosen.len()]
}

/// Appends one copy of `template` named `name`; returns its events and their encoded bytes.
async fn write_copy(
    ledger: &Ledger,
    template: &Template,
    name: &str,
) -> anyhow::Result<(u64, u64)> {
    let stream = RandomIds.deployment_id();
    let mut copied: HashMap<Seq, Seq> = HashMap::new();
    let mut version = StreamVersion::EMPTY;
    let mut pending: Vec<(Seq, NewEvent)> = Vec::new();
    let (mut events, mut bytes) = (0, 0);
    for original in &template.events {
        let in_stream = original
            .cause
            .filter(|cause| template.events.iter().any(|e| e.seq == *cause));
        // The writer decides a cancel on what is durable, as it did when the original was
        // written: what came before it goes first.
        let cancel = matches!(original.event, Event::CancelRequested { .. });
        if cancel || in_stream.is_some_and(|cause| !copied.contains_key(&cause)) {
            let written = flush(ledger, stream, &mut version, &mut pending, &mut copied).await?;
            events += written.0;
            bytes += written.1;
        }
        let event = renamed(&original.event, template, name);
        let new = match in_stream.and_then(|cause| copied.get(&cause)) {
            Some(&cause) => NewEvent::caused_by(event, cause),
            None => NewEvent::new(event),
        };
        pending.push((original.seq, new));
    }
    let written = flush(ledger, stream, &mut version, &mut pending, &mut copied).await?;
    Ok((events + written.0, bytes + written.1))
}

/// Appends `pending` to `stream` atomically and records the seqs its originals were copied to.
async fn flush(
    ledger: &Ledger,
    stream: stackledger::ids::DeploymentId,
    version: &mut StreamVersion,
    pending: &mut Vec<(Seq, NewEvent)>,
    copied: &mut HashMap<Seq, Seq>,
) -> anyhow::Result<(u64, u64)> {
    if pending.is_empty() {
        return Ok((0, 0));
    }
    let (originals, events): (Vec<Seq>, Vec<NewEvent>) = pending.drain(..).unzip();
    let written = ledger
        .append(stream, ExpectedVersion::Exact(*version), events)
        .await?;
    let mut bytes = 0;
    for (original, envelope) in originals.into_iter().zip(&written) {
        copied.insert(original, envelope.seq);
        bytes += stackledger::ledger::stored_bytes(envelope).len() as u64;
    }
    if let Some(last) = written.last() {
        *version = last.version;
    }
    Ok((written.len() as u64, bytes))
}

/// `event` with the template's stack name replaced by `name` where it names the stack.
fn renamed(event: &Event, template: &Template, name: &str) -> Event {
    let Some(Event::DeploymentRequested { name: old, .. }) =
        template.events.first().map(|e| &e.event)
    else {
        return event.clone();
    };
    match event {
        Event::DeploymentRequested {
            image,
            domain,
            port,
            client,
            server_version,
            ..
        } => Event::DeploymentRequested {
            name: name.to_owned(),
            image: image.clone(),
            domain: domain.replacen(old.as_str(), name, 1),
            port: *port,
            client: client.clone(),
            server_version: server_version.clone(),
        },
        Event::DeploymentSucceeded { url } => Event::DeploymentSucceeded {
            url: url.replacen(old.as_str(), name, 1),
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{STEMS, name_of};

    #[test]
    fn every_name_is_a_valid_stack_name_and_no_two_are_alike() {
        let names: Vec<String> = (0..1000).map(name_of).collect();
        for name in &names {
            assert!(
                stackledger::deployment::name::validate(name).is_ok(),
                "{name} is not a valid stack name"
            );
        }
        let unique: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        let with_stem: Vec<usize> = (0..1000).filter(|&k| names[k].contains(STEMS[1])).collect();
        let expected: Vec<usize> = (0..1000).filter(|k| k % STEMS.len() == 1).collect();
        assert_eq!(
            with_stem,
            expected,
            "one name in {} holds the common stem",
            STEMS.len()
        );
    }
}
