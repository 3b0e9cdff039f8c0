//! `config check` and `config show`.

use std::net::ToSocketAddrs;
use std::path::Path;

use clap::Subcommand;

use super::GlobalArgs;
use crate::auth::tls::{TlsError, load_server_cert};
use crate::config::{Config, DatabaseLocation, io_reason};

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Report problems with the configuration, certificates and database in plain words.
    Check,
    /// Print the effective configuration (file plus environment overrides).
    Show,
}

pub fn run(global: &GlobalArgs, cmd: ConfigCmd) -> anyhow::Result<bool> {
    let path = global.existing_config()?;
    let config = Config::load(&path)?.with_env(std::env::vars())?;
    match cmd {
        ConfigCmd::Show => {
            print!("{}", config.redacted().to_toml());
            Ok(true)
        }
        ConfigCmd::Check => {
            let report = check(&config);
            for note in &report.notes {
                println!("note: {note}");
            }
            if report.problems.is_empty() {
                println!("{}: no problems found", path.display());
                Ok(true)
            } else {
                for p in &report.problems {
                    println!("problem: {p}");
                }
                Ok(false)
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    /// Each one sentence saying what is wrong and what to do.
    pub problems: Vec<String>,
    /// What an operator may want to know, that stops nothing.
    pub notes: Vec<String>,
}

fn read(label: &str, path: &Path, problems: &mut Vec<String>) -> Option<String> {
    if path.is_dir() {
        problems.push(format!(
            "the {label} {} is a directory, not a file; point the configuration at the file",
            path.display()
        ));
        return None;
    }
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) => {
            problems.push(format!(
                "the {label} {} cannot be read: {}",
                path.display(),
                io_reason(&e)
            ));
            None
        }
    }
}

/// Everything `serve` would trip over, checked the way `serve` does it.
pub fn check(config: &Config) -> Report {
    let mut report = Report::default();
    let problems = &mut report.problems;
    let cert_path = config.resolve(&config.tls.certificate);
    let key_path = config.resolve(&config.tls.key);
    let ca_path = config.resolve(&config.tls.client_ca);
    let cert = read("server certificate", &cert_path, problems);
    let key = read("server key", &key_path, problems);
    let ca = read("community CA certificate", &ca_path, problems);
    let ca_key = read(
        "community CA key",
        &config.resolve(&config.tls.ca_key),
        problems,
    );
    if cert.is_some() && key.is_some() {
        // The loader the server uses: a key rustls cannot use, or that
        // belongs to another certificate, is found here and not at start-up.
        match load_server_cert(&cert_path, &key_path, Some(&ca_path)) {
            Ok(served) => {
                let now = chrono::Utc::now();
                if served.not_after < now {
                    problems.push(format!(
                        "the server certificate expired on {}; issue a new one with `breakwater certs server`",
                        served.not_after.format("%Y-%m-%d")
                    ));
                } else if served.not_after < now + chrono::Duration::days(30) {
                    report.notes.push(format!(
                        "the server certificate expires on {}; renew it soon",
                        served.not_after.format("%Y-%m-%d")
                    ));
                }
                if served.names.is_empty() {
                    problems.push(
                        "the server certificate names no host (no subject alternative names), so no client will accept it; issue one with `breakwater certs server --host NAME`".into(),
                    );
                } else {
                    report.notes.push(format!(
                        "the server certificate covers {}",
                        served.names.join(", ")
                    ));
                }
                let end_entity = served.key.cert[0].as_ref();
                if crate::certs::is_ca_certificate(end_entity) {
                    problems.push(format!(
                        "{} is a CA certificate, not a server certificate; point tls.certificate at the server's own certificate",
                        cert_path.display()
                    ));
                }
                if !served.from_community_ca {
                    report.notes.push(format!(
                        "the server certificate is not issued by the community CA; give members the CA that issued {} (with any intermediates) so their tools trust the server",
                        cert_path.display()
                    ));
                }
            }
            Err(TlsError::KeyMismatch { .. }) => problems.push(
                "the server key does not match the server certificate; reissue the server certificate with `breakwater certs server` or fix tls.key".into(),
            ),
            Err(e) => problems.push(format!("the server certificate or key is unusable: {e}")),
        }
    }
    if let (Some(ca), Some(ca_key)) = (&ca, &ca_key)
        && let Err(e) = crate::certs::CertificateAuthority::from_pem(ca, ca_key)
    {
        problems.push(format!("the community CA cannot be loaded: {e}"));
    }
    if let Err(e) = config.listen.to_socket_addrs() {
        problems.push(format!(
            "listen = \"{}\" cannot be used: {}",
            config.listen,
            io_reason(&e)
        ));
    }
    match config.database_location() {
        DatabaseLocation::Sqlite(db) => {
            if !db.exists() {
                problems.push(format!(
                    "the database {} does not exist; run `breakwater init`",
                    db.display()
                ));
            } else if db.is_dir() {
                problems.push(format!(
                    "the database {} is a directory, not a file; fix `database` in the configuration",
                    db.display()
                ));
            } else if let Err(e) = crate::store::sqlite::SqliteStore::open(&db) {
                problems.push(format!(
                    "the database {} cannot be opened: {e}",
                    db.display()
                ));
            }
        }
        DatabaseLocation::Postgres(url) => {
            match crate::store::postgres::PgStore::open(&url, 2) {
                Ok(store) => report.notes.push(format!(
                    "the database is PostgreSQL at {} (schema {}); nodes sharing it serve the same members and objects",
                    store.shown(),
                    crate::store::postgres::SCHEMA_VERSION
                )),
                Err(e) => problems.push(format!(
                    "the database {} cannot be opened: {e}",
                    crate::config::redact_database_url(&url)
                )),
            }
            if config.database_pool_size < 2 {
                problems.push("database_pool_size must be at least 2".into());
            }
        }
    }
    if config.limits.max_page_size == 0 {
        problems.push("limits.max_page_size must be at least 1".into());
    }
    if config.limits.max_content_length == 0 {
        problems.push("limits.max_content_length must be at least 1".into());
    }
    report
}
