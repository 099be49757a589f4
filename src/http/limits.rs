//! Abuse limits: a per-client rate limit on deploys, the answers kept for `Idempotency-Key`,
//! and the count of open SSE streams. All bounded in memory.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::Value;

/// The configured limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deploy requests one client may make per minute (and in a burst).
    pub deploys_per_minute: u32,
    /// Whether `X-Forwarded-For` names the client.
    pub trust_forwarded_for: bool,
    /// Open SSE streams at most.
    pub sse_max: usize,
}

/// Clients remembered by the rate limiter at most (the oldest are forgotten first).
const CLIENTS_MAX: usize = 10_000;
/// Idempotency answers kept at most.
const IDEMPOTENCY_MAX: usize = 10_000;
/// The longest `Idempotency-Key` accepted.
pub(crate) const IDEMPOTENCY_KEY_BYTES_MAX: usize = 128;

#[derive(Debug, Default)]
struct Buckets {
    /// Per client: tokens left and when they were counted (unix ms).
    tokens: HashMap<IpAddr, (f64, i64)>,
    order: VecDeque<IpAddr>,
}

#[derive(Debug, Default)]
struct Answers {
    by_key: HashMap<String, (u16, Value)>,
    order: VecDeque<String>,
}

/// The shared state of the limits.
#[derive(Debug)]
pub(crate) struct Guards {
    pub(crate) limits: Limits,
    buckets: Mutex<Buckets>,
    answers: Mutex<Answers>,
    sse_open: Arc<AtomicUsize>,
}

/// One open SSE stream; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct SsePlace(Arc<AtomicUsize>);

impl Drop for SsePlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Guards {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            buckets: Mutex::new(Buckets::default()),
            answers: Mutex::new(Answers::default()),
            sse_open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The client's address: the peer, or the first `X-Forwarded-For` hop when trusted.
    pub(crate) fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        if self.limits.trust_forwarded_for
            && let Some(forwarded) = headers
                .get("x-forwarded-for")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .and_then(|first| first.trim().parse::<IpAddr>().ok())
        {
            return forwarded;
        }
        peer.ip()
    }

    /// Takes one deploy token for `client` at `now_ms`; Err with the wait when none is left.
    pub(crate) fn take_deploy(&self, client: IpAddr, now_ms: i64) -> Result<(), Duration> {
        let capacity = f64::from(self.limits.deploys_per_minute);
        let per_ms = capacity / 60_000.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.tokens.contains_key(&client) {
            if buckets.order.len() >= CLIENTS_MAX
                && let Some(oldest) = buckets.order.pop_front()
            {
                buckets.tokens.remove(&oldest);
            }
            buckets.order.push_back(client);
        }
        let (tokens, counted) = buckets.tokens.entry(client).or_insert((capacity, now_ms));
        let refilled = (*tokens + (now_ms - *counted).max(0) as f64 * per_ms).min(capacity);
        *counted = now_ms;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            let wait_ms = ((1.0 - refilled) / per_ms).ceil() as u64;
            Err(Duration::from_millis(wait_ms))
        }
    }

    /// The first answer given for this idempotency key, if any.
    pub(crate) fn answer_for(&self, key: &str) -> Option<(u16, Value)> {
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        answers.by_key.get(key).cloned()
    }

    /// Keeps the first answer for this key.
    pub(crate) fn remember(&self, key: String, status: u16, body: Value) {
        let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        if answers.by_key.contains_key(&key) {
            return;
        }
        if answers.order.len() >= IDEMPOTENCY_MAX
            && let Some(oldest) = answers.order.pop_front()
        {
            answers.by_key.remove(&oldest);
        }
        answers.order.push_back(key.clone());
        answers.by_key.insert(key, (status, body));
    }

    /// A place for one more SSE stream, if the cap allows.
    pub(crate) fn sse_place(&self) -> Option<SsePlace> {
        let open = self.sse_open.fetch_add(1, Ordering::SeqCst);
        let place = SsePlace(Arc::clone(&self.sse_open));
        (open < self.limits.sse_max).then_some(place)
    }

    /// Open SSE streams now.
    pub(crate) fn sse_open(&self) -> usize {
        self.sse_open.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guards(per_minute: u32) -> Guards {
        Guards::new(Limits {
            deploys_per_minute: per_minute,
            trust_forwarded_for: false,
            sse_max: 2,
        })
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_for_refill() {
        let guards = guards(3);
        let client: IpAddr = "10.0.0.1".parse().expect("an address");
        for _ in 0..3 {
            assert_eq!(guards.take_deploy(client, 0), Ok(()));
        }
        assert_eq!(guards.take_deploy(client, 0), Err(Duration::from_secs(20)));
        assert_eq!(guards.take_deploy(client, 20_000), Ok(()));
        let other: IpAddr = "10.0.0.2".parse().expect("an address");
        assert_eq!(guards.take_deploy(other, 0), Ok(()), "clients are separate");
    }

    #[test]
    fn forwarded_for_is_trusted_only_when_configured() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 10.0.0.1".parse().expect("a value"),
        );
        let peer: SocketAddr = "127.0.0.1:5000".parse().expect("an address");
        assert_eq!(guards(1).client(peer, &headers), peer.ip());
        let trusting = Guards::new(Limits {
            deploys_per_minute: 1,
            trust_forwarded_for: true,
            sse_max: 1,
        });
        assert_eq!(
            trusting.client(peer, &headers),
            "203.0.113.9".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn sse_places_are_capped_and_freed() {
        let guards = guards(1);
        let first = guards.sse_place().expect("a place");
        let _second = guards.sse_place().expect("a place");
        assert!(guards.sse_place().is_none(), "the cap is two");
        drop(first);
        assert!(guards.sse_place().is_some());
    }
}

/// Rendered deployment views, each with the seq it was rendered at.
#[derive(Debug, Default)]
pub(crate) struct ViewCache {
    views: Mutex<HashMap<crate::ids::DeploymentId, (crate::ids::Seq, axum::body::Bytes)>>,
}

/// Views kept at most; beyond it the cache starts over (a view is cheap to render again).
const VIEWS_MAX: usize = 10_000;

impl ViewCache {
    /// The view of `id` rendered at `seq`, if kept.
    pub(crate) fn get(
        &self,
        id: crate::ids::DeploymentId,
        seq: crate::ids::Seq,
    ) -> Option<axum::body::Bytes> {
        let views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        views
            .get(&id)
            .filter(|(rendered_at, _)| *rendered_at == seq)
            .map(|(_, body)| body.clone())
    }

    /// Keeps the view of `id` rendered at `seq`.
    pub(crate) fn put(
        &self,
        id: crate::ids::DeploymentId,
        seq: crate::ids::Seq,
        body: axum::body::Bytes,
    ) {
        let mut views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        if views.len() >= VIEWS_MAX && !views.contains_key(&id) {
            views.clear();
        }
        views.insert(id, (seq, body));
    }
}
