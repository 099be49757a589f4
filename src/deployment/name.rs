//! Stack-name rules (DESIGN §5), in one place for the check and deploy endpoints and the
//! orchestrator: trimmed and ASCII-lower-cased, then a DNS label of 3 to 32 characters of
//! `a-z`, `0-9` and `-`, starting with a letter, not ending with `-`, without `--`, and not
//! reserved. It also keeps the claim rule: who holds a name ([`NameClaims`]).
//!
//! The claim rule never hands a held name to a second deployment: the first holder keeps it,
//! and only the holder's own events release it. Pure: no I/O, no storage.

use std::collections::{HashMap, HashSet};

use crate::deployment::Event;
use crate::ids::DeploymentId;

/// Names that would collide with infrastructure or confuse users.
pub const RESERVED: &[&str] = &[
    "www",
    "api",
    "admin",
    "portal",
    "dokploy",
    "traefik",
    "mail",
    "smtp",
    "imap",
    "pop",
    "ftp",
    "ssh",
    "vpn",
    "ns1",
    "ns2",
    "dns",
    "mx",
    "webmail",
    "status",
    "auth",
    "login",
    "static",
    "assets",
    "cdn",
    "app",
    "dashboard",
    "root",
    "localhost",
    "stackledger",
];

/// Why a name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Shorter than 3 characters.
    #[error("the name must be at least 3 characters long")]
    TooShort,
    /// Longer than 32 characters.
    #[error("the name must be at most 32 characters long")]
    TooLong,
    /// Does not start with a letter.
    #[error("the name must start with a letter")]
    FirstNotLetter,
    /// Ends with a hyphen.
    #[error("the name must not end with a hyphen")]
    EndsWithHyphen,
    /// Contains `--`.
    #[error("the name must not contain two hyphens in a row")]
    DoubleHyphen,
    /// Contains a character outside `a-z`, `0-9`, `-`.
    #[error("the name may contain only letters a-z, digits and hyphens")]
    BadCharacter,
    /// A reserved word.
    #[error("this name is reserved")]
    Reserved,
}

impl NameError {
    /// A stable snake_case reason for APIs.
    pub fn code(self) -> &'static str {
        match self {
            NameError::TooShort => "too_short",
            NameError::TooLong => "too_long",
            NameError::FirstNotLetter => "must_start_with_letter",
            NameError::EndsWithHyphen => "ends_with_hyphen",
            NameError::DoubleHyphen => "double_hyphen",
            NameError::BadCharacter => "invalid_character",
            NameError::Reserved => "reserved",
        }
    }
}

/// The normalized name, or why it is refused.
pub fn validate(raw: &str) -> Result<String, NameError> {
    let name = raw.trim().to_ascii_lowercase();
    if name.len() < 3 {
        return Err(NameError::TooShort);
    }
    if name.len() > 32 {
        return Err(NameError::TooLong);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(NameError::BadCharacter);
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(NameError::FirstNotLetter);
    }
    if name.ends_with('-') {
        return Err(NameError::EndsWithHyphen);
    }
    if name.contains("--") {
        return Err(NameError::DoubleHyphen);
    }
    if RESERVED.contains(&name.as_str()) {
        return Err(NameError::Reserved);
    }
    Ok(name)
}

/// Who holds which stack name: the claim rule of DESIGN §5, folded from the events.
///
/// A deployment claims its name with `DeploymentRequested` and holds it while its status
/// holds a name ([`crate::deployment::DeploymentStatus::holds_name`], the same [`Event::status_effect`] the
/// projection folds), so the read side and the writer can never disagree on who holds a name.
/// The ledger writer keeps one of these and asks it before staging each request, which makes
/// a claim atomic; this type only decides, it stores nothing.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct NameClaims {
    holders: HashMap<String, DeploymentId>,
    names: HashMap<DeploymentId, String>,
    /// The deployments a cancel may still take effect on: in progress, not failed, not
    /// cancelled (only deployments in flight, so it stays as small as the work in flight).
    cancellable: HashSet<DeploymentId>,
}

impl NameClaims {
    /// Follows one event of `stream` (durable or staged), in log order.
    pub fn observe(&mut self, stream: DeploymentId, event: &Event) {
        match event {
            Event::DeploymentRequested { name, .. } => {
                self.names.insert(stream, name.clone());
                self.cancellable.insert(stream);
            }
            Event::DeploymentFailed { .. }
            | Event::CancelRequested { .. }
            | Event::DeploymentSucceeded { .. }
            | Event::RollbackFinished { .. } => {
                self.cancellable.remove(&stream);
            }
            _ => {}
        }
        let Some(status) = event.status_effect() else {
            return;
        };
        let Some(name) = self.names.get(&stream) else {
            return;
        };
        if status.holds_name() {
            self.holders.entry(name.clone()).or_insert(stream);
        } else if self.holders.get(name) == Some(&stream) {
            self.holders.remove(name);
        }
    }

    /// Whether a cancel of `stream` may still take effect (the cancel rule: only the first
    /// cancel of a deployment in flight that has not failed counts; a later one is refused).
    pub fn cancellable(&self, stream: DeploymentId) -> bool {
        self.cancellable.contains(&stream)
    }

    /// The deployment holding `name`, if any.
    pub fn holder(&self, name: &str) -> Option<DeploymentId> {
        self.holders.get(name).copied()
    }

    /// The name `event` would claim and the deployment already holding it: a request for a
    /// held name is refused (HTTP 409), whatever else is true.
    pub fn conflict(&self, event: &Event) -> Option<(String, DeploymentId)> {
        let Event::DeploymentRequested { name, .. } = event else {
            return None;
        };
        self.holder(name).map(|holder| (name.clone(), holder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::DeploymentStatus;

    #[test]
    fn names_are_normalized_and_checked() {
        assert_eq!(validate("  My-Shop2 "), Ok("my-shop2".to_owned()));
        let cases = [
            ("ab", NameError::TooShort),
            (&"a".repeat(33), NameError::TooLong),
            ("1shop", NameError::FirstNotLetter),
            ("-shop", NameError::FirstNotLetter),
            ("shop-", NameError::EndsWithHyphen),
            ("my--shop", NameError::DoubleHyphen),
            ("my_shop", NameError::BadCharacter),
            ("my.shop", NameError::BadCharacter),
            ("shöp", NameError::BadCharacter),
            ("admin", NameError::Reserved),
            ("WWW", NameError::Reserved),
        ];
        for (name, expected) in cases {
            assert_eq!(validate(name), Err(expected), "{name:?}");
        }
        assert!(validate(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn a_name_is_held_from_request_until_success_or_the_end_of_its_rollback() {
        let shop = DeploymentId::from_uuid(uuid::Uuid::from_u128(1));
        let other = DeploymentId::from_uuid(uuid::Uuid::from_u128(2));
        let request = Event::DeploymentRequested {
            name: "shop".into(),
            image: "nginx".into(),
            domain: "shop.example.com".into(),
            port: 8080,
            client: "c".into(),
            server_version: "0.1.0".into(),
        };
        let mut claims = NameClaims::default();
        assert_eq!(claims.conflict(&request), None, "a free name");
        assert_eq!(request.status_effect(), Some(DeploymentStatus::InProgress));
        claims.observe(shop, &request);
        assert_eq!(claims.conflict(&request), Some(("shop".to_owned(), shop)));
        let failed = Event::DeploymentFailed {
            phase: crate::deployment::Phase::Deploying,
            code: "deploy_failed".into(),
            message: "boom".into(),
        };
        assert_eq!(failed.status_effect(), None);
        claims.observe(shop, &failed);
        assert_eq!(
            claims.holder("shop"),
            Some(shop),
            "the rollback still holds it"
        );
        claims.observe(other, &Event::RollbackFinished { complete: true });
        assert_eq!(
            claims.holder("shop"),
            Some(shop),
            "another stream cannot release it"
        );
        claims.observe(shop, &Event::RollbackFinished { complete: true });
        assert_eq!(claims.holder("shop"), None);
        assert!(!DeploymentStatus::Failure.holds_name());
        assert!(DeploymentStatus::Success.holds_name());
    }
}
