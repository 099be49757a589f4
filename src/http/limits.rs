//! Abuse limits kept in memory, each bounded: the configured [`Limits`], a per-client rate
//! limit on deploys, the answers kept for `Idempotency-Key`, and the open SSE streams (in all
//! and per client). It never does I/O or reads a clock (times come in as arguments), and no
//! table in it grows without a bound.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::HeaderMap;

use crate::http::deploy::Accepted;

/// The configured limits of the HTTP surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deploy requests one client may make per minute (and in a burst).
    pub deploys_per_minute: NonZeroU32,
    /// Whether `X-Forwarded-For` names the client.
    pub trust_forwarded_for: bool,
    /// Open SSE streams at most.
    pub sse_max: NonZeroUsize,
    /// Open SSE streams one client may hold.
    pub sse_client_max: NonZeroUsize,
    /// Open connections at most.
    pub connections_max: NonZeroUsize,
    /// The request line and headers must arrive within this; idle connections close after it.
    pub header_timeout: Duration,
    /// A request body must arrive whole within this.
    pub body_timeout: Duration,
    /// Every answer but the SSE stream must be ready within this.
    pub request_timeout: Duration,
    /// The longest request target (path and query).
    pub url_bytes_max: NonZeroUsize,
    /// The most header bytes (names and values).
    pub header_bytes_max: NonZeroUsize,
    /// The most header fields.
    pub headers_max: NonZeroUsize,
}

/// Clients remembered by the rate limiter at most (the oldest are forgotten first).
const CLIENTS_MAX: usize = 10_000;
/// Idempotency answers kept at most.
const IDEMPOTENCY_MAX: usize = 10_000;
/// The longest `Idempotency-Key` accepted.
pub(crate) const IDEMPOTENCY_KEY_BYTES_MAX: usize = 128;

/// The SHA-256 of a request body, which a kept answer is bound to.
pub(crate) type Fingerprint = [u8; 32];

#[derive(Debug, Default)]
struct Buckets {
    /// Per client: tokens left and when they were counted (unix ms).
    tokens: HashMap<IpAddr, (f64, i64)>,
    order: VecDeque<IpAddr>,
}

#[derive(Debug, Default)]
struct Answers {
    by_key: HashMap<String, (Fingerprint, Accepted)>,
    order: VecDeque<String>,
}

/// What a repeated `Idempotency-Key` gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recall {
    /// The key is new (or its first request was refused): go on.
    New,
    /// The first answer, for the same body.
    Replay(Accepted),
    /// The key was first used with another body.
    Conflict,
}

#[derive(Debug, Default)]
struct Streams {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// Why no SSE place was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SseRefusal {
    /// All places are taken.
    Full,
    /// This client holds its whole share.
    ClientFull,
}

/// The shared state of the limits.
#[derive(Debug)]
pub(crate) struct Guards {
    pub(crate) limits: Limits,
    buckets: Mutex<Buckets>,
    answers: Mutex<Answers>,
    streams: Arc<Mutex<Streams>>,
}

/// One open SSE stream; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct SsePlace {
    streams: Arc<Mutex<Streams>>,
    client: IpAddr,
}

impl Drop for SsePlace {
    fn drop(&mut self) {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        streams.total -= 1;
        if let Some(count) = streams.by_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                streams.by_client.remove(&self.client);
            }
        }
    }
}

impl Guards {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            buckets: Mutex::new(Buckets::default()),
            answers: Mutex::new(Answers::default()),
            streams: Arc::new(Mutex::new(Streams::default())),
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
        let capacity = f64::from(self.limits.deploys_per_minute.get());
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

    /// What a request with this key and body fingerprint gets.
    pub(crate) fn recall(&self, key: &str, fingerprint: &Fingerprint) -> Recall {
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        match answers.by_key.get(key) {
            None => Recall::New,
            Some((first, answer)) if first == fingerprint => Recall::Replay(answer.clone()),
            Some(_) => Recall::Conflict,
        }
    }

    /// Keeps the first accepted answer for this key (only acceptances pin a key).
    pub(crate) fn remember(&self, key: String, fingerprint: Fingerprint, answer: Accepted) {
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
        answers.by_key.insert(key, (fingerprint, answer));
    }

    /// A place for one more SSE stream of `client`, if the cap and its share allow.
    pub(crate) fn sse_place(&self, client: IpAddr) -> Result<SsePlace, SseRefusal> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if streams.total >= self.limits.sse_max.get() {
            return Err(SseRefusal::Full);
        }
        let held = streams.by_client.entry(client).or_insert(0);
        if *held >= self.limits.sse_client_max.get() {
            return Err(SseRefusal::ClientFull);
        }
        *held += 1;
        streams.total += 1;
        Ok(SsePlace {
            streams: Arc::clone(&self.streams),
            client,
        })
    }

    /// Open SSE streams now.
    pub(crate) fn sse_open(&self) -> usize {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Limits for unit tests.
    pub(crate) fn limits(per_minute: u32, sse_max: usize, sse_client_max: usize) -> Limits {
        let count = |n: usize| NonZeroUsize::new(n).expect("a positive count");
        Limits {
            deploys_per_minute: NonZeroU32::new(per_minute).expect("a positive rate"),
            trust_forwarded_for: false,
            sse_max: count(sse_max),
            sse_client_max: count(sse_client_max),
            connections_max: count(16),
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            url_bytes_max: count(1024),
            header_bytes_max: count(1024),
            headers_max: count(16),
        }
    }

    fn guards(per_minute: u32) -> Guards {
        Guards::new(limits(per_minute, 2, 2))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_for_refill() {
        let guards = guards(3);
        let client = ip("10.0.0.1");
        for _ in 0..3 {
            assert_eq!(guards.take_deploy(client, 0), Ok(()));
        }
        assert_eq!(guards.take_deploy(client, 0), Err(Duration::from_secs(20)));
        assert_eq!(guards.take_deploy(client, 20_000), Ok(()));
        assert_eq!(
            guards.take_deploy(ip("10.0.0.2"), 0),
            Ok(()),
            "clients are separate"
        );
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
            trust_forwarded_for: true,
            ..limits(1, 1, 1)
        });
        assert_eq!(trusting.client(peer, &headers), ip("203.0.113.9"));
    }

    #[test]
    fn sse_places_are_capped_in_all_and_per_client_and_freed() {
        let guards = Guards::new(limits(1, 3, 2));
        let (one, two) = (ip("10.0.0.1"), ip("10.0.0.2"));
        let first = guards.sse_place(one).expect("a place");
        let _second = guards.sse_place(one).expect("a place");
        assert_eq!(guards.sse_place(one).err(), Some(SseRefusal::ClientFull));
        let _third = guards
            .sse_place(two)
            .expect("another client has its own share");
        assert_eq!(
            guards.sse_place(two).err(),
            Some(SseRefusal::Full),
            "the cap is three"
        );
        assert_eq!(guards.sse_open(), 3);
        drop(first);
        assert!(
            guards.sse_place(one).is_ok(),
            "a freed place is given again"
        );
    }

    #[test]
    fn a_kept_answer_is_replayed_for_its_body_only() {
        let guards = guards(1);
        let answer = Accepted::new(
            crate::ids::DeploymentId::SYSTEM,
            "shop".into(),
            "u".into(),
            &crate::orchestrator::CancelCapability::new(),
        );
        assert_eq!(guards.recall("k", &[1; 32]), Recall::New);
        guards.remember("k".to_owned(), [1; 32], answer.clone());
        assert_eq!(guards.recall("k", &[1; 32]), Recall::Replay(answer));
        assert_eq!(guards.recall("k", &[2; 32]), Recall::Conflict);
        assert_eq!(guards.recall("other", &[2; 32]), Recall::New);
    }
}
