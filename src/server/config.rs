//! `ostrom serve` configuration: a TOML file, environment variables and flags, merged and
//! validated once at start (`RawConfig` → [`Config`]), so a bad setting stops the server
//! with a clear message before it opens anything.
//!
//! Precedence: a flag, then its environment variable (clap reads both), then the file, then
//! the default. The operator token is a secret: it is never printed, and `Debug` redacts it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The default listen address: loopback only, so a fresh server is not exposed by accident.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:8080";
/// The largest request body the API reads by default; larger ones get 413 `body_too_large`.
pub const REQUEST_BODY_BYTES_DEFAULT: usize = 256 * 1024;
/// Bounds an operator may set the body limit within.
pub const REQUEST_BODY_BYTES_MIN: usize = 4 * 1024;
pub const REQUEST_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// The periodic sweep (time-based policy rules), by default and at least.
pub const SWEEP_INTERVAL_MS_DEFAULT: u64 = crate::engine::SWEEP_INTERVAL_MS;
pub const SWEEP_INTERVAL_MS_MIN: u64 = 1_000;
/// An operator token shorter than this is refused (it guards founding communities).
pub const OPERATOR_TOKEN_BYTES_MIN: usize = 32;

const _: () = assert!(REQUEST_BODY_BYTES_MIN <= REQUEST_BODY_BYTES_DEFAULT);
const _: () = assert!(REQUEST_BODY_BYTES_DEFAULT <= REQUEST_BODY_BYTES_MAX);
// A policy's source must fit in a request that proposes it.
const _: () =
    assert!(ostrom_schemas::limits::POLICY_SOURCE_BYTES_MAX * 2 < REQUEST_BODY_BYTES_DEFAULT);

/// What the file may say (every field optional); unknown keys are errors, so a typo is
/// caught rather than silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub data: Option<PathBuf>,
    pub request_body_bytes_max: Option<usize>,
    pub sweep_interval_ms: Option<u64>,
    pub operator_token: Option<String>,
    /// A tracing filter (`info`, `ostrom=debug,tower_http=info`).
    pub log: Option<String>,
    /// `text` or `json`.
    pub log_format: Option<String>,
}

/// What the flags and environment said (already merged by clap).
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data: Option<PathBuf>,
    pub operator_token: Option<String>,
    pub log: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A validated configuration.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub request_body_bytes_max: usize,
    pub sweep_interval_ms: u64,
    /// Authorises founding communities and issuing tokens over the API; `None`: the server
    /// reads (or on first start creates) `DATA/operator.token`.
    pub operator_token: Option<String>,
    pub log: String,
    pub log_format: LogFormat,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data", &self.data)
            .field("request_body_bytes_max", &self.request_body_bytes_max)
            .field("sweep_interval_ms", &self.sweep_interval_ms)
            .field(
                "operator_token",
                &self.operator_token.as_ref().map(|_| "<redacted>"),
            )
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// A configuration problem: which setting, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    pub setting: String,
    pub problem: String,
}

fn bad(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.to_owned(),
        problem: problem.into(),
    }
}

impl RawConfig {
    pub fn read(path: &Path) -> Result<RawConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| bad(&path.display().to_string(), error.to_string()))?;
        toml::from_str(&text).map_err(|error| {
            bad(
                &path.display().to_string(),
                error.to_string().trim().replace('\n', " "),
            )
        })
    }

    /// Merge with the flags and environment, then validate.
    pub fn resolve(self, overrides: Overrides) -> Result<Config, ConfigError> {
        let listen_text = overrides
            .listen
            .or(self.listen)
            .unwrap_or_else(|| LISTEN_DEFAULT.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            bad(
                "listen",
                format!(
                    "{listen_text:?} is not an address (expected IP:PORT, e.g. 127.0.0.1:8080)"
                ),
            )
        })?;
        let data = overrides
            .data
            .or(self.data)
            .unwrap_or_else(|| PathBuf::from("ostrom-data"));
        if data.exists() && !data.is_dir() {
            return Err(bad(
                "data",
                format!("{} exists and is not a directory", data.display()),
            ));
        }
        let request_body_bytes_max = self
            .request_body_bytes_max
            .unwrap_or(REQUEST_BODY_BYTES_DEFAULT);
        if !(REQUEST_BODY_BYTES_MIN..=REQUEST_BODY_BYTES_MAX).contains(&request_body_bytes_max) {
            return Err(bad(
                "request_body_bytes_max",
                format!(
                    "{request_body_bytes_max} is outside {REQUEST_BODY_BYTES_MIN}..={REQUEST_BODY_BYTES_MAX}"
                ),
            ));
        }
        let sweep_interval_ms = self.sweep_interval_ms.unwrap_or(SWEEP_INTERVAL_MS_DEFAULT);
        if sweep_interval_ms < SWEEP_INTERVAL_MS_MIN {
            return Err(bad(
                "sweep_interval_ms",
                format!("{sweep_interval_ms} is below the minimum of {SWEEP_INTERVAL_MS_MIN}"),
            ));
        }
        let operator_token = overrides.operator_token.or(self.operator_token);
        if let Some(token) = &operator_token {
            if token.len() < OPERATOR_TOKEN_BYTES_MIN {
                // The message never repeats the token.
                return Err(bad(
                    "operator_token",
                    format!("must be at least {OPERATOR_TOKEN_BYTES_MIN} bytes"),
                ));
            }
        }
        let log = overrides
            .log
            .or(self.log)
            .unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log).is_err() {
            return Err(bad("log", format!("{log:?} is not a log filter")));
        }
        let log_format = match self.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad(
                    "log_format",
                    format!("{other:?} is neither \"text\" nor \"json\""),
                ))
            }
        };
        Ok(Config {
            listen,
            data,
            request_body_bytes_max,
            sweep_interval_ms,
            operator_token,
            log,
            log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let raw: RawConfig =
            toml::from_str("listen = \"127.0.0.1:9000\"\nsweep_interval_ms = 5000").unwrap();
        let config = raw
            .resolve(Overrides {
                listen: Some("127.0.0.1:9001".into()),
                ..Overrides::default()
            })
            .unwrap();
        assert_eq!(config.listen.port(), 9001);
        assert_eq!(config.sweep_interval_ms, 5000);
        assert_eq!(config.request_body_bytes_max, REQUEST_BODY_BYTES_DEFAULT);
    }

    #[test]
    fn bad_settings_are_named_and_secrets_are_not_repeated() {
        let raw: RawConfig = toml::from_str("listen = \"nowhere\"").unwrap();
        let error = raw.resolve(Overrides::default()).unwrap_err();
        assert_eq!(error.setting, "listen");

        let raw = RawConfig {
            operator_token: Some("short-secret".into()),
            ..RawConfig::default()
        };
        let error = raw.resolve(Overrides::default()).unwrap_err();
        assert_eq!(error.setting, "operator_token");
        assert!(!error.to_string().contains("short-secret"));

        assert!(toml::from_str::<RawConfig>("lisen = \"x\"").is_err());
    }

    #[test]
    fn debug_output_redacts_the_operator_token() {
        let raw = RawConfig {
            operator_token: Some("x".repeat(40)),
            ..RawConfig::default()
        };
        let config = raw.resolve(Overrides::default()).unwrap();
        assert!(!format!("{config:?}").contains(&"x".repeat(40)));
    }
}
