//! `api-roots list|add|update|remove`: a community may keep one API root per
//! partner group. Changes reach a running server on its next request.

use clap::Subcommand;

use super::{Ctx, guide, print_json, table};
use crate::exchange::Exchange;
use crate::exchange::admin::OPERATOR_ACTOR;
use crate::store::{ApiRoot, AuditEvent};

#[derive(Subcommand, Debug)]
pub enum ApiRootCmd {
    /// List API roots with their collection counts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add an API root, served at /NAME/.
    Add {
        /// Lower-case letters, digits, '.', '_' and '-' (it is a URL path segment).
        name: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        description: Option<String>,
        /// Largest request body in bytes [default and ceiling: limits.max_content_length].
        #[arg(long)]
        max_content_length: Option<u64>,
        /// Make it the default API root discovery names.
        #[arg(long)]
        default: bool,
    },
    /// Change an API root's title, description, body limit or default flag.
    Update {
        name: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        max_content_length: Option<u64>,
        /// Make it the default API root discovery names.
        #[arg(long)]
        default: bool,
    },
    /// Remove an API root that holds no collections.
    Remove {
        name: String,
        /// Required: members' tools may still use its URL.
        #[arg(long)]
        yes: bool,
    },
}

/// An API root by name, or an error naming the near matches.
pub fn find(ex: &Exchange, name: &str) -> anyhow::Result<ApiRoot> {
    let roots = ex.store().api_roots()?;
    if let Some(root) = roots.iter().find(|r| r.name == name) {
        return Ok(root.clone());
    }
    let near = guide::near_matches(name, roots.iter().map(|r| r.name.as_str()));
    anyhow::bail!(guide::not_found(
        "API root",
        name,
        &near,
        "breakwater api-roots list"
    ))
}

fn audit(ex: &Exchange, action: &str, detail: String) {
    ex.audit(AuditEvent {
        member: Some(OPERATOR_ACTOR.to_string()),
        detail: Some(detail),
        ..AuditEvent::now(action, "ok")
    });
}

fn check_limit(ctx: &Ctx, limit: u64) -> anyhow::Result<u64> {
    let ceiling = ctx.config.limits.max_content_length;
    if limit == 0 || limit > ceiling {
        anyhow::bail!(
            "--max-content-length must be from 1 to {ceiling} bytes (limits.max_content_length); raise that limit in the configuration first"
        );
    }
    Ok(limit)
}

pub fn run(ctx: &Ctx, cmd: ApiRootCmd) -> anyhow::Result<bool> {
    let ex = &ctx.exchange;
    match cmd {
        ApiRootCmd::List { json } => {
            let roots = ex.store().api_roots()?;
            let collections = ex.store().collections()?;
            let count = |name: &str| collections.iter().filter(|c| c.api_root == name).count();
            if json {
                let rows: Vec<_> = roots
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "name": r.name,
                            "title": r.title,
                            "description": r.description,
                            "max_content_length": r.max_content_length,
                            "default": r.is_default,
                            "collections": count(&r.name),
                        })
                    })
                    .collect();
                print_json(&rows)?;
            } else {
                table(
                    &[
                        "NAME",
                        "DEFAULT",
                        "MAX CONTENT LENGTH",
                        "COLLECTIONS",
                        "TITLE",
                    ],
                    roots.iter().map(|r| {
                        vec![
                            r.name.clone(),
                            if r.is_default { "yes" } else { "-" }.to_string(),
                            r.max_content_length.to_string(),
                            count(&r.name).to_string(),
                            r.title.clone(),
                        ]
                    }),
                );
            }
        }
        ApiRootCmd::Add {
            name,
            title,
            description,
            max_content_length,
            default,
        } => {
            if let Some(clash) = crate::app::fixed_path_clash(&name) {
                anyhow::bail!(clash);
            }
            guide::check_name("an API root name", &name, "partners")?;
            let roots = ex.store().api_roots()?;
            if roots.iter().any(|r| r.name == name) {
                anyhow::bail!(
                    "API root '{name}' already exists; change it with `breakwater api-roots update {name}`"
                );
            }
            let limit = match max_content_length {
                Some(n) => check_limit(ctx, n)?,
                None => ctx.config.limits.max_content_length,
            };
            ex.ensure_api_root(ApiRoot {
                name: name.clone(),
                title: title.clone(),
                description,
                max_content_length: limit,
                is_default: default || roots.iter().all(|r| !r.is_default),
            })?;
            audit(ex, "api-root-add", format!("{name} ({title})"));
            println!(
                "added API root /{name}/; next: breakwater collections create --api-root {name} --title TITLE --tier green"
            );
        }
        ApiRootCmd::Update {
            name,
            title,
            description,
            max_content_length,
            default,
        } => {
            let mut root = find(ex, &name)?;
            if let Some(t) = title {
                root.title = t;
            }
            if let Some(d) = description {
                root.description = Some(d);
            }
            if let Some(n) = max_content_length {
                root.max_content_length = check_limit(ctx, n)?;
                if name == ctx.config.api_root {
                    println!(
                        "note: /{name}/ is `api_root` in the configuration, so the server sets its limit to limits.max_content_length at start"
                    );
                }
            }
            if default {
                root.is_default = true;
            }
            ex.ensure_api_root(root.clone())?;
            audit(ex, "api-root-update", name.clone());
            println!(
                "updated API root /{name}/ ({}{}, max_content_length {})",
                root.title,
                if root.is_default { ", default" } else { "" },
                root.max_content_length
            );
        }
        ApiRootCmd::Remove { name, yes } => {
            let root = find(ex, &name)?;
            let held = ex
                .store()
                .collections()?
                .into_iter()
                .filter(|c| c.api_root == name)
                .count();
            if held > 0 {
                anyhow::bail!(
                    "API root '{name}' holds {held} collection(s); delete them first (`breakwater collections list` shows them)"
                );
            }
            if name == ctx.config.api_root {
                anyhow::bail!(
                    "API root '{name}' is `api_root` in the configuration; set another there first"
                );
            }
            if root.is_default {
                anyhow::bail!(
                    "API root '{name}' is the default; make another one the default first (`breakwater api-roots update NAME --default`)"
                );
            }
            if !yes {
                anyhow::bail!(
                    "removing API root '{name}' breaks members' tools that still use /{name}/; repeat with --yes to confirm"
                );
            }
            ex.store().delete_api_root(&name)?;
            audit(ex, "api-root-remove", name.clone());
            println!("removed API root /{name}/");
        }
    }
    Ok(true)
}
