//! The Dokploy client's own settings (`--dokploy-server-id`, `--dokploy-list-bytes-max`),
//! checked from what the operator wrote.
//!
//! Pure: it never reads the environment (clap does, in `config`) and never clamps a value.

use std::num::NonZeroUsize;

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
    Ok(ClientSettings {
        server_id,
        list_bytes_max,
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
