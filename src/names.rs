//! Stack-name rules (DESIGN §5), in one place for the check and deploy endpoints and the
//! orchestrator: trimmed and ASCII-lower-cased, then a DNS label of 3 to 32 characters of
//! `a-z`, `0-9` and `-`, starting with a letter, not ending with `-`, without `--`, and not
//! reserved.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
