//! Reading Dokploy's answers: a success body parsed into its wire type, an error status
//! turned into a typed [`DokployError`] (a resource 404 told from a missing route), and every
//! text taken from an answer scrubbed of the configured secrets and bounded in length.
//!
//! It must never keep a text from Dokploy unscrubbed: every message, code and body preview
//! goes through the client's [`crate::scrub::Scrubber`] before it becomes part of an error.

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::deployment::Procedure;
use crate::dokploy::client::{DokployClient, MESSAGE_BYTES_MAX};
use crate::dokploy::error::DokployError;
use crate::dokploy::retry::RetryAfter;
use crate::dokploy::wire;

/// How much of a body that is not the expected JSON is quoted in the error.
const PREVIEW_BYTES_MAX: usize = 80;

impl DokployClient {
    /// Parses a success body; a body that is not the answer is an error quoting its start,
    /// scrubbed.
    pub(super) fn parse<T: DeserializeOwned>(
        &self,
        procedure: Procedure,
        body: &[u8],
    ) -> Result<T, DokployError> {
        serde_json::from_slice(body).map_err(|error| {
            let reason = format!("{error} (body starts {:?})", self.preview(body));
            self.unexpected(procedure, &reason)
        })
    }

    /// The first bytes of a body, scrubbed: a window longer by the longest secret is scrubbed
    /// first, so a secret reaching into the preview is removed whole.
    fn preview(&self, body: &[u8]) -> String {
        let window = PREVIEW_BYTES_MAX + self.scrubber.form_bytes_max();
        let text = String::from_utf8_lossy(&body[..body.len().min(window)]);
        let scrubbed = self.scrubber.scrub(&text);
        let mut end = scrubbed.len().min(PREVIEW_BYTES_MAX);
        while !scrubbed.is_char_boundary(end) {
            end -= 1;
        }
        self.scrubber.scrub(&scrubbed[..end])
    }

    pub(super) fn unexpected(&self, procedure: Procedure, reason: &str) -> DokployError {
        DokployError::UnexpectedResponse {
            operation: procedure,
            reason: self.scrubber.clean(reason, MESSAGE_BYTES_MAX),
        }
    }

    /// An error status with Dokploy's body (or none) turned into a typed error, its text
    /// scrubbed and bounded. A 404 is the resource's only when Dokploy names the procedure
    /// (`code` `NOT_FOUND`, `data.path` the procedure, `dokploy-behaviour.md` M4); any other
    /// 404 is a missing route.
    pub(super) fn status_error(
        &self,
        procedure: Procedure,
        status: StatusCode,
        body: &[u8],
        retry_after: Option<RetryAfter>,
    ) -> DokployError {
        let parsed: Option<wire::ErrorBody> = serde_json::from_slice(body).ok();
        if status == StatusCode::UNAUTHORIZED && parsed.as_ref().is_none_or(|b| b.code.is_none()) {
            return DokployError::Unauthorized;
        }
        if status == StatusCode::NOT_FOUND && !names_procedure(parsed.as_ref(), procedure) {
            return DokployError::NoRoute { procedure };
        }
        let (message, code) = match parsed {
            Some(body) => (body.message, body.code),
            None => {
                let reason = status.canonical_reason().unwrap_or("error");
                (reason.to_owned(), None)
            }
        };
        let message = if status == StatusCode::UNAUTHORIZED && needs_server(procedure, &message) {
            NEEDS_SERVER.to_owned()
        } else {
            self.scrubber.clean(&message, MESSAGE_BYTES_MAX)
        };
        DokployError::Status {
            status: status.as_u16(),
            message,
            code: code.map(|code| self.scrubber.clean(&code, MESSAGE_BYTES_MAX)),
            retry_after,
        }
    }
}

/// What a 401 of `application.create` asking for a server means, in our words.
const NEEDS_SERVER: &str = "Dokploy requires a server for new applications (Dokploy Cloud, or \
\"remote servers only\" in its settings): set --dokploy-server-id (DOKPLOY_SERVER_ID) to the \
server's id";

/// Whether a 401 is `application.create` refused for want of a `serverId`
/// (`routers/application.ts`: `You need to use a server to create an application`).
fn needs_server(procedure: Procedure, message: &str) -> bool {
    procedure == Procedure::ApplicationCreate
        && message
            .to_ascii_lowercase()
            .contains("you need to use a server")
}

/// Whether an error body is Dokploy's resource 404 for `procedure`.
fn names_procedure(body: Option<&wire::ErrorBody>, procedure: Procedure) -> bool {
    let Some(body) = body else { return false };
    let path = body.data.as_ref().and_then(|data| data.path.as_deref());
    body.code.as_deref() == Some("NOT_FOUND")
        && path.is_some_and(|path| path.eq_ignore_ascii_case(procedure.name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dokploy::client::ClientOptions;
    use crate::secret::ApiKey;

    const KEY: &str = "sk_answer_key_0123456789";

    fn client() -> DokployClient {
        let origin = "http://127.0.0.1:9".parse().expect("a URL");
        let options = ClientOptions {
            also_secret: vec![ApiKey::admin_token("admin-token-abcdef0123").expect("valid")],
            ..ClientOptions::default()
        };
        DokployClient::new(&origin, ApiKey::new(KEY).expect("valid"), options).expect("builds")
    }

    fn error(procedure: Procedure, status: u16, body: &str) -> DokployError {
        let status = StatusCode::from_u16(status).expect("a status");
        client().status_error(procedure, status, body.as_bytes(), None)
    }

    #[test]
    fn a_404_naming_the_procedure_in_any_case_is_the_resource_s_and_any_other_is_no_route() {
        let procedure = Procedure::DomainDelete;
        let named =
            r#"{"message":"Domain not found","code":"NOT_FOUND","data":{"path":"DOMAIN.delete"}}"#;
        assert!(error(procedure, 404, named).is_not_found());
        let route = r#"{"message":"Not found","code":"NOT_FOUND","data":{"httpStatus":404}}"#;
        let other = r#"{"message":"x","code":"NOT_FOUND","data":{"path":"domain.one"}}"#;
        let uncoded = r#"{"message":"Domain not found","data":{"path":"domain.delete"}}"#;
        for body in [route, other, uncoded, "<html>404</html>", ""] {
            assert_eq!(
                error(procedure, 404, body),
                DokployError::NoRoute { procedure },
                "{body}"
            );
        }
    }

    #[test]
    fn a_401_asking_for_a_server_says_to_set_the_server_id() {
        let body = r#"{"message":"You need to use a server to create an application","code":"UNAUTHORIZED"}"#;
        let refused = error(Procedure::ApplicationCreate, 401, body);
        assert!(
            refused.to_string().contains("--dokploy-server-id"),
            "{refused}"
        );
        let bare = error(
            Procedure::ApplicationCreate,
            401,
            r#"{"message":"Unauthorized"}"#,
        );
        assert_eq!(bare, DokployError::Unauthorized);
    }

    #[test]
    fn messages_codes_and_previews_are_scrubbed_before_they_are_cut() {
        let body = format!(r#"{{"message":"Invalid API key {KEY}","code":"X{KEY}"}}"#);
        let echoed = error(Procedure::ProjectSearch, 400, &body);
        let DokployError::Status { message, code, .. } = &echoed else {
            panic!("a status error: {echoed:?}");
        };
        assert_eq!(message, "Invalid API key [redacted]");
        assert_eq!(code.as_deref(), Some("X[redacted]"));
        // The secret straddles the 80-byte preview: none of it may remain.
        let body = format!("{}{KEY} and admin-token-abcdef0123", "x".repeat(70));
        let bad = client()
            .parse::<bool>(Procedure::ProjectSearch, body.as_bytes())
            .expect_err("not JSON");
        let text = bad.to_string();
        assert!(!text.contains("sk_answer"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}
