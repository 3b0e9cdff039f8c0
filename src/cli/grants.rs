use clap::Subcommand;

use super::{Ctx, guide, print_json, table};
use crate::store::{Grant, Grantee};

#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("grantee").required(true).args(["member", "sector"]))]
pub struct Target {
    /// The member the grant is for.
    #[arg(long)]
    member: Option<String>,
    /// Every member of this sector (members who join later inherit it).
    #[arg(long)]
    sector: Option<String>,
    /// Collection id or alias.
    #[arg(long)]
    collection: String,
}

#[derive(Subcommand, Debug)]
pub enum GrantCmd {
    /// List grants.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Grant read and/or write on a collection (replaces an existing grant).
    Add {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        read: bool,
        #[arg(long)]
        write: bool,
    },
    /// Remove a grant.
    Remove {
        #[command(flatten)]
        target: Target,
    },
}

/// "read and write", "read only", "write only" or "nothing".
pub(super) fn access_words(read: bool, write: bool) -> &'static str {
    match (read, write) {
        (true, true) => "read and write",
        (true, false) => "read only",
        (false, true) => "write only",
        (false, false) => "nothing",
    }
}

/// "member evergreen-line" or "every member of sector rail".
fn grantee_words(g: &Grantee) -> String {
    match g {
        Grantee::Member(m) => format!("member {m}"),
        Grantee::Sector(s) => format!("every member of sector {s}"),
    }
}

fn grantee(t: &Target) -> Grantee {
    match (&t.member, &t.sector) {
        (Some(m), _) => Grantee::Member(m.clone()),
        (None, Some(s)) => Grantee::Sector(s.clone()),
        (None, None) => unreachable!("clap requires --member or --sector"),
    }
}

pub fn run(ctx: &Ctx, cmd: GrantCmd) -> anyhow::Result<bool> {
    let ex = &ctx.exchange;
    match cmd {
        GrantCmd::List { json } => {
            let grants = ex.store().grants()?;
            if json {
                let rows: Vec<_> = grants
                    .iter()
                    .map(|g| {
                        let (member, sector) = match &g.grantee {
                            Grantee::Member(m) => (Some(m.as_str()), None),
                            Grantee::Sector(s) => (None, Some(s.as_str())),
                        };
                        serde_json::json!({
                            "collection": g.collection.to_string(),
                            "member": member,
                            "sector": sector,
                            "read": g.read,
                            "write": g.write,
                        })
                    })
                    .collect();
                print_json(&rows)?;
            } else {
                table(
                    &["COLLECTION", "GRANTEE", "READ", "WRITE"],
                    grants.iter().map(|g| {
                        let who = match &g.grantee {
                            Grantee::Member(m) => format!("member {m}"),
                            Grantee::Sector(s) => format!("sector {s}"),
                        };
                        vec![
                            g.collection.to_string(),
                            who,
                            g.read.to_string(),
                            g.write.to_string(),
                        ]
                    }),
                );
            }
        }
        GrantCmd::Add {
            target,
            read,
            write,
        } => {
            if !read && !write {
                anyhow::bail!("say what to grant: --read, --write or both");
            }
            let collection = guide::collection(ex, &target.collection)?;
            if let Some(m) = &target.member {
                guide::member(ex, m)?;
            }
            let grantee = grantee(&target);
            ex.grant(Grant {
                collection: collection.id,
                grantee: grantee.clone(),
                read,
                write,
            })?;
            println!(
                "granted {} {} on {} ({})",
                grantee_words(&grantee),
                access_words(read, write),
                collection.title,
                collection.id
            );
        }
        GrantCmd::Remove { target } => {
            let collection = guide::collection(ex, &target.collection)?;
            if let Some(m) = &target.member {
                guide::member(ex, m)?;
            }
            let grantee = grantee(&target);
            ex.remove_grant(collection.id, &grantee)?;
            println!(
                "removed the grant of {} on {} ({})",
                grantee_words(&grantee),
                collection.title,
                collection.id
            );
        }
    }
    Ok(true)
}
