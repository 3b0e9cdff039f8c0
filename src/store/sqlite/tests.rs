//! What only the SQLite backend has to show: prepared statements, the audit
//! log's triggers, flushing on drop, side rows of a crash, transaction sizes,
//! a full or locked file. The behaviours both backends share are in
//! `store/behaviour.rs`.

use std::sync::Arc;

use super::writer::Weight;
use super::{Options, SqliteStore};
use crate::model::{CollectionId, Timestamp};
use crate::store::behaviour::{V1, alias_collection, batch, fill, id, object, seed};
use crate::store::*;

fn store() -> (tempfile::TempDir, Arc<SqliteStore>, CollectionId) {
    store_with(&Options::default())
}

fn store_with(options: &Options) -> (tempfile::TempDir, Arc<SqliteStore>, CollectionId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_with(&dir.path().join("db.sqlite"), options).unwrap());
    let c = seed(&*store);
    (dir, store, c)
}

#[test]
fn page_statements_stay_prepared_across_limits_and_filters() {
    let (_dir, store, c) = store();
    let objects = (0..5).map(|i| object(&id(i), Some(V1))).collect();
    store.ingest(batch(c, objects)).unwrap();
    let by_id = ObjectFilter {
        ids: vec![id(1)],
        ..ObjectFilter::default()
    };
    for limit in 1..6 {
        store
            .list_objects(c, &ObjectFilter::default(), None, limit, true)
            .unwrap();
        store.list_objects(c, &by_id, None, limit, true).unwrap();
    }
    // Recompiling a statement on every execution once cost a third of each
    // get-by-id request; bound values must never expire a cached plan.
    let reprepared = store
        .read(|conn| {
            let mut n = 0;
            for sql in [super::sql::OBJECTS_PAGE, super::sql::OBJECTS_PAGE_BY_ID] {
                n += conn
                    .prepare_cached(sql)?
                    .get_status(rusqlite::StatementStatus::RePrepare);
            }
            Ok(n)
        })
        .unwrap();
    assert_eq!(reprepared, 0);
}

#[test]
fn the_audit_log_is_append_only_and_queued_events_are_committed() {
    let (dir, store, _c) = store();
    store
        .queue_audit(AuditEvent {
            at: Timestamp::now(),
            member: Some("m".into()),
            fingerprint: None,
            action: "poll-objects".into(),
            collection: None,
            objects: Some(3),
            outcome: "ok".into(),
            detail: None,
        })
        .unwrap();
    // Any later write commits the queue with it.
    store.purge_statuses(Timestamp::from_micros(0)).unwrap();
    let events = store.audit(&AuditQuery::default()).unwrap();
    assert!(events.iter().any(|e| e.action == "poll-objects"));
    let conn = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
    assert!(conn.execute("DELETE FROM audit", []).is_err());
    assert!(conn.execute("UPDATE audit SET outcome = 'x'", []).is_err());
}

#[test]
fn queued_audit_events_are_in_the_file_once_the_store_is_dropped() {
    let (dir, store, _c) = store();
    for n in 0..50 {
        store
            .queue_audit(AuditEvent {
                objects: Some(n),
                ..AuditEvent::now("poll-objects", "ok")
            })
            .unwrap();
    }
    // A server stopping gracefully drops its store and then exits.
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM audit WHERE action = 'poll-objects'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 50);
}

/// Objects of `collection` in the file, whether or not it is visible.
fn rows_of(dir: &tempfile::TempDir, collection: CollectionId) -> i64 {
    let conn = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
    conn.query_row(
        "SELECT count(*) FROM objects WHERE collection_id = ?1",
        [collection.to_string()],
        |r| r.get(0),
    )
    .unwrap()
}

/// What every reader sees of a deleted collection is in `behaviour.rs`; here,
/// what is left in the file.
#[test]
fn a_deleted_collections_row_goes_with_its_last_objects() {
    let (dir, store, _keep) = store_with(&Options {
        max_rows_per_transaction: 7,
        ..Options::default()
    });
    let doomed = alias_collection(&*store, "doomed");
    fill(&*store, doomed, 0, 50);
    store.delete_collection(doomed).unwrap();
    assert_eq!(rows_of(&dir, doomed), 50, "hidden, not yet removed");
    let report = store.purge_deleted_collections().unwrap();
    assert_eq!((report.objects, report.transactions), (50, 8));
    assert_eq!(rows_of(&dir, doomed), 0);
    let conn = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
    let row: i64 = conn
        .query_row(
            "SELECT count(*) FROM collections WHERE id = ?1",
            [doomed.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(row, 0, "the collection row goes with its last objects");
}

#[test]
fn a_deletion_interrupted_by_a_crash_stays_hidden_and_is_finished_by_the_next_run() {
    let (dir, store, keep) = store();
    let doomed = alias_collection(&*store, "doomed");
    fill(&*store, doomed, 0, 40);
    store.delete_collection(doomed).unwrap();
    // The process dies after part of the objects went.
    {
        let conn = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
        conn.execute(
            "DELETE FROM objects WHERE date_added IN (SELECT date_added FROM objects
             WHERE collection_id = ?1 ORDER BY date_added LIMIT 15)",
            [doomed.to_string()],
        )
        .unwrap();
    }
    drop(store);
    let reopened = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
    assert!(reopened.collection(doomed).unwrap().is_none());
    assert_eq!(
        reopened
            .collections()
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        [keep]
    );
    assert_eq!(rows_of(&dir, doomed), 25);
    let report = reopened.purge_deleted_collections().unwrap();
    assert_eq!((report.collections, report.objects), (1, 25));
    assert_eq!(rows_of(&dir, doomed), 0);
}

/// An object whose body is about `size` bytes.
fn sized_object(n: usize, size: usize) -> NewObject {
    let mut o = object(&id(n), Some(V1));
    o.body = format!(r#"{{"id":"{}","padding":"{}"}}"#, o.id, "x".repeat(size));
    o
}

#[test]
fn a_batch_beyond_one_transaction_is_stored_in_parts_under_one_status() {
    let (_dir, store, c) = store();
    // 1 MiB each: the per-transaction byte limit splits them.
    let objects: Vec<_> = (0..10).map(|n| sized_object(n, 1 << 20)).collect();
    assert!(
        Weight::of(&objects).bytes > super::writer::MAX_TRANSACTION_BYTES,
        "the test needs more than one transaction's worth"
    );
    let b = batch(c, objects);
    let status = store.ingest(b.clone()).unwrap();
    assert_eq!(status.details.successes.len(), 10);
    assert!(status.completed.is_some());
    assert_eq!(store.object_count(c).unwrap(), 10);
    let stored = store.status(&b.status_id).unwrap().unwrap();
    assert_eq!(stored.details, status.details);
    // Storing it again (a resumed background envelope) changes nothing.
    let again = store.ingest(b).unwrap();
    assert_eq!(again.details.successes.len(), 10);
    assert_eq!(store.object_count(c).unwrap(), 10);
}

#[test]
fn a_capped_database_refuses_writes_as_full_keeps_what_it_acknowledged_and_recovers() {
    let (dir, store, c) = store();
    let path = dir.path().join("db.sqlite");
    let ballast = alias_collection(&*store, "ballast");
    let objects = (0..40).map(|n| sized_object(10_000 + n, 8 << 10)).collect();
    store.ingest(batch(ballast, objects)).unwrap();
    drop(store);
    let size = std::fs::metadata(&path).unwrap().len();
    // Room for about 1 MiB more than the file holds now.
    let capped = SqliteStore::open_with(
        &path,
        &Options {
            max_database_bytes: Some(size + (1 << 20)),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(capped.write_health(), WriteHealth::Ok);
    let mut acknowledged = 0;
    let full = loop {
        let objects = (0..10)
            .map(|n| sized_object(acknowledged + n, 8 << 10))
            .collect();
        match capped.ingest(batch(c, objects)) {
            Ok(status) => {
                assert_eq!(status.details.successes.len(), 10);
                acknowledged += 10;
                assert!(acknowledged < 10_000, "the cap never bit");
            }
            Err(e) => break e,
        }
    };
    assert!(matches!(full, StoreError::Full(_)), "{full}");
    assert!(acknowledged > 0);
    assert_eq!(capped.write_health(), WriteHealth::Full);
    assert_eq!(capped.object_count(c).unwrap(), acknowledged as u64);

    // Deleting other data frees pages; writes resume without reopening.
    capped.delete_collection(ballast).unwrap();
    capped.purge_deleted_collections().unwrap();
    assert_eq!(
        capped.write_health(),
        WriteHealth::Full,
        "until a write succeeds"
    );
    let objects = (0..10)
        .map(|n| sized_object(acknowledged + n, 8 << 10))
        .collect();
    let status = capped.ingest(batch(c, objects)).unwrap();
    assert_eq!(status.details.successes.len(), 10);
    assert_eq!(capped.write_health(), WriteHealth::Ok);
    assert_eq!(capped.object_count(c).unwrap(), acknowledged as u64 + 10);
}

#[test]
fn a_write_lock_held_elsewhere_fails_writes_as_busy_and_commits_nothing() {
    let (dir, store, c) = store_with(&Options {
        busy_wait: std::time::Duration::from_millis(50),
        ..Options::default()
    });
    let other = rusqlite::Connection::open(dir.path().join("db.sqlite")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store
        .ingest(batch(c, vec![object(&id(1), Some(V1))]))
        .unwrap_err();
    assert!(matches!(err, StoreError::Busy), "{err}");
    assert!(matches!(store.delete_collection(c), Err(StoreError::Busy)));
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(store.object_count(c).unwrap(), 0);
    assert!(store.collection(c).unwrap().is_some());
    // Once the lock is free, the same envelope goes through.
    let status = store
        .ingest(batch(c, vec![object(&id(1), Some(V1))]))
        .unwrap();
    assert_eq!(status.details.successes.len(), 1);
}
