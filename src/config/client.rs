//! The Dokploy client's own settings (`--dokploy-server-id`, `--dokploy-list-bytes-max`,
//! `--dokploy-timeout`), checked from what the operator wrote.
//!
//! Pure: it never reads the environment (clap does, in `config`) and never clamps a value.

use std::num::NonZeroUsize;
use std::time::Duration;

use super::Config;
use super::check;
use super::error::ConfigError;
use super::flag;

/// The longest server id accepted (Dokploy's ids are 21-character nanoids).
const SERVER_ID_CHARS_MAX: usize = 128;

/// How the Dokploy client talks to Dokploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Sent as `serverId` on `application.create`, when set.
    pub server_id: Option<String>,
    /// The largest `project.all` answer read.
    pub list_bytes_max: NonZeroUsize,
    /// How long one request to Dokploy may take (connect, send, answer); a call retries past
    /// it within its own deadline.
    pub timeout: Duration,
}

/// The client's settings, or the first refusal.
pub(super) fn checked(config: &Config) -> Result<ClientSettings, ConfigError> {
    let list_bytes_max = check::count(
        flag::DOKPLOY_LIST_BYTES_MAX,
        &config.dokploy_list_bytes_max,
        "must be at least 1 byte (the answer to project.all is refused above it)",
    )?;
    let server_id = config
        .dokploy_server_id
        .as_deref()
        .map(server_id)
        .transpose()?;
    let timeout = check::positive(
        flag::DOKPLOY_TIMEOUT,
        &config.dokploy_timeout,
        "must be more than 0s (every request would time out)",
    )?;
    Ok(ClientSettings {
        server_id,
        list_bytes_max,
        timeout,
    })
}

fn server_id(text: &str) -> Result<String, ConfigError> {
    let visible = text.bytes().all(|byte| byte.is_ascii_graphic());
    if text.is_empty() || text.len() > SERVER_ID_CHARS_MAX || !visible {
        return Err(ConfigError::Refused {
            flag: flag::DOKPLOY_SERVER_ID,
            value: text.to_owned(),
            rule: "must be a Dokploy server id: 1 to 128 visible ASCII characters (Settings → \
                   Servers shows it)",
        });
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn settings(args: &[&str]) -> Result<ClientSettings, ConfigError> {
        let mut argv = vec!["stackledger"];
        argv.extend(args);
        let cli = crate::config::Cli::try_parse_from(argv).expect("parses");
        checked(&cli.serve)
    }

    #[test]
    fn the_server_id_is_optional_and_the_listing_cap_defaults_to_256_mib() {
        let defaults = settings(&[]).expect("valid");
        assert_eq!(defaults.server_id, None);
        assert_eq!(defaults.list_bytes_max.get(), 256 * 1024 * 1024);
        let set = settings(&["--dokploy-server-id=srv1", "--dokploy-list-bytes-max=1024"]);
        let set = set.expect("valid");
        assert_eq!(set.server_id.as_deref(), Some("srv1"));
        assert_eq!(set.list_bytes_max.get(), 1024);
    }

    #[test]
    fn an_empty_or_spaced_server_id_and_a_zero_cap_are_refused_naming_the_flag() {
        for bad in ["--dokploy-server-id=", "--dokploy-server-id=a b"] {
            let refused = settings(&[bad]).expect_err("refused");
            assert!(
                refused.to_string().contains("--dokploy-server-id"),
                "{refused}"
            );
        }
        let refused = settings(&["--dokploy-list-bytes-max=0"]).expect_err("refused");
        assert!(
            refused.to_string().contains("DOKPLOY_LIST_BYTES_MAX"),
            "{refused}"
        );
    }
}
