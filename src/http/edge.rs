//! The middleware every request passes: request ids, the head limits (URL length, header
//! bytes), the body deadline, the request timeout, the fallbacks for unknown routes and wrong
//! methods, and the one place error answers are logged.
//!
//! Everything here answers with [`ApiError`], so no refusal is ever an empty or plain-text
//! body. It never reads deployment state, and of a request it logs only the method, the path
//! and the request id: never the query or another header, so never a token.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::http::error::{ApiError, ErrorReport};
use crate::http::limits::Limits;

/// The header that carries the request id, in and out.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// Request ids: a random prefix per process and a counter, so ids are unique without a clock.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        let token = crate::ids::random_token();
        Self {
            prefix: Arc::from(token.get(..12).unwrap_or(&token)),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n}", self.prefix);
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// The span of a request: method, path (never the query, which may be long) and request id.
pub(crate) fn request_span(request: &axum::http::Request<Body>) -> tracing::Span {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        request_id = id,
    )
}

/// Logs an error answer once, inside the request's span: server errors as errors with their
/// internal detail, refusals at debug level.
pub(crate) async fn log_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(report) = response.extensions().get::<ErrorReport>() {
        let status = response.status().as_u16();
        let detail = report.detail.as_deref().unwrap_or_default();
        if response.status().is_server_error() {
            tracing::error!(status, code = report.code, detail, "request failed");
        } else {
            tracing::debug!(status, code = report.code, "request refused");
        }
    }
    response
}

/// Refuses a request target longer than `url_bytes_max` (414) and header fields longer in
/// all than `header_bytes_max` (431). Their count and the head as a whole are bounded below
/// the router, by hyper (see `server.rs`).
pub(crate) async fn head_limits(
    State(limits): State<Limits>,
    request: Request,
    next: Next,
) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target > limits.url_bytes_max.get() {
        return ApiError::UrlTooLong.into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > limits.header_bytes_max.get() {
        return ApiError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}

/// Gives a request body a deadline `body_timeout` after its head arrived (not an idle timer:
/// a body trickled a byte at a time is cut off too).
pub(crate) async fn body_deadline(
    State(limits): State<Limits>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = if body.is_end_stream() {
        body
    } else {
        Body::new(Deadline::new(body, limits.body_timeout))
    };
    next.run(Request::from_parts(parts, body)).await
}

/// Answers 408 when the answer is not ready within `request_timeout`. Every route but the SSE
/// stream has it (see `route::RouteDoc::streams`).
pub(crate) async fn request_timeout(
    State(limits): State<Limits>,
    request: Request,
    next: Next,
) -> Response {
    let after = limits.request_timeout;
    match tokio::time::timeout(after, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout { after }.into_response(),
    }
}

/// No route has this path.
pub(crate) async fn unknown_route() -> ApiError {
    ApiError::UnknownRoute
}

/// The path has routes, but not for this method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The body did not arrive whole before its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub(crate) struct BodyTimedOut(Duration);

/// Whether `error` (or one of its causes) is a body that missed its deadline.
pub(crate) fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<BodyTimedOut>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// A request body that fails once its deadline has passed.
struct Deadline {
    body: Body,
    timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    fn new(body: Body, timeout: Duration) -> Self {
        Self {
            body,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(context) {
            return Poll::Ready(frame);
        }
        match self.sleep.as_mut().poll(context) {
            Poll::Ready(()) => {
                let timed_out = BodyTimedOut(self.timeout);
                Poll::Ready(Some(Err(axum::Error::new(timed_out))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_trickled_body_fails_at_its_deadline_and_says_so() {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(8);
        let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
            let chunk = receiver.recv().await?;
            Some((Ok::<_, std::io::Error>(chunk), receiver))
        });
        let mut body = Deadline::new(Body::from_stream(chunks), Duration::from_secs(2));
        let reader = tokio::spawn(async move {
            let mut read = 0;
            loop {
                match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                    Some(Ok(frame)) => read += frame.into_data().map_or(0, |d| d.len()),
                    Some(Err(error)) => return (read, is_body_timeout(&error)),
                    None => return (read, false),
                }
            }
        });
        for _ in 0..5 {
            let _ = sender.send(Bytes::from_static(b"x")).await;
            tokio::time::sleep(Duration::from_millis(900)).await;
        }
        let (read, timed_out) = reader.await.expect("the reader ends");
        assert!(timed_out, "the deadline is what ended it");
        assert_eq!(read, 3, "bytes before the deadline were read, none after");
    }
}
