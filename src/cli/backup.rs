//! `backup` (while the server runs) and `restore` (while it does not), and
//! the lock a running server holds on its database.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{GlobalArgs, print_json};
use crate::config::Config;
use crate::store::sqlite::backup;

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The new backup file; an existing directory gets breakwater-YYYYMMDDTHHMMSSZ.db inside it.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// A file written by `breakwater backup`.
    pub file: PathBuf,
    #[arg(long)]
    pub json: bool,
}

/// Held by `serve` for as long as it runs (an OS file lock, released even
/// on `kill -9`): `restore` refuses to replace a database a server uses, and
/// a second server on the same database is refused.
pub struct ServeLock {
    _file: File,
}

fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl ServeLock {
    pub fn acquire(db: &Path) -> anyhow::Result<ServeLock> {
        let path = lock_path(db);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the lock file {}: {}",
                    path.display(),
                    crate::config::io_reason(&e)
                )
            })?;
        match file.try_lock() {
            Ok(()) => Ok(ServeLock { _file: file }),
            Err(TryLockError::WouldBlock) => anyhow::bail!(
                "a breakwater server is running on {}; stop it first (`systemctl stop breakwater`)",
                db.display()
            ),
            Err(TryLockError::Error(e)) => anyhow::bail!(
                "cannot lock {}: {}",
                path.display(),
                crate::config::io_reason(&e)
            ),
        }
    }
}

fn load(global: &GlobalArgs) -> anyhow::Result<Config> {
    let path = global.existing_config()?;
    Ok(Config::load(&path)?.with_env(std::env::vars())?)
}

/// The SQLite file these commands work on; PostgreSQL has its own tools.
fn sqlite_file(config: &Config, command: &str) -> anyhow::Result<PathBuf> {
    match config.database_location() {
        crate::config::DatabaseLocation::Sqlite(path) => Ok(path),
        crate::config::DatabaseLocation::Postgres(_) => anyhow::bail!(
            "`breakwater {command}` copies a SQLite file, and this configuration uses PostgreSQL; use pg_dump and pg_restore, or streaming replication (see \"Scaling out\" in the README)"
        ),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn backup(global: &GlobalArgs, args: &BackupArgs) -> anyhow::Result<bool> {
    let config = load(global)?;
    let db = sqlite_file(&config, "backup")?;
    if !db.is_file() {
        anyhow::bail!(
            "the database {} does not exist; check `database` in the configuration",
            db.display()
        );
    }
    let out = if args.out.is_dir() {
        args.out.join(format!(
            "breakwater-{}.db",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ))
    } else {
        args.out.clone()
    };
    if std::path::absolute(&out).ok() == std::path::absolute(&db).ok() {
        anyhow::bail!("--out names the database itself; choose a file elsewhere");
    }
    let report = backup::backup(&db, &out)
        .with_context(|| format!("the backup of {} failed", db.display()))?;
    if args.json {
        print_json(&serde_json::json!({
            "file": report.path,
            "bytes": report.bytes,
            "objects": report.objects,
            "schema": report.schema,
            "steps": report.steps,
            "longest_step_us": report.longest_step.as_micros() as u64,
            "elapsed_ms": report.elapsed.as_millis() as u64,
        }))?;
    } else {
        println!(
            "wrote {} ({}, {} objects, schema {}) in {} ms, {} steps of at most {:.1} ms",
            report.path.display(),
            mib(report.bytes),
            report.objects,
            report.schema,
            report.elapsed.as_millis(),
            report.steps,
            report.longest_step.as_secs_f64() * 1000.0
        );
        println!(
            "it holds everything committed when the backup began; keep the CA key and the configuration with it (see the README)"
        );
    }
    Ok(true)
}

pub fn restore(global: &GlobalArgs, args: &RestoreArgs) -> anyhow::Result<bool> {
    let config = load(global)?;
    let db = sqlite_file(&config, "restore")?;
    if !args.file.exists() {
        anyhow::bail!("{} does not exist", args.file.display());
    }
    if std::path::absolute(&args.file).ok() == std::path::absolute(&db).ok() {
        anyhow::bail!(
            "{} is the database itself; name a backup file",
            args.file.display()
        );
    }
    // Held until the database is in place, so no server starts meanwhile.
    let _lock = ServeLock::acquire(&db)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let (verified, kept) = backup::restore(&args.file, &db, &stamp)
        .with_context(|| format!("{} was not restored", args.file.display()))?;
    if args.json {
        print_json(&serde_json::json!({
            "database": db,
            "objects": verified.objects,
            "members": verified.members,
            "schema": verified.schema,
            "previous": kept,
        }))?;
    } else {
        println!(
            "restored {} into {} ({} objects, {} members, schema {})",
            args.file.display(),
            db.display(),
            verified.objects,
            verified.members,
            verified.schema
        );
        if let Some(kept) = kept {
            println!(
                "the previous database is kept as {}; delete it once the server runs well",
                kept.display()
            );
        }
        println!("start the server again (`systemctl start breakwater` or `breakwater serve`)");
    }
    Ok(true)
}
