//! `spawn_app`: the portal in-process on 127.0.0.1:0, wired and served exactly as `main` does, against a
//! simulator the test owns (so that it outlives a restart of the portal).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use clap::Parser;
use stackledger::app::{App, AppError};
use stackledger::clock::SystemClock;
use stackledger::config::Cli;
use stackledger::ids::RandomIds;
use stackledger::simulator::Simulator;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::SIM_KEY;

/// A running portal.
pub(crate) struct TestApp {
    pub(crate) address: SocketAddr,
    pub(crate) app: App,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl TestApp {
    /// `http://ADDRESS{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Graceful shutdown, as on SIGTERM: streams end, the server stops, the ledger closes.
    pub(crate) async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        self.app.shutdown().await;
    }
}

/// Builds (without serving) the portal on `data_dir` against `simulator`, with millisecond
/// intervals and `extra` flags, or says why it refuses to.
pub(crate) async fn build_app(
    data_dir: &Path,
    simulator: &Simulator,
    extra: &[&str],
) -> Result<App, AppError> {
    let mut flags = vec![
        "stackledger".to_owned(),
        format!("--data-dir={}", data_dir.display()),
        format!("--dokploy-url={}", simulator.origin()),
        format!("--dokploy-api-key={SIM_KEY}"),
        format!("--health-url={}", simulator.health_url_template()),
        "--health-interval=1ms".to_owned(),
        "--deploy-poll-interval=1ms".to_owned(),
    ];
    // Checkpoints are off unless a test asks for them: an ordinary start then verifies the
    // whole log, which the damaged-ledger tests rely on.
    if !extra
        .iter()
        .any(|flag| flag.starts_with("--checkpoint-events"))
    {
        flags.push("--checkpoint-events=0".to_owned());
    }
    flags.extend(extra.iter().map(|flag| (*flag).to_owned()));
    let config = Cli::try_parse_from(flags).expect("valid flags").serve;
    App::build(&config, Arc::new(SystemClock), Arc::new(RandomIds)).await
}

/// Starts the portal on `data_dir` against `simulator`, with millisecond intervals and `extra`
/// flags.
pub(crate) async fn spawn_app(data_dir: &Path, simulator: &Simulator, extra: &[&str]) -> TestApp {
    let app = build_app(data_dir, simulator, extra)
        .await
        .expect("the portal builds");
    // As `main` does: a read-only portal records no start and recovers nothing.
    if app.ledger.read_only().is_none() {
        // As `main` does: damage the background verification found first refuses the start
        // record, and the portal serves without writes.
        match app.record_start().await {
            Ok(()) => {
                app.orchestrator.recover().await.expect("recovery starts");
            }
            Err(stackledger::ledger::error::LedgerError::ChainDamaged { .. }) => {}
            Err(error) => panic!("the start is not recorded: {error}"),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let address = listener.local_addr().expect("an address");
    let (stop, stopped) = watch::channel(false);
    let router = app.router(stopped.clone());
    let limits = app.limits;
    let mut signal = stopped;
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = signal.wait_for(|stop| *stop).await;
        };
        let _ = stackledger::http::server::serve(listener, router, limits, shutdown).await;
    });
    TestApp {
        address,
        app,
        stop,
        server,
    }
}

/// One SSE message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub(crate) event: String,
    pub(crate) id: Option<u64>,
    pub(crate) data: serde_json::Value,
}

/// Parses a whole SSE body into its messages (comments skipped).
pub(crate) fn parse_sse(body: &str) -> Vec<Message> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut id = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    event = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("id:") {
                    id = value.trim().parse().ok();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            let event = event?;
            let data = serde_json::from_str(&data).unwrap_or(serde_json::Value::Null);
            Some(Message { event, id, data })
        })
        .collect()
}

impl TestApp {
    /// Deploys `name` over HTTP; returns the accepted deployment's id.
    pub(crate) async fn deploy(&self, name: &str) -> String {
        let body: serde_json::Value = super::http()
            .post(self.url("/api/deploy"))
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("json");
        body["deploymentId"]
            .as_str()
            .unwrap_or_else(|| panic!("accepted: {body}"))
            .to_owned()
    }

    /// Deploys `name` over HTTP and reads its status stream to the end; returns the id.
    pub(crate) async fn deploy_and_wait(&self, name: &str) -> String {
        let id = self.deploy(name).await;
        let stream = super::http()
            .get(self.url(&format!("/api/status/{id}")))
            .send();
        tokio::time::timeout(std::time::Duration::from_secs(60), async {
            stream.await.expect("opens").text().await
        })
        .await
        .expect("the deployment ended in time")
        .expect("the stream reads");
        id
    }
}
