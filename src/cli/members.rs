use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::{Ctx, guide, print_json, table};
use crate::model::Tier;
use crate::store::{MemberUpdate, NewMember};

#[derive(Subcommand, Debug)]
pub enum MemberCmd {
    /// List members.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a member organisation.
    Add {
        /// Lower-case letters, digits, '.', '_' and '-' (it appears in file names and URLs).
        name: String,
        /// e.g. shipping-line, terminal-operator, rail, trucking, port-authority.
        #[arg(long)]
        sector: String,
        /// Highest tier the member may ever read.
        #[arg(long, value_enum, default_value_t = Tier::Green)]
        clearance: Tier,
        #[arg(long)]
        contact: Option<String>,
        /// STIX identity id the member publishes under.
        #[arg(long)]
        identity: Option<String>,
        /// Register a certificate the member already holds (PEM, issued by the community CA).
        #[arg(long)]
        cert: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Show one member with its certificates and grants.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a member's sector, clearance, contact or identity.
    Update {
        name: String,
        #[arg(long)]
        sector: Option<String>,
        #[arg(long, value_enum)]
        clearance: Option<Tier>,
        #[arg(long)]
        contact: Option<String>,
        #[arg(long)]
        identity: Option<String>,
    },
    /// Refuse every request of a member until resumed (takes effect on the next request).
    Suspend { name: String },
    /// Lift a suspension.
    Resume { name: String },
    /// Remove a member with its certificates, tokens and grants (its audit history stays).
    Remove {
        name: String,
        #[arg(long)]
        yes: bool,
    },
}

pub fn run(ctx: &Ctx, cmd: MemberCmd) -> anyhow::Result<bool> {
    let ex = &ctx.exchange;
    match cmd {
        MemberCmd::List { json } => {
            let members = ex.store().members()?;
            if json {
                print_json(&members)?;
            } else {
                table(
                    &["NAME", "SECTOR", "CLEARANCE", "STATE"],
                    members.iter().map(|m| {
                        vec![
                            m.name.clone(),
                            m.sector.clone(),
                            m.clearance.to_string(),
                            if m.suspended {
                                "suspended".into()
                            } else {
                                "active".into()
                            },
                        ]
                    }),
                );
            }
        }
        MemberCmd::Add {
            name,
            sector,
            clearance,
            contact,
            identity,
            cert,
            json,
        } => {
            guide::check_name("a member name", &name, "evergreen-line")?;
            // Read the certificate first: a bad --cert must not leave a
            // half-added member behind that blocks running the command again.
            let info = match &cert {
                Some(path) => {
                    let pem = std::fs::read_to_string(path).with_context(|| {
                        format!("cannot read the certificate {}", path.display())
                    })?;
                    let ca = crate::setup::load_ca(&ctx.config)?;
                    // The handshake's own checks, so a certificate that could
                    // never connect is refused now, with the reason.
                    let info = crate::certs::check_member_certificate(
                        &pem,
                        ca.cert_pem(),
                        chrono::Utc::now(),
                    )
                    .with_context(|| format!("{} cannot be registered", path.display()))?;
                    Some(info)
                }
                None => None,
            };
            let m = ex.add_member(NewMember {
                name: name.clone(),
                sector,
                contact,
                identity_ref: identity,
                clearance,
                is_operator: false,
            })?;
            let registered = match info {
                Some(info) => match ex.register_certificate(&name, &info) {
                    Ok(record) => Some(record),
                    Err(e) => {
                        // e.g. the certificate is already registered to another member.
                        ex.remove_member(&name)?;
                        return Err(e.into());
                    }
                },
                None => None,
            };
            if json {
                print_json(&serde_json::json!({ "member": m, "certificate": registered }))?;
            } else {
                println!(
                    "added member {} ({}, clearance {})",
                    m.name,
                    m.sector,
                    m.clearance.label()
                );
                if let Some(c) = registered {
                    println!("registered certificate {}", c.fingerprint);
                } else {
                    println!("next: breakwater certs issue --member {} --out DIR", m.name);
                }
            }
        }
        MemberCmd::Show { name, json } => {
            let m = guide::member(ex, &name)?;
            let certs: Vec<_> = ex
                .store()
                .certificates()?
                .into_iter()
                .filter(|c| c.member == name)
                .collect();
            let grants: Vec<_> = ex
                .store()
                .grants()?
                .into_iter()
                .filter(|g| g.grantee == crate::store::Grantee::Member(name.clone()))
                .collect();
            if json {
                print_json(
                    &serde_json::json!({ "member": m, "certificates": certs, "grants": grants }),
                )?;
            } else {
                println!("name:      {}", m.name);
                println!("sector:    {}", m.sector);
                println!("clearance: {}", m.clearance.label());
                println!(
                    "state:     {}",
                    if m.suspended { "suspended" } else { "active" }
                );
                println!("contact:   {}", m.contact.as_deref().unwrap_or("-"));
                println!("identity:  {}", m.identity_ref.as_deref().unwrap_or("-"));
                for c in certs {
                    let state = if c.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "valid"
                    };
                    println!(
                        "cert:      {} until {} ({state})",
                        c.fingerprint, c.not_after
                    );
                }
                let collections = ex.store().collections()?;
                for g in grants {
                    let label = collections
                        .iter()
                        .find(|c| c.id == g.collection)
                        .map(|c| c.alias.clone().unwrap_or_else(|| c.title.clone()))
                        .unwrap_or_default();
                    println!(
                        "grant:     {} ({label}): {}",
                        g.collection,
                        super::grants::access_words(g.read, g.write)
                    );
                }
            }
        }
        MemberCmd::Update {
            name,
            sector,
            clearance,
            contact,
            identity,
        } => {
            guide::member(ex, &name)?;
            let m = ex.update_member(
                &name,
                MemberUpdate {
                    sector,
                    clearance,
                    contact: contact.map(Some),
                    identity_ref: identity.map(Some),
                    suspended: None,
                },
            )?;
            println!(
                "updated {} ({}, clearance {})",
                m.name,
                m.sector,
                m.clearance.label()
            );
        }
        MemberCmd::Suspend { name } => {
            guide::member(ex, &name)?;
            ex.update_member(
                &name,
                MemberUpdate {
                    suspended: Some(true),
                    ..Default::default()
                },
            )?;
            println!("suspended {name}; its next request is refused");
        }
        MemberCmd::Resume { name } => {
            guide::member(ex, &name)?;
            ex.update_member(
                &name,
                MemberUpdate {
                    suspended: Some(false),
                    ..Default::default()
                },
            )?;
            println!("resumed {name}");
        }
        MemberCmd::Remove { name, yes } => {
            guide::member(ex, &name)?;
            if !yes {
                anyhow::bail!(
                    "removing member '{name}' deletes its certificates, tokens and grants; repeat with --yes to confirm"
                );
            }
            ex.remove_member(&name)?;
            println!("removed {name} (its audit history is kept)");
        }
    }
    Ok(true)
}
