//! The rules each configured value must follow: pure functions from the text the operator
//! wrote to the value the portal uses, or to a refusal naming the flag. No I/O.
//!
//! A refusal never shows a URL's credentials: a URL that carries them is shown with `***`, and
//! text that does not parse but may hold them is not shown at all.

use std::num::{IntErrorKind, ParseIntError};
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;

use super::error::ConfigError;
use super::flag::{self, Flag};
use crate::deployment::plan::NonZeroDuration;

/// A stack name used to check the health URL template (any valid name would do).
const SAMPLE_NAME: &str = "stack";
/// The longest stack name (DESIGN §5), so that `NAME.<suffix>` must fit a DNS name.
const NAME_CHARS_MAX: usize = 32;
/// The longest DNS name.
const DNS_NAME_CHARS_MAX: usize = 253;

fn refused(flag: Flag, value: &str, rule: &'static str) -> ConfigError {
    ConfigError::Refused {
        flag,
        value: value.to_owned(),
        rule,
    }
}

/// A duration written `500ms`, `5s`, `1m`, `1h 30m`; zero allowed.
pub(super) fn duration(flag: Flag, text: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text.trim()).map_err(|error| ConfigError::Malformed {
        flag,
        value: text.to_owned(),
        expected: format!("a duration ({error}; write 500ms, 5s, 1m)"),
    })
}

/// A duration that must be more than zero; `why` says what zero would do.
pub(super) fn positive(flag: Flag, text: &str, why: &'static str) -> Result<Duration, ConfigError> {
    let value = duration(flag, text)?;
    if value.is_zero() {
        return Err(refused(flag, text, why));
    }
    Ok(value)
}

/// A duration that must be more than zero, typed so (an interval the saga waits between
/// polls); `why` says what zero would do.
pub(super) fn interval(
    flag: Flag,
    text: &str,
    why: &'static str,
) -> Result<NonZeroDuration, ConfigError> {
    let value = duration(flag, text)?;
    NonZeroDuration::new(value).ok_or_else(|| refused(flag, text, why))
}

/// A whole number. For the non-zero types, zero is refused with `why`.
pub(super) fn count<T>(flag: Flag, text: &str, why: &'static str) -> Result<T, ConfigError>
where
    T: FromStr<Err = ParseIntError>,
{
    text.trim()
        .parse()
        .map_err(|error: ParseIntError| match error.kind() {
            IntErrorKind::Zero => refused(flag, text, why),
            _ => ConfigError::Malformed {
                flag,
                value: text.to_owned(),
                expected: format!("a whole number in range ({error})"),
            },
        })
}

/// `smaller` must not be more than `larger`.
pub(super) fn ordered(
    (smaller, smaller_value): (Flag, Duration),
    (larger, larger_value): (Flag, Duration),
) -> Result<(), ConfigError> {
    if smaller_value <= larger_value {
        return Ok(());
    }
    Err(ConfigError::Order {
        smaller,
        smaller_value: humantime::format_duration(smaller_value).to_string(),
        larger,
        larger_value: humantime::format_duration(larger_value).to_string(),
    })
}

/// A URL as it may be shown in a refusal: credentials in it are replaced by `***`, and text
/// that does not parse but may hold them (an `@`) is not shown at all.
fn shown_url(text: &str) -> String {
    match Url::parse(text) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("***");
            let _ = url.set_password(None);
            url.to_string()
        }
        Ok(_) => text.to_owned(),
        Err(_) if text.contains('@') => "(not shown: it may hold credentials)".to_owned(),
        Err(_) => text.to_owned(),
    }
}

/// An absolute http or https URL with a host and no credentials.
fn web_url(flag: Flag, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|error| ConfigError::Malformed {
        flag,
        value: shown_url(text),
        expected: format!("an absolute http(s) URL ({error})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused(
            flag,
            &shown_url(text),
            "must be an http:// or https:// URL",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refused(flag, &shown_url(text), "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused(
            flag,
            &shown_url(text),
            "must not carry credentials (they would be logged and recorded)",
        ));
    }
    Ok(url)
}

/// Dokploy's origin, optionally under a path prefix (a reverse proxy's); the client adds
/// `/api/PROCEDURE`. A query or fragment would be dropped when procedures are joined, and a
/// path ending in `/api` would call `/api/api/…`, so both are refused.
pub(super) fn dokploy_url(text: &str) -> Result<Url, ConfigError> {
    let flag = flag::DOKPLOY_URL;
    let url = web_url(flag, text)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refused(
            flag,
            text,
            "must not have a query or fragment (procedure URLs are joined under its path)",
        ));
    }
    if url.path().trim_end_matches('/').ends_with("/api") {
        return Err(refused(
            flag,
            text,
            "must be Dokploy's origin (https://dokploy.example.com): /api is added to it",
        ));
    }
    Ok(url)
}

/// The health URL template: `{name}` (required) and `{suffix}` filled in, it must be an http(s)
/// URL without credentials (it is recorded in the ledger) and without other placeholders.
pub(super) fn health_url(text: &str, suffix: &str) -> Result<String, ConfigError> {
    let flag = flag::HEALTH_URL;
    if !text.contains("{name}") {
        return Err(refused(
            flag,
            &shown_url(text),
            "must contain {name}, or every stack's health would be read from one URL",
        ));
    }
    let filled = text
        .replace("{name}", SAMPLE_NAME)
        .replace("{suffix}", suffix);
    if filled.contains(['{', '}']) {
        return Err(refused(
            flag,
            &shown_url(text),
            "knows only the placeholders {name} and {suffix}",
        ));
    }
    web_url(flag, &filled).map_err(|error| match error {
        ConfigError::Malformed { expected, .. } => ConfigError::Malformed {
            flag,
            value: shown_url(text),
            expected: format!("a URL once {{name}} and {{suffix}} are filled in: {expected}"),
        },
        ConfigError::Refused { rule, .. } => refused(flag, &shown_url(text), rule),
        other => other,
    })?;
    Ok(text.to_owned())
}

/// A DNS name that `NAME.<suffix>` can extend: dot-separated labels of letters, digits and
/// inner hyphens, 1 to 63 characters each, not all-numeric at the end, with room for a name.
pub(super) fn domain_suffix(text: &str) -> Result<String, ConfigError> {
    let flag = flag::DOMAIN_SUFFIX;
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let last_is_numeric = text
        .rsplit('.')
        .next()
        .is_some_and(|label| label.bytes().all(|b| b.is_ascii_digit()));
    if !text.split('.').all(label_ok) || last_is_numeric {
        return Err(refused(
            flag,
            text,
            "must be a DNS name (labels of letters, digits and inner hyphens, joined by dots)",
        ));
    }
    if text.len() + 1 + NAME_CHARS_MAX > DNS_NAME_CHARS_MAX {
        return Err(refused(
            flag,
            text,
            "is too long: NAME.<suffix> must fit in 253 characters",
        ));
    }
    Ok(text.to_owned())
}

/// A Docker image reference: not empty, no whitespace or control characters.
pub(super) fn image(text: &str) -> Result<String, ConfigError> {
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refused(
            flag::STACK_IMAGE,
            text,
            "must be an image reference (not empty, no spaces)",
        ));
    }
    Ok(text.to_owned())
}

/// The mirror directory, which must lie outside the ledger directory it mirrors: it is meant
/// for another disk, and must survive the loss of the ledger's directory.
pub(super) fn mirror(
    dir: Option<&std::path::Path>,
    ledger_dir: &std::path::Path,
) -> Result<Option<std::path::PathBuf>, ConfigError> {
    match dir {
        Some(dir) if dir.starts_with(ledger_dir) => Err(refused(
            flag::MIRROR,
            &dir.display().to_string(),
            "must lie outside the ledger directory (<data-dir>/ledger), ideally on another disk: \
             a mirror inside it is lost with it",
        )),
        Some(dir) if dir.as_os_str().is_empty() => {
            Err(refused(flag::MIRROR, "", "must name a directory"))
        }
        other => Ok(other.map(std::path::Path::to_path_buf)),
    }
}

/// `--running-max`: at least one, and no more than a semaphore counts.
pub(super) fn running_max(text: &str) -> Result<std::num::NonZeroUsize, ConfigError> {
    let flag = flag::RUNNING_MAX;
    let running_max: std::num::NonZeroUsize = count(
        flag,
        text,
        "must be at least 1 (zero would refuse every deploy)",
    )?;
    if running_max.get() > tokio::sync::Semaphore::MAX_PERMITS {
        return Err(ConfigError::Refused {
            flag,
            value: text.to_owned(),
            rule: "is more deployments than can be counted",
        });
    }
    Ok(running_max)
}
