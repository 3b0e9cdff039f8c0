use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::{Ctx, guide, handover, print_json, table};
use crate::certs::expiry::{self, CertKind, Expiry};
use crate::setup;

#[derive(Subcommand, Debug)]
pub enum CertCmd {
    /// Issue a client certificate from the community CA: writes NAME.pem, NAME-key.pem, NAME.p12, ca.pem and CONNECT.txt.
    Issue {
        #[arg(long)]
        member: String,
        /// Directory to write the files into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// The server's URL as members reach it, for CONNECT.txt
        /// [default: https://NAME:PORT from the server certificate and `listen`].
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Sign a member's certificate signing request (the member keeps its key): writes NAME.pem, ca.pem and CONNECT.txt.
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
        /// The server's URL as members reach it, for CONNECT.txt.
        #[arg(long)]
        url: Option<String>,
    },
    /// Reissue the server certificate from the community CA for these names (plus its current ones unless --replace); a running server picks it up on SIGHUP.
    Server {
        /// A DNS name or IP address clients use to reach the server (repeatable).
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// Cover only the --host names given, dropping the current ones.
        #[arg(long, requires = "hosts")]
        replace: bool,
        /// Validity in days.
        #[arg(long, default_value_t = setup::SERVER_CERT_DAYS)]
        days: u32,
        #[arg(long)]
        json: bool,
    },
    /// List member certificates; with --expiring, every certificate (server, CA, members) that expires within DAYS days.
    List {
        #[arg(long)]
        member: Option<String>,
        /// Only certificates expiring within this many days (server and CA included).
        #[arg(long, value_name = "DAYS")]
        expiring: Option<u32>,
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
            url,
            json,
        } => {
            let m = guide::member(ex, &member)?;
            let ca = setup::load_ca(&ctx.config)?;
            handover::check_free(&out, ca.cert_pem())?;
            let (info, paths) = setup::issue_member_certificate(ex, &ca, &member, &out, days)?;
            let url = handover::server_url(&ctx.config, url.as_deref());
            let [ca_path, connect] =
                handover::write(ex, &ctx.config, ca.cert_pem(), &m, &out, &url, None)?;
            if json {
                print_json(&serde_json::json!({
                    "member": member,
                    "fingerprint": info.fingerprint,
                    "not_after": info.not_after,
                    "certificate": paths[0],
                    "key": paths[1],
                    "pkcs12": paths[2],
                    "pkcs12_password": setup::DEFAULT_P12_PASSWORD,
                    "ca": ca_path,
                    "connect": connect,
                    "url": url,
                }))?;
            } else {
                println!(
                    "issued {} for {member}, valid until {}",
                    info.fingerprint, info.not_after
                );
                for p in paths.iter().chain([&ca_path, &connect]) {
                    println!("wrote {}", p.display());
                }
                println!("the PKCS#12 password is '{}'", setup::DEFAULT_P12_PASSWORD);
                println!(
                    "hand the directory {} over to {member}; CONNECT.txt says how to connect to {url}",
                    out.display()
                );
            }
        }
        CertCmd::Sign {
            member,
            csr,
            out,
            days,
            url,
        } => {
            let m = guide::member(ex, &member)?;
            let csr_pem = super::read_text(&csr, "the signing request")?;
            let ca = setup::load_ca(&ctx.config)?;
            handover::check_free(&out, ca.cert_pem())?;
            let issued = ca.sign_request(&csr_pem, &member, days)?;
            let path = out.join(format!("{member}.pem"));
            if path.exists() {
                anyhow::bail!(
                    "{} already exists; choose another --out directory",
                    path.display()
                );
            }
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            std::fs::write(&path, &issued.cert_pem)
                .with_context(|| format!("cannot write {}", path.display()))?;
            ex.register_certificate(&member, &issued.info)?;
            let url = handover::server_url(&ctx.config, url.as_deref());
            let key_name = format!("{member}-key.pem");
            let [ca_path, connect] = handover::write(
                ex,
                &ctx.config,
                ca.cert_pem(),
                &m,
                &out,
                &url,
                Some(&key_name),
            )?;
            println!(
                "signed {} for {member}, valid until {}; wrote {}, {} and {}",
                issued.info.fingerprint,
                issued.info.not_after,
                path.display(),
                ca_path.display(),
                connect.display()
            );
        }
        CertCmd::Server {
            hosts,
            replace,
            days,
            json,
        } => return server(ctx, &hosts, replace, days, json),
        CertCmd::List {
            member,
            expiring: Some(days),
            json,
        } => return list_expiring(ctx, member.as_deref(), days, json),
        CertCmd::List {
            member,
            expiring: None,
            json,
        } => {
            if let Some(m) = &member {
                guide::member(ex, m)?;
            }
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

/// `certs server`: a new server certificate from the community CA.
fn server(
    ctx: &Ctx,
    hosts: &[String],
    replace: bool,
    days: u32,
    json: bool,
) -> anyhow::Result<bool> {
    let config = &ctx.config;
    let cert_path = config.resolve(&config.tls.certificate);
    let key_path = config.resolve(&config.tls.key);
    let ca = setup::load_ca(config)?;
    let current = match std::fs::read_to_string(&cert_path) {
        Ok(pem) => Some(pem),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => anyhow::bail!(
            "cannot read the server certificate {}: {}",
            cert_path.display(),
            crate::config::io_reason(&e)
        ),
    };
    let current_names = match &current {
        Some(pem) => crate::certs::server_names(pem)?,
        None => Vec::new(),
    };
    if let Some(pem) = &current
        && !replace
        && !crate::certs::issued_by(pem, ca.cert_pem()).unwrap_or(false)
    {
        anyhow::bail!(
            "{} was not issued by the community CA (it comes from another PKI); renew it there, or pass --replace with every --host to replace it with one from the community CA",
            cert_path.display()
        );
    }
    let mut names: Vec<String> = if replace {
        Vec::new()
    } else {
        current_names.clone()
    };
    for h in hosts {
        let h = crate::certs::normalise_host(h);
        if !names.contains(&h) {
            names.push(h);
        }
    }
    if names.is_empty() {
        anyhow::bail!("say which names the certificate is for: --host NAME (repeatable)");
    }
    let issued = ca.issue_server(&names, days)?;
    write_private(&key_path, issued.key_pem.as_bytes())?;
    write_replacing(&cert_path, issued.cert_pem.as_bytes())?;
    let added: Vec<&String> = names
        .iter()
        .filter(|n| !current_names.contains(n))
        .collect();
    let removed: Vec<&String> = current_names
        .iter()
        .filter(|n| !names.contains(n))
        .collect();
    if json {
        print_json(&serde_json::json!({
            "certificate": cert_path,
            "key": key_path,
            "names": names,
            "added": added,
            "removed": removed,
            "fingerprint": issued.info.fingerprint,
            "not_after": issued.info.not_after,
        }))?;
    } else {
        let list = |v: &[&String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            }
        };
        println!(
            "wrote a new server certificate {} for {}, valid until {}",
            cert_path.display(),
            names.join(", "),
            issued.info.not_after.format("%Y-%m-%d")
        );
        println!("added: {}; removed: {}", list(&added), list(&removed));
        println!(
            "a running server uses it for new connections after SIGHUP (`systemctl reload breakwater` or `kill -HUP PID`), without dropping open ones; otherwise at its next start"
        );
    }
    Ok(true)
}

/// Writes a file through a temporary file and a rename, so a reader (a
/// reload) never sees half of it.
fn write_replacing(path: &std::path::Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Like [`write_replacing`], readable by the owner only.
fn write_private(path: &std::path::Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// `certs list --expiring DAYS`: server, CA and member certificates.
fn list_expiring(ctx: &Ctx, member: Option<&str>, days: u32, json: bool) -> anyhow::Result<bool> {
    let config = &ctx.config;
    let ex = &ctx.exchange;
    if let Some(m) = member {
        guide::member(ex, m)?;
    }
    let mut all: Vec<Expiry> = Vec::new();
    if member.is_none() {
        let file = |path: std::path::PathBuf| std::fs::read_to_string(path).ok();
        if let Some(pem) = file(config.resolve(&config.tls.certificate))
            && let Ok(info) = crate::certs::inspect_pem(&pem)
        {
            all.push(Expiry {
                kind: CertKind::Server,
                name: crate::certs::server_names(&pem)
                    .ok()
                    .and_then(|n| crate::certs::primary_name(&n).map(str::to_string))
                    .unwrap_or_default(),
                fingerprint: info.fingerprint,
                not_after: info.not_after,
            });
        }
        if let Some(pem) = file(config.resolve(&config.tls.client_ca))
            && let Ok(info) = crate::certs::inspect_pem(&pem)
        {
            all.push(Expiry {
                kind: CertKind::Ca,
                name: info.subject_cn.unwrap_or_default(),
                fingerprint: info.fingerprint,
                not_after: info.not_after,
            });
        }
    }
    all.extend(
        ex.store()
            .certificates()?
            .into_iter()
            .filter(|c| c.revoked_at.is_none() && member.is_none_or(|m| m == c.member))
            .map(|c| Expiry {
                kind: CertKind::Member,
                name: c.member,
                fingerprint: c.fingerprint,
                not_after: c.not_after.to_datetime(),
            }),
    );
    let now = chrono::Utc::now();
    let soon = expiry::expiring(&all, now, days.into());
    if json {
        let rows: Vec<_> = soon
            .iter()
            .map(|e| {
                serde_json::json!({
                    "kind": e.kind,
                    "name": e.name,
                    "fingerprint": e.fingerprint,
                    "not_after": e.not_after,
                    "seconds_left": e.seconds_left(now),
                })
            })
            .collect();
        print_json(&rows)?;
    } else if soon.is_empty() {
        println!("no certificate expires within {days} days");
    } else {
        table(
            &["KIND", "NAME", "FINGERPRINT", "NOT AFTER", "DAYS LEFT"],
            soon.iter().map(|e| {
                vec![
                    e.kind.as_str().to_string(),
                    e.name.clone(),
                    e.fingerprint.clone(),
                    e.not_after.format("%Y-%m-%d %H:%M").to_string(),
                    e.seconds_left(now).div_euclid(86_400).to_string(),
                ]
            }),
        );
    }
    Ok(true)
}
