//! `import` and `export`: STIX bundles in and out of a collection, through
//! the same validation and storage path as a TAXII POST.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::value::RawValue;

use super::Ctx;
use crate::auth::policy::{self, Rights};
use crate::exchange::ingest::{Admission, IngestRequest};
use crate::model::Timestamp;
use crate::setup::OPERATOR;
use crate::store::{Cursor, ObjectFilter, VersionFilter};

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Collection id or alias.
    #[arg(long)]
    collection: String,
    /// STIX bundles or TAXII envelopes; directories are searched for *.json.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Objects per stored batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Collection id or alias.
    #[arg(long)]
    collection: String,
    /// Only objects added after this RFC 3339 timestamp.
    #[arg(long, value_parser = |s: &str| Timestamp::parse(s).map_err(|e| e.to_string()))]
    added_after: Option<Timestamp>,
    /// Only these STIX types (repeatable).
    #[arg(long = "type")]
    types: Vec<String>,
    /// Every stored version, not only the latest of each object.
    #[arg(long)]
    all_versions: bool,
    /// Write the bundle here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn json_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        if p.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(p)
                .with_context(|| format!("cannot read the directory {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries {
                if e.is_dir() || e.extension().is_some_and(|x| x == "json") {
                    walk(&e, out)?;
                }
            }
        } else if p.exists() {
            out.push(p.to_path_buf());
        } else {
            anyhow::bail!("{} does not exist", p.display());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
struct Bundle<'a> {
    #[serde(borrow, default)]
    objects: Vec<&'a RawValue>,
}

#[derive(serde::Serialize, Default)]
struct Summary {
    files: usize,
    accepted: usize,
    refused: usize,
    failures: Vec<serde_json::Value>,
}

pub fn import(ctx: &Ctx, args: ImportArgs) -> anyhow::Result<bool> {
    let ex = &ctx.exchange;
    let collection = super::guide::collection(ex, &args.collection)?;
    let operator = ex.member(OPERATOR)?;
    let access = policy::write_access(
        &operator,
        &collection,
        Rights {
            read: true,
            write: true,
        },
    )
    .map_err(|_| anyhow::anyhow!("the operator may not write to this collection"))?;
    let files = json_files(&args.paths)?;
    let batch = args
        .batch
        .clamp(1, ex.settings().background_threshold.max(1));
    let mut texts = Vec::new();
    for f in &files {
        texts.push((
            f,
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        ));
    }
    let mut bundles = Vec::new();
    let mut total = 0;
    for (f, text) in &texts {
        let b: Bundle<'_> = serde_json::from_str(text)
            .with_context(|| format!("{} is not a STIX bundle or TAXII envelope", f.display()))?;
        total += b.objects.len();
        bundles.push(b);
    }
    let progress = if std::io::stderr().is_terminal() && !args.json {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} objects {per_sec} {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let mut summary = Summary {
        files: files.len(),
        ..Default::default()
    };
    let admission = Admission::default();
    for b in &bundles {
        for chunk in b.objects.chunks(batch) {
            let mut body = String::from("{\"objects\":[");
            for (i, raw) in chunk.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(raw.get());
            }
            body.push_str("]}");
            let status = ex.ingest(IngestRequest {
                access: &access,
                admission: &admission,
                fingerprint: None,
                api_root: &collection.api_root,
                body: body.into_bytes(),
                request_timestamp: Timestamp::now(),
            })?;
            summary.accepted += status.details.successes.len() + status.details.pendings.len();
            summary.refused += status.details.failures.len();
            for f in &status.details.failures {
                summary.failures.push(
                    serde_json::json!({"id": f.id, "version": f.version, "message": f.message}),
                );
            }
            if let Some(bar) = &progress {
                bar.inc(chunk.len() as u64);
            }
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if args.json {
        super::print_json(&summary)?;
    } else {
        println!(
            "imported {} objects from {} files into {} ({}); {} refused",
            summary.accepted, summary.files, collection.title, collection.id, summary.refused
        );
        for f in &summary.failures {
            println!(
                "refused {}: {}",
                f["id"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            );
        }
    }
    Ok(summary.refused == 0)
}

/// Streams the collection page by page into one bundle, so a large
/// collection never has to fit in memory.
pub fn export(ctx: &Ctx, args: ExportArgs) -> anyhow::Result<bool> {
    let ex = &ctx.exchange;
    let collection = super::guide::collection(ex, &args.collection)?;
    let filter = ObjectFilter {
        added_after: args.added_after,
        types: args.types,
        versions: if args.all_versions {
            VersionFilter::All
        } else {
            VersionFilter::default()
        },
        ..Default::default()
    };
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    write!(
        out,
        "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[",
        uuid::Uuid::new_v4()
    )?;
    let mut after: Option<Cursor> = None;
    let mut n = 0usize;
    loop {
        let page = ex
            .store()
            .list_objects(collection.id, &filter, after, 1000, true)?;
        for o in &page.items {
            if n > 0 {
                out.write_all(b",")?;
            }
            out.write_all(b"\n")?;
            out.write_all(o.body.as_bytes())?;
            n += 1;
        }
        if !page.more {
            break;
        }
        after = page.last_key;
    }
    out.write_all(b"\n]}\n")?;
    out.flush()?;
    if let Some(path) = &args.out {
        eprintln!("exported {n} objects to {}", path.display());
    }
    Ok(true)
}
