//! `config check` and `config show`.

use clap::Subcommand;

use super::GlobalArgs;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Report problems with the configuration, certificates and database in plain words.
    Check,
    /// Print the effective configuration (file plus environment overrides).
    Show,
}

pub fn run(global: &GlobalArgs, cmd: ConfigCmd) -> anyhow::Result<bool> {
    let config = Config::load(&global.config)?.with_env(std::env::vars())?;
    match cmd {
        ConfigCmd::Show => {
            print!("{}", config.to_toml());
            Ok(true)
        }
        ConfigCmd::Check => {
            let problems = check(&config);
            if problems.is_empty() {
                println!("{}: no problems found", global.config.display());
                Ok(true)
            } else {
                for p in &problems {
                    println!("problem: {p}");
                }
                Ok(false)
            }
        }
    }
}

/// Every problem found, each one sentence saying what is wrong and what to do.
pub fn check(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let read =
        |label: &str, path: &std::path::Path, problems: &mut Vec<String>| -> Option<String> {
            match std::fs::read_to_string(path) {
                Ok(text) => Some(text),
                Err(e) => {
                    problems.push(format!(
                        "the {label} {} cannot be read ({e})",
                        path.display()
                    ));
                    None
                }
            }
        };
    let cert = read(
        "server certificate",
        &config.resolve(&config.tls.certificate),
        &mut problems,
    );
    let key = read(
        "server key",
        &config.resolve(&config.tls.key),
        &mut problems,
    );
    let ca = read(
        "community CA certificate",
        &config.resolve(&config.tls.client_ca),
        &mut problems,
    );
    let ca_key = read(
        "community CA key",
        &config.resolve(&config.tls.ca_key),
        &mut problems,
    );
    if let (Some(cert), Some(key)) = (&cert, &key) {
        match crate::certs::key_matches_cert(cert, key) {
            Ok(true) => {}
            Ok(false) => problems.push("the server key does not match the server certificate; reissue the server certificate or fix tls.key".into()),
            Err(e) => problems.push(format!("the server certificate or key is unusable: {e}")),
        }
        match crate::certs::inspect_pem(cert) {
            Ok(info) if info.not_after < chrono::Utc::now() => problems.push(format!(
                "the server certificate expired on {}; issue a new one",
                info.not_after
            )),
            _ => {}
        }
    }
    if let (Some(ca), Some(ca_key)) = (&ca, &ca_key)
        && let Err(e) = crate::certs::CertificateAuthority::from_pem(ca, ca_key)
    {
        problems.push(format!("the community CA cannot be loaded: {e}"));
    }
    let db = config.resolve(&config.database);
    if !db.exists() {
        problems.push(format!(
            "the database {} does not exist; run `breakwater init`",
            db.display()
        ));
    } else if let Err(e) = crate::store::sqlite::SqliteStore::open(&db) {
        problems.push(format!(
            "the database {} cannot be opened: {e}",
            db.display()
        ));
    }
    if config.limits.max_page_size == 0 {
        problems.push("limits.max_page_size must be at least 1".into());
    }
    if config.limits.max_content_length == 0 {
        problems.push("limits.max_content_length must be at least 1".into());
    }
    problems
}
