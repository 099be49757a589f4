//! The accept loop: connections capped, heads bounded in time and size, graceful shutdown.
//!
//! Each connection is served by hyper's HTTP/1 server with a timer, so the request line and
//! headers must arrive within `header_timeout` (an idle keep-alive connection is closed after
//! it too), with at most `headers_max` fields and a head of at most `url_bytes_max +
//! header_bytes_max` bytes; hyper's own answers to what it cannot parse are made JSON by
//! [`JsonParseErrors`]. Past `connections_max` open connections a new one is answered 503
//! (JSON, `Retry-After`) and closed; the refusals themselves are bounded, so a flood cannot
//! use up file descriptors. The loop never spins: an accept error pauses it.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::http::connection::JsonParseErrors;
use crate::http::error::ApiError;
use crate::http::limits::Limits;

/// Refused connections being answered at once at most; beyond it they are closed unanswered.
const REFUSALS_MAX: usize = 64;
/// How long a refused connection may take to read its answer.
const REFUSAL_TIME: Duration = Duration::from_millis(500);
/// Request bytes read (and dropped) from a refused connection before closing it, so that the
/// close is a FIN after the answer rather than a reset that could destroy it.
const REFUSAL_DRAIN_BYTES: usize = 16 * 1024;
/// File descriptors kept beyond the connections: the ledger, the Dokploy client, the
/// simulator, the refusals, logs.
const DESCRIPTORS_RESERVED: u64 = 128 + REFUSALS_MAX as u64;
/// How long the loop pauses after an accept error that is not the peer's (no descriptors).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting and waits
/// for the open connections to finish (idle ones close at once).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    reserve_descriptors(limits.connections_max.get())?;
    let builder = http1(&limits);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(limits.connections_max.get()));
    let refusing = Arc::new(Semaphore::new(REFUSALS_MAX));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(place) = Arc::clone(&open).try_acquire_owned() else {
            refuse(stream, &refusing);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(JsonParseErrors::new(stream));
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(place);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// hyper's HTTP/1 server with our bounds on the head.
fn http1(limits: &Limits) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(limits.headers_max.get())
        .max_header_size(limits.url_bytes_max.get() + limits.header_bytes_max.get());
    builder
}

/// Answers a connection over the cap with 503 and closes it, unless too many refusals are
/// under way already (then it is closed at once).
fn refuse(mut stream: TcpStream, refusing: &Arc<Semaphore>) {
    let Ok(place) = Arc::clone(refusing).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let answer = ApiError::TooManyConnections.http1_bytes();
        let _ = tokio::time::timeout(REFUSAL_TIME, async {
            stream.write_all(&answer).await?;
            stream.shutdown().await?;
            let mut drained = 0;
            let mut buf = [0u8; 4096];
            while drained < REFUSAL_DRAIN_BYTES {
                match stream.read(&mut buf).await? {
                    0 => break,
                    n => drained += n,
                }
            }
            Ok::<_, io::Error>(())
        })
        .await;
        drop(place);
    });
}

/// After an accept error: none for a peer that went away; a pause (and a warning) otherwise,
/// so that running out of descriptors never makes the loop spin.
async fn pause_after(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(%error, "cannot accept a connection; pausing");
    tokio::time::sleep(ACCEPT_PAUSE).await;
}

/// Makes sure the process may open `connections_max` connections and what it needs besides:
/// raises the soft descriptor limit toward the hard one when it is lower, and refuses, naming
/// the flag, when even the hard limit is too low. [`serve`] checks it too; call it before
/// announcing an address to refuse earlier.
pub fn reserve_descriptors(connections_max: usize) -> io::Result<()> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let needed = connections_max as u64 + DESCRIPTORS_RESERVED;
    let mut limit = getrlimit(Resource::Nofile);
    let Some(soft) = limit.current else {
        return Ok(());
    };
    if soft >= needed {
        return Ok(());
    }
    match limit.maximum {
        Some(hard) if hard < needed => Err(io::Error::other(format!(
            "--connections-max {connections_max} needs {needed} file descriptors, but this \
             process may open {hard} (ulimit -Hn): lower --connections-max or raise the limit"
        ))),
        _ => {
            limit.current = Some(needed);
            setrlimit(Resource::Nofile, limit).map_err(io::Error::from)?;
            tracing::info!(from = soft, to = needed, "raised the file-descriptor limit");
            Ok(())
        }
    }
}
