//! [`Settings`]: the configuration as the portal uses it, made once from the raw [`Config`].
//!
//! Every value is checked here and every refusal is collected, so that one start reports all of
//! them, each naming its flag and environment variable. What comes out cannot be zero where
//! zero cannot work (the types say so), and no other code re-interprets a raw value or clamps
//! one. Secrets are checked here too, and a refusal never shows one.

use std::net::SocketAddr;
use std::num::{NonZeroU16, NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use super::check;
use super::error::{ConfigError, ConfigErrors};
use super::flag::{self, Flag};
use super::{Config, LogFormat};
use crate::crash::CrashAt;
use crate::defaults;
use crate::deployment::plan::{NonZeroDuration, OutagePolicy, RecoveryPolicy};
use crate::http::Limits;
use crate::secret::{ApiKey, InvalidSecret, SecretText};

/// The portal's configuration, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory holding the ledger and the generated admin token.
    pub data_dir: PathBuf,
    /// Log line format.
    pub log_format: LogFormat,
    /// The Dokploy to deploy to.
    pub dokploy: DokployTarget,
    /// How the Dokploy client talks to it (server id, listing cap).
    pub client: super::client::ClientSettings,
    /// What every stack is.
    pub stack: StackSettings,
    /// How long things may take and how often they are polled.
    pub timing: Timings,
    /// Retries of failed Dokploy calls.
    pub retry: RetrySettings,
    /// The circuit breaker in front of Dokploy.
    pub breaker: BreakerSettings,
    /// The ops API's bearer token, when configured (otherwise it is kept in the data dir).
    pub admin_token: Option<ApiKey>,
    /// HTTP limits.
    pub http: Limits,
    /// Deployments running at once.
    pub running_max: NonZeroUsize,
    /// Deployments that may wait for a running slot (`--queue-max`; 0: none).
    pub queue_max: usize,
    /// What a deployment does while Dokploy is not answering (`--on-outage`).
    pub on_outage: OutagePolicy,
    /// Builds handed to Dokploy at once (`--dokploy-builds`).
    pub dokploy_builds: NonZeroUsize,
    /// What startup does with deployments a crash interrupted.
    pub recovery: RecoveryPolicy,
    /// Serve the ledger read-only, to audit it (`--read-only`).
    pub read_only: bool,
    /// Crash tests only: where to abort.
    pub crash_at: Option<CrashAt>,
    /// Events between two ledger checkpoints (`--checkpoint-events`); None: never.
    pub checkpoint_events: Option<std::num::NonZeroU64>,
    /// The directory of the synchronous mirror of the log, if any (outside the ledger's).
    pub mirror: Option<PathBuf>,
    /// With the built-in simulator: how long one of its builds takes at least.
    pub simulator_build_duration: Duration,
}

/// Which Dokploy the portal deploys to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DokployTarget {
    /// A real Dokploy at this origin, with this key.
    Remote {
        /// Its origin (the client adds `/api`).
        url: Url,
        /// Its API key.
        key: ApiKey,
    },
    /// The built-in simulator.
    Simulated,
}

/// What every stack is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSettings {
    /// The Docker image.
    pub image: String,
    /// Stacks answer at `NAME.<suffix>`.
    pub domain_suffix: String,
    /// The container port the domain routes to.
    pub port: NonZeroU16,
    /// The health URL template, if configured (else the default, or the simulator's).
    pub health_url: Option<String>,
}

/// How long things may take and how often they are polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// How long a stack may take to answer 200 (zero: one probe, no wait).
    pub health_timeout: Duration,
    /// Time between health polls.
    pub health_interval: NonZeroDuration,
    /// Time between polls of Dokploy's deployment list.
    pub deploy_poll_interval: NonZeroDuration,
    /// How long Dokploy's build may run, from its row appearing (at least one interval).
    pub deploy_timeout: Duration,
    /// How long a deploy may wait in Dokploy's queue, with no row (at least one interval).
    pub deploy_queue_timeout: Duration,
    /// How long a rollback waits out a build that still runs (zero: it never waits).
    pub rollback_build_wait: Duration,
    /// How long a deployment may take from its request (more than zero).
    pub deployment_deadline: Duration,
}

/// Retries of failed Dokploy calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Retries after the first attempt (zero: none).
    pub retries_max: u32,
    /// The first backoff ceiling (more than zero).
    pub base: Duration,
    /// The largest backoff ceiling (at least `base`).
    pub delay_max: Duration,
}

/// The circuit breaker in front of Dokploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open it.
    pub failures_max: NonZeroU32,
    /// How long it stays open (more than zero).
    pub open_for: Duration,
}

/// The refusals found so far.
#[derive(Debug, Default)]
pub(super) struct Refusals(pub(super) Vec<ConfigError>);

impl Refusals {
    /// The value, or `None` with its refusal kept.
    pub(super) fn keep<T>(&mut self, checked: Result<T, ConfigError>) -> Option<T> {
        checked.map_err(|error| self.0.push(error)).ok()
    }
}

impl Settings {
    /// Checks every value of `config`; all refusals are reported together.
    pub fn from_config(config: &Config) -> Result<Settings, ConfigErrors> {
        let mut refusals = Refusals::default();
        match checked(config, &mut refusals) {
            Some(settings) if refusals.0.is_empty() => Ok(settings),
            _ => Err(ConfigErrors(refusals.0)),
        }
    }

    /// Where the ledger lives inside the data directory.
    pub fn ledger_dir(&self) -> PathBuf {
        self.data_dir.join("ledger")
    }

    /// Where the generated admin token is kept.
    pub fn admin_token_file(&self) -> PathBuf {
        self.data_dir.join("admin-token")
    }

    /// Where a read-only start keeps its private copy of the ledger: the system's temporary
    /// directory (`TMPDIR`, else `/tmp`).
    pub fn scratch_dir(&self) -> PathBuf {
        std::env::temp_dir()
    }
}

impl crate::config::RestoreConfig {
    /// Where a restore keeps its private copy of the ledger it examines: the system's
    /// temporary directory (`TMPDIR`, else `/tmp`).
    pub fn scratch_dir(&self) -> PathBuf {
        std::env::temp_dir()
    }
}

/// Every check runs (each keeps its refusal) before any missing value ends the build.
fn checked(config: &Config, r: &mut Refusals) -> Option<Settings> {
    let dokploy = dokploy(config, r);
    let client = r.keep(super::client::checked(config));
    let stack = stack(config, r);
    let timing = timings(config, r);
    let retry = retry(config, r);
    let breaker = breaker(config, r);
    let admin_token = config.admin_token.as_ref();
    let admin_token = r.keep(secret(
        flag::ADMIN_TOKEN,
        admin_token,
        SecretText::admin_token,
    ));
    let http = http(config, r);
    let running_max = r.keep(check::running_max(&config.running_max));
    let checkpoint_events = r.keep(
        check::count::<u64>(flag::CHECKPOINT_EVENTS, &config.checkpoint_events, "")
            .map(std::num::NonZeroU64::new),
    );
    let queue_max = r.keep(check::count(
        flag::QUEUE_MAX,
        &config.queue_max,
        "must be a count of deployments (0: no queue, refuse with 503 when all run)",
    ));
    let dokploy_builds = r.keep(check::count(
        flag::DOKPLOY_BUILDS,
        &config.dokploy_builds,
        "must be at least 1 (zero would never start a build)",
    ));
    let mirror = r.keep(check::mirror(
        config.mirror.as_deref(),
        &config.ledger_dir(),
    ));
    let simulator_build_duration = r.keep(check::duration(
        flag::EMBEDDED_SIMULATOR_BUILD_DURATION,
        &config.simulator_build_duration,
    ));
    Some(Settings {
        listen: config.listen,
        data_dir: config.data_dir.clone(),
        log_format: config.log_format,
        dokploy: dokploy?,
        client: client?,
        stack: stack?,
        timing: timing?,
        retry: retry?,
        breaker: breaker?,
        admin_token: admin_token?,
        http: http?,
        running_max: running_max?,
        queue_max: queue_max?,
        on_outage: config.on_outage,
        dokploy_builds: dokploy_builds?,
        recovery: config.recovery,
        read_only: config.read_only,
        crash_at: config.crash_at,
        checkpoint_events: checkpoint_events?,
        mirror: mirror?,
        simulator_build_duration: simulator_build_duration?,
    })
}

/// A secret, if given, checked by `rule`; a refusal names `flag` and the rule, not the value.
fn secret(
    flag: Flag,
    given: Option<&SecretText>,
    rule: fn(&SecretText) -> Result<ApiKey, InvalidSecret>,
) -> Result<Option<ApiKey>, ConfigError> {
    given
        .map(|text| rule(text).map_err(|rule| ConfigError::Secret { flag, rule }))
        .transpose()
}

/// Both URL and key (a real Dokploy), or neither (the simulator).
fn dokploy(config: &Config, r: &mut Refusals) -> Option<DokployTarget> {
    let url = config.dokploy_url.as_deref().map(check::dokploy_url);
    let url = r.keep(url.transpose());
    let key = r.keep(secret(
        flag::DOKPLOY_API_KEY,
        config.dokploy_api_key.as_ref(),
        SecretText::api_key,
    ));
    let half = || ConfigError::HalfDokploy {
        url: flag::DOKPLOY_URL,
        key: flag::DOKPLOY_API_KEY,
    };
    match (
        config.dokploy_url.is_some(),
        config.dokploy_api_key.is_some(),
    ) {
        (false, false) => Some(DokployTarget::Simulated),
        (true, true) => Some(DokployTarget::Remote {
            url: url??,
            key: key??,
        }),
        _ => r.keep(Err(half())),
    }
}

fn stack(config: &Config, r: &mut Refusals) -> Option<StackSettings> {
    let image = r.keep(check::image(&config.stack_image));
    let domain_suffix = r.keep(check::domain_suffix(&config.domain_suffix));
    let port = r.keep(check::count(
        flag::STACK_PORT,
        &config.stack_port,
        "must be a port from 1 to 65535 (the domain routes to it)",
    ));
    // A bad suffix is refused on its own; the template is checked with the default one.
    let suffix = domain_suffix.as_deref().unwrap_or(defaults::DOMAIN_SUFFIX);
    let health_url = config
        .health_url
        .as_deref()
        .map(|template| check::health_url(template, suffix));
    let health_url = r.keep(health_url.transpose());
    Some(StackSettings {
        image: image?,
        domain_suffix: domain_suffix?,
        port: port?,
        health_url: health_url?,
    })
}

fn timings(config: &Config, r: &mut Refusals) -> Option<Timings> {
    let health_timeout = r.keep(check::duration(
        flag::HEALTH_TIMEOUT,
        &config.health_timeout,
    ));
    let health_interval = r.keep(check::interval(
        flag::HEALTH_INTERVAL,
        &config.health_interval,
        "must be more than 0s (zero polls health without pause, recording every poll)",
    ));
    let deploy_poll_interval = r.keep(check::interval(
        flag::DEPLOY_POLL_INTERVAL,
        &config.deploy_poll_interval,
        "must be more than 0s (zero polls Dokploy without pause, recording every poll)",
    ));
    let deploy_timeout = r.keep(check::positive(
        flag::DEPLOY_TIMEOUT,
        &config.deploy_timeout,
        "must be more than 0s (no deploy finishes in no time)",
    ));
    let deploy_queue_timeout = r.keep(check::positive(
        flag::DEPLOY_QUEUE_TIMEOUT,
        &config.deploy_queue_timeout,
        "must be more than 0s (no build starts in no time)",
    ));
    let rollback_build_wait = r.keep(check::duration(
        flag::ROLLBACK_BUILD_WAIT,
        &config.rollback_build_wait,
    ));
    let deployment_deadline = r.keep(check::positive(
        flag::DEPLOYMENT_DEADLINE,
        &config.deployment_deadline,
        "must be more than 0s (every deployment would fail at once)",
    ));
    let timing = Timings {
        health_timeout: health_timeout?,
        health_interval: health_interval?,
        deploy_poll_interval: deploy_poll_interval?,
        deploy_timeout: deploy_timeout?,
        deploy_queue_timeout: deploy_queue_timeout?,
        rollback_build_wait: rollback_build_wait?,
        deployment_deadline: deployment_deadline?,
    };
    let interval = (
        flag::DEPLOY_POLL_INTERVAL,
        timing.deploy_poll_interval.get(),
    );
    let build = (flag::DEPLOY_TIMEOUT, timing.deploy_timeout);
    let queue = (flag::DEPLOY_QUEUE_TIMEOUT, timing.deploy_queue_timeout);
    let build = r.keep(check::ordered(interval, build));
    r.keep(check::ordered(interval, queue)).and(build)?;
    Some(timing)
}

fn retry(config: &Config, r: &mut Refusals) -> Option<RetrySettings> {
    let retries_max = r.keep(check::count(
        flag::RETRIES_MAX,
        &config.retries_max,
        "zero is allowed (no retries)",
    ));
    let base = r.keep(check::positive(
        flag::RETRY_BASE,
        &config.retry_base,
        "must be more than 0s (zero retries a failing Dokploy without pause)",
    ));
    let delay_max = r.keep(check::positive(
        flag::RETRY_DELAY_MAX,
        &config.retry_delay_max,
        "must be more than 0s (zero retries a failing Dokploy without pause)",
    ));
    let retry = RetrySettings {
        retries_max: retries_max?,
        base: base?,
        delay_max: delay_max?,
    };
    r.keep(check::ordered(
        (flag::RETRY_BASE, retry.base),
        (flag::RETRY_DELAY_MAX, retry.delay_max),
    ))?;
    Some(retry)
}

fn breaker(config: &Config, r: &mut Refusals) -> Option<BreakerSettings> {
    let failures_max = r.keep(check::count(
        flag::BREAKER_FAILURES,
        &config.breaker_failures,
        "must be at least 1 (the failures that open the breaker)",
    ));
    let open_for = r.keep(check::positive(
        flag::BREAKER_OPEN_FOR,
        &config.breaker_open_for,
        "must be more than 0s (a breaker open for no time never holds calls back)",
    ));
    Some(BreakerSettings {
        failures_max: failures_max?,
        open_for: open_for?,
    })
}

fn http(config: &Config, r: &mut Refusals) -> Option<Limits> {
    let deploys_per_minute = r.keep(check::count(
        flag::DEPLOY_RATE,
        &config.deploy_rate,
        "must be at least 1 (zero would refuse every deploy)",
    ));
    let streams = |flag, text: &str| {
        check::count(
            flag,
            text,
            "must be at least 1 (zero would refuse every status stream)",
        )
    };
    let sse_max = r.keep(streams(flag::SSE_MAX, &config.sse_max));
    let sse_client_max = r.keep(streams(flag::SSE_CLIENT_MAX, &config.sse_client_max));
    let (header_timeout, body_timeout, request_timeout) = http_timeouts(config, r);
    let (connections_max, url_bytes_max, header_bytes_max, headers_max) = http_sizes(config, r);
    Some(Limits {
        deploys_per_minute: deploys_per_minute?,
        trust_forwarded_for: config.trust_forwarded_for,
        sse_max: sse_max?,
        sse_client_max: sse_client_max?,
        connections_max: connections_max?,
        header_timeout: header_timeout?,
        body_timeout: body_timeout?,
        request_timeout: request_timeout?,
        url_bytes_max: url_bytes_max?,
        header_bytes_max: header_bytes_max?,
        headers_max: headers_max?,
    })
}

type Checked<T> = Option<T>;

/// The three HTTP time bounds; zero would refuse every request.
fn http_timeouts(
    config: &Config,
    r: &mut Refusals,
) -> (Checked<Duration>, Checked<Duration>, Checked<Duration>) {
    let why = "must be more than 0s (zero would cut off every request)";
    (
        r.keep(check::positive(
            flag::HEADER_TIMEOUT,
            &config.header_timeout,
            why,
        )),
        r.keep(check::positive(
            flag::BODY_TIMEOUT,
            &config.body_timeout,
            why,
        )),
        r.keep(check::positive(
            flag::REQUEST_TIMEOUT,
            &config.request_timeout,
            why,
        )),
    )
}

/// The connection cap and the request-head bounds; zero would refuse every request.
fn http_sizes(
    config: &Config,
    r: &mut Refusals,
) -> (
    Checked<NonZeroUsize>,
    Checked<NonZeroUsize>,
    Checked<NonZeroUsize>,
    Checked<NonZeroUsize>,
) {
    let why = "must be at least 1 (zero would refuse every request)";
    (
        r.keep(check::count(
            flag::CONNECTIONS_MAX,
            &config.connections_max,
            why,
        )),
        r.keep(check::count(
            flag::URL_BYTES_MAX,
            &config.url_bytes_max,
            why,
        )),
        r.keep(check::count(
            flag::HEADER_BYTES_MAX,
            &config.header_bytes_max,
            why,
        )),
        r.keep(check::count(flag::HEADERS_MAX, &config.headers_max, why)),
    )
}
