//! The operator's command line: clap derive types and thin `run` functions
//! that call `setup`, `exchange` and `app`.

mod admin;
mod serve;

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
    /// Manage collections.
    #[command(subcommand, visible_alias = "collection")]
    Collections(admin::CollectionCmd),
}

/// Runs a command; `Ok(false)` means "completed, but exit with status 1".
pub fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Init(args) => serve::init(&cli.global, &args),
        Command::Serve(args) => serve::serve(&cli.global, &args),
        Command::Collections(cmd) => admin::collections(&cli.global, cmd),
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
