//! Stack-name rules (DESIGN §5), in one place for the check and deploy endpoints and the
//! orchestrator: trimmed and ASCII-lower-cased, then a DNS label of 3 to 32 characters of
//! `a-z`, `0-9` and `-`, starting with a letter, not ending with `-`, without `--`, and not
//! reserved. It also keeps the claim rule: who holds a name ([`NameClaims`]).
//!
//! The claim rule never hands a held name to a second deployment: the first holder keeps it,
//! and only the holder's own events release it. Pure: no I/O, no storage.

use std::collections::{HashMap, HashSet};

use crate::deployment::{DeploymentStatus, Event};
use crate::ids::{DeploymentId, Seq};

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
///
/// Memory holds only what changed since a [`ClaimsBase`] last took it over (a succeeded
/// deployment holds its name for ever, so the whole map grows with history): each change
/// carries the seq of its event, [`NameClaims::changes_through`] hands the base what a
/// checkpoint stores, and [`NameClaims::forget_through`] drops it once stored. A name or a
/// stream memory does not hold is read from the base, by [`NameClaims::load`], before the
/// event that needs it is observed.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct NameClaims {
    /// Names whose holder memory knows: changed since the base took them over (the change's
    /// seq), or read from the base (seq zero).
    holders: HashMap<String, Held>,
    /// Streams' names: those not finished, and those whose request the base may not hold.
    names: HashMap<DeploymentId, Named>,
    /// The deployments a cancel may still take effect on: in progress, not failed, not
    /// cancelled (only deployments in flight, so it stays as small as the work in flight).
    cancellable: HashSet<DeploymentId>,
}

/// A name's holder as memory knows it.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Held {
    holder: Option<DeploymentId>,
    /// The seq of the event that set it; zero when it was read from the base.
    changed: Seq,
}

/// A stream's name as memory knows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Named {
    name: String,
    /// The seq of its request; zero when it was read from the base.
    requested: Seq,
    /// Whether the stream has reached a final status (success, or its rollback's end).
    finished: bool,
}

/// Where the claims memory no longer holds are kept: the ledger's index and log on disk.
pub trait ClaimsBase {
    /// Why the base could not answer.
    type Error;
    /// The deployment holding `name` as the base last stored it.
    fn holder(&self, name: &str) -> Result<Option<DeploymentId>, Self::Error>;
    /// The name `stream` was requested with, if its request is stored.
    fn name_of(&self, stream: DeploymentId) -> Result<Option<String>, Self::Error>;
}

/// A base that holds nothing: every claim is in memory (a ledger without checkpoints, tests).
pub struct NoBase;

impl ClaimsBase for NoBase {
    type Error = std::convert::Infallible;

    fn holder(&self, _name: &str) -> Result<Option<DeploymentId>, Self::Error> {
        Ok(None)
    }

    fn name_of(&self, _stream: DeploymentId) -> Result<Option<String>, Self::Error> {
        Ok(None)
    }
}

impl NameClaims {
    /// Reads from `base` what deciding on or observing `event` of `stream` needs and memory
    /// lacks: the stream's name, and who holds it. Call before [`NameClaims::conflict`] and
    /// [`NameClaims::observe`]; what it reads is kept until the next forget.
    pub fn load<B: ClaimsBase>(
        &mut self,
        stream: DeploymentId,
        event: &Event,
        base: &B,
    ) -> Result<(), B::Error> {
        let name = match event {
            Event::DeploymentRequested { name, .. } => name.clone(),
            _ if event.status_effect().is_none() => return Ok(()),
            _ => match self.names.get(&stream) {
                Some(named) => named.name.clone(),
                None => {
                    let Some(name) = base.name_of(stream)? else {
                        return Ok(());
                    };
                    let named = Named {
                        name: name.clone(),
                        requested: Seq::ZERO,
                        finished: false,
                    };
                    self.names.insert(stream, named);
                    name
                }
            },
        };
        if let std::collections::hash_map::Entry::Vacant(entry) = self.holders.entry(name) {
            let holder = base.holder(entry.key())?;
            entry.insert(Held {
                holder,
                changed: Seq::ZERO,
            });
        }
        Ok(())
    }

    /// Follows one event of `stream` (durable or staged) at `seq`, in log order, once
    /// [`NameClaims::load`] has read what it needs.
    pub fn observe(&mut self, seq: Seq, stream: DeploymentId, event: &Event) {
        match event {
            Event::DeploymentRequested { name, .. } => {
                let named = Named {
                    name: name.clone(),
                    requested: seq,
                    finished: false,
                };
                self.names.insert(stream, named);
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
        let Some(named) = self.names.get_mut(&stream) else {
            return;
        };
        named.finished = !matches!(status, DeploymentStatus::InProgress);
        let current = self.holders.get(&named.name).and_then(|held| held.holder);
        let holder = if status.holds_name() {
            Some(current.unwrap_or(stream))
        } else if current == Some(stream) {
            None
        } else {
            return;
        };
        if holder != current {
            let held = Held {
                holder,
                changed: seq,
            };
            self.holders.insert(named.name.clone(), held);
        }
    }

    /// Whether a cancel of `stream` may still take effect (the cancel rule: only the first
    /// cancel of a deployment in flight that has not failed counts; a later one is refused).
    pub fn cancellable(&self, stream: DeploymentId) -> bool {
        self.cancellable.contains(&stream)
    }

    /// The deployment holding `name`, if any, as far as memory knows (after a load).
    pub fn holder(&self, name: &str) -> Option<DeploymentId> {
        self.holders.get(name).and_then(|held| held.holder)
    }

    /// The name `event` would claim and the deployment already holding it: a request for a
    /// held name is refused (HTTP 409), whatever else is true.
    pub fn conflict(&self, event: &Event) -> Option<(String, DeploymentId)> {
        let Event::DeploymentRequested { name, .. } = event else {
            return None;
        };
        self.holder(name).map(|holder| (name.clone(), holder))
    }

    /// The holders changed by events at seq at most `through`, for the base to store.
    pub fn changes_through(
        &self,
        through: Seq,
    ) -> impl Iterator<Item = (&str, Option<DeploymentId>)> {
        self.holders
            .iter()
            .filter(move |(_, held)| held.changed != Seq::ZERO && held.changed <= through)
            .map(|(name, held)| (name.as_str(), held.holder))
    }

    /// Forgets what the base holds once it has stored the changes through `through`: those
    /// holders, what was read from it, and the names of finished streams requested by then.
    pub fn forget_through(&mut self, through: Seq) {
        self.holders.retain(|_, held| held.changed > through);
        self.names
            .retain(|_, named| !(named.finished && named.requested <= through));
    }

    /// Names and streams memory holds (a measure of its size, for tests).
    pub fn held(&self) -> (usize, usize) {
        (self.holders.len(), self.names.len())
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
        claims.observe(Seq(1), shop, &request);
        assert_eq!(claims.conflict(&request), Some(("shop".to_owned(), shop)));
        let failed = Event::DeploymentFailed {
            phase: crate::deployment::Phase::Deploying,
            code: "deploy_failed".into(),
            message: "boom".into(),
        };
        assert_eq!(failed.status_effect(), None);
        claims.observe(Seq(2), shop, &failed);
        assert_eq!(
            claims.holder("shop"),
            Some(shop),
            "the rollback still holds it"
        );
        claims.observe(Seq(3), other, &Event::RollbackFinished { complete: true });
        assert_eq!(
            claims.holder("shop"),
            Some(shop),
            "another stream cannot release it"
        );
        claims.observe(Seq(4), shop, &Event::RollbackFinished { complete: true });
        assert_eq!(claims.holder("shop"), None);
        assert!(!DeploymentStatus::Failure.holds_name());
        assert!(DeploymentStatus::Success.holds_name());
    }

    /// A base that stores what `forget_through` gives it, as a checkpoint does.
    #[derive(Default)]
    struct Stored {
        holders: HashMap<String, DeploymentId>,
        names: HashMap<DeploymentId, String>,
    }

    impl ClaimsBase for Stored {
        type Error = std::convert::Infallible;

        fn holder(&self, name: &str) -> Result<Option<DeploymentId>, Self::Error> {
            Ok(self.holders.get(name).copied())
        }

        fn name_of(&self, stream: DeploymentId) -> Result<Option<String>, Self::Error> {
            Ok(self.names.get(&stream).cloned())
        }
    }

    fn request(name: &str) -> Event {
        Event::DeploymentRequested {
            name: name.into(),
            image: "nginx".into(),
            domain: format!("{name}.example.com"),
            port: 8080,
            client: "c".into(),
            server_version: "0.1.0".into(),
        }
    }

    #[test]
    fn claims_handed_to_the_base_are_forgotten_and_still_decide_through_it() {
        let ids: Vec<DeploymentId> = (1..=3)
            .map(|n| DeploymentId::from_uuid(uuid::Uuid::from_u128(n)))
            .collect();
        let succeeded = Event::DeploymentSucceeded {
            url: "https://shop.example.com".into(),
        };
        let mut base = Stored::default();
        let mut claims = NameClaims::default();
        let mut seq = 0;
        let mut step = |claims: &mut NameClaims, base: &Stored, stream, event: &Event| {
            seq += 1;
            claims.load(stream, event, base).expect("infallible");
            claims.observe(Seq(seq), stream, event);
        };
        step(&mut claims, &base, ids[0], &request("shop"));
        step(&mut claims, &base, ids[0], &succeeded);
        step(&mut claims, &base, ids[1], &request("cart"));
        // A checkpoint through seq 2 stores shop's holder and the names of its requests.
        for (name, holder) in claims.changes_through(Seq(2)) {
            base.holders
                .insert(name.to_owned(), holder.expect("shop is held"));
        }
        base.names.insert(ids[0], "shop".into());
        base.names.insert(ids[1], "cart".into());
        claims.forget_through(Seq(2));
        assert_eq!(
            claims.held(),
            (1, 1),
            "only cart's claim, made after seq 2, stays in memory"
        );
        let again = request("shop");
        claims.load(ids[2], &again, &base).expect("infallible");
        assert_eq!(
            claims.conflict(&again),
            Some(("shop".to_owned(), ids[0])),
            "the stored holder still refuses the name"
        );
        step(
            &mut claims,
            &base,
            ids[1],
            &Event::RollbackFinished { complete: true },
        );
        assert_eq!(claims.holder("cart"), None, "cart's failure releases it");
        let changes: Vec<_> = claims.changes_through(Seq(10)).collect();
        assert_eq!(
            changes,
            vec![("cart", None)],
            "the release is for the base to store"
        );
    }
}
