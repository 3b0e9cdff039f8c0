//! Data-driven STIX tests over `stix-fixtures/`:
//! every object under `valid/` must pass, and every bundle under
//! `invalid/<rule-id>/` must contain exactly one invalid object, failing with
//! that rule id and no other. Every mismatch is reported before failing.

use std::fs;
use std::path::{Path, PathBuf};

use breakwater::stix::Validator;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("stix-fixtures")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(json_files(&p));
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
    out
}

fn objects(file: &Path) -> Vec<Value> {
    let text =
        fs::read_to_string(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()));
    match doc.get("objects") {
        Some(Value::Array(items)) => items.clone(),
        _ => vec![doc],
    }
}

fn label(o: &Value, i: usize) -> String {
    o.get("id")
        .and_then(Value::as_str)
        .map_or_else(|| format!("object #{i}"), str::to_owned)
}

#[test]
fn valid_fixtures_are_valid() {
    let validator = Validator::new();
    let files = json_files(&fixtures().join("valid"));
    assert!(files.len() >= 4, "expected the valid scenario bundles");
    let mut problems = Vec::new();
    let mut count = 0;
    for file in &files {
        for (i, o) in objects(file).iter().enumerate() {
            count += 1;
            if let Err(v) = validator.validate(o) {
                problems.push(format!("{}: {}: {v}", file.display(), label(o, i)));
            }
        }
    }
    assert!(count >= 100, "only {count} valid objects");
    assert!(
        problems.is_empty(),
        "{} valid objects rejected:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn invalid_fixtures_fail_with_their_rule() {
    let validator = Validator::new();
    let root = fixtures().join("invalid");
    let mut problems = Vec::new();
    let mut rules_seen = Vec::new();
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .expect("invalid/")
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs.into_iter().filter(|d| d.is_dir()) {
        let rule = dir.file_name().unwrap().to_string_lossy().into_owned();
        if !breakwater::stix::RULE_IDS.contains(&rule.as_str()) {
            problems.push(format!("{}: '{rule}' is not a rule id", dir.display()));
        }
        rules_seen.push(rule.clone());
        for file in json_files(&dir) {
            let mut invalid = Vec::new();
            for (i, o) in objects(&file).iter().enumerate() {
                if let Err(v) = validator.validate(o) {
                    invalid.push((label(o, i), v));
                }
            }
            match invalid.as_slice() {
                [(_, v)] if v.0.iter().all(|x| x.rule == rule) => {}
                [(id, v)] => problems.push(format!(
                    "{}: {id}: expected only rule {rule}, got: {:?}",
                    file.display(),
                    v.0
                )),
                [] => problems.push(format!(
                    "{}: every object is valid, expected one failing {rule}",
                    file.display()
                )),
                many => problems.push(format!(
                    "{}: {} invalid objects, expected one: {}",
                    file.display(),
                    many.len(),
                    many.iter()
                        .map(|(id, v)| format!("{id}: {v}"))
                        .collect::<Vec<_>>()
                        .join(" | ")
                )),
            }
        }
    }
    assert!(
        rules_seen.len() >= 15,
        "only {} rule directories",
        rules_seen.len()
    );
    assert!(
        problems.is_empty(),
        "{} invalid fixtures misbehave:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
