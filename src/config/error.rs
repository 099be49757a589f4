//! Why a configuration is refused. Every refusal names its flag and environment variable; a
//! secret's refusal names the rule it breaks and never the secret.

use std::fmt;

use super::flag::Flag;
use crate::secret::InvalidSecret;

/// One configured value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The text does not parse as the flag's type (`soon` for a duration).
    #[error("{flag} is {value:?}, which is not {expected}")]
    Malformed {
        /// The flag.
        flag: Flag,
        /// The text as given (a URL with credentials is shown without them).
        value: String,
        /// What it should be, with the parser's reason.
        expected: String,
    },
    /// The value parses but cannot work (`0s` for an interval).
    #[error("{flag} is {value:?}: {rule}")]
    Refused {
        /// The flag.
        flag: Flag,
        /// The value as given (a URL with credentials is shown without them).
        value: String,
        /// The rule it breaks, and why the rule exists.
        rule: &'static str,
    },
    /// A secret breaks its rule; what it is is never shown.
    #[error("{flag} is refused (its value is not shown): {rule}")]
    Secret {
        /// The flag.
        flag: Flag,
        /// The rule it breaks.
        rule: InvalidSecret,
    },
    /// Two durations in the wrong order (`--retry-base` above `--retry-delay-max`).
    #[error("{smaller} ({smaller_value}) must not be more than {larger} ({larger_value})")]
    Order {
        /// The flag that must be the smaller.
        smaller: Flag,
        /// Its value, as humantime writes it.
        smaller_value: String,
        /// The flag that must be the larger.
        larger: Flag,
        /// Its value, as humantime writes it.
        larger_value: String,
    },
    /// Only one of `--dokploy-url` and `--dokploy-api-key` is given.
    #[error(
        "{url} and {key} go together: give both to deploy for real, or neither to use the \
         built-in simulator"
    )]
    HalfDokploy {
        /// `--dokploy-url`.
        url: Flag,
        /// `--dokploy-api-key`.
        key: Flag,
    },
}

impl ConfigError {
    /// The flags this refusal names.
    pub fn flags(&self) -> Vec<Flag> {
        match self {
            ConfigError::Malformed { flag, .. }
            | ConfigError::Refused { flag, .. }
            | ConfigError::Secret { flag, .. } => vec![*flag],
            ConfigError::Order {
                smaller, larger, ..
            } => vec![*smaller, *larger],
            ConfigError::HalfDokploy { url, key } => vec![*url, *key],
        }
    }
}

/// Every refusal of one configuration, reported together so that one start shows them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        let noun = if count == 1 { "value" } else { "values" };
        write!(f, "invalid configuration ({count} {noun} refused)")?;
        for error in &self.0 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
