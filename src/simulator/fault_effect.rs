//! What a scripted call fault does to one answer, in this order: answer late, never answer,
//! drop the connection (after doing the work, with `afterEffect`), answer an error status with
//! `Retry-After`, answer a page that is not JSON, answer a huge body; otherwise the world's
//! answer.
//!
//! It only shapes answers: which fault applies and how often is the fault plan's business
//! (`fault.rs`), and it never changes the world except by letting it answer.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::Shared;
use super::answer::Failure;
use super::api::answer;
use super::fault::Fault;
use crate::deployment::Procedure;

/// Applies a scripted fault to one call.
pub(super) async fn apply(
    shared: &Shared,
    procedure: Procedure,
    input: &Map<String, Value>,
    fault: Fault,
) -> Response {
    if let Some(delay) = fault.delay_ms {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if fault.hang {
        std::future::pending::<()>().await;
    }
    if fault.drop {
        if fault.after_effect {
            let _ = answer(shared, procedure, input);
        }
        return dropped_connection();
    }
    if let Some(status) = fault.status {
        return error_status(status, procedure, fault);
    }
    if fault.malformed {
        let page = "<html><body>502 Bad Gateway</body></html>";
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], page).into_response();
    }
    if let Some(bytes) = fault.huge_bytes {
        return huge_answer(bytes);
    }
    answer(shared, procedure, input)
}

/// The simulated error `status`, with the fault's `Retry-After` where it has one that is a
/// valid header value.
fn error_status(status: u16, procedure: Procedure, fault: Fault) -> Response {
    let failure = Failure::new(
        status,
        "INTERNAL_SERVER_ERROR",
        format!("Simulated failure ({status})"),
    );
    let mut response = failure.response(Some(procedure.name()));
    let retry_after = fault
        .retry_after
        .map(|seconds| seconds.to_string())
        .or(fault.retry_after_raw);
    if let Some(value) = retry_after.and_then(|value| value.parse().ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A 200 with a JSON array holding one string of about `bytes` bytes, streamed in chunks so
/// that it starts at once and costs the simulator no memory.
fn huge_answer(bytes: usize) -> Response {
    const CHUNK: usize = 64 * 1024;
    let filler = Bytes::from(vec![b'x'; CHUNK]);
    let chunks = bytes.div_ceil(CHUNK);
    let body = std::iter::once(Bytes::from_static(b"[\""))
        .chain(std::iter::repeat_n(filler, chunks))
        .chain(std::iter::once(Bytes::from_static(b"\"]")))
        .map(Ok::<Bytes, std::io::Error>);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures_util::stream::iter(body)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A 200 whose body breaks off: the client sees the connection die without an answer.
fn dropped_connection() -> Response {
    let broken = futures_util::stream::iter([Err::<Bytes, std::io::Error>(std::io::Error::other(
        "simulated dropped connection",
    ))]);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "64")
        .body(Body::from_stream(broken))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
