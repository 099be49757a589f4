//! The admin proof: `Authorization: Bearer <token>` (the scheme in any case) checked against
//! the configured token (named `admin`) and against the SHA-256 of every named token in force,
//! each compared in constant time. The proof carries the token's name and the client's keyed
//! hash, so that a handler can record who acted.
//!
//! A refusal (no token, or a wrong one) is counted on the ops stream in bounded numbers
//! (`refusal.rs`); it is answered 401 whether or not it could be recorded. The presented token
//! is never logged, recorded or echoed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::http::AppState;
use crate::http::client::client_hash;
use crate::http::error::ApiError;
use crate::http::operator;
use crate::projection::operator::CONFIGURED_TOKEN_NAME;
use crate::secret::token_hash;

/// Proof that the request carried an admin token in force: which one, and from whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Admin {
    /// The token's name (`admin` for the configured one).
    pub(crate) name: String,
    /// The keyed hash of the client's address.
    pub(crate) client: String,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = client_of(parts, state);
        let now_ms = state.clock.now_ms();
        match bearer(&parts.headers).and_then(|token| token_name(state, token)) {
            Some(name) => {
                operator::close_refusal_window(state, now_ms).await;
                Ok(Admin { name, client })
            }
            None => {
                operator::count_refusal(state, &client, now_ms).await;
                Err(ApiError::Unauthorized)
            }
        }
    }
}

/// The keyed hash of the client (its forwarded address when the portal trusts the header).
fn client_of(parts: &Parts, state: &AppState) -> String {
    let unknown = SocketAddr::from((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(unknown, |ConnectInfo(peer)| *peer);
    client_hash(&state.client_key, state.guards.client(peer, &parts.headers))
}

/// The bearer token of the request, if it has one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// The name of the token in force that `token` is: the configured one, else a named one. Both
/// checks always run, so the time taken does not say which kind matched.
pub(crate) fn token_name(state: &AppState, token: &str) -> Option<String> {
    let configured = state.admin_token.matches(token.as_bytes());
    let hash = token_hash(token);
    let named = state
        .read_model
        .read()
        .operators()
        .holder_of(&hash)
        .map(str::to_owned);
    match configured {
        true => Some(CONFIGURED_TOKEN_NAME.to_owned()),
        false => named,
    }
}
