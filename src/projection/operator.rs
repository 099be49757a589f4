//! The ops stream's fold (issue 13): the named admin tokens in force and the seqs of every
//! operator action, newest-first pages of which the audit page reads; how one action is shown
//! (its sentence from the one renderer, and its fields), for the ops API and the replay tool
//! alike. Also the rule for a token's name.
//!
//! A pure fold over the ops stream's envelopes: no clock, no I/O. It keeps a token's SHA-256
//! only, never a token, never shows even the hash, and it never decides who may add or revoke one: the HTTP layer checks
//! the name against it and appends.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::clock::rfc3339;
use crate::deployment::Event;
use crate::ids::Seq;
use crate::ledger::envelope::Envelope;
use crate::projection::Narrator;
use crate::projection::render::action;
use crate::secret::constant_time_eq;

/// The name of the configured (or generated) admin token, which is never in the log.
pub const CONFIGURED_TOKEN_NAME: &str = "admin";

/// The longest token name.
pub const TOKEN_NAME_CHARS_MAX: usize = 32;

/// Why a text cannot name an admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTokenName {
    /// Empty, longer than [`TOKEN_NAME_CHARS_MAX`], or with a character outside `a-z0-9-_`.
    #[error("a token name must be 1 to 32 characters of a-z, 0-9, - and _")]
    Malformed,
    /// [`CONFIGURED_TOKEN_NAME`]: the configured token's name.
    #[error("the name admin is the configured token's; choose another")]
    Reserved,
}

/// Checks a token name: 1 to 32 of `a-z0-9-_`, and not `admin`.
pub fn check_token_name(name: &str) -> Result<(), InvalidTokenName> {
    let allowed =
        |byte: u8| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"-_".contains(&byte);
    if name.is_empty() || name.len() > TOKEN_NAME_CHARS_MAX || !name.bytes().all(allowed) {
        return Err(InvalidTokenName::Malformed);
    }
    if name == CONFIGURED_TOKEN_NAME {
        return Err(InvalidTokenName::Reserved);
    }
    Ok(())
}

/// A named admin token in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    /// Its name.
    pub name: String,
    /// The SHA-256 (hex) of the token.
    pub hash: String,
    /// When it was added (unix ms, from the envelope).
    pub added_at: i64,
    /// The name of the token that added it.
    pub added_by: String,
}

/// What the ops stream says, folded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operators {
    /// The tokens in force, by name.
    active: BTreeMap<String, ActiveToken>,
    /// The seq of every ops event, oldest first.
    actions: Vec<Seq>,
}

impl Operators {
    /// Folds one event of the ops stream (the read model calls it in seq order).
    pub fn apply(&mut self, envelope: &Envelope) {
        self.actions.push(envelope.seq);
        match &envelope.event {
            Event::AdminTokenAdded { name, hash, by, .. } => {
                let token = ActiveToken {
                    name: name.clone(),
                    hash: hash.clone(),
                    added_at: envelope.at,
                    added_by: by.clone(),
                };
                self.active.insert(name.clone(), token);
            }
            Event::AdminTokenRevoked { name, .. } => {
                self.active.remove(name);
            }
            _ => {}
        }
    }

    /// The tokens in force, by name.
    pub fn active(&self) -> impl Iterator<Item = &ActiveToken> {
        self.active.values()
    }

    /// Whether a token of this name is in force.
    pub fn is_active(&self, name: &str) -> bool {
        self.active.contains_key(name)
    }

    /// The name of the token in force whose hash is `hash`. Every hash is compared, in
    /// constant time, whatever matches: the time taken says nothing about which one did.
    pub fn holder_of(&self, hash: &str) -> Option<&str> {
        let mut found = None;
        for token in self.active.values() {
            if constant_time_eq(token.hash.as_bytes(), hash.as_bytes()) {
                found = Some(token.name.as_str());
            }
        }
        found
    }

    /// A page of operator actions, newest first: at most `limit` seqs before `before` (all
    /// when None).
    pub fn actions(&self, before: Option<Seq>, limit: usize) -> Vec<Seq> {
        let end = match before {
            Some(before) => self.actions.partition_point(|seq| *seq < before),
            None => self.actions.len(),
        };
        self.actions[..end]
            .iter()
            .rev()
            .take(limit)
            .copied()
            .collect()
    }

    /// The number of operator actions recorded.
    pub fn action_count(&self) -> usize {
        self.actions.len()
    }
}

/// One operator action as the audit page and `stackledger-replay ops --json` show it: seq, time, kind, who, from where, the sentence, and
/// the event's own fields (a token's hash left out).
pub fn described(envelope: &Envelope) -> Value {
    let (by, client, fields) = fields_of(&envelope.event);
    let mut action = Map::new();
    action.insert("seq".into(), json!(envelope.seq.0));
    action.insert("at".into(), json!(rfc3339(envelope.at)));
    action.insert("kind".into(), json!(action_kind(envelope)));
    action.insert("by".into(), json!(by));
    action.insert("client".into(), json!(client));
    action.insert(
        "text".into(),
        json!(Narrator::default().line(envelope).text),
    );
    action.extend(fields);
    Value::Object(action)
}

fn action_kind(envelope: &Envelope) -> &'static str {
    action(envelope.event.kind())
}

/// Who acted, from where, and the fields particular to the kind.
fn fields_of(event: &Event) -> (Option<&str>, Option<&str>, Map<String, Value>) {
    let (by, client, fields) = match event {
        Event::AdminTokenAdded {
            name, by, client, ..
        }
        | Event::AdminTokenRevoked { name, by, client } => {
            (Some(by), Some(client), json!({ "name": name }))
        }
        Event::CancelAsked {
            deployment,
            by,
            client,
            outcome,
        } => (
            Some(by),
            Some(client),
            json!({ "deployment": deployment.to_string(), "outcome": outcome }),
        ),
        Event::LedgerExported {
            by,
            client,
            after,
            through,
        } => (
            Some(by),
            Some(client),
            json!({ "after": after, "through": through }),
        ),
        Event::LedgerVerified {
            by,
            client,
            ok,
            last_seq,
        } => (
            Some(by),
            Some(client),
            json!({ "ok": ok, "lastSeq": last_seq }),
        ),
        Event::AuthenticationRefused {
            client,
            refused,
            window_start_ms,
        } => (
            None,
            Some(client),
            json!({ "refused": refused, "windowStart": rfc3339(*window_start_ms) }),
        ),
        _ => (None, None, json!({})),
    };
    let fields = match fields {
        Value::Object(fields) => fields,
        _ => Map::new(),
    };
    (by.map(String::as_str), client.map(String::as_str), fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DeploymentId;
    use crate::projection::fixture::envelope;

    fn added(name: &str, hash: &str) -> Event {
        Event::AdminTokenAdded {
            name: name.into(),
            hash: hash.into(),
            by: "admin".into(),
            client: "c1".into(),
        }
    }

    fn revoked(name: &str) -> Event {
        Event::AdminTokenRevoked {
            name: name.into(),
            by: "alice".into(),
            client: "c1".into(),
        }
    }

    fn fold(events: Vec<Event>) -> Operators {
        let mut operators = Operators::default();
        for (index, event) in events.into_iter().enumerate() {
            let seq = index as u64 + 1;
            operators.apply(&envelope(DeploymentId::OPS, seq, seq as i64 * 10, event));
        }
        operators
    }

    #[test]
    fn the_fold_keeps_added_tokens_until_revoked_and_a_name_can_come_back() {
        let operators = fold(vec![
            added("alice", "h1"),
            added("bob", "h2"),
            revoked("alice"),
        ]);
        let names: Vec<&str> = operators
            .active()
            .map(|token| token.name.as_str())
            .collect();
        assert_eq!(names, ["bob"]);
        assert_eq!(operators.holder_of("h2"), Some("bob"));
        assert_eq!(
            operators.holder_of("h1"),
            None,
            "a revoked token is refused"
        );
        let reused = fold(vec![
            added("alice", "h1"),
            revoked("alice"),
            added("alice", "h3"),
        ]);
        assert_eq!(reused.holder_of("h3"), Some("alice"));
        assert_eq!(reused.holder_of("h1"), None);
        let token = reused.active().next().expect("alice");
        assert_eq!((token.added_at, token.added_by.as_str()), (30, "admin"));
    }

    #[test]
    fn actions_page_newest_first_before_a_seq() {
        let events = (0..5).map(|n| added(&format!("t{n}"), "h")).collect();
        let operators = fold(events);
        let seqs = |page: Vec<Seq>| page.into_iter().map(|seq| seq.0).collect::<Vec<_>>();
        assert_eq!(seqs(operators.actions(None, 2)), [5, 4]);
        assert_eq!(seqs(operators.actions(Some(Seq(4)), 2)), [3, 2]);
        assert_eq!(seqs(operators.actions(Some(Seq(2)), 10)), [1]);
        assert!(operators.actions(Some(Seq(1)), 10).is_empty());
        assert_eq!(operators.action_count(), 5);
    }

    #[test]
    fn an_action_is_shown_with_its_own_fields_and_never_a_hash() {
        let token = envelope(DeploymentId::OPS, 7, 1_000, added("alice", "h-of-alice"));
        let shown = described(&token);
        assert_eq!(shown["seq"], 7);
        assert_eq!(shown["kind"], "admin_token_added");
        assert_eq!(
            (&shown["by"], &shown["client"]),
            (&json!("admin"), &json!("c1"))
        );
        assert_eq!(shown["name"], "alice");
        assert_eq!(shown["text"], "Admin token \"alice\" added by admin");
        assert!(!shown.to_string().contains("h-of-alice"), "{shown}");
        let refusals = Event::AuthenticationRefused {
            client: "*".into(),
            refused: 41,
            window_start_ms: 60_000,
        };
        let shown = described(&envelope(DeploymentId::OPS, 8, 0, refusals));
        assert_eq!(shown["by"], Value::Null);
        assert_eq!(
            (&shown["client"], &shown["refused"]),
            (&json!("*"), &json!(41))
        );
        assert_eq!(shown["windowStart"], "1970-01-01T00:01:00.000Z");
    }

    #[test]
    fn a_token_name_is_short_lowercase_and_never_admin() {
        for good in ["alice", "ops-1", "night_shift", &"a".repeat(32)] {
            assert_eq!(check_token_name(good), Ok(()), "{good}");
        }
        for bad in ["", "Alice", "a b", "ops.1", "é", &"a".repeat(33)] {
            assert_eq!(
                check_token_name(bad),
                Err(InvalidTokenName::Malformed),
                "{bad}"
            );
        }
        assert_eq!(check_token_name("admin"), Err(InvalidTokenName::Reserved));
    }
}
