//! A Dokploy (or a proxy in front of it) that echoes the API key and the admin token back in
//! its errors, in several encodings: no surface of the portal may then hold either secret —
//! not the ledger's events (export), the server's log, the public deployment view, its SSE
//! stream, the ops timeline, nor any output of `stackledger-replay`.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::support::http;
use crate::support::portal::Portal;

const KEY: &str = "Sk_Echo+Key/0123456789=abcdef";
const TOKEN: &str = "admin-echo-token-0123456789abcdef";

fn percent(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn base64(bytes: &[u8], url_safe: bool) -> String {
    let mut alphabet = *b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if url_safe {
        alphabet[62] = b'-';
        alphabet[63] = b'_';
    }
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for (index, byte) in chunk.iter().enumerate() {
            n |= u32::from(*byte) << (16 - 8 * index);
        }
        for index in 0..=chunk.len() {
            out.push(char::from(
                alphabet[((n >> (18 - 6 * index)) & 63) as usize],
            ));
        }
    }
    out
}

/// Every form of either secret a surface must not hold, lower-cased.
fn forbidden() -> Vec<String> {
    let mut forms = Vec::new();
    for secret in [KEY, TOKEN] {
        forms.push(secret.to_owned());
        forms.push(percent(secret));
        forms.push(base64(secret.as_bytes(), false));
        forms.push(base64(secret.as_bytes(), true));
    }
    forms.iter().map(|form| form.to_ascii_lowercase()).collect()
}

fn assert_clean(surface: &str, text: &str) {
    let lower = text.to_ascii_lowercase();
    for form in forbidden() {
        assert!(!lower.contains(&form), "{surface} holds {form:?}:\n{text}");
    }
}

/// The echoing answers, one per call, in order.
fn echoes() -> Vec<(StatusCode, &'static str, String)> {
    let json = "application/json";
    let text = "text/plain";
    vec![
        (
            StatusCode::UNAUTHORIZED,
            json,
            format!(r#"{{"message":"Invalid API key {KEY}","code":"UNAUTHORIZED"}}"#),
        ),
        (
            StatusCode::BAD_REQUEST,
            json,
            format!(
                r#"{{"message":"bad key {} and token {TOKEN}","code":"BAD_REQUEST"}}"#,
                percent(KEY)
            ),
        ),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            text,
            format!("{KEY} upstream said no ({})", base64(KEY.as_bytes(), false)),
        ),
        (
            StatusCode::OK,
            text,
            format!("{} is not JSON", base64(KEY.as_bytes(), true)),
        ),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json,
            format!(
                r#"{{"message":"Bearer {}","code":"INTERNAL_SERVER_ERROR"}}"#,
                KEY.to_ascii_lowercase()
            ),
        ),
    ]
}

/// An upstream on 127.0.0.1:0 that answers every call with the next echo.
async fn echoing_upstream() -> String {
    let answers = Arc::new(echoes());
    let next = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().fallback(move || {
        let answers = Arc::clone(&answers);
        let index = next.fetch_add(1, Ordering::SeqCst) % answers.len();
        async move {
            let (status, kind, body) = answers[index].clone();
            let response: Response = (status, [(header::CONTENT_TYPE, kind)], body).into_response();
            response
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let address = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

async fn get(portal: &Portal, path: &str, token: Option<&str>) -> String {
    let mut request = http().get(portal.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the portal answers");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.text().await.expect("a body")
}

fn replay(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_stackledger-replay"))
        .args(args)
        .env_remove("ADMIN_TOKEN")
        .output()
        .expect("the replay tool runs");
    assert!(output.status.success(), "{args:?}: {output:?}");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn no_surface_holds_a_secret_that_dokploy_echoes() {
    let upstream = echoing_upstream().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let args: Vec<String> = [
        "--dokploy-url",
        upstream.as_str(),
        "--dokploy-api-key",
        KEY,
        "--admin-token",
        TOKEN,
        "--retries-max",
        "0",
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect();
    let portal = Portal::start(dir.path(), &args);
    let mut ids = Vec::new();
    for index in 0..echoes().len() {
        let id = portal
            .deploy(&format!("echo-{index}"))
            .await
            .expect("accepted");
        // The stream ends with the deployment's terminal message.
        let stream = get(&portal, &format!("/api/status/{id}"), None).await;
        assert!(stream.contains("event: error"), "{stream}");
        assert_clean("the SSE stream", &stream);
        let view = get(&portal, &format!("/api/deployment/{id}"), None).await;
        assert_clean("the deployment view", &view);
        assert!(
            !view.contains("upstream said no"),
            "Dokploy's words: {view}"
        );
        assert!(!view.contains("Invalid API key"), "Dokploy's words: {view}");
        let events = get(
            &portal,
            &format!("/api/deployments/{id}/events"),
            Some(TOKEN),
        )
        .await;
        assert_clean("the ops timeline", &events);
        ids.push(id);
    }
    let export = portal.export(TOKEN, 0, 1000).await;
    assert_clean("the export", &export);
    assert!(
        export.contains("[redacted]"),
        "the detail is kept, scrubbed"
    );
    assert!(
        export.contains("Invalid API key"),
        "Dokploy's detail stays for ops"
    );
    let (_, logs) = portal.terminate();
    assert_clean("the server log", &logs.join("\n"));
    let data_dir = dir.path().to_str().expect("utf-8");
    let out = dir.path().join("export.ndjson");
    let out = out.to_str().expect("utf-8");
    replay(&["--data-dir", data_dir, "export", "--out", out]);
    let exported = std::fs::read_to_string(out).expect("the export file");
    assert_clean("stackledger-replay export", &exported);
    for id in &ids {
        for command in ["show", "timeline"] {
            let shown = replay(&["--data-dir", data_dir, command, id]);
            assert_clean(&format!("stackledger-replay {command}"), &shown);
            let shown = replay(&["--data-dir", data_dir, "--json", command, id]);
            assert_clean(&format!("stackledger-replay --json {command}"), &shown);
        }
    }
}
