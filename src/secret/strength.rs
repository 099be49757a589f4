//! The rules an admin token must keep to count as a secret (issue 13): long enough, and not
//! too guessable. Each rule is a plain function of the text and names itself in
//! [`InvalidSecret`]; none ever quotes the text.
//!
//! The rules are deliberately few and easy to explain: a token is refused when it has too few
//! different characters, when it is a short piece repeated, when most of it is a run of
//! consecutive characters, or when it is nothing but well-known words with digits and
//! punctuation around them. A random token (the generated 64 hex digits, the output of
//! `openssl rand -base64 24`) never breaks one of them; the tests check both sides.

use crate::secret::{ADMIN_TOKEN_CHARS_MIN, InvalidSecret};

/// The fewest different characters an admin token may have (`abababab…` has 2).
pub const ADMIN_TOKEN_DISTINCT_MIN: usize = 8;

/// Words that are the first guesses for a token: a token made only of these, digits and
/// punctuation is refused. Longer words come before the words they contain.
const WELL_KNOWN_WORDS: &[&str] = &[
    "administrator",
    "password",
    "passwd",
    "changeme",
    "admin",
    "secret",
    "token",
    "default",
    "letmein",
    "qwerty",
    "welcome",
];

/// The order in which characters count as consecutive (case aside): `0123…9abc…z`.
const SEQUENCE: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Checks `token` (already known to be visible ASCII) against every admin token rule, the
/// first one it breaks named.
pub(super) fn check(token: &str) -> Result<(), InvalidSecret> {
    let bytes = token.as_bytes();
    if bytes.len() < ADMIN_TOKEN_CHARS_MIN {
        return Err(InvalidSecret::TooShort);
    }
    if distinct(bytes) < ADMIN_TOKEN_DISTINCT_MIN {
        return Err(InvalidSecret::TooFewDistinct);
    }
    if is_repeated(bytes) {
        return Err(InvalidSecret::RepeatedPattern);
    }
    if longest_run(bytes) * 2 >= bytes.len() {
        return Err(InvalidSecret::ConsecutiveRun);
    }
    if only_well_known_words(token) {
        return Err(InvalidSecret::WellKnownWord);
    }
    Ok(())
}

/// The number of different characters.
fn distinct(bytes: &[u8]) -> usize {
    let mut seen = [false; 256];
    for byte in bytes {
        seen[usize::from(*byte)] = true;
    }
    seen.iter().filter(|seen| **seen).count()
}

/// Whether the text is a piece of at most half its length, repeated (the last repeat may be
/// cut short): it has a period `p <= len / 2`.
fn is_repeated(bytes: &[u8]) -> bool {
    (1..=bytes.len() / 2).any(|period| {
        bytes
            .iter()
            .skip(period)
            .zip(bytes)
            .all(|(later, earlier)| later == earlier)
    })
}

/// The length of the longest run of characters each one step up, or each one step down, from
/// the one before in [`SEQUENCE`] (case aside): `0123456789abcdef` is one run of 16.
fn longest_run(bytes: &[u8]) -> usize {
    let position = |byte: u8| {
        SEQUENCE
            .iter()
            .position(|known| *known == byte.to_ascii_lowercase())
    };
    let mut longest = 1;
    let (mut up, mut down) = (1, 1);
    for pair in bytes.windows(2) {
        let step = match (position(pair[0]), position(pair[1])) {
            (Some(from), Some(to)) => to as isize - from as isize,
            _ => 0,
        };
        up = if step == 1 { up + 1 } else { 1 };
        down = if step == -1 { down + 1 } else { 1 };
        longest = longest.max(up).max(down);
    }
    longest
}

/// Whether no letter is left once every well-known word is taken out (case aside): the text is
/// such words padded or repeated with digits and punctuation.
fn only_well_known_words(token: &str) -> bool {
    let mut rest = token.to_ascii_lowercase();
    for word in WELL_KNOWN_WORDS {
        rest = rest.replace(word, " ");
    }
    rest.len() < token.len() && !rest.bytes().any(|byte| byte.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guessable_token_is_refused_with_the_rule_it_breaks() {
        let table: &[(&str, InvalidSecret)] = &[
            ("abcdefghijklmno", InvalidSecret::TooShort),
            ("aaaaaaaaaaaaaaaa", InvalidSecret::TooFewDistinct),
            ("abababababababababab", InvalidSecret::TooFewDistinct),
            ("aaaa1111bbbb2222cccc", InvalidSecret::TooFewDistinct),
            ("abc123!?abc123!?abc1", InvalidSecret::RepeatedPattern),
            ("password12password12", InvalidSecret::RepeatedPattern),
            ("0123456789abcdef", InvalidSecret::ConsecutiveRun),
            ("abcdefghijklmnop", InvalidSecret::ConsecutiveRun),
            ("ZYXWVUTSRQPONMLK", InvalidSecret::ConsecutiveRun),
            ("my-9876543210zyx", InvalidSecret::ConsecutiveRun),
            ("password-abcdefghij", InvalidSecret::ConsecutiveRun),
            ("changeme-2024-07-15", InvalidSecret::WellKnownWord),
            ("Password!!2024#", InvalidSecret::TooShort),
            ("Password!!2024#58", InvalidSecret::WellKnownWord),
            ("admin-secret-token-42", InvalidSecret::WellKnownWord),
            ("secretsecretsecret-97531", InvalidSecret::WellKnownWord),
            ("ADMINISTRATOR_1980!", InvalidSecret::WellKnownWord),
            ("letmein-qwerty-07", InvalidSecret::WellKnownWord),
        ];
        for (token, rule) in table {
            assert_eq!(check(token), Err(*rule), "{token:?}");
        }
    }

    #[test]
    fn random_and_ordinary_tokens_are_accepted() {
        let table = [
            // `openssl rand -base64 24`
            "VbuW3DpMl98E0OZbMX46WZDPGOShIpC2",
            "mkqgoZpRG9HWikx5pwkFRHbiCXA7uU20",
            "mWqAN5i+z4lsAw4MMlKNUlRXpcc4CbLn",
            // the generated form: 64 hex digits
            "3f9c2a7be1d04f6a9c8b2e5d7a1f0c4be6d93a2f1c7b8e0d5a4f3c2b1e9d8a7f",
            // what the test suites and operators write
            "ops-timeout-test",
            "browser-admin-token",
            "admin-echo-token-0123456789abcdef",
            "rollback-guards-token",
            "mirror-test-admin-token",
            "configured-token-for-tests",
            "ops-canary-test-token",
            "ops-case-test-token",
            "ops-doc-test-token",
            "ops-token-1-for-limits",
            "read-only-audit-token",
            "replay-token-for-tests",
            "correct-horse-battery-staple",
            "secret-of-the-night-shift",
        ];
        for token in table {
            assert_eq!(check(token), Ok(()), "{token:?}");
        }
        for _ in 0..1_000 {
            let generated = crate::ids::random_token();
            assert_eq!(check(&generated), Ok(()), "a generated token");
        }
    }

    #[test]
    fn a_run_is_counted_up_or_down_across_digits_and_letters() {
        assert_eq!(longest_run(b"x0123y"), 4);
        assert_eq!(longest_run(b"89ab"), 4);
        assert_eq!(longest_run(b"dcBA"), 4);
        assert_eq!(longest_run(b"a-b-c"), 1);
        assert_eq!(longest_run(b"aaaa"), 1);
    }
}
