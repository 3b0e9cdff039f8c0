//! The operator's command line: clap derive types and thin `run` functions
//! that call `setup`, `exchange` and `app`.

mod admin;
mod audit;
mod certs;
mod config;
mod follow;
mod grants;
mod members;
mod serve;
mod tokens;
mod transfer;
pub mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "breakwater",
    version,
    about = "STIX/TAXII 2.1 threat exchange for port cyber-resilience communities"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug)]
pub struct GlobalArgs {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "BREAKWATER_CONFIG",
        default_value = "breakwater-data/breakwater.toml"
    )]
    pub config: PathBuf,
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the data directory: configuration, CA, server and operator certificates, database, tier collections.
    Init(serve::InitArgs),
    /// Serve TAXII 2.1 over mutually authenticated TLS (runs `init` first if there is no configuration).
    Serve(serve::ServeArgs),
    /// Check or show the configuration.
    #[command(subcommand)]
    Config(config::ConfigCmd),
    /// Manage collections.
    #[command(subcommand, visible_alias = "collection")]
    Collections(admin::CollectionCmd),
    /// Manage member organisations.
    #[command(subcommand, visible_aliases = ["member", "clients"])]
    Members(members::MemberCmd),
    /// Issue, list and revoke member certificates; export a CRL.
    #[command(subcommand, visible_alias = "cert")]
    Certs(certs::CertCmd),
    /// Grant members or sectors read/write on collections.
    #[command(subcommand, visible_alias = "grant")]
    Grants(grants::GrantCmd),
    /// API tokens for tools that cannot present a client certificate.
    #[command(subcommand, visible_alias = "token")]
    Tokens(tokens::TokenCmd),
    /// Read the append-only audit log.
    Audit(audit::AuditArgs),
    /// Import STIX bundles into a collection (validated like a TAXII POST).
    Import(transfer::ImportArgs),
    /// Export a collection as one STIX bundle, streamed.
    Export(transfer::ExportArgs),
    /// Follow a collection's live push stream: one JSON object per line on standard output.
    Follow(follow::FollowArgs),
    /// Validate STIX 2.1 files offline (no configuration or database needed); exits 1 if any object is invalid.
    Validate(validate::ValidateArgs),
}

/// What the data commands share: the loaded configuration and the services.
pub struct Ctx {
    pub config: crate::config::Config,
    pub exchange: crate::exchange::Exchange,
}

impl Ctx {
    fn open(global: &GlobalArgs) -> anyhow::Result<Ctx> {
        if !global.config.exists() {
            anyhow::bail!(
                "no configuration at {}; run `breakwater init` first or pass --config",
                global.config.display()
            );
        }
        let config = crate::config::Config::load(&global.config)?.with_env(std::env::vars())?;
        let (_store, exchange) = crate::app::open_exchange(&config)?;
        Ok(Ctx { config, exchange })
    }
}

/// A plain aligned table for humans (scripts use --json).
pub(crate) fn table(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

/// Runs a command; `Ok(false)` means "completed, but exit with status 1".
pub fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Init(args) => serve::init(&cli.global, &args),
        Command::Serve(args) => serve::serve(&cli.global, &args),
        Command::Config(cmd) => config::run(&cli.global, cmd),
        Command::Collections(cmd) => admin::collections(&cli.global, cmd),
        Command::Members(cmd) => members::run(&Ctx::open(&cli.global)?, cmd),
        Command::Certs(cmd) => certs::run(&Ctx::open(&cli.global)?, cmd),
        Command::Grants(cmd) => grants::run(&Ctx::open(&cli.global)?, cmd),
        Command::Tokens(cmd) => tokens::run(&Ctx::open(&cli.global)?, cmd),
        Command::Audit(args) => audit::run(&Ctx::open(&cli.global)?, args),
        Command::Import(args) => transfer::import(&Ctx::open(&cli.global)?, args),
        Command::Export(args) => transfer::export(&Ctx::open(&cli.global)?, args),
        Command::Validate(args) => validate::run(&args),
        Command::Follow(args) => follow::run(&args),
    }
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
