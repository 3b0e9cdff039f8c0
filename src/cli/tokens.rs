use clap::Subcommand;

use super::{Ctx, guide, print_json, table};
use crate::model::Timestamp;

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Issue an API token for tools that cannot present a certificate (shown once).
    Issue {
        #[arg(long)]
        member: String,
        /// Expiry as an RFC 3339 timestamp.
        #[arg(long, value_parser = parse_timestamp)]
        expires: Option<Timestamp>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id.
    Revoke { id: String },
}

fn parse_timestamp(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s).map_err(|e| e.to_string())
}

pub fn run(ctx: &Ctx, cmd: TokenCmd) -> anyhow::Result<bool> {
    let ex = &ctx.exchange;
    match cmd {
        TokenCmd::Issue {
            member,
            expires,
            json,
        } => {
            guide::member(ex, &member)?;
            let (record, secret) = ex.issue_token(&member, expires)?;
            if json {
                print_json(
                    &serde_json::json!({"id": record.id, "member": member, "token": secret, "expires": record.expires}),
                )?;
            } else {
                println!("token {} for {member}: {secret}", record.id);
                println!(
                    "it is shown only now; use it as the Basic password (any user name) or as a Bearer token"
                );
                if !ctx.config.auth.tokens {
                    println!(
                        "note: tokens are disabled; set [auth] tokens = true in the configuration to accept them"
                    );
                }
            }
        }
        TokenCmd::List { json } => {
            let tokens = ex.store().tokens()?;
            let rows: Vec<_> = tokens
                .iter()
                .map(|t| {
                    serde_json::json!({"id": t.id, "member": t.member, "created": t.created, "expires": t.expires, "revoked": t.revoked_at.is_some()})
                })
                .collect();
            if json {
                print_json(&rows)?;
            } else {
                table(
                    &["ID", "MEMBER", "EXPIRES", "STATE"],
                    tokens.iter().map(|t| {
                        vec![
                            t.id.clone(),
                            t.member.clone(),
                            t.expires
                                .map(|e| e.to_string())
                                .unwrap_or_else(|| "never".into()),
                            if t.revoked_at.is_some() {
                                "revoked".into()
                            } else {
                                "active".into()
                            },
                        ]
                    }),
                );
            }
        }
        TokenCmd::Revoke { id } => {
            ex.revoke_token(&id)?;
            println!("revoked token {id}");
        }
    }
    Ok(true)
}
