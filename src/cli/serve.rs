use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{GlobalArgs, LogFormat, print_json};
use crate::app::Application;
use crate::config::{self, Config, ListenAddr};
use crate::setup::{self, InitOptions};

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Directory for configuration, certificates and the database.
    #[arg(long, default_value = config::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Extra host names or addresses for a new server certificate (an existing
    /// one is kept: `breakwater certs server --host` reissues it).
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// HOST:PORT a new configuration will listen on [default: 127.0.0.1:8443].
    #[arg(long)]
    pub listen: Option<ListenAddr>,
    /// The database a new configuration names: a SQLite file, or a PostgreSQL
    /// URL (postgres://USER@HOST/DB?sslmode=verify-full&sslrootcert=CA.pem) that
    /// several nodes share [default: breakwater.db in the data directory].
    #[arg(long)]
    pub database: Option<String>,
    /// Print what was written or found as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// HOST:PORT to listen on, e.g. 0.0.0.0:8443 or [::]:8443 (overrides the configuration).
    #[arg(long, env = "BREAKWATER_LISTEN")]
    pub listen: Option<ListenAddr>,
}

fn default_listen() -> ListenAddr {
    "127.0.0.1:8443".parse().expect("a valid default address")
}

pub fn init(global: &GlobalArgs, args: &InitArgs) -> anyhow::Result<bool> {
    crate::telemetry::init(log_format(global), "warn");
    let config_path = args.data_dir.join(config::FILE_NAME);
    let config_existed = config_path.exists();
    let report = setup::init(&InitOptions {
        data_dir: args.data_dir.clone(),
        listen: args.listen.clone().unwrap_or_else(default_listen),
        hosts: args.hosts.clone(),
        database: args.database.clone(),
    })?;
    // What was asked for and not done, each with what to do instead.
    let mut not_done = Vec::new();
    if !report.hosts_not_added.is_empty() {
        let config_flag = if args.data_dir == Path::new(config::DEFAULT_DATA_DIR) {
            String::new()
        } else {
            format!(" --config {}", config_path.display())
        };
        let flags: Vec<String> = report
            .hosts_not_added
            .iter()
            .map(|h| format!("--host {h}"))
            .collect();
        not_done.push(format!(
            "the server certificate {} already exists and was kept, so it does not cover {}; add {} with `breakwater{config_flag} certs server {}`",
            report.server_certificate.display(),
            report.hosts_not_added.join(", "),
            if report.hosts_not_added.len() == 1 { "it" } else { "them" },
            flags.join(" ")
        ));
    }
    if let Some(listen) = &args.listen
        && config_existed
    {
        let current = Config::load(&config_path)?.listen;
        if current != *listen {
            not_done.push(format!(
                "the configuration {} already exists and keeps listen = \"{current}\"; edit it there, or run `breakwater serve --listen {listen}`",
                config_path.display()
            ));
        }
    }
    if let Some(database) = &args.database
        && config_existed
    {
        let current = Config::load(&config_path)?;
        if current.database.to_string_lossy() != database.as_str() {
            not_done.push(format!(
                "the configuration {} already exists and keeps database = \"{}\"; edit it there",
                config_path.display(),
                current.redacted().database.display()
            ));
        }
    }
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["not_done"] = serde_json::json!(not_done);
        print_json(&value)?;
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
        for sentence in &not_done {
            println!("not done: {sentence}");
        }
        println!("API root {}", report.api_root);
        for c in &report.collections {
            println!("collection {:<13} {}", c.tier.as_str(), c.id);
        }
        println!(
            "the server certificate covers {}",
            report.server_names.join(", ")
        );
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
    let config_path = global.config_path();
    if !config_path.exists() {
        let listen = args.listen.clone().unwrap_or_else(default_listen);
        setup::init(&InitOptions {
            data_dir: data_dir_of(&config_path),
            listen,
            hosts: Vec::new(),
            database: None,
        })
        .context("cannot initialise a new data directory")?;
    }
    let mut config = Config::load(&config_path)?.with_env(std::env::vars())?;
    if let Some(listen) = &args.listen {
        config.listen = listen.clone();
    }
    let format = if global.log_format == LogFormat::Json {
        "json"
    } else {
        config.log.format.as_str()
    };
    crate::telemetry::init(format, &config.log.level);
    // Held until the process ends: `restore` refuses to replace the
    // database under a running server, and a second server is refused.
    // Several nodes share a PostgreSQL database by design: no lock there.
    let _lock = match config.database_location() {
        crate::config::DatabaseLocation::Sqlite(db) => {
            Some(super::backup::ServeLock::acquire(&db)?)
        }
        crate::config::DatabaseLocation::Postgres(_) => None,
    };
    let dir = config.base_dir.clone();
    let api_root = config.api_root.clone();
    let listen = config.listen.clone();
    actix_rt::System::new().block_on(async move {
        let app = Application::build(config)?;
        let host = if listen.is_local_or_wildcard() {
            "localhost".to_string()
        } else if listen.host().contains(':') {
            format!("[{}]", listen.host())
        } else {
            listen.host().to_string()
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
