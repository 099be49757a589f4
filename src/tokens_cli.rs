//! `stackledger tokens list|add NAME [--token T]|revoke NAME --url URL`: the named admin
//! tokens of a running portal, through its HTTP API (`/api/admin/tokens`), with an admin token
//! from `--admin-token`, `ADMIN_TOKEN` or `--token-file`.
//!
//! Results go to `out` (a generated token is shown there, this once, on a line of its own);
//! errors go to `err` with the portal's own message. Exit codes: 0 done, 1 the portal refused
//! (its status, code and message shown), 2 usage or I/O (no token, no portal reachable, an
//! answer that is not the API's). It never prints or logs the admin token it authenticates
//! with, and it only ever talks to the portal named by `--url`.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::{TokensAction, TokensConfig};
use crate::secret::ApiKey;

/// How long one request to the portal may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Exit code: done.
pub const EXIT_OK: u8 = 0;
/// Exit code: the portal refused the request.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code: usage or I/O error.
pub const EXIT_USAGE: u8 = 2;

/// Why a request could not be made or answered as the API answers.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// A usage or I/O problem (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The portal answered with an error (exit 1).
    #[error("the portal refused ({status} {code}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The error's code.
        code: String,
        /// The portal's message.
        message: String,
    },
}

/// Runs `config`'s action and returns the exit code.
pub async fn run(config: &TokensConfig, out: &mut impl Write, err: &mut impl Write) -> u8 {
    match act(config).await {
        Ok(answer) => match write!(out, "{}", said(&config.action, &answer)) {
            Ok(()) => EXIT_OK,
            Err(_) => EXIT_USAGE,
        },
        Err(failure) => {
            let _ = writeln!(err, "stackledger tokens: {failure}");
            match failure {
                Failure::Usage(_) => EXIT_USAGE,
                Failure::Refused { .. } => EXIT_REFUSED,
            }
        }
    }
}

/// Sends the action's request and returns the portal's JSON answer.
async fn act(config: &TokensConfig) -> Result<Value, Failure> {
    let origin = config.url.as_deref().ok_or_else(|| {
        Failure::Usage("give the portal's origin with --url (like http://127.0.0.1:3000)".into())
    })?;
    let origin = origin.trim_end_matches('/');
    let token = admin_token(config)?;
    // reqwest's rustls takes its crypto provider from the process; install ring's once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|error| Failure::Usage(format!("cannot build an HTTP client: {error}")))?;
    let tokens = format!("{origin}/api/admin/tokens");
    let request = match &config.action {
        TokensAction::List => client.get(&tokens),
        TokensAction::Add { name, token } => {
            let mut body = json!({ "name": name });
            if let Some(given) = token {
                let given = given
                    .expose()
                    .map_err(|rule| Failure::Usage(format!("--token is refused: {rule}")))?;
                body["token"] = json!(given);
            }
            client.post(&tokens).json(&body)
        }
        TokensAction::Revoke { name } => client.delete(format!("{tokens}/{name}")),
    };
    let mut authorization =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| Failure::Usage("the admin token is not a valid header value".into()))?;
    authorization.set_sensitive(true);
    let response = request
        .header(reqwest::header::AUTHORIZATION, authorization)
        .send()
        .await
        .map_err(|error| Failure::Usage(format!("cannot reach the portal at {origin}: {error}")))?;
    answer(response).await
}

/// The admin token: `--admin-token` or `ADMIN_TOKEN`, else the first line of `--token-file`.
fn admin_token(config: &TokensConfig) -> Result<ApiKey, Failure> {
    if let Some(given) = &config.admin_token {
        return given.api_key().map_err(|rule| {
            Failure::Usage(format!("--admin-token (ADMIN_TOKEN) is refused: {rule}"))
        });
    }
    let Some(path) = &config.token_file else {
        return Err(Failure::Usage(
            "give an admin token with --admin-token, ADMIN_TOKEN or --token-file".into(),
        ));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|error| Failure::Usage(format!("cannot read {}: {error}", path.display())))?;
    ApiKey::new(text.trim()).map_err(|rule| {
        Failure::Usage(format!(
            "the token in {} is refused: {rule}",
            path.display()
        ))
    })
}

/// The JSON answer of a success, or the portal's refusal.
async fn answer(response: reqwest::Response) -> Result<Value, Failure> {
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|error| Failure::Usage(format!("the answer could not be read: {error}")))?;
    let body: Value = serde_json::from_str(&text).map_err(|_| {
        Failure::Usage(format!(
            "the portal answered {status} with a body that is not its API's JSON"
        ))
    })?;
    if status.is_success() {
        return Ok(body);
    }
    let field = |name: &str| body["error"][name].as_str().unwrap_or_default().to_owned();
    Err(Failure::Refused {
        status: status.as_u16(),
        code: field("code"),
        message: field("message"),
    })
}

/// What a person reads of a successful answer.
fn said(action: &TokensAction, answer: &Value) -> String {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    match action {
        TokensAction::List => {
            let tokens = answer["tokens"].as_array().cloned().unwrap_or_default();
            if tokens.is_empty() {
                return "no named tokens (the configured token, admin, is always in force)\n"
                    .into();
            }
            tokens
                .iter()
                .map(|token| {
                    format!(
                        "{}\tadded {} by {}\n",
                        text(&token["name"]),
                        text(&token["addedAt"]),
                        text(&token["addedBy"])
                    )
                })
                .collect()
        }
        TokensAction::Add { .. } => format!(
            "added token {}; it is shown this once, keep it now:\n{}\n",
            text(&answer["name"]),
            text(&answer["token"])
        ),
        TokensAction::Revoke { .. } => format!("revoked token {}\n", text(&answer["revoked"])),
    }
}
