//! `store copy`: move a community's database between SQLite and PostgreSQL.

use clap::Subcommand;

use super::print_json;
use crate::config::DatabaseLocation;

#[derive(Subcommand, Debug)]
pub enum StoreCmd {
    /// Copy everything (API roots, collections, objects with their versions and date_added, statuses, members, certificates, grants, tokens, the audit log) into a new, empty database: SQLite to PostgreSQL or back. Stop the servers first.
    Copy(CopyArgs),
}

#[derive(clap::Args, Debug)]
pub struct CopyArgs {
    /// The database to copy: sqlite:PATH (or a path), or postgres://USER@HOST/DB.
    #[arg(long)]
    pub from: String,
    /// The new database: sqlite:PATH (a new file), or postgres://USER@HOST/DB (an existing, empty database).
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: StoreCmd) -> anyhow::Result<bool> {
    match cmd {
        StoreCmd::Copy(args) => copy(&args),
    }
}

fn copy(args: &CopyArgs) -> anyhow::Result<bool> {
    let here = std::env::current_dir()?;
    let from = DatabaseLocation::parse(&args.from, &here);
    let to = DatabaseLocation::parse(&args.to, &here);
    if let DatabaseLocation::Sqlite(path) = &from
        && !path.is_file()
    {
        anyhow::bail!(
            "--from {} does not exist; name the SQLite file to copy (sqlite:PATH) or a postgres:// URL",
            path.display()
        );
    }
    if from == to {
        anyhow::bail!("--from and --to name the same database; copy into a new one");
    }
    let source = crate::app::open_store(&from, 4, None)?;
    let target = crate::app::open_store(&to, 4, None)?;
    let mut shown = 0;
    let report = crate::store::copy::copy(source.portable(), target.portable(), &mut |what, n| {
        if what == "objects" && n >= shown + 100_000 {
            shown = n;
            eprintln!("copied {n} objects");
        }
    })
    .map_err(|e| anyhow::anyhow!("the copy into {} stopped: {e}", to.shown()))?;
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["from"] = from.shown().into();
        value["to"] = to.shown().into();
        print_json(&value)?;
    } else {
        println!(
            "copied {} API roots, {} collections, {} objects, {} statuses, {} members, {} certificates, {} grants, {} tokens and {} audit events from {} into {}",
            report.api_roots,
            report.collections,
            report.objects,
            report.statuses,
            report.members,
            report.certificates,
            report.grants,
            report.tokens,
            report.audit_events,
            from.shown(),
            to.shown()
        );
        println!(
            "set `database` in breakwater.toml to the new database and start the servers; members keep their cursors and next tokens"
        );
    }
    Ok(true)
}
