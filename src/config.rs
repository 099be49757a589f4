//! Configuration of the `stackledger` binary: flags, each with an environment fallback.
//!
//! This is the only code that reads environment variables. A bad value is refused at startup
//! with a message naming the flag (clap does this for every typed flag).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The server's configuration.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "stackledger",
    version,
    about = "Self-service deployment portal with an event-sourced ledger"
)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port; the chosen address is logged).
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Directory holding the ledger (created if missing).
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl Config {
    /// Where the ledger lives inside the data directory.
    pub fn ledger_dir(&self) -> PathBuf {
        self.data_dir.join("ledger")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_port_3000_with_data_in_the_working_directory() {
        let config = Config::try_parse_from(["stackledger"]).expect("defaults parse");
        assert_eq!(config.listen, "127.0.0.1:3000".parse().expect("address"));
        assert_eq!(config.ledger_dir(), PathBuf::from("./data/ledger"));
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn a_bad_value_is_refused_naming_the_flag() {
        let error = Config::try_parse_from(["stackledger", "--listen", "nowhere"])
            .expect_err("not an address");
        assert!(error.to_string().contains("--listen"), "{error}");
    }
}
