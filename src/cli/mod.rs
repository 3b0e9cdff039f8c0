//! Command-line interface (placeholder wiring for the `validate` command only).

pub mod validate;

/// Breakwater command line.
#[derive(clap::Parser, Debug)]
#[command(name = "breakwater", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Validate STIX 2.1 files offline.
    Validate(validate::ValidateArgs),
}
