//! `GET /api/status/:id`: a deployment's progress as Server-Sent Events (DESIGN §6), on the
//! ledger's catch-up subscriptions.
//!
//! Every message carries the ledger seq of the event it reports as its `id`, and only durable
//! events do (keep-alive comments carry none). Without `Last-Event-ID` the stream opens with the
//! current state; with it, exactly the events after that seq follow: an event is never sent
//! twice or missed, also across a server restart. `complete` and `error` end the stream and
//! carry `headHash`, the receipt of the deployment's last event; reconnecting at or past it gets
//! 204.

use std::convert::Infallible;
use std::time::Duration;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::watch;

use crate::deployment::{DeploymentStatus, Event, Leftover, Phase, RollbackOutcome};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::DeploymentPath;
use crate::http::limits::{SsePlace, SseRefusal};
use crate::http::route::{Param, Route, Schema};
use crate::ids::Seq;
use crate::ledger::envelope::Envelope;
use crate::ledger::subscription::Subscription;
use crate::projection::DeploymentState;
use crate::projection::view::{DeploymentView, ResourcesView};

/// Keep-alive comments keep proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /api/status/:id`'s header.
const STATUS_PARAMS: &[Param] = &[Param::header(
    "Last-Event-ID",
    "the ledger seq of the last message seen: exactly the events after it follow",
    Schema::Integer,
)];

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            "GET",
            "/api/status/{id}",
            "A deployment's progress as Server-Sent Events (Last-Event-ID resumes)",
            &[
                (200, "the event stream"),
                (204, "Last-Event-ID is at or past the end"),
                (400, "the path does not decode"),
                (404, "unknown id"),
                (
                    429,
                    "this client holds its share of open streams (Retry-After)",
                ),
                (
                    503,
                    "too many open streams, or the ledger failing (Retry-After)",
                ),
            ],
            get(status),
        )
        .content("text/event-stream")
        .params(STATUS_PARAMS),
    ]
}

async fn status(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    DeploymentPath(id): DeploymentPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let place = sse_place(&state, state.guards.client(peer, &headers))?;
    let current = state
        .read_model
        .read()
        .get(id)?
        .map(std::borrow::Cow::into_owned)
        .ok_or(ApiError::NotFound { what: "deployment" })?;
    let resume = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Seq);
    let (local, first) = match resume {
        Some(after) if current.is_finished() && after >= current.last_seq => {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        Some(after) => {
            let before = state.ledger.read_stream(id, Seq::ZERO, usize::MAX)?;
            // Before the first event there is no state yet: the stream starts with it.
            (fold_until(&before, after), None)
        }
        None => {
            let first = opening_message(&current);
            (Some(current), Some(first))
        }
    };
    let from = match (&local, resume) {
        (Some(local), _) => local.last_seq,
        (None, after) => after.unwrap_or(Seq::ZERO),
    };
    let subscription = state.ledger.subscribe(Some(id), from);
    let stream = messages(StatusStream {
        subscription,
        local,
        first,
        shutdown: state.shutdown.clone(),
        _place: place,
        rendered: std::sync::Arc::clone(&state.rendered),
        behind: false,
        ledger: state.ledger.clone(),
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// A place under the SSE cap and the client's share of it, or the refusal.
fn sse_place(state: &AppState, client: std::net::IpAddr) -> Result<SsePlace, ApiError> {
    state
        .guards
        .sse_place(client)
        .map_err(|refusal| match refusal {
            SseRefusal::ClientFull => ApiError::StreamsPerClient {
                max: state.guards.limits.sse_client_max.get(),
            },
            SseRefusal::Full => ApiError::Unavailable {
                code: "too_many_streams",
                message: "too many open status streams; try again shortly".to_owned(),
                retry_after: Duration::from_secs(5),
            },
        })
}

/// The state as of `after` (the first event always opens the stream).
fn fold_until(events: &[Envelope], after: Seq) -> Option<DeploymentState> {
    let mut events = events.iter().take_while(|envelope| envelope.seq <= after);
    let mut state = DeploymentState::start(events.next()?)?;
    for envelope in events {
        state.apply(envelope);
    }
    Some(state)
}

struct StatusStream {
    subscription: Subscription,
    local: Option<DeploymentState>,
    first: Option<(SseEvent, bool)>,
    shutdown: watch::Receiver<bool>,
    /// Holds this stream's place under the SSE cap until the stream is dropped.
    _place: SsePlace,
    /// Messages already rendered for other subscribers.
    rendered: std::sync::Arc<Rendered>,
    /// Whether `local` missed events whose messages came from `rendered`.
    behind: bool,
    /// The log, to rebuild `local` when it is behind.
    ledger: crate::ledger::Ledger,
}

impl StatusStream {
    /// The deployment's state as of `envelope`, folded on from `local` or rebuilt from the log.
    fn state_at(&mut self, envelope: &Envelope) -> Option<&DeploymentState> {
        if self.behind || self.local.is_none() {
            let events = self
                .ledger
                .read_stream(envelope.stream, Seq::ZERO, usize::MAX)
                .ok()?;
            self.local = Some(fold_until(&events, envelope.seq)?);
            self.behind = false;
        } else if let Some(local) = self.local.as_mut() {
            local.apply(envelope);
        }
        self.local.as_ref()
    }
}

/// Messages rendered once per seq and shared by every subscriber of the deployment: a message
/// is a pure function of the deployment's state at that seq.
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    messages: std::sync::Mutex<std::collections::BTreeMap<Seq, SseEvent>>,
}

/// Rendered messages kept at most (the oldest seqs go first).
const RENDERED_MAX: usize = 4096;

impl Rendered {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<Seq, SseEvent>> {
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The message that opens a stream without `Last-Event-ID`: the terminal message of a
/// finished deployment, else its current progress. The flag says whether it ends the stream.
fn opening_message(state: &DeploymentState) -> (SseEvent, bool) {
    match state.status {
        DeploymentStatus::InProgress => (progress(state), false),
        _ => (terminal(state), true),
    }
}

fn messages(stream: StatusStream) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures_util::stream::unfold(Some(stream), |state| async move {
        let mut stream = state?;
        if let Some((first, ends)) = stream.first.take() {
            return Some((Ok(first), (!ends).then_some(stream)));
        }
        if *stream.shutdown.borrow() {
            return None;
        }
        let envelope = tokio::select! {
            next = stream.subscription.next() => next?.ok()?,
            _ = stream.shutdown.changed() => return None,
        };
        let ends = matches!(
            envelope.event,
            Event::DeploymentSucceeded { .. } | Event::RollbackFinished { .. }
        );
        // One subscriber renders each message, under the lock; the others reuse it, and their
        // own fold falls behind, to be rebuilt from the log only if they ever render.
        let rendered = std::sync::Arc::clone(&stream.rendered);
        let mut messages = rendered.lock();
        let message = match messages.get(&envelope.seq) {
            Some(message) => {
                stream.behind = true;
                message.clone()
            }
            None => {
                let state = stream.state_at(&envelope)?;
                let message = if ends {
                    terminal(state)
                } else {
                    progress(state)
                };
                if messages.len() >= RENDERED_MAX {
                    messages.pop_first();
                }
                messages.insert(envelope.seq, message.clone());
                message
            }
        };
        drop(messages);
        Some((Ok(message), (!ends).then_some(stream)))
    })
}

/// The data of a `progress` message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Progress<'a> {
    phase: Phase,
    status: DeploymentStatus,
    progress: u8,
    /// The narrator's sentence for the latest event ("Waiting for a build slot: 2 deployments
    /// ahead").
    message: &'a str,
    current_step: &'a str,
    /// The kind of the latest event, snake_case (`build_slot_waiting` while in line).
    action: &'a str,
    resources: ResourcesView,
}

/// The data of a `complete` message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Complete<'a> {
    url: &'a str,
    /// Always `ready`.
    status: &'static str,
    resources: ResourcesView,
    /// Seconds from the request to success.
    duration: f64,
    head_hash: String,
}

/// The data of an `error` message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Failed<'a> {
    message: &'a str,
    phase: Phase,
    code: &'a str,
    rollback: RollbackOutcome,
    /// What the rollback left on Dokploy (`[{kind, id, detail}]`; empty when nothing is).
    leftovers: &'a [Leftover],
    head_hash: String,
}

fn resources(state: &DeploymentState) -> ResourcesView {
    DeploymentView::of(state).resources
}

fn progress(state: &DeploymentState) -> SseEvent {
    let data = Progress {
        phase: state.phase,
        status: state.status,
        progress: state.progress,
        message: state.message(),
        current_step: &state.current_step,
        action: state.logs().last().map_or("", |entry| entry.line.action),
        resources: resources(state),
    };
    message("progress", state.last_seq, &data)
}

fn terminal(state: &DeploymentState) -> SseEvent {
    let head_hash = state.head_hash.to_string();
    if state.status == DeploymentStatus::Success {
        let took_ms = state.completed_at.unwrap_or(state.updated_at) - state.started_at;
        let data = Complete {
            url: &state.url,
            status: "ready",
            resources: resources(state),
            duration: took_ms.max(0) as f64 / 1000.0,
            head_hash,
        };
        return message("complete", state.last_seq, &data);
    }
    let (text, phase, code) = match &state.error {
        Some(failure) => (
            failure.message.as_str(),
            failure.phase,
            failure.code.as_str(),
        ),
        None => ("the deployment failed", state.phase, "failed"),
    };
    let data = Failed {
        message: text,
        phase,
        code,
        rollback: state.rollback_outcome().unwrap_or(RollbackOutcome::Partial),
        leftovers: state.leftovers(),
        head_hash,
    };
    message("error", state.last_seq, &data)
}

fn message(kind: &str, seq: Seq, data: &impl Serialize) -> SseEvent {
    SseEvent::default()
        .event(kind)
        .id(seq.0.to_string())
        .json_data(data)
        .expect("an SSE body of strings, numbers and enums always serializes")
}
