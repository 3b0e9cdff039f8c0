//! `breakwater validate <PATH>... [--json]`: validate STIX files offline.
//!
//! Each file may hold a STIX bundle, a TAXII envelope (`{"objects": [...]}`), a JSON
//! array of objects, or a single object. Directories are walked recursively for
//! `*.json` files, in sorted order; `-` reads standard input. Needs no
//! configuration and no database.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;

use crate::stix::Validator;

/// Validate STIX 2.1 content (bundles, TAXII envelopes or single objects).
#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Files or directories (searched recursively for *.json); `-` reads standard input.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print one JSON document instead of one line per object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize, Debug)]
struct FileReport {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    objects: Vec<ObjectReport>,
}

#[derive(Serialize, Debug)]
struct ObjectReport {
    id: Option<String>,
    #[serde(rename = "type")]
    object_type: Option<String>,
    valid: bool,
    errors: Vec<ErrorReport>,
}

#[derive(Serialize, Debug)]
struct ErrorReport {
    rule: &'static str,
    path: String,
    message: String,
}

/// Runs the command; `Ok(true)` when every object in every file is valid.
pub fn run(args: &ValidateArgs) -> anyhow::Result<bool> {
    let mut files = Vec::new();
    for path in &args.paths {
        collect(path, &mut files)?;
    }
    if files.is_empty() {
        bail!("no .json files found in the given paths");
    }
    let validator = Validator::new();
    let reports: Vec<FileReport> = files.iter().map(|f| check_file(&validator, f)).collect();
    let all_valid = reports
        .iter()
        .all(|r| r.error.is_none() && r.objects.iter().all(|o| o.valid));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for r in &reports {
            print_text(r);
        }
        println!("{}", summary(&reports));
    }
    Ok(all_valid)
}

/// The last line: how many files and objects, how many of them failed.
fn summary(reports: &[FileReport]) -> String {
    let files = reports.len();
    let unreadable = reports.iter().filter(|r| r.error.is_some()).count();
    let objects: usize = reports.iter().map(|r| r.objects.len()).sum();
    let invalid: usize = reports
        .iter()
        .map(|r| r.objects.iter().filter(|o| !o.valid).count())
        .sum();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut text = format!(
        "checked {}, {}: {} valid, {} invalid",
        plural(files, "file", "files"),
        plural(objects, "object", "objects"),
        objects - invalid,
        invalid
    );
    if unreadable > 0 {
        text.push_str(&format!(
            "; {} could not be read",
            plural(unreadable, "file", "files")
        ));
    }
    text
}

/// The name standard input goes by in reports.
const STDIN: &str = "-";

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.as_os_str() == STDIN {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let meta = fs::metadata(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {}: {}",
            path.display(),
            crate::config::io_reason(&e)
        )
    })?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .with_context(|| format!("cannot list directory {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() {
                collect(&entry, out)?;
            } else if entry.extension().is_some_and(|e| e == "json") {
                out.push(entry);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// The objects a document carries: bundle, TAXII envelope, array, or one object.
pub fn objects_of(doc: &Value) -> Result<Vec<&Value>, String> {
    match doc {
        Value::Array(items) => Ok(items.iter().collect()),
        Value::Object(map) => {
            let is_bundle = map.get("type").and_then(Value::as_str) == Some("bundle");
            if is_bundle || (!map.contains_key("type") && map.contains_key("objects")) {
                match map.get("objects") {
                    Some(Value::Array(items)) => Ok(items.iter().collect()),
                    None => Ok(Vec::new()),
                    Some(_) => Err("the \"objects\" property must be a list".to_owned()),
                }
            } else {
                Ok(vec![doc])
            }
        }
        _ => Err("the document is neither a STIX object, a bundle nor a TAXII envelope".to_owned()),
    }
}

fn check_file(validator: &Validator, file: &Path) -> FileReport {
    let from_stdin = file.as_os_str() == STDIN;
    let name = if from_stdin {
        "standard input".to_string()
    } else {
        file.display().to_string()
    };
    let failed = |error: String| FileReport {
        file: name.clone(),
        error: Some(error),
        objects: Vec::new(),
    };
    let read = if from_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map(|_| text)
    } else {
        fs::read_to_string(file)
    };
    let text = match read {
        Ok(t) => t,
        Err(e) => {
            return failed(format!("cannot be read: {}", crate::config::io_reason(&e)));
        }
    };
    let doc: Value = match serde_json::from_str(&text) {
        Ok(d) => d,
        Err(e) => return failed(format!("not valid JSON: {e}")),
    };
    let objects = match objects_of(&doc) {
        Ok(o) => o,
        Err(e) => return failed(e),
    };
    let objects = objects
        .into_iter()
        .map(|object| {
            let field = |k: &str| object.get(k).and_then(Value::as_str).map(str::to_owned);
            let errors = match validator.validate(object) {
                Ok(()) => Vec::new(),
                Err(v) => {
                    v.0.into_iter()
                        .map(|v| ErrorReport {
                            rule: v.rule,
                            path: v.path,
                            message: v.message,
                        })
                        .collect()
                }
            };
            ObjectReport {
                id: field("id"),
                object_type: field("type"),
                valid: errors.is_empty(),
                errors,
            }
        })
        .collect();
    FileReport {
        file: name,
        error: None,
        objects,
    }
}

/// The file's name and verdict, then one indented line per object.
fn print_text(report: &FileReport) {
    if let Some(e) = &report.error {
        println!("FAIL {}: {e}", report.file);
        return;
    }
    let invalid = report.objects.iter().filter(|o| !o.valid).count();
    let n = report.objects.len();
    println!(
        "{}: {n} object{}, {}",
        report.file,
        if n == 1 { "" } else { "s" },
        if invalid == 0 {
            "all valid".to_string()
        } else {
            format!("{invalid} invalid")
        }
    );
    let indent = "  ";
    for (i, o) in report.objects.iter().enumerate() {
        let label =
            o.id.clone()
                .unwrap_or_else(|| format!("{} object #{}", report.file, i + 1));
        if o.valid {
            println!("{indent}OK   {label}");
        } else {
            let reasons: Vec<String> = o
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect();
            println!("{indent}FAIL {label}: {}", reasons.join("; "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_yield_their_objects() {
        let bundle =
            json!({"type": "bundle", "id": "bundle--1", "objects": [{"type": "a"}, {"type": "b"}]});
        assert_eq!(objects_of(&bundle).unwrap().len(), 2);
        let envelope = json!({"more": false, "objects": [{"type": "a"}]});
        assert_eq!(objects_of(&envelope).unwrap().len(), 1);
        let single = json!({"type": "indicator"});
        assert_eq!(objects_of(&single).unwrap(), vec![&single]);
        assert!(objects_of(&json!("x")).is_err());
        assert!(objects_of(&json!({"objects": 3})).is_err());
    }
}
