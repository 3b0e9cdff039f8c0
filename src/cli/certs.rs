use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::{Ctx, print_json, table};
use crate::setup;

#[derive(Subcommand, Debug)]
pub enum CertCmd {
    /// Issue a client certificate from the community CA: writes NAME.pem, NAME-key.pem and NAME.p12.
    Issue {
        #[arg(long)]
        member: String,
        /// Directory to write the files into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        #[arg(long)]
        json: bool,
    },
    /// Sign a member's certificate signing request (the member keeps its key): writes NAME.pem.
    Sign {
        #[arg(long)]
        member: String,
        /// The PEM certificate signing request.
        #[arg(long)]
        csr: PathBuf,
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// List certificates.
    List {
        #[arg(long)]
        member: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a certificate (takes effect on the next request, open connections included).
    Revoke {
        /// SHA-256 fingerprint in hex (colons allowed).
        #[arg(long)]
        fingerprint: String,
    },
    /// Print a CRL of revoked certificates, signed by the community CA (PEM).
    Crl {
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Days until the CRL's next update.
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
}

pub fn run(ctx: &Ctx, cmd: CertCmd) -> anyhow::Result<bool> {
    let ex = &ctx.exchange;
    match cmd {
        CertCmd::Issue {
            member,
            out,
            days,
            json,
        } => {
            let ca = setup::load_ca(&ctx.config)?;
            let (info, paths) = setup::issue_member_certificate(ex, &ca, &member, &out, days)?;
            if json {
                print_json(&serde_json::json!({
                    "member": member,
                    "fingerprint": info.fingerprint,
                    "not_after": info.not_after,
                    "certificate": paths[0],
                    "key": paths[1],
                    "pkcs12": paths[2],
                    "pkcs12_password": setup::DEFAULT_P12_PASSWORD,
                }))?;
            } else {
                println!(
                    "issued {} for {member}, valid until {}",
                    info.fingerprint, info.not_after
                );
                for p in &paths {
                    println!("wrote {}", p.display());
                }
                println!("the PKCS#12 password is '{}'", setup::DEFAULT_P12_PASSWORD);
            }
        }
        CertCmd::Sign {
            member,
            csr,
            out,
            days,
        } => {
            ex.member(&member)?;
            let csr_pem = std::fs::read_to_string(&csr)
                .with_context(|| format!("cannot read the signing request {}", csr.display()))?;
            let ca = setup::load_ca(&ctx.config)?;
            let issued = ca.sign_request(&csr_pem, &member, days)?;
            let path = out.join(format!("{member}.pem"));
            if path.exists() {
                anyhow::bail!(
                    "{} already exists; choose another --out directory",
                    path.display()
                );
            }
            std::fs::write(&path, &issued.cert_pem)
                .with_context(|| format!("cannot write {}", path.display()))?;
            ex.register_certificate(&member, &issued.info)?;
            println!(
                "signed {} for {member}, valid until {}; wrote {}",
                issued.info.fingerprint,
                issued.info.not_after,
                path.display()
            );
        }
        CertCmd::List { member, json } => {
            let certs: Vec<_> = ex
                .store()
                .certificates()?
                .into_iter()
                .filter(|c| member.as_ref().is_none_or(|m| *m == c.member))
                .collect();
            if json {
                let rows: Vec<_> = certs
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "member": c.member,
                            "fingerprint": c.fingerprint,
                            "serial": c.serial,
                            "not_before": c.not_before,
                            "not_after": c.not_after,
                            "revoked": c.revoked_at.is_some(),
                            "revoked_at": c.revoked_at,
                        })
                    })
                    .collect();
                print_json(&rows)?;
            } else {
                table(
                    &["MEMBER", "FINGERPRINT", "NOT AFTER", "STATE"],
                    certs.iter().map(|c| {
                        vec![
                            c.member.clone(),
                            c.fingerprint.clone(),
                            c.not_after.to_string(),
                            if c.revoked_at.is_some() {
                                "revoked".into()
                            } else {
                                "valid".into()
                            },
                        ]
                    }),
                );
            }
        }
        CertCmd::Revoke { fingerprint } => {
            let c = ex.revoke_certificate(&fingerprint)?;
            println!(
                "revoked {} of {}; its next request is refused",
                c.fingerprint, c.member
            );
        }
        CertCmd::Crl { out, days } => {
            let ca = setup::load_ca(&ctx.config)?;
            let revoked: Vec<_> = ex
                .store()
                .certificates()?
                .into_iter()
                .filter_map(|c| {
                    c.revoked_at.map(|at| crate::certs::RevokedSerial {
                        serial_hex: c.serial.clone(),
                        revoked_at: at.to_datetime(),
                    })
                })
                .collect();
            let now = chrono::Utc::now();
            let pem = ca.crl_pem(
                &revoked,
                now,
                now + chrono::Duration::days(days.into()),
                now.timestamp() as u64,
            )?;
            match out {
                Some(path) => {
                    std::fs::write(&path, pem)?;
                    println!("wrote {} ({} revoked)", path.display(), revoked.len());
                }
                None => print!("{pem}"),
            }
        }
    }
    Ok(true)
}
