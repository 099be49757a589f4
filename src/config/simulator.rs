//! [`SimulatorSettings`]: the standalone simulator's configuration (`stackledger simulate`),
//! checked once from [`SimulateConfig`], every refusal reported together.
//!
//! Its key is refused without being shown, and it never reads the environment itself (clap
//! did) or writes a default of its own.

use std::net::SocketAddr;
use std::time::Duration;

use super::check;
use super::error::{ConfigError, ConfigErrors};
use super::flag;
use super::settings::Refusals;
use super::{LogFormat, SimulateConfig};
use crate::secret::ApiKey;

/// The standalone simulator's configuration, checked.
#[derive(Debug, Clone)]
pub struct SimulatorSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The key callers must send.
    pub api_key: ApiKey,
    /// Seed of its id generator.
    pub seed: u64,
    /// `deployment.all` polls a deploy stays `running`.
    pub deploy_polls: std::num::NonZeroU32,
    /// Builds run at once.
    pub builds: std::num::NonZeroU32,
    /// How long one build takes at least.
    pub build_duration: Duration,
    /// Whether `application.create` needs a `serverId`.
    pub remote_servers_only: bool,
    /// The one remote server's id, if any.
    pub server_id: Option<String>,
    /// Log line format.
    pub log_format: LogFormat,
}

impl SimulateConfig {
    /// Checks the simulator's configuration (its key is refused without being shown); all
    /// refusals are reported together.
    pub fn settings(&self) -> Result<SimulatorSettings, ConfigErrors> {
        let mut r = Refusals::default();
        let api_key = r.keep(self.api_key.api_key().map_err(|rule| {
            let flag = flag::SIMULATOR_API_KEY;
            ConfigError::Secret { flag, rule }
        }));
        let build_duration = r.keep(check::duration(
            flag::SIMULATOR_BUILD_DURATION,
            &self.build_duration,
        ));
        let (Some(api_key), Some(build_duration)) = (api_key, build_duration) else {
            return Err(ConfigErrors(r.0));
        };
        Ok(SimulatorSettings {
            listen: self.listen,
            api_key,
            seed: self.seed,
            deploy_polls: self.deploy_polls,
            builds: self.builds,
            build_duration,
            remote_servers_only: self.remote_servers_only,
            server_id: self.server_id.clone().filter(|id| !id.is_empty()),
            log_format: self.log_format,
        })
    }
}
