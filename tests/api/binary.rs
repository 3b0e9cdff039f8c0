//! The `breakwater` executable as an operator runs it: `init`, `serve` on a
//! free port, crash durability under `kill -9`, the collections commands, and
//! one-line errors for user mistakes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

/// The executable with a clean environment: no `BREAKWATER_*` from the
/// developer's shell leaks into what is under test.
pub(crate) fn breakwater() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breakwater"));
    for (name, _) in std::env::vars() {
        if name.starts_with("BREAKWATER_") || name == "RUST_LOG" {
            cmd.env_remove(name);
        }
    }
    cmd
}

pub(crate) fn config_of(dir: &Path) -> PathBuf {
    dir.join("breakwater.toml")
}

pub(crate) fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run breakwater")
}

pub(crate) fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout_of(out),
        stderr_of(out)
    );
}

/// `init --data-dir DIR --json`, on the tests' backend (with PostgreSQL, a
/// database of the test's own, kept until the test binary ends).
pub(crate) fn init(dir: &Path) -> Value {
    let mut cmd = breakwater();
    cmd.arg("init").arg("--data-dir").arg(dir).arg("--json");
    if let Some(db) = test_database() {
        cmd.arg("--database").arg(&db.url);
        std::mem::forget(db);
    }
    let out = run(&mut cmd);
    assert_success(&out);
    serde_json::from_str(&stdout_of(&out))
        .unwrap_or_else(|e| panic!("init --json printed no JSON ({e}): {}", stdout_of(&out)))
}

/// Every file under `dir` except the database, with its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("breakwater.db")
                && path.extension().is_none_or(|e| e != "log")
            {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn collection_ids(report: &Value) -> Vec<String> {
    report["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

pub(crate) fn green_id(report: &Value) -> String {
    report["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tier"] == "green")
        .expect("a green collection")["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A running `breakwater serve`; killed (SIGKILL) when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
    /// The URL from the printed curl line.
    curl_url: String,
    log: PathBuf,
    dir: PathBuf,
}

impl Server {
    pub(crate) fn start(dir: &Path, envs: &[(&str, &str)]) -> Server {
        Server::start_listening(dir, "127.0.0.1:0", envs)
    }

    /// `serve --listen LISTEN` (which must pick port 0).
    pub(crate) fn start_listening(dir: &Path, listen: &str, envs: &[(&str, &str)]) -> Server {
        let log = dir.join(format!("serve-{}.log", uuid::Uuid::new_v4().simple()));
        let mut cmd = breakwater();
        cmd.arg("--config")
            .arg(config_of(dir))
            .args(["serve", "--listen", listen])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            port: 0,
            curl_url: String::new(),
            log,
            dir: dir.to_path_buf(),
        };
        // A bound on waiting for the banner, not a timing assertion.
        let next_line = || {
            rx.recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("serve printed nothing; log:\n{}", server_log(dir)))
        };
        let banner = next_line();
        let url = banner
            .split_whitespace()
            .find(|w| w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no URL in the banner: {banner}"));
        let url = reqwest::Url::parse(url).unwrap();
        assert_eq!(url.path(), "/taxii2/", "{banner}");
        let port = url.port().expect("a port in the URL");
        assert_ne!(
            port, 0,
            "serve printed the requested port 0, not the bound one"
        );
        let curl = next_line();
        assert!(curl.contains("curl"), "{curl}");
        // Every file the curl line names exists.
        let words: Vec<&str> = curl.split_whitespace().collect();
        for flag in ["--cacert", "--cert", "--key"] {
            let i = words
                .iter()
                .position(|w| *w == flag)
                .unwrap_or_else(|| panic!("{flag} missing: {curl}"));
            assert!(Path::new(words[i + 1]).is_file(), "{flag} {}", words[i + 1]);
        }
        let curl_url = words
            .iter()
            .find(|w| w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no URL in: {curl}"))
            .to_string();
        assert_eq!(reqwest::Url::parse(&curl_url).unwrap().port(), Some(port));
        server.port = port;
        server.curl_url = curl_url;
        server
    }

    pub(crate) fn operator(&self) -> Client {
        Client::from_files(
            self.port,
            &self.dir.join("ca/ca.pem"),
            Some((
                &self.dir.join("members/operator.pem"),
                &self.dir.join("members/operator-key.pem"),
            )),
        )
    }

    pub(crate) fn base(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// Everything the server wrote to standard error so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal by name (`HUP`, `TERM`) to this server only.
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name}");
    }

    /// SIGTERM, as a service manager stops it; waits for a clean exit.
    pub(crate) fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(
            exit.success(),
            "serve exited with {exit}:\n{}",
            self.log_text()
        );
    }

    /// `kill -9`: no graceful shutdown, no chance to flush anything.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "serve log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

fn server_log(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    text
}

#[tokio::test]
async fn init_prints_its_paths_as_json_and_a_second_run_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = init(&dir);
    for key in [
        "config",
        "ca_certificate",
        "server_certificate",
        "operator_certificate",
        "operator_key",
        "operator_pkcs12",
    ] {
        let path = report[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key}: {report}"));
        assert!(Path::new(path).is_file(), "{key}: {path}");
    }
    assert_eq!(report["api_root"], "/crc/");
    let ids = collection_ids(&report);
    assert_eq!(ids.len(), 5, "{report}");
    for id in &ids {
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
    let tiers: BTreeSet<&str> = report["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tier"].as_str().unwrap())
        .collect();
    assert_eq!(tiers.len(), 5, "{report}");
    assert!(!report["created"].as_array().unwrap().is_empty());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [
            "ca/ca-key.pem",
            "tls/server-key.pem",
            "members/operator-key.pem",
        ] {
            let mode = std::fs::metadata(dir.join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{key} is readable by others: {mode:o}");
        }
    }

    let before = snapshot(&dir);
    let again = init(&dir);
    assert_eq!(again["created"], json!([]), "{again}");
    assert_eq!(collection_ids(&again), ids);
    assert_eq!(
        again["operator_certificate"],
        report["operator_certificate"]
    );
    let after = snapshot(&dir);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (path, contents) in &before {
        assert!(after[path] == *contents, "{} was rewritten", path.display());
    }
}

#[tokio::test]
async fn serve_on_port_0_prints_the_bound_port_and_answers_taxii() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = init(&dir);
    let server = Server::start(&dir, &[]);
    let operator = server.operator();

    // Exactly the request the printed curl line makes.
    let r = operator.get(&server.curl_url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some(TAXII));
    let listed: BTreeSet<String> = r.body["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, collection_ids(&report).into_iter().collect());

    let r = operator.get(&format!("{}/taxii2/", server.base())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["default"], format!("{}/crc/", server.base()));
}

#[tokio::test]
async fn acknowledged_objects_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = init(&dir);
    let green = green_id(&report);
    let objects: Vec<Value> = (0..20)
        .map(|i| indicator(&format!("durable {i}")))
        .collect();

    let server = Server::start(&dir, &[]);
    let url = format!("{}/crc/collections/{green}/objects/", server.base());
    let r = server
        .operator()
        .post(&url, &json!({ "objects": objects }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["success_count"], 20, "{}", r.text);
    server.kill();

    let server = Server::start(&dir, &[]);
    let url = format!("{}/crc/collections/{green}/objects/", server.base());
    let r = server.operator().get(&url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["objects"], json!(objects));
}

#[tokio::test]
async fn polls_audited_just_before_a_graceful_stop_are_in_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = init(&dir);
    let green = green_id(&report);
    let server = Server::start(&dir, &[]);
    let url = format!("{}/crc/collections/{green}/objects/", server.base());
    let operator = server.operator();
    for _ in 0..3 {
        assert_eq!(operator.get(&url).await.status, 200);
    }
    // Poll events wait in memory for the next commit; stopping must write them.
    server.terminate();
    let out = run(breakwater()
        .arg("--config")
        .arg(config_of(&dir))
        .args(["audit", "--json"]));
    assert_success(&out);
    let log: Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    let polls = log
        .as_array()
        .or_else(|| log["events"].as_array())
        .expect("a list of events")
        .iter()
        .filter(|e| e["action"] == "poll-objects")
        .count();
    assert_eq!(polls, 3, "{log:#}");
}

#[tokio::test]
async fn a_pending_envelope_is_finished_after_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = init(&dir);
    let green = green_id(&report);
    let objects: Vec<Value> = (0..300)
        .map(|i| indicator(&format!("pending {i}")))
        .collect();
    let expected: BTreeSet<String> = objects
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();

    let env = [("BREAKWATER_BACKGROUND_THRESHOLD", "5")];
    let server = Server::start(&dir, &env);
    let url = format!("{}/crc/collections/{green}/objects/", server.base());
    let r = server
        .operator()
        .post(&url, &json!({ "objects": objects }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["status"], "pending", "{}", r.text);
    let status_id = r.body["id"].as_str().unwrap().to_string();
    // Killed right after the 202: the background writer may or may not have
    // finished. Either way the acknowledged envelope must end up stored.
    server.kill();

    let server = Server::start(&dir, &env);
    let operator = server.operator();
    let status_url = format!("{}/crc/status/{status_id}/", server.base());
    let mut last = Value::Null;
    for _ in 0..600 {
        let r = operator.get(&status_url).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if r.body["status"] == "complete" {
            last = r.body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        last["status"], "complete",
        "the pending envelope was never finished"
    );
    assert_eq!(last["success_count"], 300, "{last}");
    assert_eq!(last["total_count"], 300, "{last}");

    let url = format!("{}/crc/collections/{green}/objects/", server.base());
    let r = operator.get(&url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let stored: BTreeSet<String> = r.body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, expected);
    assert_eq!(r.body["objects"].as_array().unwrap().len(), 300);
}

fn list_collections(dir: &Path) -> Vec<Value> {
    let out = run(breakwater().arg("--config").arg(config_of(dir)).args([
        "collections",
        "list",
        "--json",
    ]));
    assert_success(&out);
    serde_json::from_str::<Value>(&stdout_of(&out))
        .unwrap_or_else(|e| panic!("list --json printed no JSON ({e}): {}", stdout_of(&out)))
        .as_array()
        .expect("an array")
        .clone()
}

#[tokio::test]
async fn collections_list_and_create_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let report = init(&dir);

    let listed = list_collections(&dir);
    assert_eq!(listed.len(), 5);
    for c in &listed {
        assert!(
            uuid::Uuid::parse_str(c["id"].as_str().unwrap()).is_ok(),
            "{c}"
        );
        assert!(c["title"].is_string(), "{c}");
        assert!(c["tier"].is_string(), "{c}");
        assert_eq!(c["api_root"], "crc", "{c}");
    }
    let ids: BTreeSet<String> = listed
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, collection_ids(&report).into_iter().collect());

    let out = run(breakwater().arg("--config").arg(config_of(&dir)).args([
        "collections",
        "create",
        "--title",
        "Terminal OT incidents",
        "--tier",
        "amber",
    ]));
    assert_success(&out);
    let id = stdout_of(&out).trim().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "create printed {id:?}");

    let listed = list_collections(&dir);
    assert_eq!(listed.len(), 6);
    let created = listed
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed"));
    assert_eq!(created["title"], "Terminal OT incidents");
    assert_eq!(created["tier"], "amber");
    assert_eq!(created["api_root"], "crc");

    // And the running server serves it.
    let server = Server::start(&dir, &[]);
    let r = server
        .operator()
        .get(&format!("{}/crc/collections/{id}/", server.base()))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["title"], "Terminal OT incidents");
}

/// A mistake gets one `error:` line on stderr and a non-zero exit, never a
/// panic or a backtrace (even with RUST_BACKTRACE set).
pub(crate) fn assert_user_error(out: &Output) {
    let stderr = stderr_of(out);
    assert!(!out.status.success(), "succeeded: {}", stdout_of(out));
    assert!(out.status.code().is_some(), "killed by a signal: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr:\n{stderr}");
    assert!(lines[0].starts_with("error:"), "{stderr}");
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "src/", ".rs:"] {
        assert!(!stderr.contains(bad), "{bad:?} in: {stderr}");
    }
}

#[tokio::test]
async fn user_mistakes_exit_non_zero_with_one_error_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let config = config_of(&dir);
    let mistakes: Vec<Vec<&str>> = vec![
        vec!["collections", "show", "nope"],
        vec!["collections", "update", "nope", "--title", "x"],
        vec!["collections", "delete", "nope", "--yes"],
    ];
    for args in mistakes {
        let out = run(breakwater()
            .env("RUST_BACKTRACE", "1")
            .arg("--config")
            .arg(&config)
            .args(&args));
        assert_user_error(&out);
        assert!(stderr_of(&out).contains("nope"), "{}", stderr_of(&out));
    }
    // Deleting without --yes is refused and deletes nothing.
    let id = collection_ids(&init(&dir))[0].clone();
    let out = run(breakwater()
        .env("RUST_BACKTRACE", "1")
        .arg("--config")
        .arg(&config)
        .args(["collections", "delete", &id]));
    assert_user_error(&out);
    assert_eq!(list_collections(&dir).len(), 5);

    // No configuration where one is expected.
    let out = run(breakwater()
        .env("RUST_BACKTRACE", "1")
        .arg("--config")
        .arg(tmp.path().join("elsewhere/breakwater.toml"))
        .args(["collections", "list"]));
    assert_user_error(&out);
}

#[tokio::test]
async fn serve_without_a_configuration_initialises_the_data_directory_first() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fresh");
    std::fs::create_dir_all(&dir).unwrap();
    let server = Server::start(&dir, &[]);
    assert!(config_of(&dir).is_file());
    let r = server.operator().get(&server.curl_url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["collections"].as_array().unwrap().len(), 5);
    drop(server);
    // The data directory it made is an ordinary initialised one.
    let report = init(&dir);
    assert_eq!(report["created"], json!([]), "{report}");
}
