//! The `stackledger` binary refuses configured values that cannot work before it does
//! anything: a non-zero exit, a message naming each flag and its environment variable, every
//! refusal in one start, nothing written to the data directory, and never a secret's value
//! (given as a flag, in the environment, or in the admin token file).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Part of every secret given below: it must appear in no output.
const CANARY: &str = "canary-7c1e";

/// How long a refusal may take; a binary that does not refuse would serve forever.
const REFUSAL_MAX: Duration = Duration::from_secs(60);

/// Runs the binary with `args` and only the environment `env` on an empty data dir, and
/// returns whether it succeeded and its stderr.
fn run(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stackledger"));
    command
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if args.first() != Some(&"simulate") {
        command
            .arg("--listen=127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir);
    }
    let child = command.spawn().expect("the binary starts");
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let Ok(output) = receiver.recv_timeout(REFUSAL_MAX) else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("{args:?} {env:?} was not refused within {REFUSAL_MAX:?}");
    };
    let output = output.expect("the binary ran");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stderr)
}

/// Asserts a refusal naming each of `flags` and never showing the canary; returns stderr.
fn assert_refused(args: &[&str], env: &[(&str, &str)], flags: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let (succeeded, stderr) = run(&data_dir, args, env);
    assert!(!succeeded, "{args:?} {env:?} must be refused: {stderr}");
    for flag in flags {
        assert!(
            stderr.contains(flag),
            "{args:?} {env:?}: no {flag} in {stderr}"
        );
    }
    assert!(!stderr.contains(CANARY), "a secret is shown: {stderr}");
    assert!(!data_dir.exists(), "a refused start wrote to the data dir");
    stderr
}

#[test]
fn the_binary_refuses_a_zero_health_interval_naming_the_flag() {
    let stderr = assert_refused(
        &["--health-interval", "0s"],
        &[],
        &["--health-interval (HEALTH_INTERVAL)"],
    );
    assert!(stderr.contains("must be more than 0s"), "{stderr}");
}

#[test]
fn the_binary_reports_every_refused_value_of_one_start() {
    let stderr = assert_refused(
        &["--sse-max=0", "--running-max=0", "--stack-image="],
        &[
            ("DEPLOY_POLL_INTERVAL", "0s"),
            ("DOKPLOY_URL", "file:///etc/passwd"),
            ("DOKPLOY_API_KEY", "dokploy-key"),
            ("HEALTH_URL", "https://{name}.{suffix}/{port}"),
        ],
        &[
            "--sse-max (SSE_MAX)",
            "--running-max (RUNNING_MAX)",
            "--stack-image (STACK_IMAGE)",
            "--deploy-poll-interval (DEPLOY_POLL_INTERVAL)",
            "--dokploy-url (DOKPLOY_URL)",
            "--health-url (HEALTH_URL)",
        ],
    );
    assert!(stderr.contains("6 values refused"), "{stderr}");
}

#[test]
fn an_invalid_dokploy_key_is_refused_without_being_shown_from_a_flag_or_the_environment() {
    let url = "--dokploy-url=https://dokploy.example.com";
    let flag = ["--dokploy-api-key (DOKPLOY_API_KEY)"];
    for key in [
        format!("{CANARY} "),
        format!("{CANARY}\r"),
        format!("{CANARY}\n"),
    ] {
        let arg = format!("--dokploy-api-key={key}");
        assert_refused(&[url, &arg], &[], &flag);
        assert_refused(&[url, "--dokploy-api-key", &key], &[], &flag);
        let env = [
            ("DOKPLOY_URL", "https://dokploy.example.com"),
            ("DOKPLOY_API_KEY", &key),
        ];
        assert_refused(&[], &env, &flag);
    }
}

#[test]
fn a_key_that_looks_like_a_flag_is_taken_as_the_key_and_not_shown() {
    let key = format!("-{CANARY} x");
    let flag = ["--dokploy-api-key (DOKPLOY_API_KEY)"];
    assert_refused(&["--dokploy-api-key", &key], &[], &flag);
}

#[test]
fn a_weak_admin_token_is_refused_naming_its_source_without_being_shown() {
    let short = format!("{CANARY}-x");
    assert!(short.len() < 16, "the canary token must be too short");
    let flag = ["--admin-token (ADMIN_TOKEN)"];
    assert_refused(&["--admin-token", &short], &[], &flag);
    assert_refused(&[], &[("ADMIN_TOKEN", &short)], &flag);
    let spaced = format!("{CANARY} with a space");
    assert_refused(&[], &[("ADMIN_TOKEN", &spaced)], &flag);
}

#[test]
fn a_weak_admin_token_file_is_refused_naming_the_file_without_showing_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{CANARY}-x\n")).expect("writes");
    let (succeeded, stderr) = run(dir.path(), &[], &[]);
    assert!(!succeeded, "a weak kept token must be refused: {stderr}");
    assert!(
        stderr.contains(&token_file.display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("at least 16 characters"), "{stderr}");
    assert!(!stderr.contains(CANARY), "the token is shown: {stderr}");
}

#[test]
fn the_simulator_refuses_an_invalid_key_without_showing_it() {
    let key = format!("{CANARY} key");
    let flag = ["--api-key (SIMULATOR_API_KEY)"];
    let listen = "--listen=127.0.0.1:0";
    assert_refused(&["simulate", listen, "--api-key", &key], &[], &flag);
    let arg = format!("--api-key={CANARY}\r");
    assert_refused(&["simulate", listen, &arg], &[], &flag);
    assert_refused(&["simulate", listen], &[("SIMULATOR_API_KEY", &key)], &flag);
}
