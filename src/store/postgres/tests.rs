//! What only the PostgreSQL backend has to show: migrations shared by nodes,
//! TLS to the database, and what several nodes do to one database. The
//! behaviours both backends share are in `store/behaviour.rs`.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use super::PgStore;
use crate::model::{Tier, Timestamp};
use crate::store::test_postgres::{self, TestDatabase};
use crate::store::*;

fn database() -> Option<TestDatabase> {
    test_postgres::database()
}

fn open(db: &TestDatabase) -> Arc<PgStore> {
    Arc::new(PgStore::open(&db.url, 4).unwrap())
}

fn collection(store: &PgStore) -> crate::model::CollectionId {
    store
        .upsert_api_root(ApiRoot {
            name: "crc".into(),
            title: "t".into(),
            description: None,
            max_content_length: 1000,
            is_default: true,
        })
        .unwrap();
    store
        .create_collection(NewCollection {
            api_root: "crc".into(),
            alias: None,
            title: "green".into(),
            description: None,
            tier: Tier::Green,
        })
        .unwrap()
        .id
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
    let c = collection(&a);
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
    let c = collection(&dead);
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
    let c = collection(&writer);
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
    let c = collection(&store);
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
    let c = collection(&store);
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
