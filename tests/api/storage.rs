//! The database under pressure: an operator deleting a large collection
//! while members push, and a database that has no room left.

use std::collections::HashSet;
use std::sync::Arc;

use breakwater::config::DatabaseLocation;
use breakwater::exchange::{Exchange, Settings};
use breakwater::model::{Tier, Timestamp};
use breakwater::stix::Validator;
use breakwater::store::postgres::PgStore;
use breakwater::store::sqlite::{Options, SqliteStore};
use breakwater::store::{IngestBatch, NewCollection, NewObject, Store};
use serde_json::{Value, json};

use crate::binary::{Server, assert_success, breakwater, config_of, init, run, stdout_of};
use crate::helpers::*;

/// Every object id a client can page through in a collection.
async fn served_ids(client: &Client, objects_url: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut next: Option<String> = None;
    loop {
        let url = match &next {
            Some(token) => format!("{objects_url}?limit=1000&next={token}"),
            None => format!("{objects_url}?limit=1000"),
        };
        let page = client.get(&url).await;
        assert_eq!(page.status, 200, "{}", page.text);
        ids.extend(ids_in::<Vec<String>>(&page.body, "objects"));
        match page.body["next"].as_str() {
            Some(token) if page.body["more"] == true => next = Some(token.to_string()),
            _ => return ids,
        }
    }
}

fn stored_object(n: usize) -> NewObject {
    let id = format!("indicator--00000000-0000-4000-8000-{n:012}");
    NewObject {
        body: json!({"type": "indicator", "id": id, "name": "bulk"}).to_string(),
        id,
        object_type: "indicator".into(),
        spec_version: "2.1".into(),
        version: Some((
            Timestamp::parse("2026-01-01T00:00:00.000Z").unwrap(),
            "2026-01-01T00:00:00.000Z".into(),
        )),
    }
}

/// A second store on the test's database, as another process (the command
/// line) opens it, removing at most `max_rows` rows per maintenance
/// transaction.
fn another_store(app: &TestApp, max_rows: usize) -> Arc<dyn Store> {
    match app.config.database_location() {
        DatabaseLocation::Sqlite(path) => Arc::new(
            SqliteStore::open_with(
                &path,
                &Options {
                    max_rows_per_transaction: max_rows,
                    ..Options::default()
                },
            )
            .unwrap(),
        ),
        DatabaseLocation::Postgres(url) => Arc::new(
            PgStore::open_with(
                &url,
                &breakwater::store::postgres::Options {
                    pool_size: 4,
                    max_rows_per_transaction: max_rows,
                    ..Default::default()
                },
            )
            .unwrap(),
        ),
    }
}

/// These exercise the SQLite file (its size cap, its write lock); on
/// PostgreSQL the same conditions are tested in the store's own tests.
fn sqlite_only() -> bool {
    if on_postgres() {
        use std::io::Write;
        let test = std::thread::current().name().unwrap_or("").to_string();
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: limits.max_database_bytes caps a SQLite file; PostgreSQL's disk_full is tested in store::postgres::tests"
        );
        return false;
    }
    true
}

/// The operator deletes a collection of thousands of objects from its own
/// process (here: its own store handle on the same file, as the command
/// line opens it) while members push to another collection. The deletion
/// runs in many short transactions, and every push is stored: the design
/// guarantees 202s as long as no transaction outlasts the writer's lock wait
/// (10 s); each of these is a fraction of a second.
#[tokio::test]
async fn deleting_a_large_collection_while_members_push_costs_them_nothing() {
    let app = spawn_app();
    let bulk = app
        .exchange
        .create_collection(NewCollection {
            api_root: app.report.api_root.trim_matches('/').to_string(),
            alias: Some("bulk".into()),
            title: "Bulk".into(),
            description: None,
            tier: Tier::Green,
        })
        .unwrap();
    // Test-sized transactions: at most 100 rows each.
    let store = another_store(&app, 100);
    const BULK: usize = 4_000;
    for part in 0..4 {
        let status = store
            .ingest(IngestBatch {
                status_id: uuid::Uuid::new_v4().to_string(),
                api_root: bulk.api_root.clone(),
                collection: bulk.id,
                member: None,
                fingerprint: None,
                request_timestamp: Timestamp::now(),
                accepted: (part * 1000..(part + 1) * 1000)
                    .map(stored_object)
                    .collect(),
                refused: Vec::new(),
            })
            .unwrap();
        assert_eq!(status.details.successes.len(), 1000);
    }
    let operator_cli = Exchange::new(store, Arc::new(Validator::new()), Settings::default());
    let members: Vec<Client> = (0..3)
        .map(|i| {
            let name = format!("pusher-{i}");
            let client = app.member(&name, "shipping-line", Tier::Green);
            app.grant(&name, Tier::Green, true, true);
            client
        })
        .collect();
    let url = app.objects_url(Tier::Green);

    let deletion = std::thread::spawn(move || operator_cli.delete_collection(bulk.id));
    let mut answers = Vec::new();
    let mut pushed = Vec::new();
    // Push until the deletion is over (it pauses between its transactions,
    // so it takes a while even on a fast machine), at least a few rounds.
    while !deletion.is_finished() || answers.len() < 9 {
        let round: Vec<Value> = (0..members.len())
            .map(|i| json!({ "objects": (0..5).map(|_| indicator(&format!("pusher-{i}"))).collect::<Vec<_>>() }))
            .collect();
        let responses = futures_util::future::join_all(
            members
                .iter()
                .zip(&round)
                .map(|(m, body)| m.post(&url, body)),
        )
        .await;
        for (response, body) in responses.into_iter().zip(&round) {
            answers.push((response.status, response.text));
            pushed.extend(ids_in::<Vec<String>>(body, "objects"));
        }
    }
    let report = deletion.join().unwrap().expect("the deletion finishes");

    assert!(
        answers.iter().all(|(status, _)| *status == 202),
        "every push is stored: {:?}",
        answers.iter().find(|(status, _)| *status != 202)
    );
    assert_eq!(report.objects, BULK as u64);
    assert_eq!(report.collections, 1);
    assert!(
        report.transactions >= BULK / 100,
        "{} transactions for {BULK} rows of at most 100",
        report.transactions
    );
    // The collection is gone for everyone, and so are its objects.
    let listed = app
        .operator
        .get(&format!("{}collections/", app.api_root()))
        .await;
    assert!(
        !listed.text.contains(&bulk.id.to_string()),
        "{}",
        listed.text
    );
    assert_eq!(app.exchange.store().object_count(bulk.id).unwrap(), 0);
    let gone = app
        .operator
        .get(&format!(
            "{}collections/{}/objects/",
            app.api_root(),
            bulk.id
        ))
        .await;
    assert_eq!(gone.status, 404, "{}", gone.text);
    // Everything the members were told was stored is served.
    let served = served_ids(&app.operator, &url).await;
    let missing: Vec<_> = pushed.iter().filter(|id| !served.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not served: {missing:?}"
    );
}

/// An indicator of about `padding` bytes.
fn large_indicator(padding: usize) -> Value {
    let mut o = indicator("ballast");
    o["description"] = Value::String("x".repeat(padding));
    o
}

fn envelope(n: usize) -> Value {
    // About 4 KiB each: four to a 16 KiB database page.
    json!({ "objects": (0..n).map(|_| large_indicator(3500)).collect::<Vec<_>>() })
}

fn health(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// `limits.max_database_bytes` makes the database full the way a full disk
/// does (SQLite's SQLITE_FULL). Members get a TAXII 507 naming the cause,
/// the log says so once, `/health` turns degraded; once the operator frees
/// space (deleting a collection from the command line while the server
/// runs) writes succeed again without a restart, and everything
/// acknowledged before is still served.
#[tokio::test]
async fn a_full_database_answers_507_says_so_once_and_takes_writes_again_once_space_is_freed() {
    if !sqlite_only() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let cli = |args: &[&str]| {
        let out = run(breakwater().arg("--config").arg(config_of(&dir)).args(args));
        assert_success(&out);
        stdout_of(&out)
    };
    cli(&[
        "collections",
        "create",
        "--title",
        "Ballast",
        "--tier",
        "green",
        "--alias",
        "ballast",
    ]);
    let size = std::fs::metadata(dir.join("breakwater.db")).unwrap().len();
    // Room for about 3 MiB more than the fresh file.
    let cap = (size + 3 * 1024 * 1024).to_string();
    let server = Server::start(&dir, &[("BREAKWATER_MAX_DATABASE_BYTES", &cap)]);
    let operator = server.operator();
    let objects_url =
        |collection: &str| format!("{}/crc/collections/{collection}/objects/", server.base());

    // About 1.5 MiB the operator will later decide to drop.
    for _ in 0..4 {
        let r = operator.post(&objects_url("ballast"), &envelope(100)).await;
        assert_eq!(r.status, 202, "{}", r.text);
    }
    // Members' pushes fill the rest, until the database refuses.
    let green = objects_url("tlp-green");
    let mut acknowledged: Vec<String> = Vec::new();
    let refusal = loop {
        let body = envelope(20);
        let r = operator.post(&green, &body).await;
        if r.status != 202 {
            break r;
        }
        assert_eq!(r.body["success_count"], 20, "{}", r.text);
        acknowledged.extend(ids_in::<Vec<String>>(&body, "objects"));
        assert!(acknowledged.len() < 10_000, "the limit never took effect");
    };
    assert_eq!(refusal.status, 507, "{}", refusal.text);
    assert_eq!(refusal.body["http_status"], "507");
    assert_eq!(refusal.body["error_code"], "insufficient-storage");
    assert!(
        refusal.body["description"]
            .as_str()
            .unwrap()
            .contains("out of storage space"),
        "{}",
        refusal.text
    );
    assert!(refusal.header("retry-after").is_some());
    assert!(!acknowledged.is_empty());
    // Repeated attempts fail the same way; the log says it once.
    for _ in 0..3 {
        let r = operator.post(&green, &envelope(20)).await;
        assert_eq!(r.status, 507, "{}", r.text);
    }
    let h = operator.get(&format!("{}/health", server.base())).await;
    assert_eq!(
        (h.status, health(&h.text)),
        (200, json!({"status": "degraded"}))
    );
    let log = server.log_text();
    assert_eq!(
        log.matches("the database is full").count(),
        1,
        "logged once, with where and how much room:\n{log}"
    );
    assert!(log.contains("free_bytes"), "{log}");
    // Reads go on.
    assert!(
        served_ids(&operator, &green)
            .await
            .is_superset(&acknowledged.iter().cloned().collect())
    );

    // The operator frees space while the server runs.
    cli(&["collections", "delete", "ballast", "--yes"]);
    let r = operator.post(&green, &envelope(20)).await;
    assert_eq!(r.status, 202, "writes resume without a restart: {}", r.text);
    acknowledged.extend(ids_in::<Vec<String>>(&r.body, "successes"));
    let h = operator.get(&format!("{}/health", server.base())).await;
    assert_eq!((h.status, health(&h.text)), (200, json!({"status": "ok"})));
    assert_eq!(server.log_text().matches("accepts writes again").count(), 1);
    let served = served_ids(&operator, &green).await;
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|id| !served.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not served: {missing:?}"
    );
}

/// A large envelope is acknowledged (202, pending) and then meets a full
/// database while it is being stored in the background. It waits, trying
/// again less and less often, and completes once the operator frees space,
/// without a restart and without the member pushing it again.
#[tokio::test]
async fn a_background_envelope_that_meets_a_full_database_completes_once_space_is_freed() {
    if !sqlite_only() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir);
    let cli = |args: &[&str]| {
        let out = run(breakwater().arg("--config").arg(config_of(&dir)).args(args));
        assert_success(&out);
    };
    cli(&[
        "collections",
        "create",
        "--title",
        "Ballast",
        "--tier",
        "green",
        "--alias",
        "ballast",
    ]);
    let size = std::fs::metadata(dir.join("breakwater.db")).unwrap().len();
    let cap = (size + 3 * 1024 * 1024).to_string();
    // Every envelope is stored in the background.
    let server = Server::start(
        &dir,
        &[
            ("BREAKWATER_MAX_DATABASE_BYTES", &cap),
            ("BREAKWATER_BACKGROUND_THRESHOLD", "0"),
        ],
    );
    let operator = server.operator();
    let objects_url =
        |collection: &str| format!("{}/crc/collections/{collection}/objects/", server.base());
    let status_of = |id: &str| format!("{}/crc/status/{id}/", server.base());
    let waits = "background ingest waits for the database";

    for _ in 0..4 {
        let r = operator.post(&objects_url("ballast"), &envelope(100)).await;
        assert_eq!(r.status, 202, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        for _ in 0..600 {
            if operator.get(&status_of(&id)).await.body["status"] == "complete" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    // Push smaller and smaller envelopes until one is acknowledged (its
    // payload fits) but cannot be stored (its objects do not).
    let green = objects_url("tlp-green");
    let mut size = 20;
    let mut stuck = None;
    'push: for _ in 0..2_000 {
        let body = envelope(size);
        let r = operator.post(&green, &body).await;
        if r.status == 507 {
            assert!(
                size > 1,
                "no envelope was acknowledged and then found the database full"
            );
            size = (size / 2).max(1);
            continue;
        }
        assert_eq!(r.status, 202, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        loop {
            let log = server.log_text();
            assert!(
                !log.contains("background ingest failed"),
                "the background ingest gave up:\n{log}"
            );
            if log.contains(waits) {
                stuck = Some((id, ids_in::<HashSet<String>>(&body, "objects")));
                break 'push;
            }
            if operator.get(&status_of(&id)).await.body["status"] == "complete" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let (id, ids) = stuck.expect("the database never filled");
    let pending = operator.get(&status_of(&id)).await;
    assert_eq!(pending.body["status"], "pending", "{}", pending.text);

    cli(&["collections", "delete", "ballast", "--yes"]);
    let mut status = Value::Null;
    for _ in 0..1_200 {
        let r = operator.get(&status_of(&id)).await;
        if r.body["status"] == "complete" {
            status = r.body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status["status"], "complete", "the envelope never completed");
    assert_eq!(status["success_count"], ids.len(), "{status}");
    assert!(served_ids(&operator, &green).await.is_superset(&ids));
}

/// Another process keeps the database's write lock longer than the server
/// waits for it (here a bare SQLite connection, as a `sqlite3` shell left
/// in a transaction would): a push answers a TAXII 503 with Retry-After,
/// never a 500, and stores nothing; reads go on meanwhile; the same push
/// repeated once the lock is free is stored.
#[tokio::test]
async fn a_database_locked_by_another_process_answers_503_with_retry_after() {
    let app = spawn_app();
    let member = app.member("lock-tester", "rail", Tier::Green);
    app.grant("lock-tester", Tier::Green, true, true);
    let url = app.objects_url(Tier::Green);
    let first = indicator("before the lock");
    member.push(&url, vec![first.clone()]).await;

    // Another process holds the lock writes to this collection need: the
    // SQLite file's write lock, or on PostgreSQL the collection's write lock
    // (an advisory lock keyed by the first 8 bytes of its id), in an open
    // transaction. The push waits its 10 s, then gives up.
    let holder = Holder::take(&app).await;
    let body = json!({ "objects": [indicator("while locked")] });
    let (push, poll) = tokio::join!(member.post(&url, &body), member.get(&url));
    assert_eq!(
        poll.status, 200,
        "reads do not wait for the lock: {}",
        poll.text
    );
    assert_eq!(push.status, 503, "{}", push.text);
    assert_eq!(push.body["http_status"], "503");
    assert_eq!(push.body["error_code"], "unavailable");
    assert_eq!(push.header("retry-after"), Some("5"));
    holder.release().await;

    let again = member.post(&url, &body).await;
    assert_eq!(again.status, 202, "{}", again.text);
    let served = served_ids(&member, &url).await;
    let expected: HashSet<String> = [first, body["objects"][0].clone()]
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(served, expected);
}

/// An open transaction of another process holding a collection's writes.
enum Holder {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl Holder {
    async fn take(app: &TestApp) -> Holder {
        match app.config.database_location() {
            DatabaseLocation::Sqlite(path) => {
                let holder = rusqlite::Connection::open(&path).unwrap();
                holder.execute_batch("BEGIN IMMEDIATE").unwrap();
                Holder::Sqlite(holder)
            }
            DatabaseLocation::Postgres(url) => {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                let id = uuid::Uuid::parse_str(&app.collection(Tier::Green)).unwrap();
                let b = id.as_bytes();
                let (k1, k2) = (
                    i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                );
                client
                    .batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({k1}, {k2})"))
                    .await
                    .unwrap();
                Holder::Postgres(client)
            }
        }
    }

    async fn release(self) {
        match self {
            Holder::Sqlite(c) => c.execute_batch("ROLLBACK").unwrap(),
            Holder::Postgres(c) => c.batch_execute("ROLLBACK").await.unwrap(),
        }
    }
}
