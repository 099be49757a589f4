//! `stackledger-bench lookup`: the client's project lookup among many projects. A simulator
//! runs as its own process (so its memory is not counted), is given `--projects` projects over
//! HTTP, and the client finds one by name: first through `project.search` (with `project.one`),
//! then through the streamed `project.all` fallback (search made a route 404 by a fault). For
//! each it prints the answer bytes, the lookup time and this process's peak memory increase
//! (`VmHWM`). It never measures the simulator's own memory.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use stackledger::config::ApiKey;
use stackledger::deployment::{Procedure, Request};
use stackledger::dokploy::api::DokployApi;
use stackledger::dokploy::client::{ClientOptions, DokployClient};

const KEY: &str = "bench-lookup-key-0001";

/// Arguments of `stackledger-bench lookup`.
#[derive(Debug, clap::Args)]
pub(crate) struct LookupArgs {
    /// Projects in the simulated Dokploy.
    #[arg(long, default_value_t = 50_000)]
    projects: usize,
}

/// Kills the simulator when the bench ends, however it ends.
struct Simulator(Child);

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) async fn run(args: LookupArgs) -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let exe = std::env::current_exe()?;
    let portal = exe.with_file_name("stackledger");
    let child = Command::new(&portal)
        .args(["simulate", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--api-key", KEY])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", portal.display()))?;
    let _simulator = Simulator(child);
    let origin: reqwest::Url = format!("http://127.0.0.1:{port}").parse()?;
    let client = DokployClient::new(&origin, ApiKey::new(KEY)?, ClientOptions::default())?;
    wait_until_up(&origin).await?;
    let started = Instant::now();
    populate(&client, args.projects).await?;
    println!(
        "created {} projects in {:.1} s",
        args.projects,
        started.elapsed().as_secs_f64()
    );
    let name = format!("stack-{:05}", args.projects / 2);
    let search = format!("api/project.search?name={name}&limit=100&offset=0");
    measure(
        "project.search + project.one",
        &client,
        &origin,
        &search,
        &name,
    )
    .await?;
    let fault = serde_json::json!({
        "path": Procedure::ProjectSearch.name(), "status": 404, "times": 1_000_000,
    });
    reqwest::Client::new()
        .post(origin.join("__sim/faults")?)
        .header("content-type", "application/json")
        .body(fault.to_string())
        .send()
        .await?
        .error_for_status()?;
    // The simulator builds its whole `project.all` before the first byte (quadratic in the
    // projects until its rewrite): give the listing time, the per-request timeout covers it.
    let patient = ClientOptions {
        timeout: Duration::from_secs(300),
        ..ClientOptions::default()
    };
    let fallback = DokployClient::new(&origin, ApiKey::new(KEY)?, patient)?;
    measure(
        "project.all (streamed)",
        &fallback,
        &origin,
        "api/project.all",
        &name,
    )
    .await
}

async fn wait_until_up(origin: &reqwest::Url) -> anyhow::Result<()> {
    for _ in 0..200 {
        if reqwest::get(origin.join("api/health")?).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("the simulator did not start")
}

/// Creates `stack-00000` … in order, eight at a time.
async fn populate(client: &DokployClient, projects: usize) -> anyhow::Result<()> {
    let mut next = 0;
    while next < projects {
        let batch: Vec<_> = (next..projects.min(next + 8))
            .map(|n| {
                let request = Request::CreateProject {
                    name: format!("stack-{n:05}"),
                };
                async move { client.call(&request).await }
            })
            .collect();
        for result in futures_util::future::join_all(batch).await {
            result?;
        }
        next += 8;
    }
    Ok(())
}

/// One lookup of `name`: the bytes of the answer at `path`, the time, the peak memory growth.
async fn measure(
    label: &str,
    client: &DokployClient,
    origin: &reqwest::Url,
    path: &str,
    name: &str,
) -> anyhow::Result<()> {
    let before = peak_kib()?;
    let started = Instant::now();
    let answered = client
        .call(&Request::FindProject {
            name: name.to_owned(),
        })
        .await?;
    let took = started.elapsed();
    let after = peak_kib()?;
    let downloaded = Instant::now();
    let bytes = reqwest::Client::new()
        .get(origin.join(path)?)
        .header("x-api-key", KEY)
        .send()
        .await?
        .bytes()
        .await?
        .len();
    let download = downloaded.elapsed();
    println!(
        "{label}: answer {bytes} bytes (a plain download of it takes {:.1} ms), lookup {:.1} ms, \
         peak memory +{} KiB, found {:?}",
        download.as_secs_f64() * 1000.0,
        took.as_secs_f64() * 1000.0,
        after.saturating_sub(before),
        answered.answer
    );
    Ok(())
}

/// This process's peak resident memory (`VmHWM`), in KiB.
fn peak_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/self/status")?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .context("VmHWM has no value")?;
    Ok(kib.parse()?)
}
