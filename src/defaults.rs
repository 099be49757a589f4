//! Every default value of the portal and its simulator, in one table (DESIGN §4 and §8).
//!
//! The flags take their defaults from here, and so do the library's `Default` impls (the
//! retry policy, the circuit breaker), so a default is written once. This module never depends
//! on another module of the crate and never reads the environment; `config` is the only code
//! that interprets what the operator wrote.

use std::num::{NonZeroU16, NonZeroU32, NonZeroUsize};
use std::time::Duration;

/// A duration default, as a flag writes it and as the code uses it. A test checks that each
/// text parses to its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationDefault {
    /// How `--help` shows it (`60s`).
    pub text: &'static str,
    /// Its value.
    pub value: Duration,
}

const fn seconds(text: &'static str, seconds: u64) -> DurationDefault {
    DurationDefault {
        text,
        value: Duration::from_secs(seconds),
    }
}

/// `--listen`: loopback only, so a first start exposes nothing.
pub const LISTEN: &str = "127.0.0.1:3000";
/// `--data-dir`.
pub const DATA_DIR: &str = "./data";
/// `--stack-image`.
pub const STACK_IMAGE: &str = "ghcr.io/flexinit/agent-stack:latest";
/// `--domain-suffix`.
pub const DOMAIN_SUFFIX: &str = "ai.flexinit.nl";
/// `--stack-port`.
pub const STACK_PORT: NonZeroU16 = NonZeroU16::new(8080).expect("8080 is not zero");
/// `--health-url` with a real Dokploy (the simulator serves its own).
pub const HEALTH_URL: &str = "https://{name}.{suffix}/health";
/// `--health-timeout`.
pub const HEALTH_TIMEOUT: DurationDefault = seconds("60s", 60);
/// `--health-interval`.
pub const HEALTH_INTERVAL: DurationDefault = seconds("5s", 5);
/// `--deploy-poll-interval`.
pub const DEPLOY_POLL_INTERVAL: DurationDefault = seconds("2s", 2);
/// `--deploy-timeout`.
pub const DEPLOY_TIMEOUT: DurationDefault = seconds("10m", 600);
/// `--deploy-queue-timeout`: how long a deploy may wait in Dokploy's build queue (no row yet).
pub const DEPLOY_QUEUE_TIMEOUT: DurationDefault = seconds("10m", 600);
/// `--rollback-build-wait`: how long a rollback waits for a still-running build.
pub const ROLLBACK_BUILD_WAIT: DurationDefault = seconds("10m", 600);
/// `--dokploy-builds`: builds the portal hands Dokploy at once (Dokploy's `buildsConcurrency`).
pub const DOKPLOY_BUILDS: NonZeroUsize = NonZeroUsize::new(1).expect("1 is not zero");
/// `--retry-base`: the first backoff ceiling (1 s, 2 s, 4 s, 8 s, 16 s).
pub const RETRY_BASE: DurationDefault = seconds("1s", 1);
/// `--retry-delay-max`.
pub const RETRY_DELAY_MAX: DurationDefault = seconds("16s", 16);
/// `--retries-max`.
pub const RETRIES_MAX: u32 = 5;
/// The longest `Retry-After` obeyed (not a flag).
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);
/// The most time one Dokploy call may take, attempts and waits included (not a flag).
pub const CALL_DEADLINE: Duration = Duration::from_secs(120);
/// `--breaker-failures`.
pub const BREAKER_FAILURES: NonZeroU32 = NonZeroU32::new(5).expect("5 is not zero");
/// `--breaker-open-for`.
pub const BREAKER_OPEN_FOR: DurationDefault = seconds("60s", 60);
/// `--deploy-rate`: deploy requests per client per minute.
pub const DEPLOY_RATE: NonZeroU32 = NonZeroU32::new(10).expect("10 is not zero");
/// `--sse-max`.
pub const SSE_MAX: NonZeroUsize = NonZeroUsize::new(1000).expect("1000 is not zero");
/// `--sse-client-max`: a client's share of the SSE cap.
pub const SSE_CLIENT_MAX: NonZeroUsize = NonZeroUsize::new(10).expect("10 is not zero");
/// `--connections-max`: open connections, SSE streams included.
pub const CONNECTIONS_MAX: NonZeroUsize = NonZeroUsize::new(2048).expect("2048 is not zero");
/// `--header-timeout`: the request head must arrive within it; idle connections close after it.
pub const HEADER_TIMEOUT: DurationDefault = seconds("10s", 10);
/// `--body-timeout`: a request body must arrive whole within it.
pub const BODY_TIMEOUT: DurationDefault = seconds("10s", 10);
/// `--request-timeout`: every answer but the SSE stream must be ready within it.
pub const REQUEST_TIMEOUT: DurationDefault = seconds("30s", 30);
/// `--dokploy-list-bytes-max`: the largest `project.all` answer the client reads (as a
/// stream, holding one project at a time); other Dokploy answers are capped at 4 MiB.
pub const DOKPLOY_LIST_BYTES_MAX: NonZeroUsize =
    NonZeroUsize::new(256 * 1024 * 1024).expect("256 MiB is not zero");
/// `--url-bytes-max`: the longest request target.
pub const URL_BYTES_MAX: NonZeroUsize = NonZeroUsize::new(8192).expect("8192 is not zero");
/// `--header-bytes-max`: header names and values together.
pub const HEADER_BYTES_MAX: NonZeroUsize = NonZeroUsize::new(16384).expect("16384 is not zero");
/// `--headers-max`: header fields.
pub const HEADERS_MAX: NonZeroUsize = NonZeroUsize::new(64).expect("64 is not zero");
/// `--dokploy-timeout`: how long one request to Dokploy may take.
pub const DOKPLOY_TIMEOUT: DurationDefault = seconds("30s", 30);
/// `--deployment-deadline`: how long a deployment may take, from its request to its end.
pub const DEPLOYMENT_DEADLINE: DurationDefault = seconds("30m", 1_800);
/// `--on-outage`.
pub const ON_OUTAGE: &str = "wait";
/// `--queue-max`: deployments that may wait for a running slot before new ones get 503.
pub const QUEUE_MAX: usize = 256;
/// `--checkpoint-events`: events between two checkpoints of the ledger (0: never).
pub const CHECKPOINT_EVENTS: u64 = 10_000;
/// `--running-max`.
pub const RUNNING_MAX: NonZeroUsize = NonZeroUsize::new(16).expect("16 is not zero");
/// `--recovery`.
pub const RECOVERY: &str = "resume";
/// `--log-format`.
pub const LOG_FORMAT: &str = "text";
/// `stackledger simulate --listen`.
pub const SIMULATOR_LISTEN: &str = "127.0.0.1:4000";
/// `stackledger simulate --seed`.
pub const SIMULATOR_SEED: u64 = 1;
/// `stackledger simulate --deploy-polls`, and the in-process simulator's.
pub const SIMULATOR_DEPLOY_POLLS: NonZeroU32 = NonZeroU32::MIN;
/// `stackledger simulate --builds`, and the in-process simulator's: Dokploy's default
/// `buildsConcurrency`.
pub const SIMULATOR_BUILDS: NonZeroU32 = NonZeroU32::MIN;
/// `stackledger simulate --build-duration`: builds end as soon as they are polled.
pub const SIMULATOR_BUILD_DURATION: DurationDefault = seconds("0s", 0);
/// `--simulator-build-duration`: the in-process simulator's builds, short in the demo.
pub const EMBEDDED_SIMULATOR_BUILD_DURATION: DurationDefault = seconds("2s", 2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_default_text_parses_to_its_value() {
        let every = [
            HEALTH_TIMEOUT,
            HEALTH_INTERVAL,
            DEPLOY_POLL_INTERVAL,
            DEPLOY_TIMEOUT,
            DEPLOY_QUEUE_TIMEOUT,
            RETRY_BASE,
            RETRY_DELAY_MAX,
            BREAKER_OPEN_FOR,
            SIMULATOR_BUILD_DURATION,
            EMBEDDED_SIMULATOR_BUILD_DURATION,
        ];
        for default in every {
            let parsed = humantime::parse_duration(default.text).expect("a duration");
            assert_eq!(parsed, default.value, "{}", default.text);
        }
    }
}
