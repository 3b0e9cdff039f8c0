use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{GlobalArgs, LogFormat, print_json};
use crate::app::Application;
use crate::config::{self, Config};
use crate::setup::{self, InitOptions};

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Directory for configuration, certificates and the database.
    #[arg(long, default_value = config::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Extra host names or addresses for the server certificate.
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// Address the configuration will listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Print what was written or found as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (overrides the configuration).
    #[arg(long, env = "BREAKWATER_LISTEN")]
    pub listen: Option<SocketAddr>,
}

pub fn init(global: &GlobalArgs, args: &InitArgs) -> anyhow::Result<bool> {
    crate::telemetry::init(log_format(global), "warn");
    let report = setup::init(&InitOptions {
        data_dir: args.data_dir.clone(),
        listen: args.listen,
        hosts: args.hosts.clone(),
    })?;
    if args.json {
        print_json(&report)?;
    } else {
        for path in &report.created {
            println!("created {}", path.display());
        }
        if report.created.is_empty() {
            println!(
                "{} is already initialised; nothing was changed",
                args.data_dir.display()
            );
        }
        println!("API root {}", report.api_root);
        for c in &report.collections {
            println!("collection {:<13} {}", c.tier.as_str(), c.id);
        }
    }
    Ok(true)
}

fn log_format(global: &GlobalArgs) -> &'static str {
    match global.log_format {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    }
}

/// The data directory a configuration path implies (`dir/breakwater.toml`).
fn data_dir_of(config: &Path) -> PathBuf {
    config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn serve(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<bool> {
    if !global.config.exists() {
        let listen = args
            .listen
            .unwrap_or_else(|| "127.0.0.1:8443".parse().expect("valid default"));
        setup::init(&InitOptions {
            data_dir: data_dir_of(&global.config),
            listen,
            hosts: Vec::new(),
        })
        .context("cannot initialise a new data directory")?;
    }
    let mut config = Config::load(&global.config)?.with_env(std::env::vars())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let format = if global.log_format == LogFormat::Json {
        "json"
    } else {
        config.log.format.as_str()
    };
    crate::telemetry::init(format, &config.log.level);
    let dir = config.base_dir.clone();
    let api_root = config.api_root.clone();
    let listen = config.listen;
    actix_rt::System::new().block_on(async move {
        let app = Application::build(config)?;
        let host = if listen.ip().is_unspecified() || listen.ip().is_loopback() {
            "localhost".to_string()
        } else {
            listen.ip().to_string()
        };
        let d = dir.display();
        println!("Breakwater is serving TAXII 2.1 on https://{host}:{}/taxii2/", app.port());
        println!(
            "Try: curl --cacert {d}/ca/ca.pem --cert {d}/members/operator.pem --key {d}/members/operator-key.pem -H 'Accept: application/taxii+json;version=2.1' https://{host}:{}/{api_root}/collections/",
            app.port()
        );
        app.run_until_stopped().await.context("the server stopped with an error")
    })?;
    Ok(true)
}
