//! Configuration of the `stackledger` binary: flags, each with an environment fallback.
//!
//! This is the only code that reads environment variables. A bad value is refused at startup
//! with a message naming the flag (clap does this for every typed flag).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::crash::CrashAt;
use crate::defaults;
use crate::orchestrator::RecoveryPolicy;
pub use crate::secret::ApiKey;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The command line: the portal (no subcommand), or `simulate`.
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
}

/// The standalone simulator's configuration.
#[derive(Debug, Clone, Args)]
pub struct SimulateConfig {
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = defaults::SIMULATOR_LISTEN)]
    pub listen: SocketAddr,
    /// The key callers must send as `x-api-key`.
    #[arg(long, env = "SIMULATOR_API_KEY")]
    pub api_key: ApiKey,
    /// Seed of the simulator's id generator.
    #[arg(long, default_value_t = defaults::SIMULATOR_SEED)]
    pub seed: u64,
    /// `deployment.all` polls a deploy stays `running`.
    #[arg(long, default_value_t = defaults::SIMULATOR_DEPLOY_POLLS)]
    pub deploy_polls: u32,
    /// Log line format.
    #[arg(long, value_enum, default_value = defaults::LOG_FORMAT)]
    pub log_format: LogFormat,
}

/// The portal's configuration.
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

    /// Dokploy's origin (`https://dokploy.example.com`). Without it and the key, StackLedger
    /// runs its built-in Dokploy simulator.
    #[arg(long, env = "DOKPLOY_URL")]
    pub dokploy_url: Option<reqwest::Url>,

    /// Dokploy API key (Settings → API Keys). Never logged or shown.
    #[arg(long, env = "DOKPLOY_API_KEY", hide_env_values = true)]
    pub dokploy_api_key: Option<ApiKey>,

    /// The Docker image every stack runs.
    #[arg(long, env = "STACK_IMAGE", default_value = defaults::STACK_IMAGE)]
    pub stack_image: String,

    /// Stacks answer at `https://NAME.<suffix>`.
    #[arg(long, env = "STACK_DOMAIN_SUFFIX", default_value = defaults::DOMAIN_SUFFIX)]
    pub domain_suffix: String,

    /// The container port the domain routes to.
    #[arg(long, env = "STACK_PORT", default_value_t = defaults::STACK_PORT.get())]
    pub stack_port: u16,

    /// The health URL template (`{name}`, `{suffix}`); in simulator mode the simulator's.
    #[arg(long, env = "HEALTH_URL")]
    pub health_url: Option<String>,

    /// How long a stack may take to answer 200 on its health URL.
    #[arg(long, env = "HEALTH_TIMEOUT", default_value = defaults::HEALTH_TIMEOUT.text, value_parser = duration)]
    pub health_timeout: Duration,

    /// Time between health polls.
    #[arg(long, env = "HEALTH_INTERVAL", default_value = defaults::HEALTH_INTERVAL.text, value_parser = duration)]
    pub health_interval: Duration,

    /// Time between polls of Dokploy's deployment list.
    #[arg(long, env = "DEPLOY_POLL_INTERVAL", default_value = defaults::DEPLOY_POLL_INTERVAL.text, value_parser = duration)]
    pub deploy_poll_interval: Duration,

    /// How long Dokploy may take to finish a deploy (queued and running).
    #[arg(long, env = "DEPLOY_TIMEOUT", default_value = defaults::DEPLOY_TIMEOUT.text, value_parser = duration)]
    pub deploy_timeout: Duration,

    /// The first retry's backoff ceiling (doubling up to --retry-delay-max, full jitter).
    #[arg(long, env = "RETRY_BASE", default_value = defaults::RETRY_BASE.text, value_parser = duration)]
    pub retry_base: Duration,

    /// The largest backoff ceiling.
    #[arg(long, env = "RETRY_DELAY_MAX", default_value = defaults::RETRY_DELAY_MAX.text, value_parser = duration)]
    pub retry_delay_max: Duration,

    /// Retries after a failed Dokploy call's first attempt.
    #[arg(long, env = "RETRIES_MAX", default_value_t = defaults::RETRIES_MAX)]
    pub retries_max: u32,

    /// Consecutive Dokploy failures that open the circuit breaker.
    #[arg(long, env = "BREAKER_FAILURES", default_value_t = defaults::BREAKER_FAILURES.get())]
    pub breaker_failures: u32,

    /// How long the open breaker fails calls fast before one probe.
    #[arg(long, env = "BREAKER_OPEN_FOR", default_value = defaults::BREAKER_OPEN_FOR.text, value_parser = duration)]
    pub breaker_open_for: Duration,

    /// The ops API's bearer token; without it one is generated at first start into
    /// `<data-dir>/admin-token` (mode 0600) and kept.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<ApiKey>,

    /// Deploy requests one client may make per minute (its burst too).
    #[arg(long, env = "DEPLOY_RATE", default_value_t = defaults::DEPLOY_RATE.get())]
    pub deploy_rate: u32,

    /// Take the client's address from `X-Forwarded-For` (only behind a proxy you run).
    #[arg(long, env = "TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// Open SSE streams at most; more are refused with 503.
    #[arg(long, env = "SSE_MAX", default_value_t = defaults::SSE_MAX.get())]
    pub sse_max: usize,

    /// Deployments running at once; more are refused with 503.
    #[arg(long, env = "RUNNING_MAX", default_value_t = defaults::RUNNING_MAX.get())]
    pub running_max: usize,

    /// What startup does with deployments a crash interrupted.
    #[arg(long, env = "RECOVERY", value_enum, default_value = defaults::RECOVERY)]
    pub recovery: RecoveryPolicy,

    /// Crash tests only: abort at the Nth time a crash point is reached (`after_append:7`).
    #[arg(long, env = "STACKLEDGER_CRASH_AT", hide = true)]
    pub crash_at: Option<CrashAt>,
}

impl Config {
    /// Where the ledger lives inside the data directory.
    pub fn ledger_dir(&self) -> PathBuf {
        self.data_dir.join("ledger")
    }

    /// The Dokploy to talk to: both URL and key, or neither (the simulator). A half-given
    /// pair is refused, naming both flags.
    pub fn dokploy(&self) -> Result<Option<(reqwest::Url, ApiKey)>, String> {
        match (&self.dokploy_url, &self.dokploy_api_key) {
            (Some(url), Some(key)) => Ok(Some((url.clone(), key.clone()))),
            (None, None) => Ok(None),
            _ => Err(
                "--dokploy-url (DOKPLOY_URL) and --dokploy-api-key (DOKPLOY_API_KEY) \
                      go together: give both to deploy for real, or neither to use the \
                      built-in simulator"
                    .to_owned(),
            ),
        }
    }
}

/// Parses `500ms`, `5s`, `1m`, `1h 30m`.
fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("{error} (write 500ms, 5s, 1m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_port_3000_with_data_in_the_working_directory() {
        let config = Cli::try_parse_from(["stackledger"])
            .expect("defaults parse")
            .serve;
        assert_eq!(config.listen, "127.0.0.1:3000".parse().expect("address"));
        assert_eq!(config.ledger_dir(), PathBuf::from("./data/ledger"));
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn simulate_is_a_subcommand_with_its_own_flags() {
        let cli = Cli::try_parse_from(["stackledger", "simulate", "--api-key", "k", "--seed", "9"])
            .expect("parses");
        match cli.command {
            Some(Command::Simulate(simulate)) => {
                assert_eq!(simulate.seed, 9);
                assert!(simulate.api_key.matches(b"k"));
            }
            None => panic!("the subcommand was not recognized"),
        }
    }

    #[test]
    fn durations_and_the_dokploy_pair_are_checked() {
        let cli =
            Cli::try_parse_from(["stackledger", "--health-interval", "500ms"]).expect("parses");
        assert_eq!(cli.serve.health_interval, Duration::from_millis(500));
        assert_eq!(cli.serve.health_timeout, Duration::from_secs(60));
        assert_eq!(cli.serve.dokploy(), Ok(None));
        let error = Cli::try_parse_from(["stackledger", "--health-timeout", "soon"])
            .expect_err("not a duration");
        assert!(error.to_string().contains("--health-timeout"), "{error}");
        let half = Cli::try_parse_from(["stackledger", "--dokploy-url", "https://d.example"])
            .expect("parses");
        let refused = half.serve.dokploy().expect_err("the key is missing");
        assert!(refused.contains("--dokploy-api-key"), "{refused}");
    }

    #[test]
    fn a_bad_value_is_refused_naming_the_flag() {
        let error = Cli::try_parse_from(["stackledger", "--listen", "nowhere"])
            .expect_err("not an address");
        assert!(error.to_string().contains("--listen"), "{error}");
        let error = Cli::try_parse_from(["stackledger", "simulate", "--api-key", "a b"])
            .expect_err("not a key");
        assert!(error.to_string().contains("--api-key"), "{error}");
    }
}
