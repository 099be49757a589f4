//! A running server as a source (`--from URL --token T`): pages of its NDJSON export and the
//! deployment views it serves, through its ops API. It never sends anything but a GET, and its
//! errors never show the token: they name the origin and the status only.

use anyhow::{Context, bail};
use serde_json::Value;
use stackledger::ledger::envelope::Envelope;

/// A running server's ops API, with the admin token.
pub(crate) struct Server {
    origin: String,
    token: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    pub(crate) fn new(origin: &str, token: &str) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            origin: origin.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            client: reqwest::Client::new(),
            runtime,
        })
    }

    /// Up to `limit` events after seq `after` (`GET /api/ledger/events`).
    pub(crate) fn page(&self, after: u64, limit: usize) -> anyhow::Result<Vec<Envelope>> {
        let path = format!("/api/ledger/events?after={after}&limit={limit}");
        let text = self.runtime.block_on(async {
            let response = self.get(&path).await?;
            anyhow::Ok(response.text().await?)
        })?;
        crate::source::parse_ndjson(&text)
    }

    /// The view the server serves for deployment `id` (`GET /api/deployment/:id`).
    pub(crate) fn view(&self, id: &str) -> anyhow::Result<Value> {
        let mut answer: Value = self.runtime.block_on(async {
            let response = self.get(&format!("/api/deployment/{id}")).await?;
            anyhow::Ok(response.json().await?)
        })?;
        Ok(answer["deployment"].take())
    }

    async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let origin = &self.origin;
        let response = self
            .client
            .get(format!("{origin}{path}"))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach {origin}"))?;
        match response.status() {
            status if status.is_success() => Ok(response),
            reqwest::StatusCode::UNAUTHORIZED => bail!("{origin} refused the token (401)"),
            status => bail!("{origin} answered {status}"),
        }
    }
}
