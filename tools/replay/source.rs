//! Where the replay tool reads the log from: a stopped server's data directory, an NDJSON
//! export, or a running server's export endpoint ([`crate::server`]). Every source yields the envelopes in seq
//! order; a data directory is opened read-only and verified as it is read (the ledger's own
//! verification), an export is verified when asked to.
//!
//! It never writes to a source: a data directory is opened with `LedgerReader` (no writer, no
//! head or format stamp), a file is only read, and a server is only sent GETs.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use stackledger::ledger::envelope::Envelope;
use stackledger::ledger::error::{LedgerError, StoreError};
use stackledger::ledger::{LedgerReader, Verification};

use crate::server::Server;

#[derive(Debug, Args)]
pub(crate) struct SourceArgs {
    /// A stopped server's data directory (or its `ledger` directory).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// An NDJSON export (`GET /api/ledger/events` or `export`).
    #[arg(long, global = true)]
    file: Option<PathBuf>,
    /// A running server's origin (`http://127.0.0.1:3000`).
    #[arg(long, global = true)]
    from: Option<String>,
    /// The server's admin token (with --from).
    #[arg(long, global = true, env = "ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// The log as read: up to the first damage, if it was verified as it was read.
pub(crate) struct Loaded {
    pub(crate) events: Vec<Envelope>,
    /// The verification made while reading (a data directory's); None when not yet verified.
    pub(crate) verification: Option<Verification>,
    /// The running server read from, so `verify` can compare its views.
    pub(crate) server: Option<Server>,
}

/// Shows how far a long read got, on a terminal only.
struct Progress {
    shown: bool,
}

impl Progress {
    fn new() -> Self {
        Self { shown: false }
    }

    fn tick(&mut self, events: usize) {
        use std::io::IsTerminal;
        if events.is_multiple_of(100_000) && events > 0 && std::io::stderr().is_terminal() {
            eprint!("\rread {events} events…");
            self.shown = true;
        }
    }

    fn done(self) {
        if self.shown {
            eprintln!();
        }
    }
}

pub(crate) fn load(args: &SourceArgs) -> anyhow::Result<Loaded> {
    match (&args.data_dir, &args.file, &args.from) {
        (Some(dir), None, None) => from_data_dir(dir),
        (None, Some(file), None) => from_file(file),
        (None, None, Some(origin)) => {
            let token = args
                .token
                .as_deref()
                .context("--from needs --token (the admin token)")?;
            from_server(origin, token)
        }
        _ => bail!("give exactly one source: --data-dir DIR, --file FILE, or --from URL --token T"),
    }
}

fn from_data_dir(dir: &Path) -> anyhow::Result<Loaded> {
    let nested = dir.join("ledger");
    let ledger = if nested.is_dir() { &nested } else { dir };
    let reader = LedgerReader::open_untouched(ledger, &std::env::temp_dir())
        .map_err(|error| open_error(dir, error))?;
    let mut events = Vec::new();
    let mut progress = Progress::new();
    let verification = reader.verify(&mut |envelope| {
        events.push(envelope);
        progress.tick(events.len());
    })?;
    progress.done();
    Ok(Loaded {
        events,
        verification: Some(verification),
        server: None,
    })
}

/// Damage found before the log could be read at all (a witness that is missing or damaged, a
/// store its engine refuses, a store that is gone): a verification failure, exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DamageFound(pub(crate) String);

/// Why a data directory cannot be read, with what to do instead.
fn open_error(dir: &Path, error: LedgerError) -> anyhow::Error {
    match error {
        error @ (LedgerError::Witness(_)
        | LedgerError::Refused(_)
        | LedgerError::Open(StoreError::Corrupt { .. })) => {
            anyhow::Error::new(DamageFound(error.to_string()))
        }
        LedgerError::Open(StoreError::Locked { path }) => anyhow::anyhow!(
            "the ledger in {path} is in use by a running server; read it through the server with --from URL --token T"
        ),
        LedgerError::Open(StoreError::NotFound { .. }) => {
            anyhow::anyhow!("{} holds no StackLedger ledger", dir.display())
        }
        other => anyhow::Error::new(other),
    }
}

fn from_file(file: &Path) -> anyhow::Result<Loaded> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let events = parse_ndjson(&text)
        .with_context(|| format!("{} is not an NDJSON export", file.display()))?;
    Ok(Loaded {
        events,
        verification: None,
        server: None,
    })
}

pub(crate) fn parse_ndjson(text: &str) -> anyhow::Result<Vec<Envelope>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str::<Envelope>(line)
                .with_context(|| format!("line {} is not an envelope", index + 1))
        })
        .collect()
}

/// Pages through the server's export until it has nothing more.
fn from_server(origin: &str, token: &str) -> anyhow::Result<Loaded> {
    const PAGE: usize = 10_000;
    let server = Server::new(origin, token)?;
    let mut events: Vec<Envelope> = Vec::new();
    let mut progress = Progress::new();
    loop {
        let page = server.page(events.last().map_or(0, |e| e.seq.0), PAGE)?;
        let done = page.len() < PAGE;
        events.extend(page);
        progress.tick(events.len());
        if done {
            progress.done();
            return Ok(Loaded {
                events,
                verification: None,
                server: Some(server),
            });
        }
    }
}
