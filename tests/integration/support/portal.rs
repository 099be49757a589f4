//! The `stackledger` binary as a child process: start it on a free port, talk to it, stop it
//! with SIGTERM or SIGKILL. A start that neither serves nor exits is never waited for forever,
//! and a portal is never left running after its test (a failed one included).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use serde_json::Value;

/// A running portal and its log lines.
pub(crate) struct Portal {
    child: Child,
    pub(crate) address: String,
    /// The log lines up to the one announcing the address.
    pub(crate) startup: Vec<String>,
    logs: mpsc::Receiver<String>,
}

impl Drop for Portal {
    /// SIGKILL if it still runs (a test that failed half-way), so that no portal outlives it.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How long a start may take to announce its address or to exit.
const START_MAX: Duration = Duration::from_secs(60);

/// How a start ended: serving, or exited before it announced an address.
pub(crate) enum Launch {
    /// It serves.
    Serving(Portal),
    /// It exited: its status and every line it wrote to stderr.
    Exited {
        /// The exit status.
        status: ExitStatus,
        /// Its stderr, line by line (JSON log lines and anything else).
        logs: Vec<String>,
    },
}

/// The portal command on `data_dir` with `extra` flags, logging JSON to a pipe.
pub(crate) fn command(data_dir: &Path, extra: &[String]) -> Command {
    configured(
        Command::new(env!("CARGO_BIN_EXE_stackledger")),
        data_dir,
        extra,
    )
}

/// The same, run with at most `nofile` open file descriptors (soft and hard), as
/// `ulimit -n` sets them. The shell `exec`s the portal, so the child's pid is the portal's.
pub(crate) fn command_with_nofile(data_dir: &Path, extra: &[String], nofile: u32) -> Command {
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_stackledger"));
    configured(shell, data_dir, extra)
}

/// The portal command on `data_dir` listening on `listen` (an address the test chose, say one
/// already in use) instead of a free port.
pub(crate) fn command_on(listen: &str, data_dir: &Path, extra: &[String]) -> Command {
    configured_on(
        Command::new(env!("CARGO_BIN_EXE_stackledger")),
        listen,
        data_dir,
        extra,
    )
}

fn configured(command: Command, data_dir: &Path, extra: &[String]) -> Command {
    configured_on(command, "127.0.0.1:0", data_dir, extra)
}

fn configured_on(mut command: Command, listen: &str, data_dir: &Path, extra: &[String]) -> Command {
    command
        .args(["--listen", listen, "--log-format", "json", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env_remove("RUST_LOG")
        .env_remove("DOKPLOY_URL")
        .env_remove("DOKPLOY_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Forwards the child's stderr lines to a channel.
pub(crate) fn follow(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

impl Portal {
    /// Starts the portal and waits until it announces its address.
    pub(crate) fn start(data_dir: &Path, extra: &[String]) -> Portal {
        Portal::spawn(command(data_dir, extra))
    }

    /// Starts `command` (from [`command`] or [`command_with_nofile`]) and waits until the
    /// portal announces its address.
    pub(crate) fn spawn(mut command: Command) -> Portal {
        let mut child = command.spawn().expect("the portal starts");
        let logs = follow(&mut child);
        let mut startup = Vec::new();
        let address = loop {
            let line = logs
                .recv()
                .expect("the portal logs its address before anything fails");
            let entry: Value = serde_json::from_str(&line).expect("json log lines");
            if let Some(address) = entry["fields"]["address"].as_str() {
                break address.to_owned();
            }
            startup.push(line);
        };
        Portal {
            child,
            address,
            startup,
            logs,
        }
    }

    /// Starts `command` and waits until the portal announces its address or exits (a refused
    /// start); a start that does neither within a minute fails the test.
    pub(crate) fn launch(mut command: Command) -> Launch {
        let mut child = command.spawn().expect("the portal starts");
        let logs = follow(&mut child);
        let mut seen = Vec::new();
        loop {
            match logs.recv_timeout(START_MAX) {
                Ok(line) => {
                    let address = serde_json::from_str::<Value>(&line)
                        .ok()
                        .and_then(|entry| entry["fields"]["address"].as_str().map(str::to_owned));
                    if let Some(address) = address {
                        return Launch::Serving(Portal {
                            child,
                            address,
                            startup: seen,
                            logs,
                        });
                    }
                    seen.push(line);
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = child.wait().expect("the portal is reaped");
                    return Launch::Exited { status, logs: seen };
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the portal neither served nor exited within {START_MAX:?}: {seen:?}");
                }
            }
        }
    }

    /// `http://ADDRESS{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Reads deployment `id`'s status stream to its end and returns the whole body.
    pub(crate) async fn status_to_end(&self, id: &str) -> String {
        super::http()
            .get(self.url(&format!("/api/status/{id}")))
            .send()
            .await
            .expect("the stream opens")
            .text()
            .await
            .expect("the stream ends")
    }

    /// Asks for a deployment of `name`: its id when accepted (202), None otherwise.
    pub(crate) async fn deploy(&self, name: &str) -> Option<String> {
        let response = super::http()
            .post(self.url("/api/deploy"))
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .expect("the portal answers");
        if response.status() != 202 {
            return None;
        }
        let body: Value = response.json().await.expect("json");
        Some(body["deploymentId"].as_str().expect("an id").to_owned())
    }

    /// Up to `limit` events after seq `after` of the NDJSON export, as served.
    pub(crate) async fn export(&self, token: &str, after: u64, limit: usize) -> String {
        super::http()
            .get(self.url(&format!("/api/ledger/events?after={after}&limit={limit}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("the portal answers")
            .error_for_status()
            .expect("the export is served")
            .text()
            .await
            .expect("the export reads")
    }

    /// The portal's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the portal is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then the exit status and the remaining log lines.
    pub(crate) fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = self.child.wait().expect("the portal exits");
        (status, self.logs.iter().collect())
    }

    /// SIGTERM, then the exit status and the remaining log lines, within `bound`: a portal
    /// still running after it is killed (SIGKILL) and fails the test. Its stderr closing is
    /// the sign that it exited, so this never sleeps.
    pub(crate) fn terminate_within(mut self, bound: Duration) -> (ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = std::time::Instant::now() + bound;
        let mut logs = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.logs.recv_timeout(left) {
                Ok(line) => logs.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!("the portal was still running {bound:?} after SIGTERM: {logs:?}");
                }
            }
        }
        let status = self.child.wait().expect("the portal exits");
        (status, logs)
    }

    /// SIGKILL: no chance to clean up.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("the portal is reaped");
    }
}
