//! Secrets: the Dokploy API key and the admin token ([`ApiKey`]), a secret as given on the
//! command line or in the environment before it is checked ([`SecretText`]), and the
//! constant-time compare.
//!
//! Nothing here ever prints a secret: `Debug` and `Display` show `***`, and the errors say which
//! rule a secret breaks, never what it is. This module depends on no other module of the crate,
//! so every layer (configuration, Dokploy client, HTTP) can hold a key without depending on the
//! others.

use std::fmt;

mod strength;

pub use strength::ADMIN_TOKEN_DISTINCT_MIN;

/// The longest secret accepted.
pub const SECRET_BYTES_MAX: usize = 512;

/// The shortest admin token accepted: a shorter one is guessable by anyone who can reach the
/// ops API (the generated token has 64 characters).
pub const ADMIN_TOKEN_CHARS_MIN: usize = 16;

/// The SHA-256 of a token, as 64 lowercase hex digits: the only form in which an admin token or a
/// cancel capability is ever stored (the tokens are 256-bit random or checked for strength, so a
/// plain hash cannot be reversed by guessing).
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A Dokploy API key or an admin token. Never printed: `Debug` and `Display` show `***`. As a
/// Dokploy key it becomes a header in the Dokploy client and nowhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// Why a text cannot be a secret. The message names the rule, never the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSecret {
    /// Empty, longer than [`SECRET_BYTES_MAX`], or with a character that is not visible ASCII
    /// (a space, a tab, a CR or LF, a non-ASCII letter).
    #[error(
        "a secret must be 1 to 512 visible ASCII characters (no spaces, tabs, line breaks or \
         non-ASCII characters; check for a trailing CR or newline)"
    )]
    NotVisibleAscii,
    /// An admin token shorter than [`ADMIN_TOKEN_CHARS_MIN`].
    #[error("an admin token must have at least 16 characters")]
    TooShort,
    /// An admin token with fewer than [`ADMIN_TOKEN_DISTINCT_MIN`] different characters.
    #[error("an admin token must have at least 8 different characters")]
    TooFewDistinct,
    /// An admin token that is a piece of at most half its length, repeated.
    #[error("an admin token must not be a short pattern repeated")]
    RepeatedPattern,
    /// An admin token half of which or more is one run of consecutive characters (`0123…`,
    /// `abcd…`, up or down).
    #[error(
        "an admin token must not be mostly a run of consecutive characters (like 0123… or abcd…)"
    )]
    ConsecutiveRun,
    /// An admin token made only of well-known words (`password`, `changeme`, `admin`,
    /// `secret`, `token`, …) with digits or punctuation around them.
    #[error(
        "an admin token must not be only well-known words (password, changeme, admin, secret, \
         token, …) with digits or punctuation"
    )]
    WellKnownWord,
    /// Not valid UTF-8 (only possible from the environment or a file).
    #[error("a secret must be valid UTF-8")]
    NotUtf8,
}

impl ApiKey {
    /// Checks and wraps a key (visible ASCII only, so it is always a valid header value).
    pub fn new(key: impl Into<String>) -> Result<Self, InvalidSecret> {
        let key = key.into();
        let visible = key.bytes().all(|byte| byte.is_ascii_graphic());
        if key.is_empty() || key.len() > SECRET_BYTES_MAX || !visible {
            return Err(InvalidSecret::NotVisibleAscii);
        }
        Ok(Self(key))
    }

    /// Checks and wraps an admin token: a valid key of at least [`ADMIN_TOKEN_CHARS_MIN`]
    /// characters that is not too guessable to be a secret (too few different characters, a
    /// short pattern repeated, mostly a run like `0123…`, or only well-known words).
    pub fn admin_token(token: impl Into<String>) -> Result<Self, InvalidSecret> {
        let token = Self::new(token)?;
        strength::check(&token.0)?;
        Ok(token)
    }

    /// The `x-api-key` header value, marked sensitive so HTTP logging never shows it.
    pub fn header_value(&self) -> reqwest::header::HeaderValue {
        let mut value = reqwest::header::HeaderValue::from_str(&self.0)
            .expect("ApiKey::new admits only visible ASCII, which is a valid header value");
        value.set_sensitive(true);
        value
    }

    /// Whether `candidate` is this key, compared in constant time.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate)
    }

    /// The key itself, for the one place that must write it somewhere (the admin token file).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Compares two secrets in time that depends only on their lengths, not their contents.
pub fn constant_time_eq(expected: &[u8], candidate: &[u8]) -> bool {
    let mut difference = expected.len() ^ candidate.len();
    for (index, byte) in expected.iter().enumerate() {
        difference |= usize::from(byte ^ candidate.get(index).copied().unwrap_or(0));
    }
    difference == 0
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for ApiKey {
    type Err = InvalidSecret;

    fn from_str(key: &str) -> Result<Self, Self::Err> {
        ApiKey::new(key)
    }
}

/// A secret exactly as it was given (flag or environment), not yet checked. Parsing it never
/// fails, so the command-line parser never has a reason to quote it in an error; the settings
/// check it and name the rule it breaks instead. Prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(Result<String, InvalidSecret>);

impl SecretText {
    /// The secret as given (non-UTF-8 input is kept as "not UTF-8", without its bytes).
    pub fn from_os(text: &std::ffi::OsStr) -> Self {
        Self(
            text.to_str()
                .map(str::to_owned)
                .ok_or(InvalidSecret::NotUtf8),
        )
    }

    /// Checks it as a Dokploy or simulator API key.
    pub fn api_key(&self) -> Result<ApiKey, InvalidSecret> {
        self.0.clone().and_then(ApiKey::new)
    }

    /// Checks it as an admin token.
    pub fn admin_token(&self) -> Result<ApiKey, InvalidSecret> {
        self.0.clone().and_then(ApiKey::admin_token)
    }

    /// The text as given, for the one place that sends it on (`stackledger tokens add
    /// --token`, to the portal that checks it); Err when it was not UTF-8.
    pub fn expose(&self) -> Result<&str, InvalidSecret> {
        self.0.as_deref().map_err(|rule| *rule)
    }
}

impl From<&str> for SecretText {
    fn from(text: &str) -> Self {
        Self(Ok(text.to_owned()))
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(***)")
    }
}

/// The command-line parser of a [`SecretText`]: takes any text and never fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretTextParser;

impl clap::builder::TypedValueParser for SecretTextParser {
    type Value = SecretText;

    fn parse_ref(
        &self,
        _command: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<SecretText, clap::Error> {
        Ok(SecretText::from_os(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_key_never_prints_and_compares_exactly() {
        let key = ApiKey::new("canary-secret-1234").expect("a valid key");
        assert_eq!(format!("{key} {key:?}"), "*** ApiKey(***)");
        assert!(key.matches(b"canary-secret-1234"));
        assert!(!key.matches(b"canary-secret-123"));
        assert!(!key.matches(b"canary-secret-12345"));
        assert!(ApiKey::new("").is_err());
        assert!(ApiKey::new("has space").is_err());
        assert!(ApiKey::new("new\nline").is_err());
    }

    #[test]
    fn a_secret_is_refused_by_rule_without_being_quoted() {
        type Verdict = Result<(), InvalidSecret>;
        let table: [(&str, Verdict, Verdict); 8] = [
            ("k", Ok(()), Err(InvalidSecret::TooShort)),
            ("canary-horse-battery", Ok(()), Ok(())),
            (
                "abcdefghijklmnop",
                Ok(()),
                Err(InvalidSecret::ConsecutiveRun),
            ),
            ("canary-password", Ok(()), Err(InvalidSecret::TooShort)),
            (
                "canary-secret-with-cr\r",
                Err(InvalidSecret::NotVisibleAscii),
                Err(InvalidSecret::NotVisibleAscii),
            ),
            (
                "canary secret with a space",
                Err(InvalidSecret::NotVisibleAscii),
                Err(InvalidSecret::NotVisibleAscii),
            ),
            (
                "",
                Err(InvalidSecret::NotVisibleAscii),
                Err(InvalidSecret::NotVisibleAscii),
            ),
            (
                "canary-sécret-non-ascii",
                Err(InvalidSecret::NotVisibleAscii),
                Err(InvalidSecret::NotVisibleAscii),
            ),
        ];
        for (text, as_key, as_token) in table {
            let given = SecretText::from(text);
            assert_eq!(given.api_key().map(|_| ()), as_key, "{text:?} as a key");
            assert_eq!(
                given.admin_token().map(|_| ()),
                as_token,
                "{text:?} as a token"
            );
            for error in [given.api_key().err(), given.admin_token().err()]
                .into_iter()
                .flatten()
            {
                assert!(!error.to_string().contains("canary"), "{error}");
            }
            assert_eq!(format!("{given:?}"), "SecretText(***)");
        }
        let too_long = "k".repeat(SECRET_BYTES_MAX + 1);
        assert_eq!(ApiKey::new(too_long), Err(InvalidSecret::NotVisibleAscii));
    }

    #[test]
    fn a_secret_that_is_not_utf8_is_refused_as_such() {
        use std::os::unix::ffi::OsStrExt;
        let given = SecretText::from_os(std::ffi::OsStr::from_bytes(b"canary\xff"));
        assert_eq!(given.api_key(), Err(InvalidSecret::NotUtf8));
    }
}
