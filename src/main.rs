use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = breakwater::cli::Cli::parse();
    match breakwater::cli::run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            // One sentence per cause, never a debug dump.
            let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::from(2)
        }
    }
}
