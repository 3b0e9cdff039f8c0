//! What an operator runs around the TAXII API: import and export, offline
//! validation, `config check`, `/health`, `/metrics` and the access log.

use std::path::Path;

use serde_json::{Value, json};

use crate::binary::{Server, assert_success, breakwater, config_of, init, run, stdout_of};
use crate::helpers::*;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("stix-fixtures")
}

fn bundle_objects(path: &Path) -> Vec<Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["objects"].as_array().unwrap().clone()
}

#[tokio::test]
async fn import_then_export_round_trips_a_collection_and_reports_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let valid = fixtures().join("valid");
    let mut expected: Vec<String> = std::fs::read_dir(&valid)
        .unwrap()
        .flat_map(|e| bundle_objects(&e.unwrap().path()))
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    expected.dedup();

    let out = run(breakwater()
        .arg("--config")
        .arg(config_of(&dir))
        .args(["import", "--collection", "tlp-red", "--json"])
        .arg(&valid));
    assert_success(&out);
    let summary: Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(summary["refused"], 0, "{summary}");
    assert_eq!(summary["files"], 4);

    // One bad file: the import says which object was refused and why, and exits 1.
    let bad = tmp.path().join("bad.json");
    let good = indicator("kept");
    std::fs::write(
        &bad,
        json!({"type": "bundle", "id": new_id("bundle"), "objects": [good, {"type": "indicator", "id": new_id("indicator")}]})
            .to_string(),
    )
    .unwrap();
    let out = run(breakwater()
        .arg("--config")
        .arg(config_of(&dir))
        .args(["import", "--collection", "tlp-red"])
        .arg(&bad));
    assert_eq!(out.status.code(), Some(1), "{}", stdout_of(&out));
    let text = stdout_of(&out);
    assert!(
        text.contains("1 refused") && text.contains("refused indicator--"),
        "{text}"
    );
    expected.push(good["id"].as_str().unwrap().to_string());
    expected.sort();

    let export = tmp.path().join("export.json");
    let out = run(breakwater()
        .arg("--config")
        .arg(config_of(&dir))
        .args(["export", "--collection", "tlp-red", "--out"])
        .arg(&export));
    assert_success(&out);
    let exported = bundle_objects(&export);
    let mut ids: Vec<String> = exported
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, expected, "export holds exactly what was imported");

    // Filters, and standard output by default.
    let out = run(breakwater().arg("--config").arg(config_of(&dir)).args([
        "export",
        "--collection",
        "tlp-red",
        "--type",
        "identity",
    ]));
    assert_success(&out);
    let bundle: Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(bundle["type"], "bundle");
    let objects = bundle["objects"].as_array().unwrap();
    assert!(!objects.is_empty());
    assert!(objects.iter().all(|o| o["type"] == "identity"));

    // What export wrote imports again cleanly (idempotent: nothing new, nothing refused).
    let out = run(breakwater()
        .arg("--config")
        .arg(config_of(&dir))
        .args(["import", "--collection", "tlp-red", "--json"])
        .arg(&export));
    assert_success(&out);
    let again: Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(again["refused"], 0);
}

#[tokio::test]
async fn validate_checks_files_offline_and_exits_1_on_any_invalid_object() {
    let out = run(breakwater().arg("validate").arg(fixtures().join("valid")));
    assert_success(&out);
    let out = run(breakwater()
        .args(["validate", "--json"])
        .arg(fixtures().join("invalid/pattern-syntax")));
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    let text = report.to_string();
    assert!(text.contains("pattern-syntax"), "{text}");
}

#[tokio::test]
async fn config_check_reports_a_key_that_does_not_match_its_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let check = || {
        run(breakwater()
            .arg("--config")
            .arg(config_of(&dir))
            .args(["config", "check"]))
    };
    assert_success(&check());
    std::fs::copy(
        dir.join("members/operator-key.pem"),
        dir.join("tls/server-key.pem"),
    )
    .unwrap();
    let out = check();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout_of(&out).contains("server key does not match the server certificate"),
        "{}",
        stdout_of(&out)
    );
    if on_postgres() {
        // A database that does not answer, password and all.
        let out = run(breakwater()
            .arg("--config")
            .arg(config_of(&dir))
            .env(
                "BREAKWATER_DATABASE",
                "postgres://bw:s3cret@127.0.0.1:1/exchange?connect_timeout=2",
            )
            .args(["config", "check"]));
        let text = stdout_of(&out);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains("problem: the database postgres://bw:***@127.0.0.1:1/exchange")
                && text.contains("cannot be reached"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
        return;
    }
    std::fs::remove_file(dir.join("breakwater.db")).unwrap();
    let out = check();
    assert!(
        stdout_of(&out).contains("does not exist; run `breakwater init`"),
        "{}",
        stdout_of(&out)
    );
}

#[tokio::test]
async fn health_needs_no_certificate_and_metrics_are_for_the_operator() {
    let app = spawn_app();
    let health = app.anonymous().get(&format!("{}/health", app.base())).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, json!({"status": "ok"}));

    app.operator
        .push(
            &app.objects_url(breakwater::model::Tier::Green),
            vec![indicator("counted")],
        )
        .await;
    let metrics = app.operator.get(&format!("{}/metrics", app.base())).await;
    assert_eq!(metrics.status, 200);
    for needle in [
        "breakwater_requests_total{route=\"/{root}/collections/{collection}/objects/\",status=\"202\"} 1",
        "breakwater_objects_ingested_total 1",
        "breakwater_request_duration_seconds_bucket",
        "breakwater_database_bytes",
    ] {
        assert!(
            metrics.text.contains(needle),
            "{needle} missing from\n{}",
            metrics.text
        );
    }
    let member = app.member("rail-co", "rail", breakwater::model::Tier::Green);
    let refused = member.get(&format!("{}/metrics", app.base())).await;
    assert_eq!(refused.status, 403);
    let anonymous = app
        .anonymous()
        .get(&format!("{}/metrics", app.base()))
        .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn json_logs_have_one_line_per_request_with_member_and_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let server = Server::start(&dir, &[("BREAKWATER_LOG_FORMAT", "json")]);
    let client = server.operator();
    let url = format!("{}/crc/collections/tlp-green/objects/", server.base());
    client
        .push(&url, vec![indicator("a"), indicator("b")])
        .await;
    let r = client.get(&url).await;
    assert_eq!(r.status, 200);
    drop(client);
    let log = server.log_text();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request")
        .collect();
    let post = lines
        .iter()
        .find(|v| v["method"] == "POST")
        .unwrap_or_else(|| panic!("no POST line in\n{log}"));
    assert_eq!(post["member"], "operator");
    assert_eq!(post["status"], 202);
    assert_eq!(post["objects"], 2);
    assert!(post["duration_us"].is_u64(), "{post}");
    assert!(
        post["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("127.0.0.1:")),
        "{post}"
    );
    let get = lines.iter().find(|v| v["method"] == "GET").unwrap();
    assert_eq!(get["objects"], 2);
    assert_eq!(get["path"], "/crc/collections/tlp-green/objects/");
}
