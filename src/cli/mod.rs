//! The operator's command line: clap derive types and thin `run` functions
//! that call `setup`, `exchange` and `app`.

mod admin;
mod apiroots;
mod audit;
mod backup;
mod certs;
mod config;
mod follow;
mod grants;
mod guide;
mod handover;
mod members;
mod serve;
mod store;
mod tokens;
mod transfer;
pub mod validate;

use std::path::{Path, PathBuf};

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
    /// Configuration file [default: breakwater-data/breakwater.toml].
    #[arg(long, global = true, env = "BREAKWATER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl GlobalArgs {
    /// The configuration file: `--config`, `BREAKWATER_CONFIG`, or the default.
    pub fn config_path(&self) -> PathBuf {
        self.config.clone().unwrap_or_else(|| {
            Path::new(crate::config::DEFAULT_DATA_DIR).join(crate::config::FILE_NAME)
        })
    }

    fn config_source(&self) -> guide::ConfigSource {
        match &self.config {
            None => guide::ConfigSource::Default,
            Some(p) if std::env::var_os("BREAKWATER_CONFIG").as_deref() == Some(p.as_os_str()) => {
                guide::ConfigSource::Environment
            }
            Some(_) => guide::ConfigSource::Flag,
        }
    }

    /// The configuration file, or an error saying where it was looked for
    /// and how to point elsewhere.
    fn existing_config(&self) -> anyhow::Result<PathBuf> {
        let path = self.config_path();
        if !path.is_file() {
            anyhow::bail!(guide::missing_config(&path, self.config_source()));
        }
        Ok(path)
    }
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
    /// Manage API roots (one per partner group, say).
    #[command(subcommand, name = "api-roots", visible_alias = "api-root")]
    ApiRoots(apiroots::ApiRootCmd),
    /// Manage collections.
    #[command(subcommand, visible_alias = "collection")]
    Collections(admin::CollectionCmd),
    /// Manage member organisations.
    #[command(subcommand, visible_aliases = ["member", "clients"])]
    Members(members::MemberCmd),
    /// Member certificates (issue, sign, list, revoke, CRL) and the server certificate.
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
    /// Copy the database consistently while the server runs (SQLite online backup).
    Backup(backup::BackupArgs),
    /// Put a backup in place of the database (the server must be stopped).
    Restore(backup::RestoreArgs),
    /// Move the database between SQLite and PostgreSQL.
    #[command(subcommand)]
    Store(store::StoreCmd),
}

/// What the data commands share: the loaded configuration and the services.
pub struct Ctx {
    pub config: crate::config::Config,
    pub exchange: crate::exchange::Exchange,
}

impl Ctx {
    fn open(global: &GlobalArgs) -> anyhow::Result<Ctx> {
        let path = global.existing_config()?;
        let config = crate::config::Config::load(&path)?.with_env(std::env::vars())?;
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
    if !matches!(cli.command, Command::Serve(_)) {
        quiet_broken_pipe();
    }
    match dispatch(cli) {
        // The reader went away (`| head`): nothing left to say to it.
        Err(e) if is_broken_pipe(&e) => Ok(true),
        other => other,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn dispatch(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Init(args) => serve::init(&cli.global, &args),
        Command::Serve(args) => serve::serve(&cli.global, &args),
        Command::Config(cmd) => config::run(&cli.global, cmd),
        Command::ApiRoots(cmd) => apiroots::run(&Ctx::open(&cli.global)?, cmd),
        Command::Collections(cmd) => admin::collections(&cli.global, cmd),
        Command::Members(cmd) => members::run(&Ctx::open(&cli.global)?, cmd),
        Command::Certs(cmd) => certs::run(&Ctx::open(&cli.global)?, cmd),
        Command::Grants(cmd) => grants::run(&Ctx::open(&cli.global)?, cmd),
        Command::Tokens(cmd) => tokens::run(&Ctx::open(&cli.global)?, cmd),
        Command::Audit(args) => audit::run(&Ctx::open(&cli.global)?, args),
        Command::Import(args) => transfer::import(&Ctx::open(&cli.global)?, args),
        Command::Export(args) => transfer::export(&Ctx::open(&cli.global)?, args),
        Command::Validate(args) => validate::run(&args),
        Command::Backup(args) => backup::backup(&cli.global, &args),
        Command::Restore(args) => backup::restore(&cli.global, &args),
        Command::Store(cmd) => store::run(cmd),
        Command::Follow(args) => follow::run(&args),
    }
}

/// A one-shot command whose reader went away (`breakwater export | head`)
/// ends quietly, as `cat` does, instead of reporting a broken pipe. The
/// server keeps ignoring SIGPIPE: a member hanging up must not stop it.
fn quiet_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any other
    // thread exists; no handler code runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Reads a text file; the error names the file and says what is wrong in words.
pub(crate) fn read_text(path: &Path, what: &str) -> anyhow::Result<String> {
    if path.is_dir() {
        anyhow::bail!(
            "cannot read {what} {}: it is a directory, not a file",
            path.display()
        );
    }
    std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {what} {}: {}",
            path.display(),
            crate::config::io_reason(&e)
        )
    })
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
