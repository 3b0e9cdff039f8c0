//! What a member receives with its certificate: the community CA as
//! `ca.pem` and a `CONNECT.txt` with the server URL, the collections it may
//! read and write, and lines that work as written from inside that directory.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::auth::policy;
use crate::config::Config;
use crate::exchange::Exchange;
use crate::setup::DEFAULT_P12_PASSWORD;
use crate::store::Member;

pub const CA_FILE: &str = "ca.pem";
pub const CONNECT_FILE: &str = "CONNECT.txt";

/// The base URL members use: `--url` if given, else the configured
/// `public_url`, else the first name in the server certificate that is not a
/// loopback name, with the listening port.
pub fn server_url(config: &Config, given: Option<&str>) -> String {
    if let Some(url) = given.or(config.public_url.as_deref()) {
        return url.trim_end_matches('/').to_string();
    }
    let names = std::fs::read_to_string(config.resolve(&config.tls.certificate))
        .ok()
        .and_then(|pem| crate::certs::server_names(&pem).ok())
        .unwrap_or_default();
    let host = names
        .iter()
        .find(|n| !crate::setup::DEFAULT_SERVER_HOSTS.contains(&n.as_str()) && !n.starts_with("*."))
        .cloned()
        .unwrap_or_else(|| "localhost".into());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    match config.listen.port() {
        443 => format!("https://{host}"),
        port => format!("https://{host}:{port}"),
    }
}

/// One collection a member may use.
struct Usable {
    id: String,
    alias: Option<String>,
    api_root: String,
    title: String,
    read: bool,
    write: bool,
}

fn usable_collections(ex: &Exchange, member: &Member) -> anyhow::Result<Vec<Usable>> {
    let grants = ex.store().grants()?;
    Ok(ex
        .store()
        .collections()?
        .into_iter()
        .filter_map(|c| {
            let rights = policy::rights(member, &c, &grants);
            (rights.read || rights.write).then(|| Usable {
                id: c.id.to_string(),
                alias: c.alias.clone(),
                api_root: c.api_root.clone(),
                title: c.title.clone(),
                read: rights.read,
                write: rights.write,
            })
        })
        .collect())
}

/// The files a handover directory will hold besides the member's own.
pub fn handover_paths(out: &Path) -> [PathBuf; 2] {
    [out.join(CA_FILE), out.join(CONNECT_FILE)]
}

/// Refuses before anything is issued if the files would clobber others:
/// an existing `ca.pem` must be the same CA, an existing `CONNECT.txt` is
/// never overwritten.
pub fn check_free(out: &Path, ca_pem: &str) -> anyhow::Result<()> {
    let [ca, connect] = handover_paths(out);
    if let Ok(existing) = std::fs::read_to_string(&ca)
        && existing != ca_pem
    {
        anyhow::bail!(
            "{} already exists and holds another CA; choose another --out directory",
            ca.display()
        );
    }
    if connect.exists() {
        anyhow::bail!(
            "{} already exists; give each member its own --out directory, or move the old files away",
            connect.display()
        );
    }
    Ok(())
}

/// Writes `ca.pem` and `CONNECT.txt` into `out`; returns their paths.
pub fn write(
    ex: &Exchange,
    config: &Config,
    ca_pem: &str,
    member: &Member,
    out: &Path,
    url: &str,
    key_file: Option<&str>,
) -> anyhow::Result<[PathBuf; 2]> {
    let [ca, connect] = handover_paths(out);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(&ca, ca_pem).with_context(|| format!("cannot write {}", ca.display()))?;
    let text = connect_text(ex, config, member, url, key_file)?;
    std::fs::write(&connect, text)
        .with_context(|| format!("cannot write {}", connect.display()))?;
    Ok([ca, connect])
}

fn connect_text(
    ex: &Exchange,
    config: &Config,
    member: &Member,
    url: &str,
    key_file: Option<&str>,
) -> anyhow::Result<String> {
    let name = &member.name;
    let cert = format!("{name}.pem");
    let key = key_file
        .map(str::to_string)
        .unwrap_or_else(|| format!("{name}-key.pem"));
    let collections = usable_collections(ex, member)?;
    let api_root = collections
        .first()
        .map(|c| c.api_root.clone())
        .unwrap_or_else(|| config.api_root.clone());
    let mut t = String::new();
    let title = format!("Breakwater: how {name} connects");
    let _ = writeln!(t, "{title}\n{}\n", "=".repeat(title.chars().count()));
    let _ = writeln!(t, "Server (TAXII discovery):  {url}/taxii2/");
    let _ = writeln!(t, "API root:                  {url}/{api_root}/");
    let _ = writeln!(t, "Clearance:                 {}", member.clearance.label());
    let _ = writeln!(t);
    if collections.is_empty() {
        let _ = writeln!(
            t,
            "No collection is granted to {name} yet. Once the operator grants some,\n{url}/{api_root}/collections/ lists them (the curl line below).\n"
        );
    } else {
        let _ = writeln!(
            t,
            "Collections {name} may use. Python clients (taxii2-client, stix2) need\nthe id in the URL; curl also accepts the alias.\n"
        );
        let rows: Vec<[String; 4]> = collections
            .iter()
            .map(|c| {
                let access = match (c.read, c.write) {
                    (true, true) => "read, write",
                    (true, false) => "read",
                    _ => "write",
                };
                [
                    c.id.clone(),
                    c.alias.clone().unwrap_or_else(|| "-".into()),
                    access.to_string(),
                    c.title.clone(),
                ]
            })
            .collect();
        let headers = ["id", "alias", "access", "title"];
        let mut widths = headers.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut line = |cells: [&str; 4]| {
            let parts: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(t, "  {}", parts.join("  ").trim_end());
        };
        line(headers);
        for row in &rows {
            line([&row[0], &row[1], &row[2], &row[3]]);
        }
        let _ = writeln!(t);
    }
    let _ = writeln!(t, "Files (run the lines below from this directory):");
    let _ = writeln!(
        t,
        "  {CA_FILE:<24} the community CA: your tools trust the server with it"
    );
    let _ = writeln!(t, "  {cert:<24} your client certificate");
    if key_file.is_some() {
        let _ = writeln!(t, "  {key:<24} your own private key (it never left you)");
    } else {
        let _ = writeln!(t, "  {key:<24} its private key: keep it secret");
        let _ = writeln!(
            t,
            "  {:<24} both as PKCS#12, password '{DEFAULT_P12_PASSWORD}'",
            format!("{name}.p12")
        );
    }
    let _ = writeln!(t);
    let curl = format!(
        "curl --cacert {CA_FILE} --cert {cert} --key {key} -H 'Accept: application/taxii+json;version=2.1'"
    );
    let _ = writeln!(
        t,
        "List your collections:\n  {curl} \\\n    {url}/{api_root}/collections/\n"
    );
    let readable = collections.iter().find(|c| c.read);
    let writable = collections.iter().find(|c| c.write);
    if let Some(c) = readable {
        let _ = writeln!(
            t,
            "Poll {} (add ?added_after=<X-TAXII-Date-Added-Last> to get only what is new):\n  {curl} \\\n    {url}/{}/collections/{}/objects/\n",
            c.alias.as_deref().unwrap_or(&c.id),
            c.api_root,
            c.alias.as_deref().unwrap_or(&c.id)
        );
    }
    if let Some(c) = writable {
        let _ = writeln!(
            t,
            "Push a STIX envelope ({{\"objects\": [...]}}) saved as envelope.json:\n  {curl} \\\n    -H 'Content-Type: application/taxii+json;version=2.1' --data @envelope.json \\\n    {url}/{}/collections/{}/objects/\n",
            c.api_root,
            c.alias.as_deref().unwrap_or(&c.id)
        );
    }
    let example = readable.or(writable);
    let collection_url = match example {
        Some(c) => format!("{url}/{}/collections/{}/", c.api_root, c.id),
        None => format!("{url}/{api_root}/collections/<id>/"),
    };
    let _ = writeln!(t, "Python (pip install taxii2-client):");
    let _ = writeln!(t, "  from taxii2client.common import _HTTPConnection");
    let _ = writeln!(t, "  from taxii2client.v21 import Collection, as_pages");
    let _ = writeln!(
        t,
        "  conn = _HTTPConnection(verify=\"{CA_FILE}\", cert=(\"{cert}\", \"{key}\"), version=\"2.1\")"
    );
    let _ = writeln!(
        t,
        "  collection = Collection(\"{collection_url}\", conn=conn)"
    );
    if example.is_none_or(|c| c.read) {
        let _ = writeln!(
            t,
            "  for envelope in as_pages(collection.get_objects, per_request=500):"
        );
        let _ = writeln!(t, "      for obj in envelope.get(\"objects\", []):");
        let _ = writeln!(t, "          print(obj[\"id\"])");
    } else {
        let _ = writeln!(
            t,
            "  collection.add_objects(open(\"envelope.json\").read())"
        );
    }
    let _ = writeln!(
        t,
        "\nIf REQUESTS_CA_BUNDLE is set in your environment, requests uses it instead of\nverify=; unset it or add {CA_FILE} to that bundle."
    );
    Ok(t)
}
