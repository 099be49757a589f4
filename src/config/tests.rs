//! The configuration as an operator meets it: flags parsed by clap, then checked into
//! `Settings`; every refusal names its flag, all come together, and no secret is quoted.

use std::time::Duration;

use clap::{CommandFactory, Parser};

use super::flag::*;
use super::flag::{self, Flag};
use super::*;
use crate::deployment::plan::NonZeroDuration;

const KEY: &str = "--dokploy-api-key=dokploy-key";

fn settings(args: &[&str]) -> Result<Settings, ConfigErrors> {
    let argv = std::iter::once("stackledger").chain(args.iter().copied());
    let cli = Cli::try_parse_from(argv).expect("clap parses every raw value");
    Settings::from_config(&cli.serve)
}

/// The flags the refusals of `args` name, in order.
fn refused_flags(args: &[&str]) -> Vec<Flag> {
    match settings(args) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.iter().flat_map(ConfigError::flags).collect(),
    }
}

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
            let simulate = simulate.settings().expect("a valid key");
            assert_eq!(simulate.seed, 9);
            assert!(simulate.api_key.matches(b"k"));
        }
        _ => panic!("the subcommand was not recognized"),
    }
}

#[test]
fn simulate_takes_its_build_queue_flags_with_dokploys_defaults() {
    let simulate = |args: &[&str]| {
        let base = ["stackledger", "simulate", "--api-key", "k"];
        let cli = Cli::try_parse_from(base.iter().chain(args)).expect("parses");
        let Some(Command::Simulate(simulate)) = cli.command else {
            panic!("the subcommand was not recognized");
        };
        simulate.settings()
    };
    let default = simulate(&[]).expect("valid");
    assert_eq!(default.builds.get(), 1, "Dokploy's buildsConcurrency");
    assert_eq!(default.build_duration, Duration::ZERO);
    assert!(!default.remote_servers_only);
    assert_eq!(default.server_id, None);
    let given = [
        "--builds=3",
        "--build-duration=1m 30s",
        "--remote-servers-only",
        "--server-id=srv1",
    ];
    let given = simulate(&given).expect("valid");
    assert_eq!(given.builds.get(), 3);
    assert_eq!(given.build_duration, Duration::from_secs(90));
    assert!(given.remote_servers_only);
    assert_eq!(given.server_id.as_deref(), Some("srv1"));
    let error = simulate(&["--build-duration=soon"]).expect_err("not a duration");
    assert!(error.to_string().contains("--build-duration"), "{error}");
}

#[test]
fn the_embedded_simulators_builds_are_short_by_default_and_may_be_zero() {
    let checked = settings(&[]).expect("valid");
    assert_eq!(checked.simulator_build_duration, Duration::from_secs(2));
    let checked = settings(&["--simulator-build-duration=0s"]).expect("valid");
    assert_eq!(checked.simulator_build_duration, Duration::ZERO);
    let refused = settings(&["--simulator-build-duration=x"]).expect_err("refused");
    assert!(refused.to_string().contains("--simulator-build-duration"));
}

#[test]
fn durations_and_the_dokploy_pair_are_checked() {
    let checked = settings(&["--health-interval", "500ms"]).expect("valid");
    assert_eq!(
        checked.timing.health_interval.get(),
        Duration::from_millis(500)
    );
    assert_eq!(checked.timing.health_timeout, Duration::from_secs(60));
    assert_eq!(checked.dokploy, DokployTarget::Simulated);
    let error = settings(&["--health-timeout", "soon"]).expect_err("not a duration");
    assert!(error.to_string().contains("--health-timeout"), "{error}");
    let refused = settings(&["--dokploy-url", "https://d.example"]).expect_err("no key");
    assert!(
        refused.to_string().contains("--dokploy-api-key"),
        "{refused}"
    );
}

#[test]
fn a_bad_value_is_refused_naming_the_flag() {
    let error =
        Cli::try_parse_from(["stackledger", "--listen", "nowhere"]).expect_err("not an address");
    assert!(error.to_string().contains("--listen"), "{error}");
    let cli = Cli::try_parse_from(["stackledger", "simulate", "--api-key", "a b"])
        .expect("a secret always parses, so clap never quotes it");
    let Some(Command::Simulate(simulate)) = cli.command else {
        panic!("the subcommand was not recognized");
    };
    let error = simulate.settings().expect_err("not a key").to_string();
    assert!(error.contains("--api-key (SIMULATOR_API_KEY)"), "{error}");
    assert!(!error.contains("a b"), "the key is quoted: {error}");
}

#[test]
fn the_defaults_are_the_table_of_defaults() {
    let checked = settings(&[]).expect("the defaults are valid");
    assert_eq!(checked.listen.to_string(), defaults::LISTEN);
    assert_eq!(checked.data_dir, PathBuf::from(defaults::DATA_DIR));
    assert_eq!(checked.stack.image, defaults::STACK_IMAGE);
    assert_eq!(checked.stack.domain_suffix, defaults::DOMAIN_SUFFIX);
    assert_eq!(checked.stack.port, defaults::STACK_PORT);
    assert_eq!(
        checked.stack.health_url, None,
        "the default depends on the Dokploy"
    );
    let timing = Timings {
        health_timeout: defaults::HEALTH_TIMEOUT.value,
        health_interval: NonZeroDuration::new(defaults::HEALTH_INTERVAL.value).expect("not zero"),
        deploy_poll_interval: NonZeroDuration::new(defaults::DEPLOY_POLL_INTERVAL.value)
            .expect("not zero"),
        deploy_timeout: defaults::DEPLOY_TIMEOUT.value,
        deploy_queue_timeout: defaults::DEPLOY_QUEUE_TIMEOUT.value,
        rollback_build_wait: defaults::ROLLBACK_BUILD_WAIT.value,
        deployment_deadline: defaults::DEPLOYMENT_DEADLINE.value,
    };
    assert_eq!(checked.timing, timing);
    let retry = RetrySettings {
        retries_max: defaults::RETRIES_MAX,
        base: defaults::RETRY_BASE.value,
        delay_max: defaults::RETRY_DELAY_MAX.value,
    };
    assert_eq!(checked.retry, retry);
    assert_eq!(checked.breaker.failures_max, defaults::BREAKER_FAILURES);
    assert_eq!(checked.breaker.open_for, defaults::BREAKER_OPEN_FOR.value);
    assert_eq!(checked.http.deploys_per_minute, defaults::DEPLOY_RATE);
    assert_eq!(checked.http.sse_max, defaults::SSE_MAX);
    assert!(!checked.http.trust_forwarded_for);
    assert_eq!(checked.running_max, defaults::RUNNING_MAX);
    assert_eq!(checked.dokploy_builds, defaults::DOKPLOY_BUILDS);
    assert_eq!(checked.recovery, RecoveryPolicy::Resume);
    assert_eq!(checked.admin_token, None);
}

#[test]
fn every_flag_a_refusal_names_is_a_flag_of_the_command_line() {
    let command = Cli::command();
    let simulate = command
        .find_subcommand("simulate")
        .expect("the simulate subcommand");
    let portal = flag::PORTAL.iter().map(|flag| (&command, *flag));
    let all = portal.chain(flag::SIMULATOR.iter().map(|flag| (simulate, *flag)));
    for (command, flag) in all {
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_long() == Some(flag.long))
            .unwrap_or_else(|| panic!("no --{} flag", flag.long));
        let env = arg.get_env().and_then(|env| env.to_str());
        assert_eq!(env, flag.env, "the environment variable of --{}", flag.long);
    }
}

#[test]
fn valid_values_are_accepted() {
    let url = "--dokploy-url=https://dokploy.example.com";
    let table: &[&[&str]] = &[
        &[],
        &["--health-timeout=0s"],
        &["--rollback-build-wait=0s"],
        &["--retries-max=0"],
        &["--retry-base=16s", "--retry-delay-max=16s"],
        &["--deploy-poll-interval=10m", "--deploy-timeout=10m"],
        &[url, KEY],
        &["--dokploy-url=https://dokploy.example.com/", KEY],
        &["--dokploy-url=https://example.com/dokploy/", KEY],
        &["--dokploy-url=http://127.0.0.1:3000", KEY],
        &["--health-url=http://127.0.0.1:9/__sim/apps/{name}/health"],
        &["--health-url=https://{name}.{suffix}:8443/healthz"],
        &["--domain-suffix=apps.example.com"],
        &["--domain-suffix=localhost"],
        &["--stack-image=registry.example.com:5000/team/app@sha256:0123abcd"],
        &["--stack-port=65535", "--sse-max=100000", "--running-max=1"],
        &["--admin-token=abcdefghijklmnop"],
        &["--breaker-failures=1", "--deploy-rate=1"],
    ];
    for args in table {
        if let Err(errors) = settings(args) {
            panic!("{args:?} is refused: {errors}");
        }
    }
}

/// Invalid values and the flags their refusal names.
const INVALID: &[(&[&str], &[Flag])] = &[
    (&["--health-interval=0s"], &[HEALTH_INTERVAL]),
    (&["--health-timeout=soon"], &[HEALTH_TIMEOUT]),
    (&["--deploy-poll-interval=0ms"], &[DEPLOY_POLL_INTERVAL]),
    (&["--deploy-timeout=0s"], &[DEPLOY_TIMEOUT]),
    (&["--rollback-build-wait=later"], &[ROLLBACK_BUILD_WAIT]),
    (
        &["--deploy-poll-interval=2m", "--deploy-timeout=1m"],
        &[DEPLOY_POLL_INTERVAL, DEPLOY_TIMEOUT],
    ),
    (&["--retry-base=0s"], &[RETRY_BASE]),
    (&["--retry-delay-max=0s"], &[RETRY_DELAY_MAX]),
    (&["--retry-base=30s"], &[RETRY_BASE, RETRY_DELAY_MAX]),
    (&["--retries-max=-1"], &[RETRIES_MAX]),
    (&["--breaker-failures=0"], &[BREAKER_FAILURES]),
    (&["--breaker-open-for=0s"], &[BREAKER_OPEN_FOR]),
    (&["--running-max=0"], &[RUNNING_MAX]),
    (&["--dokploy-builds=0"], &[DOKPLOY_BUILDS]),
    (&["--deploy-queue-timeout=0s"], &[DEPLOY_QUEUE_TIMEOUT]),
    (
        &["--deploy-poll-interval=2m", "--deploy-queue-timeout=1m"],
        &[DEPLOY_POLL_INTERVAL, DEPLOY_QUEUE_TIMEOUT],
    ),
    (&["--sse-max=0"], &[SSE_MAX]),
    (&["--deploy-rate=0"], &[DEPLOY_RATE]),
    (&["--deploy-rate=ten"], &[DEPLOY_RATE]),
    (&["--stack-port=0"], &[STACK_PORT]),
    (&["--stack-port=70000"], &[STACK_PORT]),
    (&["--stack-image="], &[STACK_IMAGE]),
    (&["--stack-image=two words"], &[STACK_IMAGE]),
    (
        &["--dokploy-url=ftp://dokploy.example.com", KEY],
        &[DOKPLOY_URL],
    ),
    (&["--dokploy-url=file:///etc/passwd", KEY], &[DOKPLOY_URL]),
    (&["--dokploy-url=dokploy.example.com", KEY], &[DOKPLOY_URL]),
    (
        &["--dokploy-url=https://dokploy.example.com/api", KEY],
        &[DOKPLOY_URL],
    ),
    (
        &["--dokploy-url=https://dokploy.example.com/?a=1", KEY],
        &[DOKPLOY_URL],
    ),
    (
        &["--dokploy-url=https://dokploy.example.com/#top", KEY],
        &[DOKPLOY_URL],
    ),
    (
        &["--dokploy-url=https://u:p@dokploy.example.com", KEY],
        &[DOKPLOY_URL],
    ),
    (
        &["--dokploy-url=https://dokploy.example.com"],
        &[DOKPLOY_URL, DOKPLOY_API_KEY],
    ),
    (&[KEY], &[DOKPLOY_URL, DOKPLOY_API_KEY]),
    (&["--health-url=not a url {name}"], &[HEALTH_URL]),
    (&["--health-url=ftp://{name}.example/health"], &[HEALTH_URL]),
    (&["--health-url=file:///{name}"], &[HEALTH_URL]),
    (
        &["--health-url=https://{name}.{suffix}/{path}"],
        &[HEALTH_URL],
    ),
    (
        &["--health-url=https://{name}.{suffix/health"],
        &[HEALTH_URL],
    ),
    (
        &["--health-url=https://fixed.example/health"],
        &[HEALTH_URL],
    ),
    (
        &["--health-url=https://u:p@{name}.example/health"],
        &[HEALTH_URL],
    ),
    (&["--domain-suffix=not a dns name"], &[DOMAIN_SUFFIX]),
    (&["--domain-suffix=-bad.example"], &[DOMAIN_SUFFIX]),
    (&["--domain-suffix=ex..ample"], &[DOMAIN_SUFFIX]),
    (&["--domain-suffix=example.com."], &[DOMAIN_SUFFIX]),
    (&["--domain-suffix=10.0.0.1"], &[DOMAIN_SUFFIX]),
    (&["--domain-suffix="], &[DOMAIN_SUFFIX]),
    (&["--admin-token=short-token"], &[ADMIN_TOKEN]),
    (&["--admin-token=sixteen chars  x"], &[ADMIN_TOKEN]),
    (&["--sse-client-max=0"], &[SSE_CLIENT_MAX]),
    (&["--connections-max=0"], &[CONNECTIONS_MAX]),
    (&["--header-timeout=0s"], &[HEADER_TIMEOUT]),
    (&["--body-timeout=0ms"], &[BODY_TIMEOUT]),
    (&["--request-timeout=0s"], &[REQUEST_TIMEOUT]),
    (&["--request-timeout=soon"], &[REQUEST_TIMEOUT]),
    (&["--url-bytes-max=0"], &[URL_BYTES_MAX]),
    (&["--header-bytes-max=-1"], &[HEADER_BYTES_MAX]),
    (&["--headers-max=0"], &[HEADERS_MAX]),
];

#[test]
fn each_invalid_value_is_refused_naming_its_flag() {
    for (args, flags) in INVALID {
        assert_eq!(refused_flags(args), flags.to_vec(), "{args:?}");
        let message = settings(args).expect_err("refused").to_string();
        for flag in *flags {
            assert!(message.contains(&flag.to_string()), "{args:?}: {message}");
        }
    }
}

#[test]
fn all_refusals_of_one_configuration_are_reported_together() {
    let args = [
        "--health-interval=0s",
        "--sse-max=0",
        "--dokploy-url=ftp://dokploy.example.com",
        KEY,
        "--domain-suffix=a b",
        "--health-url=https://{name}.{suffix}/{x}",
    ];
    let errors = settings(&args).expect_err("refused");
    let flags: Vec<Flag> = errors.0.iter().flat_map(ConfigError::flags).collect();
    let expected = [
        flag::DOKPLOY_URL,
        flag::DOMAIN_SUFFIX,
        flag::HEALTH_URL,
        flag::HEALTH_INTERVAL,
        flag::SSE_MAX,
    ];
    assert_eq!(flags, expected);
    let message = errors.to_string();
    assert!(
        message.starts_with("invalid configuration (5 values refused)"),
        "{message}"
    );
    assert_eq!(
        message.lines().count(),
        6,
        "one line per refusal: {message}"
    );
}

#[test]
fn a_refused_secret_is_named_by_its_flag_and_rule_never_quoted() {
    let cases = [
        (
            "--dokploy-api-key=canary-key-with-space ",
            flag::DOKPLOY_API_KEY,
        ),
        (
            "--dokploy-api-key=canary-key-with-cr\r",
            flag::DOKPLOY_API_KEY,
        ),
        ("--admin-token=canary-sh0rt", flag::ADMIN_TOKEN),
        (
            "--admin-token=canary admin token with spaces",
            flag::ADMIN_TOKEN,
        ),
    ];
    for (arg, flag) in cases {
        let args = ["--dokploy-url=https://dokploy.example.com", arg];
        let args = if flag == flag::ADMIN_TOKEN {
            &args[1..]
        } else {
            &args[..]
        };
        let cli = Cli::try_parse_from(std::iter::once("stackledger").chain(args.iter().copied()))
            .expect("a secret always parses");
        assert!(
            !format!("{cli:?}").contains("canary"),
            "Debug shows {arg:?}"
        );
        let errors = Settings::from_config(&cli.serve).expect_err("refused");
        let message = format!("{errors} {errors:?}");
        assert!(message.contains(&flag.to_string()), "{message}");
        assert!(message.contains("not shown"), "{message}");
        assert!(
            !message.contains("canary"),
            "the secret is quoted: {message}"
        );
    }
}

#[test]
fn a_url_with_credentials_is_refused_without_showing_them() {
    let errors = settings(&["--dokploy-url=https://admin:canary-pw@d.example", KEY])
        .expect_err("credentials are refused");
    let message = errors.to_string();
    assert!(message.contains("--dokploy-url (DOKPLOY_URL)"), "{message}");
    assert!(!message.contains("canary-pw"), "{message}");
    let errors = settings(&["--dokploy-url=https://admin:canary-pw@", KEY]).expect_err("not a URL");
    assert!(!errors.to_string().contains("canary-pw"), "{errors}");
}

#[test]
fn restore_is_a_subcommand_that_needs_a_data_dir_and_exactly_one_source() {
    let parse = |args: &[&str]| {
        Cli::try_parse_from(std::iter::once("stackledger").chain(args.iter().copied()))
    };
    let cli = parse(&["restore", "--data-dir", "d", "--mirror", "m"]).expect("parses");
    let Some(Command::Restore(restore)) = cli.command else {
        panic!("the subcommand was not recognized");
    };
    assert_eq!(restore.data_dir, PathBuf::from("d"));
    assert_eq!(restore.mirror, Some(PathBuf::from("m")));
    assert_eq!(restore.export, None);
    let refused: &[&[&str]] = &[
        &["restore", "--data-dir", "d"],
        &["restore", "--mirror", "m"],
        &[
            "restore",
            "--data-dir",
            "d",
            "--mirror",
            "m",
            "--export",
            "e",
        ],
    ];
    for args in refused {
        assert!(parse(args).is_err(), "{args:?} is refused");
    }
}

#[test]
fn a_mirror_inside_the_ledger_directory_is_refused_naming_the_flag() {
    let checked = settings(&["--data-dir=/srv/data", "--mirror=/backup/mirror"]).expect("valid");
    assert_eq!(checked.mirror, Some(PathBuf::from("/backup/mirror")));
    assert_eq!(settings(&[]).expect("valid").mirror, None);
    assert_eq!(
        refused_flags(&["--data-dir=/srv/data", "--mirror=/srv/data/ledger/m"]),
        vec![flag::MIRROR]
    );
    let error = settings(&["--data-dir=/srv/data", "--mirror=/srv/data/ledger"])
        .expect_err("the ledger itself");
    assert!(
        error.to_string().contains("--mirror (MIRROR_DIR)"),
        "{error}"
    );
}

#[test]
fn the_rollback_build_wait_is_read_from_its_flag_and_zero_means_never_wait() {
    for (args, expected) in [
        (&[][..], defaults::ROLLBACK_BUILD_WAIT.value),
        (&["--rollback-build-wait=90s"][..], Duration::from_secs(90)),
        (&["--rollback-build-wait=0s"][..], Duration::ZERO),
    ] {
        let checked = settings(args).expect("valid");
        assert_eq!(checked.timing.rollback_build_wait, expected, "{args:?}");
    }
}
