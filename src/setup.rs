//! `init`: everything a fresh data directory needs — configuration, community
//! CA, server certificate, the operator member with its client certificate,
//! the database, the API root and one collection per TLP tier. Never
//! overwrites an existing file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::app::open_exchange;
use crate::certs::{self, CertificateAuthority};
use crate::config::{self, Config, ListenAddr};
use crate::exchange::Exchange;
use crate::model::Tier;
use crate::store::{ApiRoot, NewMember};

pub const OPERATOR: &str = "operator";
/// The names every server certificate `init` writes covers.
pub const DEFAULT_SERVER_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// Validity of server certificates, in days (the CA/Browser Forum's old maximum).
pub const SERVER_CERT_DAYS: u32 = 825;
/// Password of the PKCS#12 bundles `init` and `certs issue` write.
pub const DEFAULT_P12_PASSWORD: &str = "breakwater";

#[derive(Debug, Serialize)]
pub struct InitReport {
    pub config: PathBuf,
    pub ca_certificate: PathBuf,
    pub server_certificate: PathBuf,
    pub operator_certificate: PathBuf,
    pub operator_key: PathBuf,
    pub operator_pkcs12: PathBuf,
    pub api_root: String,
    pub collections: Vec<TierCollection>,
    /// Files this run created (the others already existed and were kept).
    pub created: Vec<PathBuf>,
    /// The names the server certificate covers.
    pub server_names: Vec<String>,
    /// Hosts asked for that the server certificate does not cover, because
    /// it already existed and was kept (`certs server --host` adds them).
    pub hosts_not_added: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TierCollection {
    pub tier: Tier,
    pub id: String,
    pub alias: Option<String>,
}

pub struct InitOptions {
    pub data_dir: PathBuf,
    pub listen: ListenAddr,
    pub hosts: Vec<String>,
    /// The database a new configuration names (a path or a `postgres://`
    /// URL); `None` for the SQLite file in the data directory.
    pub database: Option<String>,
}

fn write_new(path: &Path, contents: &[u8], created: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    if path.extension().is_some_and(|e| e == "p12") || path.to_string_lossy().ends_with("-key.pem")
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    created.push(path.to_path_buf());
    Ok(())
}

/// Loads the community CA named by the configuration.
pub fn load_ca(config: &Config) -> anyhow::Result<CertificateAuthority> {
    let cert_path = config.resolve(&config.tls.client_ca);
    let key_path = config.resolve(&config.tls.ca_key);
    let cert = std::fs::read_to_string(&cert_path)
        .with_context(|| format!("cannot read the CA certificate {}", cert_path.display()))?;
    let key = std::fs::read_to_string(&key_path)
        .with_context(|| format!("cannot read the CA key {}", key_path.display()))?;
    Ok(CertificateAuthority::from_pem(&cert, &key)?)
}

/// Issues a member certificate, registers it, and writes `NAME.pem`,
/// `NAME-key.pem` and `NAME.p12` into `out_dir` (refusing to overwrite).
pub fn issue_member_certificate(
    exchange: &Exchange,
    ca: &CertificateAuthority,
    member: &str,
    out_dir: &Path,
    days: u32,
) -> anyhow::Result<(certs::CertInfo, [PathBuf; 3])> {
    exchange.member(member)?;
    let paths = [
        out_dir.join(format!("{member}.pem")),
        out_dir.join(format!("{member}-key.pem")),
        out_dir.join(format!("{member}.p12")),
    ];
    if let Some(existing) = paths.iter().find(|p| p.exists()) {
        anyhow::bail!(
            "{} already exists; choose another --out directory or move the old files away",
            existing.display()
        );
    }
    let issued = ca.issue_client(member, days)?;
    let p12 = certs::pkcs12(
        &issued.cert_pem,
        &issued.key_pem,
        ca.cert_pem(),
        member,
        DEFAULT_P12_PASSWORD,
    )?;
    let mut created = Vec::new();
    write_new(&paths[0], issued.cert_pem.as_bytes(), &mut created)?;
    write_new(&paths[1], issued.key_pem.as_bytes(), &mut created)?;
    write_new(&paths[2], &p12, &mut created)?;
    exchange.register_certificate(member, &issued.info)?;
    Ok((issued.info, paths))
}

pub fn init(opts: &InitOptions) -> anyhow::Result<InitReport> {
    let dir = &opts.data_dir;
    let dir_existed = dir.exists();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // A new data directory holds keys and the database: its owner only.
    #[cfg(unix)]
    if !dir_existed {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let mut created = Vec::new();
    let config_path = dir.join(config::FILE_NAME);
    if !config_path.exists() {
        let mut config = Config::for_data_dir(opts.listen.clone());
        if let Some(database) = &opts.database {
            config.database = database.into();
        }
        write_new(
            &config_path,
            config.to_commented_toml().as_bytes(),
            &mut created,
        )?;
    }
    let config = Config::load(&config_path)?;

    let ca_cert = config.resolve(&config.tls.client_ca);
    let ca_key = config.resolve(&config.tls.ca_key);
    if !ca_cert.exists() && !ca_key.exists() {
        let ca = CertificateAuthority::generate("Breakwater community CA", 3650)?;
        write_new(&ca_key, ca.key_pem().as_bytes(), &mut created)?;
        write_new(&ca_cert, ca.cert_pem().as_bytes(), &mut created)?;
    }
    let ca = load_ca(&config)?;

    let server_cert = config.resolve(&config.tls.certificate);
    let server_key = config.resolve(&config.tls.key);
    if !server_cert.exists() && !server_key.exists() {
        let mut hosts: Vec<String> = DEFAULT_SERVER_HOSTS.iter().map(|h| h.to_string()).collect();
        for h in &opts.hosts {
            let h = certs::normalise_host(h);
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        let issued = ca.issue_server(&hosts, SERVER_CERT_DAYS)?;
        write_new(&server_key, issued.key_pem.as_bytes(), &mut created)?;
        write_new(&server_cert, issued.cert_pem.as_bytes(), &mut created)?;
    }
    let server_names = std::fs::read_to_string(&server_cert)
        .ok()
        .and_then(|pem| certs::server_names(&pem).ok())
        .unwrap_or_default();
    let mut hosts_not_added: Vec<String> = Vec::new();
    for h in &opts.hosts {
        let h = certs::normalise_host(h);
        if !certs::covers(&server_names, &h) && !hosts_not_added.contains(&h) {
            hosts_not_added.push(h);
        }
    }

    let sqlite_file = match config.database_location() {
        config::DatabaseLocation::Sqlite(path) => Some(path),
        config::DatabaseLocation::Postgres(_) => None,
    };
    let db_existed = sqlite_file.as_ref().is_none_or(|p| p.exists());
    let (_store, exchange) = open_exchange(&config)?;
    if let Some(path) = sqlite_file.filter(|_| !db_existed) {
        created.push(path);
    }
    let roots = exchange.store().api_roots()?;
    if !roots.iter().any(|r| r.name == config.api_root) {
        exchange.ensure_api_root(ApiRoot {
            name: config.api_root.clone(),
            title: "Cyber Resilience Center".into(),
            description: Some(
                "Threat intelligence shared by the port community, one collection per TLP tier."
                    .into(),
            ),
            max_content_length: config.limits.max_content_length,
            is_default: roots.iter().all(|r| !r.is_default),
        })?;
    }
    let collections = exchange.default_collections(&config.api_root)?;

    if exchange.member(OPERATOR).is_err() {
        exchange.add_member(NewMember {
            name: OPERATOR.into(),
            sector: "port-authority".into(),
            contact: None,
            identity_ref: None,
            clearance: Tier::Red,
            is_operator: true,
        })?;
    }
    let members_dir = dir.join("members");
    let operator_paths = [
        members_dir.join(format!("{OPERATOR}.pem")),
        members_dir.join(format!("{OPERATOR}-key.pem")),
        members_dir.join(format!("{OPERATOR}.p12")),
    ];
    if !operator_paths[0].exists() {
        let (_, paths) = issue_member_certificate(&exchange, &ca, OPERATOR, &members_dir, 825)?;
        created.extend(paths);
    }
    let [operator_certificate, operator_key, operator_pkcs12] = operator_paths;
    Ok(InitReport {
        config: config_path,
        ca_certificate: ca_cert,
        server_certificate: server_cert,
        operator_certificate,
        operator_key,
        operator_pkcs12,
        api_root: format!("/{}/", config.api_root),
        collections: collections
            .iter()
            .map(|c| TierCollection {
                tier: c.tier,
                id: c.id.to_string(),
                alias: c.alias.clone(),
            })
            .collect(),
        created,
        server_names,
        hosts_not_added,
    })
}
