//! Configuration of the `stackledger` binary: flags, each with an environment fallback.
//!
//! This is the only code that reads environment variables. [`Config`] is what the operator
//! wrote, as text wherever a value has a rule beyond its syntax; [`Settings::from_config`]
//! checks it once into [`Settings`], reporting every refusal together, each naming its flag and
//! environment variable. Values the parser itself types (addresses, paths, choices, the log
//! format needed before anything is logged) are refused by clap at once, naming the flag.
//! Secrets are taken as [`SecretText`], whose parsing cannot fail, so a parse error never quotes
//! one.
//! Defaults come from [`crate::defaults`]; nothing here writes a default of its own.

mod check;
mod client;
pub mod error;
pub mod flag;
pub mod settings;
mod simulator;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::crash::CrashAt;
use crate::defaults;
use crate::deployment::plan::{OutagePolicy, RecoveryPolicy};
pub use crate::secret::ApiKey;
use crate::secret::{SecretText, SecretTextParser};
pub use error::{ConfigError, ConfigErrors};
pub use settings::{
    BreakerSettings, DokployTarget, RetrySettings, Settings, StackSettings, Timings,
};
pub use simulator::SimulatorSettings;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The command line: the portal (no subcommand), `simulate`, or `restore`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "stackledger",
    version,
    about = "Self-service deployment portal with an event-sourced ledger",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to run instead of the portal.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The portal's configuration.
    #[command(flatten)]
    pub serve: Config,
}

/// Other things the binary runs.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the Dokploy simulator as its own process (tests kill the portal while it lives on).
    Simulate(SimulateConfig),
    /// Rebuild a data directory's ledger from its mirror or an NDJSON export (stop the server
    /// first). The old ledger is moved aside, never deleted.
    Restore(RestoreConfig),
    /// List, add or revoke the named admin tokens of a running portal (over its HTTP API).
    Tokens(TokensConfig),
}

/// `stackledger tokens`: what to do, on which portal, with which admin token.
#[derive(Debug, Clone, Args)]
pub struct TokensConfig {
    /// What to do.
    #[command(subcommand)]
    pub action: TokensAction,
    /// The running portal's origin (`http://127.0.0.1:3000`).
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// An admin token in force (the configured one, or a named one). Never shown.
    #[arg(long, global = true, env = "ADMIN_TOKEN", hide_env_values = true,
          allow_hyphen_values = true, value_parser = SecretTextParser)]
    pub admin_token: Option<SecretText>,
    /// A file holding the admin token (such as `<data-dir>/admin-token`), when neither
    /// --admin-token nor ADMIN_TOKEN gives it.
    #[arg(long, global = true)]
    pub token_file: Option<PathBuf>,
}

/// The token actions.
#[derive(Debug, Clone, Subcommand)]
pub enum TokensAction {
    /// The named tokens in force.
    List,
    /// Add a token named NAME: the given one, or one the portal generates and shows this once.
    Add {
        /// 1 to 32 characters of a-z, 0-9, - and _ (not `admin`).
        name: String,
        /// The token to add (checked by the portal's strength rules); generated when absent.
        #[arg(long, allow_hyphen_values = true, value_parser = SecretTextParser)]
        token: Option<SecretText>,
    },
    /// Revoke the token named NAME: it is refused from then on.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// What `stackledger restore` restores, and from where (exactly one source).
#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["mirror", "export"]))]
pub struct RestoreConfig {
    /// The data directory whose `ledger` is rebuilt (its admin token is left alone).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The mirror directory the server wrote with --mirror.
    #[arg(long)]
    pub mirror: Option<PathBuf>,
    /// An NDJSON export (`GET /api/ledger/events`, `stackledger-replay export`).
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Log line format.
    #[arg(long, value_enum, default_value = defaults::LOG_FORMAT)]
    pub log_format: LogFormat,
}

/// The standalone simulator's configuration.
#[derive(Debug, Clone, Args)]
pub struct SimulateConfig {
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = defaults::SIMULATOR_LISTEN)]
    pub listen: SocketAddr,
    /// The key callers must send as `x-api-key`. Never logged or shown.
    #[arg(long, env = "SIMULATOR_API_KEY", hide_env_values = true, allow_hyphen_values = true,
          value_parser = SecretTextParser)]
    pub api_key: SecretText,
    /// Seed of the simulator's id generator.
    #[arg(long, default_value_t = defaults::SIMULATOR_SEED)]
    pub seed: u64,
    /// `deployment.all` polls a deploy stays `running`.
    #[arg(long, default_value_t = defaults::SIMULATOR_DEPLOY_POLLS)]
    pub deploy_polls: std::num::NonZeroU32,
    /// Builds the simulated Dokploy runs at once (its `buildsConcurrency`); more deploys wait
    /// in its queue, without a row.
    #[arg(long, env = "SIMULATOR_BUILDS", default_value_t = defaults::SIMULATOR_BUILDS)]
    pub builds: std::num::NonZeroU32,
    /// How long one build takes at least (`0s`: only --deploy-polls counts).
    #[arg(long, env = "SIMULATOR_BUILD_DURATION",
          default_value = defaults::SIMULATOR_BUILD_DURATION.text)]
    pub build_duration: String,
    /// Act as a Dokploy with "remote servers only" (or Cloud): `application.create` without a
    /// `serverId` is refused with 401.
    #[arg(long, env = "SIMULATOR_REMOTE_SERVERS_ONLY")]
    pub remote_servers_only: bool,
    /// The id of the one remote server the simulated Dokploy knows.
    #[arg(long, env = "SIMULATOR_SERVER_ID")]
    pub server_id: Option<String>,
    /// Log line format.
    #[arg(long, value_enum, default_value = defaults::LOG_FORMAT)]
    pub log_format: LogFormat,
}

/// The portal's configuration as given: checked once into [`Settings`].
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port; the chosen address is logged).
    #[arg(long, env = "LISTEN", default_value = defaults::LISTEN)]
    pub listen: SocketAddr,

    /// Directory holding the ledger (created if missing).
    #[arg(long, env = "DATA_DIR", default_value = defaults::DATA_DIR)]
    pub data_dir: PathBuf,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = defaults::LOG_FORMAT)]
    pub log_format: LogFormat,

    /// A directory (on another disk) holding a synchronous, verified mirror of the log: every
    /// event is in it, durably, before it is acknowledged. `stackledger restore` rebuilds the
    /// ledger from it.
    #[arg(long, env = "MIRROR_DIR")]
    pub mirror: Option<PathBuf>,

    /// Dokploy's origin (`https://dokploy.example.com`; `/api` is added). Without it and the
    /// key, StackLedger runs its built-in Dokploy simulator.
    #[arg(long, env = "DOKPLOY_URL")]
    pub dokploy_url: Option<String>,

    /// Dokploy API key (Settings → API Keys). Never logged or shown.
    #[arg(long, env = "DOKPLOY_API_KEY", hide_env_values = true, allow_hyphen_values = true,
          value_parser = SecretTextParser)]
    pub dokploy_api_key: Option<SecretText>,

    /// The Dokploy server new applications are built on, sent as `serverId` (Dokploy Cloud
    /// and installs with "remote servers only" refuse `application.create` without one).
    #[arg(long, env = "DOKPLOY_SERVER_ID")]
    pub dokploy_server_id: Option<String>,

    /// The largest `project.all` answer read (as a stream, one project at a time), used only
    /// with a Dokploy older than `project.search` (v0.28.3); other answers stay capped at 4 MiB.
    #[arg(long, env = "DOKPLOY_LIST_BYTES_MAX",
          default_value_t = defaults::DOKPLOY_LIST_BYTES_MAX.to_string())]
    pub dokploy_list_bytes_max: String,

    /// The Docker image every stack runs.
    #[arg(long, env = "STACK_IMAGE", default_value = defaults::STACK_IMAGE)]
    pub stack_image: String,

    /// Stacks answer at `https://NAME.<suffix>`.
    #[arg(long, env = "STACK_DOMAIN_SUFFIX", default_value = defaults::DOMAIN_SUFFIX)]
    pub domain_suffix: String,

    /// The container port the domain routes to.
    #[arg(long, env = "STACK_PORT", default_value_t = defaults::STACK_PORT.to_string())]
    pub stack_port: String,

    /// The health URL template (`{name}`, `{suffix}`); default `https://{name}.{suffix}/health`,
    /// in simulator mode the simulator's.
    #[arg(long, env = "HEALTH_URL")]
    pub health_url: Option<String>,

    /// How long a stack may take to answer 200 on its health URL (0s: one probe).
    #[arg(long, env = "HEALTH_TIMEOUT", default_value = defaults::HEALTH_TIMEOUT.text)]
    pub health_timeout: String,

    /// Time between health polls.
    #[arg(long, env = "HEALTH_INTERVAL", default_value = defaults::HEALTH_INTERVAL.text)]
    pub health_interval: String,

    /// With the built-in simulator: how long one of its builds takes at least (short in the
    /// demo, so that the build queue shows; `0s` in tests).
    #[arg(long, env = "SIMULATOR_BUILD_DURATION",
          default_value = defaults::EMBEDDED_SIMULATOR_BUILD_DURATION.text)]
    pub simulator_build_duration: String,

    /// Time between polls of Dokploy's deployment list.
    #[arg(long, env = "DEPLOY_POLL_INTERVAL", default_value = defaults::DEPLOY_POLL_INTERVAL.text)]
    pub deploy_poll_interval: String,

    /// How long Dokploy's build of a deploy may run (from its row appearing to a final
    /// status).
    #[arg(long, env = "DEPLOY_TIMEOUT", default_value = defaults::DEPLOY_TIMEOUT.text)]
    pub deploy_timeout: String,

    /// How long a deploy may wait in Dokploy's build queue (no row yet) before it is taken as
    /// lost and queued again once; a second time fails the deployment.
    #[arg(long, env = "DEPLOY_QUEUE_TIMEOUT", default_value = defaults::DEPLOY_QUEUE_TIMEOUT.text)]
    pub deploy_queue_timeout: String,

    /// Builds the portal hands Dokploy at once (Dokploy's `buildsConcurrency`, 1 by default);
    /// more deployments wait in the portal's line, shown their place.
    #[arg(long, env = "DOKPLOY_BUILDS", default_value_t = defaults::DOKPLOY_BUILDS.to_string())]
    pub dokploy_builds: String,
    /// How long a rollback waits for the deployment's still-running build before it deletes
    /// the application (0s: never waits; past it the application is left and the rollback is
    /// incomplete).
    #[arg(long, env = "ROLLBACK_BUILD_WAIT", default_value = defaults::ROLLBACK_BUILD_WAIT.text)]
    pub rollback_build_wait: String,

    /// The first retry's backoff ceiling (doubling up to --retry-delay-max, full jitter).
    #[arg(long, env = "RETRY_BASE", default_value = defaults::RETRY_BASE.text)]
    pub retry_base: String,

    /// The largest backoff ceiling.
    #[arg(long, env = "RETRY_DELAY_MAX", default_value = defaults::RETRY_DELAY_MAX.text)]
    pub retry_delay_max: String,

    /// Retries after a failed Dokploy call's first attempt.
    #[arg(long, env = "RETRIES_MAX", default_value_t = defaults::RETRIES_MAX.to_string())]
    pub retries_max: String,

    /// Consecutive Dokploy failures that open the circuit breaker.
    #[arg(long, env = "BREAKER_FAILURES", default_value_t = defaults::BREAKER_FAILURES.to_string())]
    pub breaker_failures: String,

    /// How long the open breaker fails calls fast before one probe.
    #[arg(long, env = "BREAKER_OPEN_FOR", default_value = defaults::BREAKER_OPEN_FOR.text)]
    pub breaker_open_for: String,

    /// The ops API's bearer token (at least 16 characters); without it one is generated at
    /// first start into `<data-dir>/admin-token` (mode 0600) and kept. Never logged or shown.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true, allow_hyphen_values = true,
          value_parser = SecretTextParser)]
    pub admin_token: Option<SecretText>,

    /// Deploy requests one client may make per minute (its burst too).
    #[arg(long, env = "DEPLOY_RATE", default_value_t = defaults::DEPLOY_RATE.to_string())]
    pub deploy_rate: String,

    /// Take the client's address from `X-Forwarded-For` (only behind a proxy you run).
    #[arg(long, env = "TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// Open SSE streams at most; more are refused with 503.
    #[arg(long, env = "SSE_MAX", default_value_t = defaults::SSE_MAX.to_string())]
    pub sse_max: String,

    /// Open SSE streams one client may hold; more are refused with 429.
    #[arg(long, env = "SSE_CLIENT_MAX", default_value_t = defaults::SSE_CLIENT_MAX.to_string())]
    pub sse_client_max: String,

    /// Open connections at most (SSE streams included); more are answered 503 and closed. The
    /// server raises its file-descriptor limit to fit, and refuses to start when it cannot.
    #[arg(long, env = "CONNECTIONS_MAX", default_value_t = defaults::CONNECTIONS_MAX.to_string())]
    pub connections_max: String,

    /// The request line and headers must arrive within this; an idle connection is closed
    /// after it too.
    #[arg(long, env = "HEADER_TIMEOUT", default_value = defaults::HEADER_TIMEOUT.text)]
    pub header_timeout: String,

    /// A request body must arrive whole within this (408 otherwise).
    #[arg(long, env = "BODY_TIMEOUT", default_value = defaults::BODY_TIMEOUT.text)]
    pub body_timeout: String,

    /// Every answer but the SSE stream must be complete within this (408 otherwise).
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = defaults::REQUEST_TIMEOUT.text)]
    pub request_timeout: String,

    /// The longest request target (path and query) accepted; longer is refused with 414.
    #[arg(long, env = "URL_BYTES_MAX", default_value_t = defaults::URL_BYTES_MAX.to_string())]
    pub url_bytes_max: String,

    /// The most header bytes (names and values) a request may carry; more is refused with 431.
    #[arg(long, env = "HEADER_BYTES_MAX", default_value_t = defaults::HEADER_BYTES_MAX.to_string())]
    pub header_bytes_max: String,

    /// The most header fields a request may carry; more is refused with 431.
    #[arg(long, env = "HEADERS_MAX", default_value_t = defaults::HEADERS_MAX.to_string())]
    pub headers_max: String,

    /// Deployments running at once; more wait in the admission queue, in order.
    #[arg(long, env = "RUNNING_MAX", default_value_t = defaults::RUNNING_MAX.to_string())]
    pub running_max: String,

    /// Deployments that may wait in the admission queue for a running slot; past that new
    /// deployments are refused with 503 (0: no queue). Recovered deployments always queue.
    #[arg(long, env = "QUEUE_MAX", default_value_t = defaults::QUEUE_MAX.to_string())]
    pub queue_max: String,

    /// How long one request to Dokploy may take (connect, send, answer); a timed-out call is
    /// retried within its own deadline.
    #[arg(long, env = "DOKPLOY_TIMEOUT", default_value = defaults::DOKPLOY_TIMEOUT.text)]
    pub dokploy_timeout: String,

    /// How long a deployment may take from its request (recorded with it): past it, it fails
    /// with `deadline_exceeded` at its next step and rolls back, also after a restart.
    #[arg(long, env = "DEPLOYMENT_DEADLINE", default_value = defaults::DEPLOYMENT_DEADLINE.text)]
    pub deployment_deadline: String,

    /// What a deployment does while Dokploy is not answering (the breaker is open): wait at its
    /// next step until the breaker closes or its deadline passes, or fail and roll back.
    #[arg(long, env = "ON_OUTAGE", value_enum, default_value = defaults::ON_OUTAGE)]
    pub on_outage: OutagePolicy,

    /// What startup does with deployments a crash interrupted.
    #[arg(long, env = "RECOVERY", value_enum, default_value = defaults::RECOVERY)]
    pub recovery: RecoveryPolicy,

    /// Serve the ledger read-only, to audit it: even a damaged one is served up to its first
    /// damage (shown in /health and on the audit page); deploys are refused with 503, nothing is
    /// recovered, and nothing in the data directory is written.
    #[arg(long, env = "READ_ONLY")]
    pub read_only: bool,

    /// Take a checkpoint of the ledger every this many events and at a clean shutdown, so
    /// that a restart verifies and folds only the events after the last one (0: never).
    #[arg(long, env = "CHECKPOINT_EVENTS", default_value_t = defaults::CHECKPOINT_EVENTS.to_string())]
    pub checkpoint_events: String,

    /// Crash tests only: abort at the Nth time a crash point is reached (`after_append:7`).
    #[arg(long, env = "STACKLEDGER_CRASH_AT", hide = true)]
    pub crash_at: Option<CrashAt>,
}

impl Config {
    /// Where the ledger lives inside the data directory.
    pub fn ledger_dir(&self) -> PathBuf {
        self.data_dir.join("ledger")
    }
}

#[cfg(test)]
mod tests;
