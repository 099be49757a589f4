//! The hardened edges over real sockets: every refusal is the JSON error (unknown routes,
//! wrong methods, undecodable paths, bytes hyper cannot parse, long targets, too many or too
//! large headers), request ids, the request timeout (and the SSE stream exempt from it), the
//! header and body deadlines, and idle connections closed.

use std::time::{Duration, Instant};

use serde_json::Value;
use stackledger::deployment::Event;
use stackledger::ids::DeploymentId;
use stackledger::ledger::{ExpectedVersion, NewEvent};
use stackledger::simulator::Fault;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::raw_http::{RawAnswer, exchange, get, read_until_closed};
use crate::support::test_app::spawn_app;
use crate::support::{http, simulator};

/// Small head bounds, so that going past them is cheap.
const SMALL_HEADS: &[&str] = &[
    "--url-bytes-max=1024",
    "--header-bytes-max=2048",
    "--headers-max=20",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_beside_and_below_the_router_is_the_json_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(dir.path(), &simulator, SMALL_HEADS).await;
    let address = app.address;
    let many: Vec<String> = (0..30).map(|n| format!("X-Filler-{n}: {n}")).collect();
    let large = vec![format!("X-Large: {}", "v".repeat(2_500))];
    let huge = vec![format!("X-Huge: {}", "v".repeat(10_000))];
    let cases: Vec<(Vec<u8>, u16, &str, &str)> = vec![
        (
            get("/no/such/route", &[]),
            404,
            "not_found",
            "an unknown route",
        ),
        (
            b"DELETE /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            405,
            "method_not_allowed",
            "a wrong method",
        ),
        (
            get("/api/deployment/%FF%FE", &[]),
            400,
            "invalid_path",
            "invalid UTF-8 in an id",
        ),
        (
            get("/api/check/%C3%28", &[]),
            400,
            "invalid_path",
            "invalid UTF-8 in a name",
        ),
        (
            get("/static/%FF.js", &[]),
            400,
            "invalid_path",
            "invalid UTF-8 in an asset path",
        ),
        (
            b"GET /health\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            400,
            "malformed_request",
            "a raw byte hyper refuses",
        ),
        (
            b"GET /health HTTP/1.1\r\nBad Header\r\n\r\n".to_vec(),
            400,
            "malformed_request",
            "a header line without a colon",
        ),
        (
            get(&format!("/health?{}", "q".repeat(1_500)), &[]),
            414,
            "url_too_long",
            "a long target",
        ),
        (
            get("/health", &many),
            431,
            "headers_too_large",
            "too many headers",
        ),
        (
            get("/health", &large),
            431,
            "headers_too_large",
            "large headers",
        ),
        (
            get("/health", &huge),
            431,
            "headers_too_large",
            "a head larger than hyper takes",
        ),
        (
            get(&format!("/health?{}", "q".repeat(70_000)), &[]),
            431,
            "headers_too_large",
            "a target over hyper's own limit",
        ),
    ];
    for (request, status, code, context) in cases {
        let answer = exchange(address, &request).await;
        answer.assert_json_error(status, code, context);
    }
    let wrong_method = exchange(
        address,
        b"PUT /api/deploy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        wrong_method.header("allow"),
        Some("post"),
        "405 says what is allowed"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_set_when_absent_and_echoed_when_given() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let app = spawn_app(dir.path(), &simulator, &[]).await;
    let first = http()
        .get(app.url("/health"))
        .send()
        .await
        .expect("answers");
    let second = http().get(app.url("/nope")).send().await.expect("answers");
    let (first, second) = (
        first.headers()["x-request-id"].clone(),
        second.headers()["x-request-id"].clone(),
    );
    assert!(
        !first.is_empty() && first != second,
        "fresh ids: {first:?} {second:?}"
    );
    let echoed = http()
        .get(app.url("/nope"))
        .header("x-request-id", "client-chosen-7")
        .send()
        .await
        .expect("answers");
    assert_eq!(echoed.headers()["x-request-id"], "client-chosen-7");
    app.shutdown().await;
}

/// Appends `count` system events in batches, so that reading the whole log is real work.
async fn grow_ledger(ledger: &stackledger::ledger::Ledger, count: usize) {
    for _ in 0..count / 500 {
        let batch = (0..500)
            .map(|_| {
                NewEvent::new(Event::ServerStarted {
                    version: "0.0.0-filler".to_owned(),
                })
            })
            .collect();
        ledger
            .append(DeploymentId::SYSTEM, ExpectedVersion::Any, batch)
            .await
            .expect("appends");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_slower_than_the_request_timeout_is_408_json_but_the_stream_is_exempt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    simulator.add_fault(Fault {
        delay_ms: Some(600),
        ..Fault::on("project.search")
    });
    let flags = ["--request-timeout=100ms", "--admin-token=ops-timeout-test"];
    let app = spawn_app(dir.path(), &simulator, &flags).await;
    grow_ledger(&app.app.ledger, 50_000).await;
    let started = Instant::now();
    let verify = http()
        .get(app.url("/api/ledger/verify"))
        .header("authorization", "Bearer ops-timeout-test")
        .send()
        .await
        .expect("answers");
    let took = started.elapsed();
    assert_eq!(
        verify.status(),
        408,
        "verifying 50,000 events takes longer than 100 ms"
    );
    assert!(
        took < Duration::from_secs(2),
        "the 408 came at the timeout, not after: {took:?}"
    );
    let body: Value = verify.json().await.expect("json");
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    let health = http()
        .get(app.url("/health"))
        .send()
        .await
        .expect("answers");
    assert_eq!(health.status(), 200, "a quick answer is within the timeout");

    let id = app.deploy("patient").await;
    let stream = http()
        .get(app.url(&format!("/api/status/{id}")))
        .send()
        .await
        .expect("opens");
    let started = Instant::now();
    let body = tokio::time::timeout(Duration::from_secs(60), stream.text())
        .await
        .expect("the stream ends")
        .expect("reads");
    assert!(
        started.elapsed() > Duration::from_millis(500),
        "the stream outlived the timeout"
    );
    assert!(body.contains("event: complete"), "{body}");
    app.shutdown().await;
}

/// Sends `bytes` one at a time, `every` apart, until the server closes; how long it held on.
async fn trickle(stream: &mut TcpStream, bytes: &[u8], every: Duration) -> Duration {
    let started = Instant::now();
    let mut ticks = tokio::time::interval(every);
    for byte in bytes.iter().cycle() {
        ticks.tick().await;
        if stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            panic!("the server kept a trickling connection open for 10 s");
        }
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_slow_bodies_and_idle_connections_are_cut_off_within_their_bounds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let simulator = simulator().await;
    let flags = ["--header-timeout=1s", "--body-timeout=2s"];
    let app = spawn_app(dir.path(), &simulator, &flags).await;
    let bound = Duration::from_millis(2_500);

    let mut headers = TcpStream::connect(app.address).await.expect("connects");
    headers
        .write_all(b"GET /health HTTP/1.1\r\n")
        .await
        .expect("writes");
    let held = trickle(
        &mut headers,
        b"X-Slow: abcdefgh\r\n",
        Duration::from_millis(200),
    )
    .await;
    assert!(held < bound, "slow headers were held {held:?}");

    let mut idle = TcpStream::connect(app.address).await.expect("connects");
    let started = Instant::now();
    let said = read_until_closed(&mut idle, bound).await;
    assert!(
        said.is_empty(),
        "an idle connection is closed without a word"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the bound"
    );

    let mut kept = TcpStream::connect(app.address).await.expect("connects");
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("writes");
    let started = Instant::now();
    let said = read_until_closed(&mut kept, bound).await;
    assert!(
        String::from_utf8_lossy(&said).starts_with("HTTP/1.1 200"),
        "answered first"
    );
    assert!(started.elapsed() < bound, "then closed when idle");

    let body = TcpStream::connect(app.address).await.expect("connects");
    let (mut from_server, mut to_server) = body.into_split();
    let head = "POST /api/deploy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\nConnection: close\r\n\r\n{\"name\": \"";
    to_server.write_all(head.as_bytes()).await.expect("writes");
    let started = Instant::now();
    let sender = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        loop {
            ticks.tick().await;
            if to_server.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let answer =
        RawAnswer::parse(&read_until_closed(&mut from_server, Duration::from_secs(4)).await);
    let held = started.elapsed();
    sender.abort();
    answer.assert_json_error(408, "body_timeout", "a body at 1 byte/s");
    assert!(
        held >= Duration::from_millis(1_900) && held < Duration::from_secs(3),
        "{held:?}"
    );
    app.shutdown().await;
}

/// CPU time the process `pid` has used so far (user and system).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process lives");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("a stat line")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    let per_second: u64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100);
    Duration::from_millis(ticks * 1000 / per_second)
}

/// `GET /health` on a new connection: its status, or None when the connection was closed
/// without an answer.
async fn probe_health(address: std::net::SocketAddr) -> Option<RawAnswer> {
    let mut stream = TcpStream::connect(address).await.ok()?;
    stream.write_all(&get("/health", &[])).await.ok()?;
    let bytes = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    (!bytes.is_empty()).then(|| RawAnswer::parse(&bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_connections_under_1024_descriptors_is_refused_and_closed_without_spinning()
{
    const FLOOD: usize = 1_100;
    let dir = tempfile::tempdir().expect("temp dir");
    // The header timeout must outlast the flood itself, or its first connections are closed
    // (freeing slots under the cap) before the probe: 5 s, where the flood takes well under 1 s
    // on an idle machine and a few seconds on a loaded one.
    let flags: Vec<String> = ["--connections-max=200", "--header-timeout=5s"]
        .map(str::to_owned)
        .to_vec();
    let command = crate::support::portal::command_with_nofile(dir.path(), &flags, 1024);
    let mut portal =
        tokio::task::spawn_blocking(move || crate::support::portal::Portal::spawn(command))
            .await
            .expect("starts");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", portal.pid())).expect("limits");
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a line");
    assert_eq!(
        open_files.split_whitespace().collect::<Vec<_>>()[3..5],
        ["1024", "1024"]
    );
    let address: std::net::SocketAddr = portal.address.parse().expect("an address");
    let bound = Duration::from_secs(5);
    let slack = Duration::from_millis(1_500);

    let cpu_before = cpu_time(portal.pid());
    let started = Instant::now();
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        flood.push(
            TcpStream::connect(address)
                .await
                .expect("the kernel takes the connection"),
        );
    }
    let flooded = Instant::now();
    assert!(
        flooded - started < bound,
        "the flood itself took {:?}, longer than the header timeout",
        flooded - started
    );
    let refused = probe_health(address).await;
    if let Some(answer) = &refused {
        answer.assert_json_error(503, "too_many_connections", "at the cap");
        assert!(answer.header("retry-after").is_some());
    }
    // Every flood connection is answered and closed within the bound, without the portal
    // spinning meanwhile (nothing else talks to it in this window).
    let mut answered = 0;
    for (n, stream) in flood.iter_mut().enumerate() {
        let left = (bound + slack).saturating_sub(flooded.elapsed());
        let said = tokio::time::timeout(left, read_until_closed(stream, left))
            .await
            .unwrap_or_else(|_| panic!("flood connection {n} was still open after the bound"));
        if !said.is_empty() {
            RawAnswer::parse(&said).assert_json_error(503, "too_many_connections", "a refusal");
            answered += 1;
        }
    }
    let wall = started.elapsed();
    let cpu = cpu_time(portal.pid()) - cpu_before;
    let healthy = loop {
        match probe_health(address).await {
            Some(answer) if answer.status == 200 => break flooded.elapsed(),
            Some(answer) => {
                answer.assert_json_error(503, "too_many_connections", "after the flood")
            }
            None => {}
        }
        assert!(
            flooded.elapsed() < bound + 2 * slack,
            "/health did not answer again in time"
        );
    };

    assert!(
        answered > 0,
        "some connections over the cap got the clear refusal"
    );
    assert!(portal.is_running(), "the portal survived the flood");
    assert!(
        cpu < wall / 3,
        "the portal spun: {cpu:?} of CPU in {wall:?}"
    );
    eprintln!(
        "flood: /health again after {healthy:?}, {answered} refusals answered, {cpu:?} CPU in {wall:?}"
    );
    let (status, _) = tokio::task::spawn_blocking(move || portal.terminate())
        .await
        .expect("stops");
    assert!(status.success(), "a clean exit after the flood: {status:?}");
}

#[tokio::test]
async fn a_refusal_is_logged_once_under_its_request_id_and_a_success_not_at_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = crate::support::portal::command(dir.path(), &[]);
    command.env("RUST_LOG", "info,stackledger::http=debug");
    let portal =
        tokio::task::spawn_blocking(move || crate::support::portal::Portal::spawn(command))
            .await
            .expect("starts");
    for (path, id) in [("/no/such/page", "trace-me-7"), ("/health", "quiet-8")] {
        http()
            .get(portal.url(path))
            .header("x-request-id", id)
            .send()
            .await
            .expect("answers");
    }
    let (status, logs) = tokio::task::spawn_blocking(move || portal.terminate())
        .await
        .expect("stops");
    assert!(status.success());
    let lines = |id: &str| -> Vec<Value> {
        logs.iter()
            .filter(|line| line.contains(id))
            .map(|line| serde_json::from_str(line).expect("json log lines"))
            .collect()
    };
    let refused = lines("trace-me-7");
    assert_eq!(refused.len(), 1, "logged once: {refused:#?}");
    assert_eq!(refused[0]["fields"]["message"], "request refused");
    assert_eq!(refused[0]["fields"]["code"], "not_found");
    assert_eq!(refused[0]["span"]["request_id"], "trace-me-7");
    assert!(lines("quiet-8").is_empty(), "a success is not logged");
}

#[tokio::test]
async fn a_connection_cap_the_descriptor_limit_cannot_hold_is_refused_at_start_naming_its_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let flags = ["--connections-max=2048".to_owned()];
    let mut command = crate::support::portal::command_with_nofile(dir.path(), &flags, 256);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the binary runs")
        .expect("its output is read");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "it started: {stderr}");
    assert!(
        stderr.contains("--connections-max 2048 needs") && stderr.contains("may open 256"),
        "{stderr}"
    );
}
