//! `breakwater.toml`: defaults < file < `BREAKWATER_*` environment < flags.
//! Relative paths are relative to the file's directory.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;

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
    pub listen: ListenAddr,
    /// SQLite database file, or a `postgres://` URL (several nodes, one database).
    pub database: PathBuf,
    /// Most connections to PostgreSQL this node holds (unused with SQLite).
    #[serde(default = "default_pool_size")]
    pub database_pool_size: u32,
    /// Name of the API root created by `init` and advertised as the default.
    pub api_root: String,
    /// `https://host[:port]` members reach the server at, when a TCP load balancer
    /// or NAT sits in between; discovery builds its URLs from it instead of `Host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(default)]
    pub discovery: Discovery,
    pub tls: Tls,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub log: Log,
    #[serde(default)]
    pub push: Push,
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
    /// A connection whose client accepts no response bytes for this long,
    /// while a response waits, is closed (seconds).
    pub send_timeout_secs: u64,
    /// A request body must arrive at least this fast, in bytes per second
    /// averaged from the start of the body (after the grace period); slower
    /// uploads are cut with 408. 0 disables the check.
    pub min_upload_rate: u64,
    /// Seconds a request body may take before `min_upload_rate` applies.
    pub upload_grace_secs: u64,
    /// Bytes of responses the server holds in memory at once (pages waiting
    /// for slow clients); past it, requests for pages get 503 with Retry-After.
    pub response_bytes_in_flight: u64,
    /// Requests one member may have in progress at once (until the response
    /// is sent); more get 429 with Retry-After. 0 means no limit.
    pub max_requests_per_member: usize,
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
            send_timeout_secs: 30,
            min_upload_rate: 1024,
            upload_grace_secs: 10,
            response_bytes_in_flight: 128 * 1024 * 1024,
            max_requests_per_member: 0,
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

/// Live push (`GET .../collections/{id}/stream/`, Server-Sent Events).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Push {
    /// Seconds between heartbeat comments on an idle stream.
    pub heartbeat_seconds: u64,
    /// Open streams on this server, all members together; past it, 503.
    pub max_streams: usize,
    /// Open streams of one member (its tools times the collections they follow).
    pub max_streams_per_member: usize,
    /// A stream with undelivered events whose reader took nothing for this
    /// many seconds is disconnected (it resumes from its last event id).
    pub slow_subscriber_seconds: u64,
    /// A stream that was following live and has not delivered a write this
    /// many seconds after its commit is disconnected (it resumes from its
    /// last event id); catching up from an older position is never cut.
    pub max_lag_seconds: u64,
}

impl Default for Push {
    fn default() -> Self {
        Push {
            heartbeat_seconds: 15,
            max_streams: 1000,
            max_streams_per_member: 20,
            slow_subscriber_seconds: 30,
            max_lag_seconds: 30,
        }
    }
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

/// `public_url` is `http://` or `https://`, a host and an optional port, and at
/// most a trailing slash: discovery appends `/{api-root}/` to it.
fn check_public_url(url: &str) -> Result<(), String> {
    const SHAPE: &str = "must be a URL of a host and an optional port, without a path (e.g. https://exchange.port.example:8443)";
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or(SHAPE)?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let (host_ok, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (v6, after) = bracketed.split_once(']').ok_or(SHAPE)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(SHAPE)?),
        };
        (v6.parse::<std::net::Ipv6Addr>().is_ok(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let ok = host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
        (ok, port)
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(SHAPE.into())
    }
}

fn default_pool_size() -> u32 {
    16
}

/// Where the data lives: a SQLite file, or a PostgreSQL database that
/// several nodes share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    Sqlite(PathBuf),
    /// The URL as written, password included.
    Postgres(String),
}

impl DatabaseLocation {
    /// `postgres://...` or `postgresql://...` selects PostgreSQL; `sqlite:PATH`
    /// or a plain path selects SQLite, relative paths resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> DatabaseLocation {
        let trimmed = text.trim();
        if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
            return DatabaseLocation::Postgres(trimmed.to_string());
        }
        let path = Path::new(trimmed.strip_prefix("sqlite:").unwrap_or(trimmed));
        DatabaseLocation::Sqlite(if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        })
    }

    /// For messages and logs: the path, or the URL without its password.
    pub fn shown(&self) -> String {
        match self {
            DatabaseLocation::Sqlite(p) => p.display().to_string(),
            DatabaseLocation::Postgres(url) => redact_database_url(url),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseLocation::Postgres(_))
    }
}

/// A database URL with every password replaced by `***`: the one in the
/// user-info part and any `password=` parameter.
pub fn redact_database_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => base.to_string(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") || k.ends_with("password") => {
                    format!("{k}=***")
                }
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

pub const DEFAULT_DATA_DIR: &str = "breakwater-data";
pub const FILE_NAME: &str = "breakwater.toml";

impl Config {
    /// The configuration `init` writes into `data_dir` (paths relative to it).
    pub fn for_data_dir(listen: ListenAddr) -> Config {
        Config {
            version: 1,
            listen,
            database: "breakwater.db".into(),
            database_pool_size: default_pool_size(),
            api_root: "crc".into(),
            public_url: None,
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
            push: Push::default(),
            base_dir: PathBuf::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if path.is_dir() {
            return Err(ConfigError::Read {
                path: path.display().to_string(),
                reason: format!(
                    "it is a directory, not a file; pass the file inside it, e.g. --config {}",
                    path.join(FILE_NAME).display()
                ),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: io_reason(&e),
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            reason: e.message().to_string(),
        })?;
        if config.version != 1 {
            return Err(ConfigError::Version(config.version));
        }
        if let Some(clash) = crate::app::fixed_path_clash(&config.api_root) {
            return Err(ConfigError::Parse {
                path: path.display().to_string(),
                reason: format!("api_root: {clash}"),
            });
        }
        if let Some(url) = &config.public_url {
            check_public_url(url).map_err(|reason| ConfigError::Parse {
                path: path.display().to_string(),
                reason: format!("public_url: {reason}"),
            })?;
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
                "BREAKWATER_DATABASE_POOL_SIZE" => self.database_pool_size = parse(&name, &value)?,
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
                "BREAKWATER_SEND_TIMEOUT_SECS" => {
                    self.limits.send_timeout_secs = parse(&name, &value)?
                }
                "BREAKWATER_MIN_UPLOAD_RATE" => self.limits.min_upload_rate = parse(&name, &value)?,
                "BREAKWATER_UPLOAD_GRACE_SECS" => {
                    self.limits.upload_grace_secs = parse(&name, &value)?
                }
                "BREAKWATER_RESPONSE_BYTES_IN_FLIGHT" => {
                    self.limits.response_bytes_in_flight = parse(&name, &value)?
                }
                "BREAKWATER_MAX_REQUESTS_PER_MEMBER" => {
                    self.limits.max_requests_per_member = parse(&name, &value)?
                }
                "BREAKWATER_MAX_DATABASE_BYTES" => {
                    self.limits.max_database_bytes = Some(parse(&name, &value)?)
                }
                "BREAKWATER_TOKENS" => self.auth.tokens = parse(&name, &value)?,
                "BREAKWATER_PUBLIC_URL" => {
                    check_public_url(&value).map_err(|reason| ConfigError::Env {
                        name: name.clone(),
                        reason,
                    })?;
                    self.public_url = Some(value);
                }
                "BREAKWATER_LOG_FORMAT" => self.log.format = value,
                "BREAKWATER_LOG" => self.log.level = value,
                "BREAKWATER_PUSH_HEARTBEAT_SECONDS" => {
                    self.push.heartbeat_seconds = parse(&name, &value)?
                }
                "BREAKWATER_PUSH_MAX_STREAMS" => self.push.max_streams = parse(&name, &value)?,
                "BREAKWATER_PUSH_MAX_STREAMS_PER_MEMBER" => {
                    self.push.max_streams_per_member = parse(&name, &value)?
                }
                "BREAKWATER_PUSH_SLOW_SUBSCRIBER_SECONDS" => {
                    self.push.slow_subscriber_seconds = parse(&name, &value)?
                }
                "BREAKWATER_PUSH_MAX_LAG_SECONDS" => {
                    self.push.max_lag_seconds = parse(&name, &value)?
                }
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

    /// Where the database is: a SQLite file (relative to this file's
    /// directory) or a PostgreSQL URL.
    pub fn database_location(&self) -> DatabaseLocation {
        DatabaseLocation::parse(&self.database.to_string_lossy(), &self.base_dir)
    }

    /// This configuration with secrets masked, for `config show` and logs.
    pub fn redacted(&self) -> Config {
        let mut shown = self.clone();
        if self.database_location().is_postgres() {
            shown.database = redact_database_url(&self.database.to_string_lossy()).into();
        }
        shown
    }
}

/// What went wrong with a file, in words: "it does not exist" rather than
/// "No such file or directory (os error 2)".
pub fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "it does not exist".into(),
        ErrorKind::PermissionDenied => {
            "permission denied; run as the user that owns the data directory".into()
        }
        ErrorKind::IsADirectory => "it is a directory, not a file".into(),
        ErrorKind::InvalidData => "it is not UTF-8 text".into(),
        ErrorKind::AlreadyExists => "it already exists".into(),
        ErrorKind::StorageFull => "the disk is full".into(),
        _ => {
            // The OS message without its "(os error N)" suffix.
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_lowercase(),
                None => text,
            }
        }
    }
}

/// `HOST:PORT` to listen on: a host name (`localhost`), an IPv4 address
/// (`0.0.0.0`) or a bracketed IPv6 address (`[::]`), and a port. Names are
/// resolved when the server binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    host: String,
    port: u16,
}

/// Why a `listen` value was refused, with an example of what works.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{input}' is not an address to listen on ({reason}); write HOST:PORT, e.g. 0.0.0.0:8443, [::]:8443 or localhost:8444"
)]
pub struct ListenAddrError {
    input: String,
    reason: &'static str,
}

impl ListenAddr {
    /// The host without brackets (`::` for `[::]:8443`).
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as an IP address, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// True for `0.0.0.0`, `[::]` and loopback addresses or `localhost`:
    /// addresses a URL should call `localhost`.
    pub fn is_local_or_wildcard(&self) -> bool {
        match self.ip() {
            Some(ip) => ip.is_unspecified() || ip.is_loopback(),
            None => self.host.eq_ignore_ascii_case("localhost"),
        }
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

fn is_host_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ListenAddrError {
            input: input.to_string(),
            reason,
        };
        let text = input.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, port) = rest
                .split_once("]:")
                .ok_or_else(|| fail("an IPv6 address in brackets needs ]:PORT after it"))?;
            host.parse::<Ipv6Addr>()
                .map_err(|_| fail("the part in brackets is not an IPv6 address"))?;
            (host, port)
        } else {
            let (host, port) = text.rsplit_once(':').ok_or_else(|| fail("no port"))?;
            if host.contains(':') {
                return Err(fail("an IPv6 address must be written in brackets"));
            }
            if host.is_empty() {
                return Err(fail("no host before the port"));
            }
            if host.parse::<IpAddr>().is_err() && !is_host_name(host) {
                return Err(fail("the host is neither an IP address nor a host name"));
            }
            (host, port)
        };
        let port = port
            .parse::<u16>()
            .map_err(|_| fail("the port must be a number from 0 to 65535"))?;
        Ok(ListenAddr {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl ToSocketAddrs for ListenAddr {
    type Iter = std::vec::IntoIter<SocketAddr>;

    fn to_socket_addrs(&self) -> std::io::Result<Self::Iter> {
        (self.host.as_str(), self.port).to_socket_addrs()
    }
}

impl Serialize for ListenAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What each key of `breakwater.toml` does and which environment variable
/// overrides it; `init` writes these as comments above every key. A key
/// without a row here is written without a comment (a unit test fails).
struct KeyDoc {
    key: &'static str,
    doc: &'static str,
    env: Option<&'static str>,
    /// Shown, commented out, for optional keys that are unset.
    example: Option<&'static str>,
}

const KEY_DOCS: &[KeyDoc] = &[
    KeyDoc {
        key: "version",
        doc: "Format version of this file; this build reads version 1.",
        env: None,
        example: None,
    },
    KeyDoc {
        key: "listen",
        doc: "HOST:PORT the TAXII server listens on, e.g. \"0.0.0.0:8443\" (every IPv4 interface), \"[::]:8443\" or \"localhost:8444\". `serve --listen` also overrides it.",
        env: Some("BREAKWATER_LISTEN"),
        example: None,
    },
    KeyDoc {
        key: "database",
        doc: "SQLite database file (relative paths in this file are relative to the file's directory), or a PostgreSQL URL such as \"postgres://breakwater@db.port.example/breakwater?sslmode=verify-full&sslrootcert=/etc/breakwater/db-ca.pem\" for several nodes on one database.",
        env: Some("BREAKWATER_DATABASE"),
        example: None,
    },
    KeyDoc {
        key: "database_pool_size",
        doc: "Most connections this node opens to PostgreSQL (unused with SQLite).",
        env: Some("BREAKWATER_DATABASE_POOL_SIZE"),
        example: None,
    },
    KeyDoc {
        key: "api_root",
        doc: "Name of the API root `init` creates; discovery names it as the default (`breakwater api-roots` manages others).",
        env: None,
        example: None,
    },
    KeyDoc {
        key: "public_url",
        doc: "https://host[:port] members reach the server at, when a TCP load balancer or NAT sits in front; discovery's absolute URLs start with it instead of the request's Host.",
        env: Some("BREAKWATER_PUBLIC_URL"),
        example: Some("\"https://exchange.port.example:8443\""),
    },
    KeyDoc {
        key: "discovery.title",
        doc: "Title of the TAXII discovery resource (/taxii2/).",
        env: None,
        example: None,
    },
    KeyDoc {
        key: "discovery.description",
        doc: "Description of the discovery resource.",
        env: None,
        example: Some("\"STIX/TAXII 2.1 exchange of the port's Cyber Resilience Center\""),
    },
    KeyDoc {
        key: "discovery.contact",
        doc: "Contact the discovery resource names.",
        env: None,
        example: Some("\"soc@port.example\""),
    },
    KeyDoc {
        key: "tls.certificate",
        doc: "Server certificate chain (PEM). `breakwater certs server --host NAME` reissues it from the community CA; or point it at a certificate from your own PKI. Reloaded on SIGHUP.",
        env: None,
        example: None,
    },
    KeyDoc {
        key: "tls.key",
        doc: "Private key of the server certificate (PEM: PKCS#8, PKCS#1 or SEC1); keep it mode 0600.",
        env: None,
        example: None,
    },
    KeyDoc {
        key: "tls.client_ca",
        doc: "The community CA (PEM): member certificates must chain to it.",
        env: None,
        example: None,
    },
    KeyDoc {
        key: "tls.ca_key",
        doc: "The community CA's private key, used by `certs issue` and `certs server`; keep it mode 0600 and backed up.",
        env: None,
        example: None,
    },
    KeyDoc {
        key: "limits.max_content_length",
        doc: "Largest request body in bytes; the ceiling for every API root's max_content_length, and the value of the API root `init` created.",
        env: Some("BREAKWATER_MAX_CONTENT_LENGTH"),
        example: None,
    },
    KeyDoc {
        key: "limits.max_page_size",
        doc: "Largest page served, whatever `limit` a client asks for.",
        env: Some("BREAKWATER_MAX_PAGE_SIZE"),
        example: None,
    },
    KeyDoc {
        key: "limits.background_threshold",
        doc: "Envelopes with more objects are stored in the background (status `pending`).",
        env: Some("BREAKWATER_BACKGROUND_THRESHOLD"),
        example: None,
    },
    KeyDoc {
        key: "limits.status_retention_hours",
        doc: "Hours a completed status stays readable.",
        env: Some("BREAKWATER_STATUS_RETENTION_HOURS"),
        example: None,
    },
    KeyDoc {
        key: "limits.send_timeout_secs",
        doc: "A connection whose client accepts no response bytes for this many seconds (at least 1), while a response waits, is closed and its buffers freed.",
        env: Some("BREAKWATER_SEND_TIMEOUT_SECS"),
        example: None,
    },
    KeyDoc {
        key: "limits.min_upload_rate",
        doc: "Bytes per second a request body must average, counted from its start once the grace period is over; slower uploads are cut with 408. 0 turns the check off.",
        env: Some("BREAKWATER_MIN_UPLOAD_RATE"),
        example: None,
    },
    KeyDoc {
        key: "limits.upload_grace_secs",
        doc: "Seconds a request body may take before min_upload_rate applies.",
        env: Some("BREAKWATER_UPLOAD_GRACE_SECS"),
        example: None,
    },
    KeyDoc {
        key: "limits.response_bytes_in_flight",
        doc: "Bytes of pages and statuses held in memory at once, all clients together; past it a page request gets 503 with Retry-After (one larger page is still served when nothing else is held).",
        env: Some("BREAKWATER_RESPONSE_BYTES_IN_FLIGHT"),
        example: None,
    },
    KeyDoc {
        key: "limits.max_requests_per_member",
        doc: "Requests one member may have in progress at once, each until its response is sent; more get 429 with Retry-After. 0 means no limit. A live-push stream counts only until it is admitted (streams have the push.* limits).",
        env: Some("BREAKWATER_MAX_REQUESTS_PER_MEMBER"),
        example: None,
    },
    KeyDoc {
        key: "limits.max_database_bytes",
        doc: "Largest size of the SQLite database file in bytes; beyond it writes fail as on a full disk (507, /health degraded) while reads go on. Unset: no limit. Not used with PostgreSQL, whose own full disk is answered the same way.",
        env: Some("BREAKWATER_MAX_DATABASE_BYTES"),
        example: Some("10737418240"),
    },
    KeyDoc {
        key: "auth.tokens",
        doc: "Also accept per-member API tokens (HTTP Basic password or Bearer) besides client certificates.",
        env: Some("BREAKWATER_TOKENS"),
        example: None,
    },
    KeyDoc {
        key: "auth.allow_foreign_identities",
        doc: "Accept objects whose created_by_ref is another member's STIX identity.",
        env: None,
        example: None,
    },
    KeyDoc {
        key: "log.format",
        doc: "\"text\" or \"json\" (one JSON object per line). `--log-format json` also sets it.",
        env: Some("BREAKWATER_LOG_FORMAT"),
        example: None,
    },
    KeyDoc {
        key: "log.level",
        doc: "A tracing filter such as \"info\" or \"breakwater=debug\"; RUST_LOG works too.",
        env: Some("BREAKWATER_LOG"),
        example: None,
    },
    KeyDoc {
        key: "push.heartbeat_seconds",
        doc: "Seconds between comment lines on an idle live-push stream, so proxies and clients notice a dead connection.",
        env: Some("BREAKWATER_PUSH_HEARTBEAT_SECONDS"),
        example: None,
    },
    KeyDoc {
        key: "push.max_streams",
        doc: "Open live-push streams on this server, all members together; past it, 503 with Retry-After.",
        env: Some("BREAKWATER_PUSH_MAX_STREAMS"),
        example: None,
    },
    KeyDoc {
        key: "push.max_streams_per_member",
        doc: "Open live-push streams of one member (its tools times the collections they follow); past it, 503 with Retry-After.",
        env: Some("BREAKWATER_PUSH_MAX_STREAMS_PER_MEMBER"),
        example: None,
    },
    KeyDoc {
        key: "push.slow_subscriber_seconds",
        doc: "A stream whose reader took nothing this long while events waited is disconnected; it resumes from its last event id.",
        env: Some("BREAKWATER_PUSH_SLOW_SUBSCRIBER_SECONDS"),
        example: None,
    },
    KeyDoc {
        key: "push.max_lag_seconds",
        doc: "A stream following live that has not delivered a write this long after its commit (its reader cannot keep up) is disconnected; it resumes from its last event id. Catching up from an older position is never cut.",
        env: Some("BREAKWATER_PUSH_MAX_LAG_SECONDS"),
        example: None,
    },
];

fn doc_of(key: &str) -> Option<&'static KeyDoc> {
    KEY_DOCS.iter().find(|d| d.key == key)
}

/// The keys of a serialised table, in the order of `KEY_DOCS` (then the rest).
fn ordered_keys<'a>(prefix: &str, table: &'a toml::Table) -> Vec<&'a String> {
    let rank = |k: &String| {
        let dotted = format!("{prefix}{k}");
        KEY_DOCS
            .iter()
            .position(|d| d.key == dotted || d.key.starts_with(&format!("{dotted}.")))
            .unwrap_or(usize::MAX)
    };
    let mut keys: Vec<&String> = table.keys().collect();
    keys.sort_by_key(|k| rank(k));
    keys
}

fn push_comment(out: &mut String, dotted: &str, default: Option<&toml::Value>) {
    let Some(doc) = doc_of(dotted) else { return };
    let mut text = doc.doc.to_string();
    match default {
        Some(value) => text.push_str(&format!(" Default: {value}.")),
        None if doc.example.is_some() => text.push_str(" Default: unset."),
        None => {}
    }
    if let Some(env) = doc.env {
        text.push_str(&format!(" Environment: {env}."));
    }
    // Wrap at about 78 columns.
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + word.len() + 1 > 78 && line.len() > 1 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

impl Config {
    /// The file `init` writes: every key with a comment saying what it does,
    /// its default and the environment variable that overrides it.
    pub fn to_commented_toml(&self) -> String {
        let table = toml::Table::try_from(self).unwrap_or_default();
        let defaults = toml::Table::try_from(Config::for_data_dir(
            "127.0.0.1:8443".parse().expect("a valid default address"),
        ))
        .unwrap_or_default();
        let mut out = String::from(
            "# Breakwater configuration. Every key can also be set by the environment\n\
             # variable named in its comment (environment wins over this file, and\n\
             # command-line flags win over both). `breakwater config check` checks it.\n",
        );
        let value_line = |key: &str, value: &toml::Value| {
            let mut one = toml::Table::new();
            one.insert(key.to_string(), value.clone());
            toml::to_string(&one).unwrap_or_default()
        };
        for key in ordered_keys("", &table) {
            let value = &table[key];
            if value.is_table() {
                continue;
            }
            out.push('\n');
            push_comment(&mut out, key, defaults.get(key));
            out.push_str(&value_line(key, value));
        }
        for key in ordered_keys("", &table) {
            let Some(section) = table[key].as_table() else {
                continue;
            };
            let section_defaults = defaults.get(key).and_then(toml::Value::as_table);
            out.push_str(&format!("\n[{key}]\n"));
            let prefix = format!("{key}.");
            for (i, sub) in ordered_keys(&prefix, section).into_iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let dotted = format!("{prefix}{sub}");
                push_comment(
                    &mut out,
                    &dotted,
                    section_defaults.and_then(|d| d.get(sub.as_str())),
                );
                out.push_str(&value_line(sub, &section[sub]));
            }
            // Optional keys that are unset, shown commented out.
            for doc in KEY_DOCS.iter().filter(|d| {
                d.key
                    .strip_prefix(&prefix)
                    .is_some_and(|sub| !section.contains_key(sub))
            }) {
                out.push('\n');
                push_comment(&mut out, doc.key, None);
                out.push_str(&format!(
                    "# {} = {}\n",
                    &doc.key[prefix.len()..],
                    doc.example.unwrap_or("\"\"")
                ));
            }
        }
        out
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
                ("BREAKWATER_SEND_TIMEOUT_SECS".to_string(), "7".to_string()),
                ("BREAKWATER_MIN_UPLOAD_RATE".to_string(), "0".to_string()),
                ("BREAKWATER_UPLOAD_GRACE_SECS".to_string(), "3".to_string()),
                (
                    "BREAKWATER_RESPONSE_BYTES_IN_FLIGHT".to_string(),
                    "1000".to_string(),
                ),
                (
                    "BREAKWATER_MAX_REQUESTS_PER_MEMBER".to_string(),
                    "4".to_string(),
                ),
                ("UNRELATED".to_string(), "x".to_string()),
            ])
            .unwrap();
        assert_eq!(config.listen.port(), 9443);
        assert_eq!(config.limits.max_page_size, 50);
        assert_eq!(config.limits.send_timeout_secs, 7);
        assert_eq!(config.limits.min_upload_rate, 0);
        assert_eq!(config.limits.upload_grace_secs, 3);
        assert_eq!(config.limits.response_bytes_in_flight, 1000);
        assert_eq!(config.limits.max_requests_per_member, 4);
        let err = Config::for_data_dir("127.0.0.1:8443".parse().unwrap())
            .with_env([("BREAKWATER_MAX_PAGE_SIZE".to_string(), "lots".to_string())])
            .unwrap_err();
        assert!(err.to_string().contains("BREAKWATER_MAX_PAGE_SIZE"));
    }

    #[test]
    fn public_url_is_a_host_and_port() {
        let config = Config::for_data_dir("127.0.0.1:8443".parse().unwrap())
            .with_env([(
                "BREAKWATER_PUBLIC_URL".to_string(),
                "https://exchange.port.example:8443".to_string(),
            )])
            .unwrap();
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://exchange.port.example:8443")
        );
        for ok in [
            "https://exchange.port.example",
            "https://exchange.port.example/",
            "https://[2001:db8::7]:8443",
            "https://[2001:db8::7]",
            "http://10.0.0.5:8080",
        ] {
            assert_eq!(check_public_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "exchange.port.example:8443",
            "https://",
            "https://exchange.port.example/taxii2/",
            "https://exchange.port.example:0",
            "https://exchange.port.example:99999",
            "https://user@exchange.port.example",
            "https://[not-v6]:8443",
            "ftp://exchange.port.example",
        ] {
            assert!(check_public_url(bad).is_err(), "{bad}");
        }
        let err = Config::for_data_dir("127.0.0.1:8443".parse().unwrap())
            .with_env([("BREAKWATER_PUBLIC_URL".to_string(), "exchange".to_string())])
            .unwrap_err();
        assert!(err.to_string().contains("BREAKWATER_PUBLIC_URL"), "{err}");
    }

    #[test]
    fn listen_accepts_names_ipv4_and_bracketed_ipv6() {
        for (text, host, port) in [
            ("localhost:8444", "localhost", 8444),
            ("0.0.0.0:8443", "0.0.0.0", 8443),
            ("[::]:8443", "::", 8443),
            ("[::1]:0", "::1", 0),
            ("Exchange.Port.Example:443", "exchange.port.example", 443),
        ] {
            let addr: ListenAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((addr.host(), addr.port()), (host, port), "{text}");
        }
        assert_eq!(
            "[::]:8443".parse::<ListenAddr>().unwrap().to_string(),
            "[::]:8443"
        );
        let resolved: Vec<SocketAddr> = "localhost:8444"
            .parse::<ListenAddr>()
            .unwrap()
            .to_socket_addrs()
            .unwrap()
            .collect();
        assert!(
            resolved
                .iter()
                .all(|a| a.port() == 8444 && a.ip().is_loopback())
        );
    }

    #[test]
    fn an_unparsable_listen_value_gets_an_example() {
        for bad in [
            "8443",
            "::8443",
            "localhost",
            "host:port",
            "[::1]8443",
            "a b:1",
            ":8443",
        ] {
            let err = bad.parse::<ListenAddr>().unwrap_err().to_string();
            assert!(
                err.contains("write HOST:PORT, e.g. 0.0.0.0:8443, [::]:8443 or localhost:8444"),
                "{bad}: {err}"
            );
            assert!(
                err.starts_with(&format!("'{bad}' is not an address")),
                "{err}"
            );
        }
        let err = Config::for_data_dir("127.0.0.1:8443".parse().unwrap())
            .with_env([("BREAKWATER_LISTEN".to_string(), "8443".to_string())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("BREAKWATER_LISTEN") && err.contains("e.g. 0.0.0.0:8443"),
            "{err}"
        );
        let text = Config::for_data_dir("127.0.0.1:8443".parse().unwrap())
            .to_toml()
            .replace("127.0.0.1:8443", "8443");
        let err = toml::from_str::<Config>(&text).unwrap_err().to_string();
        assert!(err.contains("e.g. 0.0.0.0:8443"), "{err}");
    }

    #[test]
    fn the_commented_file_documents_every_key_and_reads_back_the_same() {
        let mut config = Config::for_data_dir("0.0.0.0:8443".parse().unwrap());
        config.discovery.contact = None;
        let text = config.to_commented_toml();
        let back: Config = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.to_toml(), config.to_toml());
        // Every key that is written has a row in KEY_DOCS (what, and its env var if any).
        let table = toml::Table::try_from(&config).unwrap();
        let mut keys = Vec::new();
        for (k, v) in &table {
            match v.as_table() {
                Some(section) => keys.extend(section.keys().map(|s| format!("{k}.{s}"))),
                None => keys.push(k.clone()),
            }
        }
        for key in &keys {
            let doc = doc_of(key)
                .unwrap_or_else(|| panic!("{key} has no row in KEY_DOCS: document it there"));
            let line = text
                .lines()
                .position(|l| l.starts_with(&format!("{} = ", key.rsplit('.').next().unwrap())))
                .unwrap_or_else(|| panic!("{key} not written:\n{text}"));
            let lines: Vec<&str> = text.lines().take(line).collect();
            let first = lines
                .iter()
                .rposition(|l| !l.starts_with('#'))
                .map_or(0, |i| i + 1);
            let comment: String = lines[first..]
                .iter()
                .map(|l| l.trim_start_matches('#').trim())
                .collect::<Vec<_>>()
                .join(" ");
            assert!(comment.contains("Default: "), "{key}: {comment}");
            if let Some(env) = doc.env {
                assert!(comment.contains(env), "{key}: {comment}");
            }
        }
        // The unset contact is shown commented out.
        assert!(text.contains("# contact = "), "{text}");
    }

    #[test]
    fn every_environment_variable_in_the_comments_is_read() {
        for doc in KEY_DOCS {
            if let Some(env) = doc.env {
                let base = Config::for_data_dir("127.0.0.1:8443".parse().unwrap());
                let before = base.to_toml();
                let value = match env {
                    "BREAKWATER_LISTEN" => "localhost:9999",
                    "BREAKWATER_TOKENS" => "true",
                    "BREAKWATER_LOG_FORMAT" => "json",
                    "BREAKWATER_LOG" => "debug",
                    "BREAKWATER_DATABASE" => "other.db",
                    "BREAKWATER_DATABASE_POOL_SIZE" => "4",
                    "BREAKWATER_PUBLIC_URL" => "https://exchange.port.example:8443",
                    "BREAKWATER_RESPONSE_BYTES_IN_FLIGHT" => "67108864",
                    "BREAKWATER_MIN_UPLOAD_RATE" => "4096",
                    "BREAKWATER_MAX_DATABASE_BYTES" => "10737418240",
                    _ => "7",
                };
                let after = base
                    .with_env([(env.to_string(), value.to_string())])
                    .unwrap()
                    .to_toml();
                assert_ne!(before, after, "{env} changes nothing");
            }
        }
    }

    #[test]
    fn a_url_selects_postgresql_and_its_passwords_never_show() {
        let base = Path::new("/srv/breakwater");
        assert_eq!(
            DatabaseLocation::parse("breakwater.db", base),
            DatabaseLocation::Sqlite(base.join("breakwater.db"))
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite:/var/lib/bw.db", base),
            DatabaseLocation::Sqlite("/var/lib/bw.db".into())
        );
        for url in [
            "postgres://bw:s3cret@db:5432/exchange",
            "postgresql://bw@db/exchange?sslmode=verify-full&password=s3cret",
        ] {
            let location = DatabaseLocation::parse(url, base);
            assert!(location.is_postgres(), "{url}");
            let shown = location.shown();
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
        assert_eq!(
            redact_database_url("postgres://bw@db/exchange?sslmode=require"),
            "postgres://bw@db/exchange?sslmode=require"
        );
        let mut config = Config::for_data_dir("127.0.0.1:8443".parse().unwrap());
        config.database = "postgres://bw:s3cret@db/exchange".into();
        let shown = config.redacted().to_toml();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(config.to_toml().contains("s3cret"));
    }

    #[test]
    fn file_errors_are_words() {
        let dir = tempfile::tempdir().unwrap();
        let err = Config::load(&dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("it does not exist"), "{err}");
        let err = Config::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("it is a directory, not a file"), "{err}");
        assert!(!err.contains("os error"), "{err}");
    }

    #[test]
    fn push_settings_have_defaults_and_environment_names() {
        let config = Config::for_data_dir("127.0.0.1:8443".parse().unwrap());
        assert_eq!(config.push.max_streams, 1000);
        assert_eq!(config.push.heartbeat_seconds, 15);
        let config = config
            .with_env([
                (
                    "BREAKWATER_PUSH_MAX_STREAMS_PER_MEMBER".to_string(),
                    "3".to_string(),
                ),
                (
                    "BREAKWATER_PUSH_SLOW_SUBSCRIBER_SECONDS".to_string(),
                    "5".to_string(),
                ),
                (
                    "BREAKWATER_PUSH_MAX_LAG_SECONDS".to_string(),
                    "7".to_string(),
                ),
            ])
            .unwrap();
        assert_eq!(config.push.max_streams_per_member, 3);
        assert_eq!(config.push.slow_subscriber_seconds, 5);
        assert_eq!(config.push.max_lag_seconds, 7);
        let file = "version = 1\nlisten = \"127.0.0.1:1\"\ndatabase = \"db\"\napi_root = \"crc\"\n[tls]\ncertificate = \"a\"\nkey = \"b\"\nclient_ca = \"c\"\nca_key = \"d\"\n[push]\nheartbeat_seconds = 5\n";
        let parsed: Config = toml::from_str(file).unwrap();
        assert_eq!(parsed.push.heartbeat_seconds, 5);
        assert_eq!(parsed.push.max_streams, 1000);
    }
}
