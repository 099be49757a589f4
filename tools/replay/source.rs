//! Where the replay tool reads the log from: a stopped server's data directory, an NDJSON
//! export, or a running server's export endpoint. Every source yields the envelopes in seq
//! order; a data directory is opened read-only and verified as it is read (the ledger's own
//! verification), an export is verified when asked to.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use stackledger::ledger::envelope::Envelope;
use stackledger::ledger::error::{LedgerError, StoreError};
use stackledger::ledger::{LedgerReader, Verification};

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
    /// The running server read from (origin, token), so `verify` can compare its views.
    pub(crate) server: Option<(String, String)>,
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
    let reader = LedgerReader::open(ledger).map_err(|error| open_error(dir, error))?;
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

/// Why a data directory cannot be read, with what to do instead.
fn open_error(dir: &Path, error: LedgerError) -> anyhow::Error {
    match error {
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

fn parse_ndjson(text: &str) -> anyhow::Result<Vec<Envelope>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str::<Envelope>(line)
                .with_context(|| format!("line {} is not an envelope", index + 1))
        })
        .collect()
}

/// Pages through `GET /api/ledger/events` until the server has nothing more.
fn from_server(origin: &str, token: &str) -> anyhow::Result<Loaded> {
    const PAGE: usize = 10_000;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut events: Vec<Envelope> = Vec::new();
        let mut progress = Progress::new();
        loop {
            let after = events.last().map_or(0, |e| e.seq.0);
            let url = format!(
                "{}/api/ledger/events?after={after}&limit={PAGE}",
                origin.trim_end_matches('/')
            );
            let response = client
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .with_context(|| format!("cannot reach {origin}"))?;
            if response.status() == 401 {
                bail!("{origin} refused the token (401)");
            }
            if !response.status().is_success() {
                bail!("{origin} answered {}", response.status());
            }
            let page = parse_ndjson(&response.text().await?)?;
            let done = page.len() < PAGE;
            events.extend(page);
            progress.tick(events.len());
            if done {
                progress.done();
                let server = Some((origin.trim_end_matches('/').to_owned(), token.to_owned()));
                return Ok(Loaded {
                    events,
                    verification: None,
                    server,
                });
            }
        }
    })
}

/// The deployments whose view the server serves differently from this log's fold (only those
/// the server has no newer events for are compared).
pub(crate) fn differing_views(
    origin: &str,
    token: &str,
    model: &stackledger::projection::ReadModel,
) -> anyhow::Result<Vec<String>> {
    use stackledger::projection::{DeploymentView, ListQuery};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let query = ListQuery {
        limit: usize::MAX,
        ..ListQuery::default()
    };
    let expected: Vec<(String, serde_json::Value)> = model
        .list(&query)
        .into_iter()
        .map(|state| {
            Ok((
                state.id.to_string(),
                serde_json::to_value(DeploymentView::of(state))?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut differing = Vec::new();
        for (id, view) in expected {
            let served: serde_json::Value = client
                .get(format!("{origin}/api/deployment/{id}"))
                .bearer_auth(token)
                .send()
                .await?
                .json()
                .await?;
            let served = &served["deployment"];
            if served["lastSeq"] == view["lastSeq"] && *served != view {
                differing.push(id);
            }
        }
        Ok(differing)
    })
}
