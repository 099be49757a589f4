//! The names of the flags the settings check, so that every refusal names its flag and its
//! environment variable exactly as `--help` shows them (a test compares this table with the
//! command line parser's).
//!
//! It holds names, never values, so naming a flag in a refusal can never show what the operator
//! wrote for it.

use std::fmt;

/// A flag and its environment variable, as a refusal names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// The long name without the dashes (`health-interval`).
    pub long: &'static str,
    /// The environment variable that also sets it, if any.
    pub env: Option<&'static str>,
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.env {
            Some(env) => write!(f, "--{} ({env})", self.long),
            None => write!(f, "--{}", self.long),
        }
    }
}

const fn flag(long: &'static str, env: &'static str) -> Flag {
    Flag {
        long,
        env: Some(env),
    }
}

/// `--dokploy-url`.
pub const DOKPLOY_URL: Flag = flag("dokploy-url", "DOKPLOY_URL");
/// `--dokploy-api-key`.
pub const DOKPLOY_API_KEY: Flag = flag("dokploy-api-key", "DOKPLOY_API_KEY");
/// `--stack-image`.
pub const STACK_IMAGE: Flag = flag("stack-image", "STACK_IMAGE");
/// `--domain-suffix`.
pub const DOMAIN_SUFFIX: Flag = flag("domain-suffix", "STACK_DOMAIN_SUFFIX");
/// `--stack-port`.
pub const STACK_PORT: Flag = flag("stack-port", "STACK_PORT");
/// `--health-url`.
pub const HEALTH_URL: Flag = flag("health-url", "HEALTH_URL");
/// `--health-timeout`.
pub const HEALTH_TIMEOUT: Flag = flag("health-timeout", "HEALTH_TIMEOUT");
/// `--health-interval`.
pub const HEALTH_INTERVAL: Flag = flag("health-interval", "HEALTH_INTERVAL");
/// `--deploy-poll-interval`.
pub const DEPLOY_POLL_INTERVAL: Flag = flag("deploy-poll-interval", "DEPLOY_POLL_INTERVAL");
/// `--deploy-timeout`.
pub const DEPLOY_TIMEOUT: Flag = flag("deploy-timeout", "DEPLOY_TIMEOUT");
/// `--deploy-queue-timeout`.
pub const DEPLOY_QUEUE_TIMEOUT: Flag = flag("deploy-queue-timeout", "DEPLOY_QUEUE_TIMEOUT");
/// `--dokploy-builds`.
pub const DOKPLOY_BUILDS: Flag = flag("dokploy-builds", "DOKPLOY_BUILDS");
/// `--rollback-build-wait`.
pub const ROLLBACK_BUILD_WAIT: Flag = flag("rollback-build-wait", "ROLLBACK_BUILD_WAIT");
/// `--retry-base`.
pub const RETRY_BASE: Flag = flag("retry-base", "RETRY_BASE");
/// `--retry-delay-max`.
pub const RETRY_DELAY_MAX: Flag = flag("retry-delay-max", "RETRY_DELAY_MAX");
/// `--retries-max`.
pub const RETRIES_MAX: Flag = flag("retries-max", "RETRIES_MAX");
/// `--breaker-failures`.
pub const BREAKER_FAILURES: Flag = flag("breaker-failures", "BREAKER_FAILURES");
/// `--breaker-open-for`.
pub const BREAKER_OPEN_FOR: Flag = flag("breaker-open-for", "BREAKER_OPEN_FOR");
/// `--admin-token`.
pub const ADMIN_TOKEN: Flag = flag("admin-token", "ADMIN_TOKEN");
/// `--deploy-rate`.
pub const DEPLOY_RATE: Flag = flag("deploy-rate", "DEPLOY_RATE");
/// `--sse-max`.
pub const SSE_MAX: Flag = flag("sse-max", "SSE_MAX");
/// `--sse-client-max`.
pub const SSE_CLIENT_MAX: Flag = flag("sse-client-max", "SSE_CLIENT_MAX");
/// `--connections-max`.
pub const CONNECTIONS_MAX: Flag = flag("connections-max", "CONNECTIONS_MAX");
/// `--header-timeout`.
pub const HEADER_TIMEOUT: Flag = flag("header-timeout", "HEADER_TIMEOUT");
/// `--body-timeout`.
pub const BODY_TIMEOUT: Flag = flag("body-timeout", "BODY_TIMEOUT");
/// `--request-timeout`.
pub const REQUEST_TIMEOUT: Flag = flag("request-timeout", "REQUEST_TIMEOUT");
/// `--url-bytes-max`.
pub const URL_BYTES_MAX: Flag = flag("url-bytes-max", "URL_BYTES_MAX");
/// `--header-bytes-max`.
pub const HEADER_BYTES_MAX: Flag = flag("header-bytes-max", "HEADER_BYTES_MAX");
/// `--headers-max`.
pub const HEADERS_MAX: Flag = flag("headers-max", "HEADERS_MAX");
/// `--dokploy-timeout`.
pub const DOKPLOY_TIMEOUT: Flag = flag("dokploy-timeout", "DOKPLOY_TIMEOUT");
/// `--deployment-deadline`.
pub const DEPLOYMENT_DEADLINE: Flag = flag("deployment-deadline", "DEPLOYMENT_DEADLINE");
/// `--queue-max`.
pub const QUEUE_MAX: Flag = flag("queue-max", "QUEUE_MAX");
/// `--checkpoint-events`.
pub const CHECKPOINT_EVENTS: Flag = flag("checkpoint-events", "CHECKPOINT_EVENTS");
/// `--running-max`.
pub const RUNNING_MAX: Flag = flag("running-max", "RUNNING_MAX");
/// `--mirror`.
pub const MIRROR: Flag = flag("mirror", "MIRROR_DIR");
/// `--dokploy-server-id`.
pub const DOKPLOY_SERVER_ID: Flag = flag("dokploy-server-id", "DOKPLOY_SERVER_ID");
/// `--dokploy-list-bytes-max`.
pub const DOKPLOY_LIST_BYTES_MAX: Flag = flag("dokploy-list-bytes-max", "DOKPLOY_LIST_BYTES_MAX");
/// `--simulator-build-duration`.
pub const EMBEDDED_SIMULATOR_BUILD_DURATION: Flag =
    flag("simulator-build-duration", "SIMULATOR_BUILD_DURATION");
/// `stackledger simulate --api-key`.
pub const SIMULATOR_API_KEY: Flag = flag("api-key", "SIMULATOR_API_KEY");
/// `stackledger simulate --build-duration`.
pub const SIMULATOR_BUILD_DURATION: Flag = flag("build-duration", "SIMULATOR_BUILD_DURATION");

/// Every flag of `stackledger simulate` in this table.
pub const SIMULATOR: [Flag; 2] = [SIMULATOR_API_KEY, SIMULATOR_BUILD_DURATION];

/// Every flag of the portal in this table (the simulator's are in [`SIMULATOR`]).
pub const PORTAL: [Flag; 38] = [
    DOKPLOY_URL,
    DOKPLOY_API_KEY,
    STACK_IMAGE,
    DOMAIN_SUFFIX,
    STACK_PORT,
    HEALTH_URL,
    HEALTH_TIMEOUT,
    HEALTH_INTERVAL,
    DEPLOY_POLL_INTERVAL,
    DEPLOY_TIMEOUT,
    DEPLOY_QUEUE_TIMEOUT,
    DOKPLOY_BUILDS,
    ROLLBACK_BUILD_WAIT,
    RETRY_BASE,
    RETRY_DELAY_MAX,
    RETRIES_MAX,
    BREAKER_FAILURES,
    BREAKER_OPEN_FOR,
    ADMIN_TOKEN,
    DEPLOY_RATE,
    SSE_MAX,
    SSE_CLIENT_MAX,
    CONNECTIONS_MAX,
    HEADER_TIMEOUT,
    BODY_TIMEOUT,
    REQUEST_TIMEOUT,
    URL_BYTES_MAX,
    HEADER_BYTES_MAX,
    HEADERS_MAX,
    RUNNING_MAX,
    MIRROR,
    DOKPLOY_SERVER_ID,
    DOKPLOY_LIST_BYTES_MAX,
    EMBEDDED_SIMULATOR_BUILD_DURATION,
    DEPLOYMENT_DEADLINE,
    QUEUE_MAX,
    DOKPLOY_TIMEOUT,
    CHECKPOINT_EVENTS,
];
