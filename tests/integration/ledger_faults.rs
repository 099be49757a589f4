//! The fault-injection loop (issue 11's first "done when"): the portal deploys, is killed with
//! SIGKILL at a random moment, then one random fault (a flipped byte, a truncation, a zeroed
//! range, a deletion) strikes one random file of its data directory, and it is started again.
//! Every round must end in exactly one of:
//! - **served**: every acknowledged event read before the kill is served at its seq with the
//!   same bytes (so no seq was reused), `/api/ledger/verify` is ok, and the head is at least
//!   the acknowledged head;
//! - **refused**: the start exits non-zero, without a panic, naming the problem (the lost
//!   range, ending at or past the acknowledged head; the witness file; sled's refusal of its
//!   files; or the admin-token file) and a next step; nothing was written; a second start
//!   refuses with the same message.
//!
//! A start that serves fewer acknowledged events, or other content at their seqs, is a silent
//! loss and must never pass. "Acknowledged" is what `GET /api/ledger/events` served at a random
//! moment before the kill: it serves only durable events, published after their witness.
//!
//! Each round has its own fresh data directory, one or two lives long (a second start after a
//! kill is what makes sled write its first snapshot, so stores with and without one are struck).
//! Fresh, not continued: a refused directory would need a restore to go on, and a round's
//! outcome must be the work of its one fault, on a ledger only kills have touched.
//!
//! "Nothing was written" is checked on every file's bytes, narrowed for sled's own files
//! (`ledger/db`, `ledger/conf`, `ledger/snap.*`) because sled 0.34 rewrites them while it opens
//! a store, before StackLedger can refuse it: `support/rewrite.rs` says exactly what it writes,
//! and proves each time that the change is sled's (the same trees, keys and values, and where a
//! bare sled open of a copy making the same reads reproduces the bytes, that too). The report
//! counts these rounds apart.
//!
//! Rounds: `STACKLEDGER_FAULT_ROUNDS` (default 30, about 20 s on 2 cores); seed:
//! `STACKLEDGER_FAULT_SEED` (round N uses seed + N). The seed fixes every choice, but the kill
//! lands by timing: a rerun strikes the same file with the same kind of fault, not always the
//! same byte of the same store.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::support::fault::{self, Fault, FaultKind};
use crate::support::portal::{self, Launch, Portal};
use crate::support::rewrite::{Rewrite, check_nothing_written};
use crate::support::{SIM_KEY, http, simulator};

const ROUNDS_DEFAULT: usize = 30;
const SEED_DEFAULT: u64 = 11;
const STACKS_MAX: usize = 3;

/// The acknowledged log as the export served it: seq -> the exported line.
#[derive(Debug, Default)]
struct Acknowledged {
    lines: BTreeMap<u64, String>,
}

impl Acknowledged {
    fn head(&self) -> u64 {
        self.lines.keys().next_back().copied().unwrap_or(0)
    }
}

/// What a refusal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Named {
    /// Acknowledged events `from`-`to` are lost or damaged.
    LostRange { from: u64, to: u64 },
    /// The witness file is damaged or missing.
    Witness,
    /// sled refuses to open its files (its data file, snapshot or configuration).
    Sled,
    /// The admin-token file is refused.
    AdminToken,
}

impl Named {
    fn label(self) -> &'static str {
        match self {
            Named::LostRange { .. } => "the lost range",
            Named::Witness => "the witness file",
            Named::Sled => "sled's refusal of its files",
            Named::AdminToken => "the admin-token file",
        }
    }
}

/// How a round ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Served,
    /// Refused, naming `named`; what sled rewrote while it opened the store, on the first and
    /// on the second refused start.
    Refused {
        named: Named,
        rewritten: Rewrite,
        rewritten_again: Rewrite,
    },
}

/// Outcomes per fault kind and file, and what sled rewrote on refused starts.
#[derive(Debug, Default)]
struct Tally {
    outcomes: BTreeMap<(FaultKind, String), BTreeMap<&'static str, usize>>,
    rewrites: BTreeMap<String, usize>,
}

impl Tally {
    fn count(&mut self, fault: &Fault, outcome: &Outcome) {
        let file = fault.file.display().to_string();
        // Snapshot names vary with the store: one row for them all.
        let file = if file.starts_with("ledger/snap.") {
            "ledger/snap.*".to_owned()
        } else {
            file
        };
        let outcomes = self.outcomes.entry((fault.kind, file)).or_default();
        match outcome {
            Outcome::Served => *outcomes.entry("served whole").or_default() += 1,
            Outcome::Refused {
                named,
                rewritten,
                rewritten_again,
            } => {
                *outcomes.entry(named.label()).or_default() += 1;
                for (start, rewrite) in [("first", rewritten), ("second", rewritten_again)] {
                    if !rewrite.files.is_empty() {
                        let phrase = format!("{start} refused start: {}", rewrite.describe());
                        *self.rewrites.entry(phrase).or_default() += 1;
                    }
                }
            }
        }
    }

    fn served(&self) -> usize {
        self.outcomes
            .values()
            .filter_map(|outcomes| outcomes.get("served whole"))
            .sum()
    }

    fn refused(&self) -> usize {
        let all: usize = self
            .outcomes
            .values()
            .flat_map(|outcomes| outcomes.values())
            .sum();
        all - self.served()
    }

    fn report(&self, rounds: usize) {
        eprintln!(
            "ledger fault loop: {rounds} rounds, {} served whole, {} refused",
            self.served(),
            self.refused()
        );
        for ((kind, file), outcomes) in &self.outcomes {
            let total: usize = outcomes.values().sum();
            let each: Vec<String> = outcomes
                .iter()
                .map(|(outcome, count)| {
                    let verb = if *outcome == "served whole" {
                        ""
                    } else {
                        "refused naming "
                    };
                    format!("{verb}{outcome}: {count}")
                })
                .collect();
            eprintln!("  {kind:?} {file} ({total}): {}", each.join(", "));
        }
        for (rewrite, count) in &self.rewrites {
            eprintln!("  {rewrite}: {count}");
        }
    }
}

fn flags(simulator: &stackledger::simulator::Simulator) -> Vec<String> {
    vec![
        format!("--dokploy-url={}", simulator.origin()),
        format!("--dokploy-api-key={SIM_KEY}"),
        format!("--health-url={}", simulator.health_url_template()),
        "--health-interval=1ms".to_owned(),
        "--deploy-poll-interval=1ms".to_owned(),
    ]
}

async fn launch(dir: &Path, flags: &[String]) -> Launch {
    let command = portal::command(dir, flags);
    tokio::task::spawn_blocking(move || Portal::launch(command))
        .await
        .expect("the start finishes")
}

async fn start(dir: &Path, flags: &[String]) -> Portal {
    match launch(dir, flags).await {
        Launch::Serving(portal) => portal,
        Launch::Exited { status, logs } => panic!("an undamaged start failed ({status}): {logs:?}"),
    }
}

async fn kill(portal: Portal) {
    tokio::task::spawn_blocking(move || portal.kill())
        .await
        .expect("the kill finishes");
}

/// A pause of a random length in `millis`: the random moment of a kill or a read.
async fn pause(rng: &mut SmallRng, millis: std::ops::Range<u64>) {
    tokio::time::sleep(Duration::from_millis(rng.random_range(millis))).await;
}

/// Asks for `count` deployments named `prefix`-0, -1, …; returns the accepted ids.
async fn deploy(portal: &Portal, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for stack in 0..count {
        let id = portal.deploy(&format!("{prefix}-{stack}")).await;
        ids.push(id.unwrap_or_else(|| panic!("{prefix}-{stack} is accepted")));
    }
    ids
}

fn admin_token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("admin-token"))
        .expect("the portal keeps its admin token")
        .trim()
        .to_owned()
}

/// Every event the export serves (only durable events, so each was acknowledged).
async fn read_log(portal: &Portal, dir: &Path) -> Acknowledged {
    const PAGE: usize = 10_000;
    let token = admin_token(dir);
    let mut log = Acknowledged::default();
    loop {
        let after = log.head();
        let body = portal.export(&token, after, PAGE).await;
        let before = log.lines.len();
        for line in body.lines() {
            let envelope: Value = serde_json::from_str(line).expect("an envelope per line");
            let seq = envelope["seq"].as_u64().expect("a seq");
            assert!(seq > log.head(), "the export is in seq order");
            log.lines.insert(seq, line.to_owned());
        }
        if log.lines.len() - before < PAGE {
            return log;
        }
    }
}

/// One or two lives of deploying and being killed; returns what was acknowledged at a random
/// moment of the last life.
async fn live_and_die(
    rng: &mut SmallRng,
    dir: &Path,
    flags: &[String],
    round: usize,
) -> Acknowledged {
    let lives = rng.random_range(1..=2);
    let mut acknowledged = Acknowledged::default();
    for life in 0..lives {
        let portal = start(dir, flags).await;
        deploy(
            &portal,
            &format!("f{round}l{life}"),
            rng.random_range(1..=STACKS_MAX),
        )
        .await;
        pause(rng, 0..150).await;
        if life + 1 == lives {
            acknowledged = read_log(&portal, dir).await;
            if rng.random_bool(0.5) {
                deploy(
                    &portal,
                    &format!("f{round}l{life}more"),
                    rng.random_range(1..=2),
                )
                .await;
                pause(rng, 0..50).await;
            }
        }
        kill(portal).await;
    }
    acknowledged
}

/// A served start: every acknowledged event is served unchanged, the chain verifies, the head
/// is at least the acknowledged head.
async fn check_served(portal: Portal, dir: &Path, acknowledged: &Acknowledged, context: &str) {
    let served = read_log(&portal, dir).await;
    for (seq, line) in &acknowledged.lines {
        match served.lines.get(seq) {
            Some(found) => assert_eq!(found, line, "{context}: seq {seq} now holds other content"),
            None => panic!(
                "{context}: silent loss: acknowledged event {seq} is not served (served up to {})",
                served.head()
            ),
        }
    }
    let verdict: Value = http()
        .get(portal.url("/api/ledger/verify"))
        .bearer_auth(admin_token(dir))
        .send()
        .await
        .expect("the portal answers")
        .json()
        .await
        .expect("json");
    assert_eq!(verdict["ok"], true, "{context}: {verdict}");
    let last = verdict["lastSeq"].as_u64().expect("a last seq");
    assert!(
        last >= acknowledged.head(),
        "{context}: head {last} < {}",
        acknowledged.head()
    );
    let (status, logs) = tokio::task::spawn_blocking(move || portal.terminate())
        .await
        .expect("the stop finishes");
    assert!(
        status.success(),
        "{context}: the served portal stops cleanly: {logs:?}"
    );
}

/// The refusal's message: the last error the portal logged.
fn refusal_message(status: ExitStatus, logs: &[String], context: &str) -> String {
    let text = logs.join("\n");
    assert!(!text.contains("panicked"), "{context}: a panic:\n{text}");
    assert!(!status.success(), "{context}: exited {status}:\n{text}");
    logs.iter()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["level"] == "ERROR")
        .find_map(|entry| entry["fields"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("{context}: no error was logged:\n{text}"))
}

/// The `A-B` of every "events A-B" in `message`, with the words that follow it.
fn ranges(message: &str) -> Vec<(u64, u64, &str)> {
    message
        .match_indices("events ")
        .filter_map(|(at, word)| {
            let rest = &message[at + word.len()..];
            let end = rest.find(|c: char| !c.is_ascii_digit() && c != '-')?;
            let (from, to) = rest[..end].split_once('-')?;
            Some((from.parse().ok()?, to.parse().ok()?, &rest[end..]))
        })
        .collect()
}

/// What `message` names, checked against what was acknowledged; None when it names nothing.
fn named(message: &str, acknowledged: &Acknowledged) -> Option<Named> {
    let lost = ranges(message).into_iter().find(|(_, _, after)| {
        after.starts_with(" are lost") || after.starts_with(" were acknowledged")
    });
    if let Some((from, to, _)) = lost {
        return (from >= 1 && from <= to && to >= acknowledged.head())
            .then_some(Named::LostRange { from, to });
    }
    if message.contains("the witness file") {
        Some(Named::Witness)
    } else if message.contains("sled refuses to open it") {
        Some(Named::Sled)
    } else if message.contains("admin token file") {
        Some(Named::AdminToken)
    } else {
        None
    }
}

/// A refused start of the portal on `dir`: its message, and what sled rewrote meanwhile
/// (after checking that nothing was written).
async fn refused_start(dir: &Path, flags: &[String], context: &str) -> (String, Rewrite) {
    let before = fault::fingerprint(dir);
    let shadow = tempfile::tempdir().expect("temp dir");
    fault::copy_dir(dir, shadow.path());
    match launch(dir, flags).await {
        Launch::Serving(_) => panic!("{context}: a refused directory was then served"),
        Launch::Exited { status, logs } => {
            let message = refusal_message(status, &logs, context);
            let rewritten = check_nothing_written(dir, shadow.path(), &before, context);
            (message, rewritten)
        }
    }
}

/// Restarts the faulted portal and checks that it ends in exactly one of the two outcomes.
async fn restart_and_judge(
    dir: &Path,
    flags: &[String],
    acknowledged: &Acknowledged,
    context: &str,
) -> Outcome {
    let faulted = fault::fingerprint(dir);
    let shadow = tempfile::tempdir().expect("temp dir");
    fault::copy_dir(dir, shadow.path());
    let (status, logs) = match launch(dir, flags).await {
        Launch::Serving(portal) => {
            check_served(portal, dir, acknowledged, context).await;
            return Outcome::Served;
        }
        Launch::Exited { status, logs } => (status, logs),
    };
    let message = refusal_message(status, &logs, context);
    let named = named(&message, acknowledged)
        .unwrap_or_else(|| panic!("{context}: the refusal names nothing it should: {message}"));
    assert!(
        message.contains("Next:"),
        "{context}: no next step: {message}"
    );
    let rewritten = check_nothing_written(dir, shadow.path(), &faulted, context);
    let (again, rewritten_again) = refused_start(dir, flags, context).await;
    assert_eq!(
        again, message,
        "{context}: the second start refuses the same way"
    );
    Outcome::Refused {
        named,
        rewritten,
        rewritten_again,
    }
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_after_a_kill_is_served_whole_or_refused_with_what_was_lost() {
    let rounds = env_number("STACKLEDGER_FAULT_ROUNDS", ROUNDS_DEFAULT);
    let seed = env_number("STACKLEDGER_FAULT_SEED", SEED_DEFAULT);
    let simulator = simulator().await;
    let flags = flags(&simulator);
    let mut tally = Tally::default();
    for round in 0..rounds {
        let round_seed = seed.wrapping_add(round as u64);
        let mut rng = SmallRng::seed_from_u64(round_seed);
        let dir = tempfile::tempdir().expect("temp dir");
        let acknowledged = live_and_die(&mut rng, dir.path(), &flags, round).await;
        let fault = Fault::random(&mut rng, dir.path());
        fault.apply(dir.path());
        let context = format!(
            "round {round} (seed {round_seed}, {} events acknowledged): {fault}",
            acknowledged.head()
        );
        let outcome = restart_and_judge(dir.path(), &flags, &acknowledged, &context).await;
        tally.count(&fault, &outcome);
    }
    tally.report(rounds);
    if rounds >= ROUNDS_DEFAULT {
        assert!(
            tally.served() > 0 && tally.refused() > 0,
            "the loop saw both outcomes: {tally:?}"
        );
    }
}

/// Reads every deployment's status stream to its verdict.
async fn wait_for_verdicts(portal: &Portal, ids: &[String]) {
    for id in ids {
        let stream = http().get(portal.url(&format!("/api/status/{id}"))).send();
        let body = tokio::time::timeout(Duration::from_secs(60), async {
            stream
                .await
                .expect("the stream opens")
                .text()
                .await
                .expect("the stream ends")
        })
        .await
        .unwrap_or_else(|_| panic!("{id} did not finish"));
        assert!(body.contains("event: complete"), "{id} succeeded: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_11_a_flipped_byte_in_the_middle_of_the_store_is_refused_with_the_lost_range() {
    let simulator = simulator().await;
    let flags = flags(&simulator);
    let dir = tempfile::tempdir().expect("temp dir");
    let portal = start(dir.path(), &flags).await;
    let ids = deploy(&portal, "six", 6).await;
    wait_for_verdicts(&portal, &ids).await;
    let acknowledged = read_log(&portal, dir.path()).await;
    kill(portal).await;
    let fault = Fault::flip(dir.path(), "ledger/db", 48_000, 0x01);
    fault.apply(dir.path());
    let context = format!("{} events acknowledged, {fault}", acknowledged.head());
    let outcome = restart_and_judge(dir.path(), &flags, &acknowledged, &context).await;
    let Outcome::Refused {
        named: Named::LostRange { from, to },
        rewritten,
        ..
    } = &outcome
    else {
        panic!("{context}: not refused with the lost range: {outcome:?}");
    };
    let (from, to) = (*from, *to);
    // The export is an operator action: its own record (`LedgerExported`, issue 13) was
    // acknowledged right after the events it served.
    assert_eq!(
        to,
        acknowledged.head() + 1,
        "{context}: the range ends at the acknowledged head"
    );
    assert!(from > 1 && from <= to, "{context}: events {from}-{to}");
    eprintln!(
        "{context}: refused naming events {from}-{to}; {}",
        rewritten.describe()
    );
}
