use clap::Subcommand;

use super::{GlobalArgs, guide, print_json, table};
use crate::model::Tier;
use crate::store::{CollectionUpdate, NewCollection};

#[derive(Subcommand, Debug)]
pub enum CollectionCmd {
    /// List collections.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create a collection and print its id.
    Create {
        #[arg(long)]
        title: String,
        #[arg(long, value_enum)]
        tier: Tier,
        #[arg(long)]
        description: Option<String>,
        /// A unique, URL-friendly alternative to the id (lower-case letters, digits, '.', '_', '-').
        #[arg(long)]
        alias: Option<String>,
        /// API root (default: the configured one; `breakwater api-roots list` shows them).
        #[arg(long)]
        api_root: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one collection with its object count.
    Show {
        /// Collection id or alias.
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a collection's title, description, alias or tier.
    Update {
        id: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// A new alias (lower-case letters, digits, '.', '_', '-').
        #[arg(long)]
        alias: Option<String>,
        #[arg(long, value_enum)]
        tier: Option<Tier>,
    },
    /// Delete a collection and every object in it.
    #[command(visible_alias = "remove")]
    Delete {
        id: String,
        /// Required: deleting is irreversible.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(serde::Serialize)]
struct CollectionOut {
    id: String,
    title: String,
    tier: Tier,
    api_root: String,
    alias: Option<String>,
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    objects: Option<u64>,
}

fn out(c: &crate::store::Collection, objects: Option<u64>) -> CollectionOut {
    CollectionOut {
        id: c.id.to_string(),
        title: c.title.clone(),
        tier: c.tier,
        api_root: c.api_root.clone(),
        alias: c.alias.clone(),
        description: c.description.clone(),
        objects,
    }
}

pub fn collections(global: &GlobalArgs, cmd: CollectionCmd) -> anyhow::Result<bool> {
    let ctx = super::Ctx::open(global)?;
    let (config, exchange) = (ctx.config, ctx.exchange);
    match cmd {
        CollectionCmd::List { json } => {
            let all: Vec<CollectionOut> = exchange
                .store()
                .collections()?
                .iter()
                .map(|c| out(c, None))
                .collect();
            if json {
                print_json(&all)?;
            } else {
                table(
                    &["ID", "ALIAS", "TIER", "API ROOT", "TITLE"],
                    all.into_iter().map(|c| {
                        vec![
                            c.id,
                            c.alias.unwrap_or_else(|| "-".into()),
                            c.tier.as_str().to_string(),
                            c.api_root,
                            c.title,
                        ]
                    }),
                );
            }
        }
        CollectionCmd::Create {
            title,
            tier,
            description,
            alias,
            api_root,
            json,
        } => {
            if let Some(alias) = &alias {
                guide::check_name("a collection alias", alias, "ot-incidents")?;
            }
            let api_root = api_root.unwrap_or(config.api_root.clone());
            super::apiroots::find(&exchange, &api_root)?;
            let c = exchange.create_collection(NewCollection {
                api_root,
                alias,
                title,
                description,
                tier,
            })?;
            if json {
                print_json(&out(&c, None))?;
            } else {
                println!("{}", c.id);
            }
        }
        CollectionCmd::Show { id, json } => {
            let c = guide::collection(&exchange, &id)?;
            let n = exchange.store().object_count(c.id)?;
            if json {
                print_json(&out(&c, Some(n)))?;
            } else {
                println!("id:          {}", c.id);
                println!("title:       {}", c.title);
                println!("tier:        {}", c.tier.label());
                println!("api root:    {}", c.api_root);
                println!("alias:       {}", c.alias.as_deref().unwrap_or("-"));
                println!("description: {}", c.description.as_deref().unwrap_or("-"));
                println!("objects:     {n}");
            }
        }
        CollectionCmd::Update {
            id,
            title,
            description,
            alias,
            tier,
        } => {
            let c = guide::collection(&exchange, &id)?;
            if let Some(alias) = &alias {
                guide::check_name("a collection alias", alias, "ot-incidents")?;
                if crate::model::CollectionId::parse(alias).is_some() {
                    anyhow::bail!("an alias may not look like a collection id; choose a name");
                }
            }
            let updated = exchange.store().update_collection(
                c.id,
                CollectionUpdate {
                    title,
                    description: description.map(Some),
                    alias: alias.map(Some),
                    tier,
                },
            )?;
            println!("updated {} ({})", updated.id, updated.tier.label());
        }
        CollectionCmd::Delete { id, yes } => {
            let c = guide::collection(&exchange, &id)?;
            if !yes {
                anyhow::bail!(
                    "deleting collection '{}' removes all its objects; repeat with --yes to confirm",
                    c.title
                );
            }
            let purged = exchange.delete_collection(c.id)?;
            println!("deleted {} and its {} objects", c.id, purged.objects);
        }
    }
    Ok(true)
}
