//! The [`DokployApi`] trait: what answers the orchestrator's Dokploy requests (the HTTP client,
//! and the recorded stand-in of `redrive`), and the [`Answered`] it returns.
//!
//! The requests themselves ([`Request`]) and the typed views of an answer ([`AnswerExt`]) are
//! pure data of the domain (`deployment::request`); they are re-exported here so that callers
//! of the trait find them next to it. This file never performs I/O itself: each implementation
//! does its own.

use std::future::Future;

use crate::deployment::ApiAnswer;
pub use crate::deployment::request::{AnswerExt, AnswerMismatch, Request};
use crate::dokploy::error::DokployError;

/// A successful answer: the HTTP status and what the orchestrator goes on with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The HTTP status (200 for every Dokploy success).
    pub status: u16,
    /// The typed answer.
    pub answer: ApiAnswer,
}

/// Answers Dokploy requests: the real client, and the recorded stand-in of `redrive`.
pub trait DokployApi: Send + Sync + 'static {
    /// Sends one request, once (no retry here).
    fn call(
        &self,
        request: &Request,
    ) -> impl Future<Output = Result<Answered, DokployError>> + Send;

    /// GETs a deployed app's health URL once and returns the status.
    fn probe_health(&self, url: &str) -> impl Future<Output = Result<u16, DokployError>> + Send;
}
