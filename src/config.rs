//! `breakwater.toml`: defaults < file < `BREAKWATER_*` environment < flags.
//! Relative paths are relative to the file's directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("the configuration file {path} is invalid: {reason}")]
    Parse { path: String, reason: String },
    #[error("environment variable {name}: {reason}")]
    Env { name: String, reason: String },
    #[error("configuration version {0} is not supported (this build reads version 1)")]
    Version(u32),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version of this file.
    pub version: u32,
    /// Address and port the TAXII server listens on.
    pub listen: SocketAddr,
    /// SQLite database file.
    pub database: PathBuf,
    /// Name of the API root created by `init` and advertised as the default.
    pub api_root: String,
    #[serde(default)]
    pub discovery: Discovery,
    pub tls: Tls,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub log: Log,
    /// Directory the file was read from; relative paths resolve against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    pub title: String,
    pub description: Option<String>,
    pub contact: Option<String>,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery {
            title: "Breakwater threat exchange".into(),
            description: Some(
                "STIX/TAXII 2.1 exchange of the port's Cyber Resilience Center".into(),
            ),
            contact: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Server certificate chain (PEM).
    pub certificate: PathBuf,
    /// Server private key (PEM).
    pub key: PathBuf,
    /// The community CA that signs member certificates (PEM).
    pub client_ca: PathBuf,
    /// The community CA's private key, used by `certs issue` (PEM).
    pub ca_key: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest accepted request body, in bytes (the API root's `max_content_length`).
    pub max_content_length: u64,
    /// Largest page served, whatever `limit` a client asks for.
    pub max_page_size: usize,
    /// Envelopes with more objects are stored in the background (status `pending`).
    pub background_threshold: usize,
    /// Hours a completed status stays retrievable.
    pub status_retention_hours: u32,
    /// The database file may not grow beyond this many bytes; writes then
    /// fail as on a full disk (507) while reads go on. Unset: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_database_bytes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_content_length: 10 * 1024 * 1024,
            max_page_size: 1000,
            background_threshold: 10_000,
            status_retention_hours: 24,
            max_database_bytes: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Accept per-member API tokens (HTTP Basic password or Bearer) besides certificates.
    pub tokens: bool,
    /// Accept objects whose `created_by_ref` names another member's identity.
    pub allow_foreign_identities: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `breakwater=debug`.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

pub const DEFAULT_DATA_DIR: &str = "breakwater-data";
pub const FILE_NAME: &str = "breakwater.toml";

impl Config {
    /// The configuration `init` writes into `data_dir` (paths relative to it).
    pub fn for_data_dir(listen: SocketAddr) -> Config {
        Config {
            version: 1,
            listen,
            database: "breakwater.db".into(),
            api_root: "crc".into(),
            discovery: Discovery::default(),
            tls: Tls {
                certificate: "tls/server.pem".into(),
                key: "tls/server-key.pem".into(),
                client_ca: "ca/ca.pem".into(),
                ca_key: "ca/ca-key.pem".into(),
            },
            limits: Limits::default(),
            auth: Auth::default(),
            log: Log::default(),
            base_dir: PathBuf::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            reason: e.message().to_string(),
        })?;
        if config.version != 1 {
            return Err(ConfigError::Version(config.version));
        }
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    /// Applies `BREAKWATER_*` overrides from the given variables.
    pub fn with_env(
        mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e: T::Err| ConfigError::Env {
                name: name.to_string(),
                reason: e.to_string(),
            })
        }
        for (name, value) in vars {
            match name.as_str() {
                "BREAKWATER_LISTEN" => self.listen = parse(&name, &value)?,
                "BREAKWATER_DATABASE" => self.database = value.into(),
                "BREAKWATER_MAX_CONTENT_LENGTH" => {
                    self.limits.max_content_length = parse(&name, &value)?
                }
                "BREAKWATER_MAX_PAGE_SIZE" => self.limits.max_page_size = parse(&name, &value)?,
                "BREAKWATER_BACKGROUND_THRESHOLD" => {
                    self.limits.background_threshold = parse(&name, &value)?
                }
                "BREAKWATER_STATUS_RETENTION_HOURS" => {
                    self.limits.status_retention_hours = parse(&name, &value)?
                }
                "BREAKWATER_MAX_DATABASE_BYTES" => {
                    self.limits.max_database_bytes = Some(parse(&name, &value)?)
                }
                "BREAKWATER_TOKENS" => self.auth.tokens = parse(&name, &value)?,
                "BREAKWATER_LOG_FORMAT" => self.log.format = value,
                "BREAKWATER_LOG" => self.log.level = value,
                _ => {}
            }
        }
        Ok(self)
    }

    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_unknown_keys() {
        let config = Config::for_data_dir("127.0.0.1:8443".parse().unwrap());
        let text = config.to_toml();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back.listen, config.listen);
        let bad = format!("{text}\nsurprise = 1\n");
        assert!(toml::from_str::<Config>(&bad).is_err());
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = Config::for_data_dir("127.0.0.1:8443".parse().unwrap())
            .with_env([
                ("BREAKWATER_LISTEN".to_string(), "0.0.0.0:9443".to_string()),
                ("BREAKWATER_MAX_PAGE_SIZE".to_string(), "50".to_string()),
                ("UNRELATED".to_string(), "x".to_string()),
            ])
            .unwrap();
        assert_eq!(config.listen.port(), 9443);
        assert_eq!(config.limits.max_page_size, 50);
        let err = Config::for_data_dir("127.0.0.1:8443".parse().unwrap())
            .with_env([("BREAKWATER_MAX_PAGE_SIZE".to_string(), "lots".to_string())])
            .unwrap_err();
        assert!(err.to_string().contains("BREAKWATER_MAX_PAGE_SIZE"));
    }
}
