//! What only the PostgreSQL backend has to show: migrations shared by nodes,
//! TLS to the database, and what several nodes do to one database. The
//! behaviours both backends share are in `store/behaviour.rs`.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use super::PgStore;
use crate::model::Timestamp;
use crate::store::behaviour::console::assert_upgraded_activity;
use crate::store::behaviour::seed;
use crate::store::test_postgres::{self, TestDatabase};
use crate::store::*;

fn database() -> Option<TestDatabase> {
    test_postgres::database()
}

fn open(db: &TestDatabase) -> Arc<PgStore> {
    Arc::new(PgStore::open(&db.url, 4).unwrap())
}

fn batch(collection: crate::model::CollectionId, n: usize) -> IngestBatch {
    IngestBatch {
        status_id: uuid::Uuid::new_v4().to_string(),
        api_root: "crc".into(),
        collection,
        member: Some("m".into()),
        fingerprint: None,
        request_timestamp: Timestamp::now(),
        accepted: (0..n)
            .map(|i| {
                let id = format!("indicator--{}", uuid::Uuid::new_v4());
                NewObject {
                    body: format!(r#"{{"id":"{id}","n":{i}}}"#),
                    id,
                    object_type: "indicator".into(),
                    spec_version: "2.1".into(),
                    version: Some((
                        Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
                        "2026-01-01T00:00:00.000Z".into(),
                    )),
                }
            })
            .collect(),
        refused: vec![],
    }
}

fn pushes_of(store: &PgStore, status: &str) -> usize {
    store
        .audit(&AuditQuery::default())
        .unwrap()
        .iter()
        .filter(|e| e.action == "push" && e.detail.as_deref().is_some_and(|d| d.contains(status)))
        .count()
}

#[test]
fn nodes_starting_together_migrate_once() {
    let Some(db) = database() else { return };
    let url = db.url.clone();
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgStore::open(&url, 2).map(|s| s.cursor_key().unwrap()))
        })
        .collect();
    let keys: Vec<Vec<u8>> = opened
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    assert_eq!(keys[0].len(), 32);
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "one token key for all nodes"
    );
}

#[test]
fn a_database_from_a_newer_build_is_refused_and_left_alone() {
    let Some(db) = database() else { return };
    drop(open(&db));
    db.server()
        .admin_on(Some(&db.name), "UPDATE breakwater_schema SET version = 99")
        .unwrap();
    let err = PgStore::open(&db.url, 2).err().expect("refused");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade Breakwater"), "{err}");
}

#[test]
fn tls_to_the_database_checks_the_chain_the_host_and_authenticates_by_certificate() {
    let Some(db) = database() else { return };
    let server = db.server();
    let Some(tls) = &server.tls else {
        test_postgres::skip("an existing server (BREAKWATER_TEST_POSTGRES_URL) has no test CA");
        return;
    };
    let url = |host: &str, user: &str, query: String| {
        format!(
            "postgres://{user}@{host}:{}/{}?{query}",
            server.port(),
            db.name
        )
    };
    let ca = tls.ca.display();
    let ok = |u: String| {
        PgStore::open(&u, 2)
            .unwrap_or_else(|e| panic!("{u}: {e}"))
            .cursor_key()
            .unwrap()
    };
    ok(url(
        "localhost",
        "postgres",
        format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    // The certificate names localhost, not 127.0.0.1: verify-full refuses,
    // verify-ca (chain only) accepts.
    let err = PgStore::open(
        &url(
            "127.0.0.1",
            "postgres",
            format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
        2,
    )
    .err()
    .expect("a name mismatch is refused");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    ok(url(
        "127.0.0.1",
        "postgres",
        format!("sslmode=verify-ca&sslrootcert={ca}"),
    ));
    let other = tls.other_ca.display();
    assert!(
        PgStore::open(
            &url(
                "localhost",
                "postgres",
                format!("sslmode=verify-full&sslrootcert={other}")
            ),
            2
        )
        .is_err(),
        "a chain to another CA is refused"
    );
    // The role bw_cert logs in only with its client certificate.
    let (cert, key) = (tls.client_cert.display(), tls.client_key.display());
    ok(url(
        "localhost",
        "bw_cert",
        format!("sslmode=verify-full&sslrootcert={ca}&sslcert={cert}&sslkey={key}"),
    ));
    assert!(
        PgStore::open(
            &url(
                "localhost",
                "bw_cert",
                format!("sslmode=verify-full&sslrootcert={ca}")
            ),
            2
        )
        .is_err(),
        "no certificate, no login"
    );
}

/// Two nodes finishing the same pending envelope store it once: one
/// transaction locks its status, the other finds it completed.
#[test]
fn a_pending_envelope_finished_by_two_nodes_at_once_is_stored_once() {
    let Some(db) = database() else { return };
    let a = open(&db);
    let b = open(&db);
    let c = seed(&*a);
    let pending = batch(c, 300);
    a.begin_pending(&pending).unwrap();
    let found = b.pending_batches().unwrap();
    assert_eq!(found.len(), 1);
    let threads: Vec<_> = [(a.clone(), pending.clone()), (b.clone(), found[0].clone())]
        .into_iter()
        .map(|(s, batch)| std::thread::spawn(move || s.ingest(batch).unwrap()))
        .collect();
    let results: Vec<StatusRecord> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(results.iter().all(|r| r.details.successes.len() == 300));
    assert_eq!(a.object_count(c).unwrap(), 300);
    assert_eq!(
        pushes_of(&a, &pending.status_id),
        1,
        "audited once: stored once"
    );
}

/// A node that died with an envelope pending (its status row unlocked and
/// incomplete) leaves it to the others: a live node finishes it.
#[test]
fn a_live_node_finishes_what_a_dead_one_left_pending() {
    let Some(db) = database() else { return };
    let dead = open(&db);
    let c = seed(&*dead);
    let mut pending = batch(c, 10);
    pending.request_timestamp = Timestamp::now().plus_micros(-60_000_000);
    dead.begin_pending(&pending).unwrap();
    drop(dead);
    let live = open(&db);
    live.auth_revision().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while live
        .status(&pending.status_id)
        .unwrap()
        .unwrap()
        .completed
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(live.object_count(c).unwrap(), 10);
    assert_eq!(pushes_of(&live, &pending.status_id), 1);
}

/// New objects committed on one node wake whoever watches on another.
#[test]
fn new_objects_on_one_node_wake_watchers_on_another() {
    let Some(db) = database() else { return };
    let watcher = open(&db);
    let writer = open(&db);
    let c = seed(&*writer);
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    assert!(
        watcher
            .watch_objects(Arc::new(move |change| {
                let _ = tx.lock().unwrap().send(change);
            }))
            .unwrap()
    );
    // Connected: the first wake says "anything may have changed".
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(20)).unwrap(),
        ObjectsChanged::Anything
    );
    writer.ingest(batch(c, 3)).unwrap();
    loop {
        let change = rx.recv_timeout(Duration::from_secs(20)).expect("a wake-up");
        if change == ObjectsChanged::Collection(c) {
            break;
        }
    }
}

/// Runs `sql` in a transaction on a connection of its own and keeps that
/// transaction open until the returned sender is dropped.
fn hold_open(url: &str, sql: String) -> mpsc::Sender<()> {
    let (release, released) = mpsc::channel::<()>();
    let (ready_tx, ready) = mpsc::channel();
    let url = url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let driver = tokio::spawn(conn);
            client
                .batch_execute(&format!("BEGIN; {sql}"))
                .await
                .unwrap();
            ready_tx.send(()).unwrap();
            let _ = tokio::task::spawn_blocking(move || released.recv()).await;
            let _ = client.batch_execute("ROLLBACK").await;
            drop(client);
            let _ = driver.await;
        });
    });
    ready.recv().unwrap();
    release
}

#[test]
fn a_lock_held_elsewhere_fails_writes_as_busy_and_commits_nothing() {
    let Some(db) = database() else { return };
    let store = PgStore::open_with(
        &db.url,
        &super::Options {
            pool_size: 4,
            busy_wait: Duration::from_millis(50),
            ..Default::default()
        },
    )
    .unwrap();
    let c = seed(&store);
    // Another session (a stuck node, an operator's open transaction) holds
    // the collection's write lock.
    let (a, b) = super::objects::lock_keys(c);
    let holder = hold_open(&db.url, format!("SELECT pg_advisory_xact_lock({a}, {b})"));
    let err = store.ingest(batch(c, 2)).unwrap_err();
    assert!(matches!(err, StoreError::Busy), "{err}");
    assert!(err.is_transient());
    assert!(matches!(store.delete_collection(c), Err(StoreError::Busy)));
    assert_eq!(store.object_count(c).unwrap(), 0);
    assert!(store.collection(c).unwrap().is_some());
    drop(holder);
    // Once the lock is free, the same envelope goes through.
    let b = batch(c, 2);
    let status = store.ingest(b).unwrap();
    assert_eq!(status.details.successes.len(), 2);
}

#[test]
fn a_full_disk_refuses_writes_as_full_keeps_what_it_acknowledged_and_recovers() {
    let Some(db) = database() else { return };
    let store = open(&db);
    let c = seed(&*store);
    store.ingest(batch(c, 3)).unwrap();
    assert_eq!(store.write_health(), WriteHealth::Ok);
    // PostgreSQL's own report of a file it cannot extend (SQLSTATE 53100),
    // raised where a full disk would raise it: inserting objects.
    db.server()
        .admin_on(
            Some(&db.name),
            "CREATE FUNCTION no_space() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 RAISE EXCEPTION 'could not extend file: No space left on device'
                     USING ERRCODE = 'disk_full';
             END $$;
             CREATE TRIGGER no_space BEFORE INSERT ON objects
                 FOR EACH STATEMENT EXECUTE FUNCTION no_space();",
        )
        .unwrap();
    let err = store.ingest(batch(c, 2)).unwrap_err();
    assert!(matches!(err, StoreError::Full(_)), "{err}");
    assert!(err.is_transient());
    assert_eq!(store.write_health(), WriteHealth::Full);
    assert_eq!(store.object_count(c).unwrap(), 3);
    db.server()
        .admin_on(Some(&db.name), "DROP TRIGGER no_space ON objects")
        .unwrap();
    assert_eq!(
        store.write_health(),
        WriteHealth::Full,
        "until a write succeeds"
    );
    store.ingest(batch(c, 2)).unwrap();
    assert_eq!(store.write_health(), WriteHealth::Ok);
    assert_eq!(store.object_count(c).unwrap(), 5);
}

#[test]
fn aborted_transactions_read_as_busy() {
    let Some(db) = database() else { return };
    let url = db.url.clone();
    let errors = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let driver = tokio::spawn(conn);
            let mut errors = Vec::new();
            for code in [
                "serialization_failure",
                "deadlock_detected",
                "lock_not_available",
            ] {
                let e = client
                    .batch_execute(&format!(
                        "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '{code}'; END $$"
                    ))
                    .await
                    .unwrap_err();
                errors.push(StoreError::from(e));
            }
            drop(client);
            let _ = driver.await;
            errors
        })
    })
    .join()
    .unwrap();
    for e in errors {
        assert!(matches!(e, StoreError::Busy), "{e}");
    }
}

/// A schema-2 database with data gains the console's read models on
/// upgrade, including from a body PostgreSQL cannot take apart as JSON.
#[test]
fn upgrading_fills_the_console_read_models_from_existing_rows() {
    let Some(db) = database() else { return };
    let c = "5e0f9a4e-4a6b-4c39-9d2e-2b7c1f0d3a11";
    let script = format!(
        r#"{init}
        {deletion}
        CREATE TABLE breakwater_schema (id integer PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
        INSERT INTO breakwater_schema (id, version) VALUES (1, 2);
        INSERT INTO members (name, sector, clearance, created) VALUES ('m', 'rail', 'red', 0);
        INSERT INTO api_roots (name, title, max_content_length, is_default) VALUES ('crc', 't', 1000, true);
        INSERT INTO collections (id, api_root, title, tier, created) VALUES ('{c}', 'crc', 'c', 'green', 0);
        INSERT INTO objects VALUES ('{c}', 10, 'indicator--1', 'indicator', 1, 'v', '2.1', true, true,
            '{{"labels":["port"],"created_by_ref":"identity--a","name":"i"}}');
        INSERT INTO objects VALUES ('{c}', 11, 'relationship--1', 'relationship', 1, 'v', '2.1', true, true,
            '{{"source_ref":"indicator--1","target_ref":"campaign--1","relationship_type":"indicates"}}');
        INSERT INTO objects VALUES ('{c}', 12, 'sighting--1', 'sighting', 1, 'v', '2.1', true, true,
            '{{"sighting_of_ref":"indicator--1","where_sighted_refs":["identity--b", 3]}}');
        INSERT INTO objects VALUES ('{c}', 13, 'note--1', 'note', 1, 'v', '2.1', true, true,
            '{{"labels":["port"],"content":"\u0000"}}');
        INSERT INTO statuses VALUES ('s', 'crc', '{c}', 'm', 0, 7200000000, 5, 3, 2, 0,
            '{{"successes":[],"failures":[{{"id":"x","version":"v","message":"object is marked red"}},{{"id":"y","version":"v","message":"indicator.pattern: bad"}}],"pendings":[]}}', NULL);
        INSERT INTO audit (at, member, action, collection, objects, outcome, detail)
            VALUES (7200000000, 'm', 'push', '{c}', 5, 'partial', 'status s: 3 stored, 2 refused');
        INSERT INTO audit (at, member, action, collection, objects, outcome)
            VALUES (7200000001, 'm', 'poll-objects', '{c}', 9, 'ok');"#,
        init = include_str!("schema/0001_init.sql"),
        deletion = include_str!("schema/0002_collection_deletion.sql"),
    );
    db.server().admin_on(Some(&db.name), &script).unwrap();
    let store = open(&db);
    let c = crate::model::CollectionId::parse(c).unwrap();
    let counts = store.type_counts(&[c]).unwrap();
    assert_eq!(
        counts.iter().map(|t| t.objects).sum::<u64>(),
        4,
        "{counts:?}"
    );
    let labelled = store
        .browse_objects(
            c,
            &BrowseFilter {
                label: Some("port".into()),
                ..Default::default()
            },
            None,
            10,
            100,
        )
        .unwrap();
    // The note's body holds \u0000: it is counted, not labelled.
    assert_eq!(labelled.items.len(), 1);
    assert_eq!(labelled.items[0].name.as_deref(), Some("i"));
    let by_creator = store
        .browse_objects(
            c,
            &BrowseFilter {
                creator: Some("identity--a".into()),
                ..Default::default()
            },
            None,
            10,
            100,
        )
        .unwrap();
    assert_eq!(by_creator.items.len(), 1);
    let mut edges: Vec<(String, String)> = store
        .edges(&[c], "indicator--1", 10)
        .unwrap()
        .into_iter()
        .map(|e| (e.target, e.edge_type))
        .collect();
    edges.sort();
    assert_eq!(
        edges,
        vec![
            ("campaign--1".to_string(), "indicates".to_string()),
            ("indicator--1".to_string(), "sighting-of".to_string()),
        ]
    );
    assert_eq!(store.edges(&[c], "identity--b", 10).unwrap().len(), 1);
    assert_upgraded_activity(&*store);
    let mut refusals: Vec<(String, u64)> = store
        .refusals(&RefusalQuery {
            since: Timestamp::from_micros(0),
            collections: Some(vec![c]),
            member: None,
            limit: 10,
        })
        .unwrap()
        .into_iter()
        .map(|r| (r.reason, r.objects))
        .collect();
    refusals.sort();
    assert_eq!(
        refusals,
        vec![
            ("invalid indicator.pattern".to_string(), 1),
            ("marking stricter than the collection's tier".to_string(), 1),
        ]
    );
}
