//! Store tests against a real file (WAL needs one).

use std::sync::Arc;

use super::writer::Weight;
use super::{Options, SqliteStore};
use crate::model::{CollectionId, Tier, Timestamp};
use crate::store::*;

fn store() -> (tempfile::TempDir, Arc<SqliteStore>, CollectionId) {
    store_with(&Options::default())
}

fn store_with(options: &Options) -> (tempfile::TempDir, Arc<SqliteStore>, CollectionId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_with(&dir.path().join("db.sqlite"), options).unwrap());
    store
        .upsert_api_root(ApiRoot {
            name: "crc".into(),
            title: "t".into(),
            description: None,
            max_content_length: 1000,
            is_default: true,
        })
        .unwrap();
    let c = store
        .create_collection(NewCollection {
            api_root: "crc".into(),
            alias: None,
            title: "green".into(),
            description: None,
            tier: Tier::Green,
        })
        .unwrap();
    (dir, store, c.id)
}

fn object(id: &str, modified: Option<&str>) -> NewObject {
    NewObject {
        id: id.into(),
        object_type: id.split("--").next().unwrap().into(),
        spec_version: "2.1".into(),
        version: modified.map(|m| (Timestamp::parse(m).unwrap(), m.to_string())),
        body: format!(r#"{{"id":"{id}","modified":"{}"}}"#, modified.unwrap_or("")),
    }
}

fn batch(collection: CollectionId, objects: Vec<NewObject>) -> IngestBatch {
    IngestBatch {
        status_id: uuid::Uuid::new_v4().to_string(),
        api_root: "crc".into(),
        collection,
        member: Some("m".into()),
        fingerprint: None,
        request_timestamp: Timestamp::now(),
        accepted: objects,
        refused: vec![],
    }
}

fn id(n: usize) -> String {
    format!("indicator--00000000-0000-4000-8000-{n:012}")
}

#[test]
fn concurrent_writers_get_strictly_increasing_date_added_and_a_poller_misses_nothing() {
    let (_dir, store, c) = store();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for e in 0..20 {
                    let objects = (0..5)
                        .map(|i| {
                            object(&id(w * 1000 + e * 10 + i), Some("2026-01-01T00:00:00.000Z"))
                        })
                        .collect();
                    store.ingest(batch(c, objects)).unwrap();
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    let mut after: Option<Timestamp> = None;
    let mut poll = |seen: &mut Vec<(Timestamp, String)>| {
        let filter = ObjectFilter {
            added_after: after,
            ..Default::default()
        };
        let page = store.list_objects(c, &filter, None, 1000, false).unwrap();
        if let Some(last) = page.items.last() {
            after = Some(last.date_added);
        }
        seen.extend(page.items.into_iter().map(|o| (o.date_added, o.id)));
    };
    while writers.iter().any(|w| !w.is_finished()) {
        poll(&mut seen);
    }
    for w in writers {
        w.join().unwrap();
    }
    poll(&mut seen);
    assert_eq!(seen.len(), 400, "every object seen exactly once");
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "date_added strictly increasing"
    );
    let mut ids: Vec<_> = seen.iter().map(|(_, i)| i.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 400);
}

#[test]
fn keyset_pages_cover_the_collection_once() {
    let (_dir, store, c) = store();
    let objects = (0..25)
        .map(|i| object(&id(i), Some("2026-01-01T00:00:00.000Z")))
        .collect();
    store.ingest(batch(c, objects)).unwrap();
    let filter = ObjectFilter::default();
    let mut after = None;
    let mut total = 0;
    loop {
        let page = store.list_objects(c, &filter, after, 10, true).unwrap();
        total += page.items.len();
        if !page.more {
            break;
        }
        after = page.last_key;
    }
    assert_eq!(total, 25);
}

#[test]
fn page_statements_stay_prepared_across_limits_and_filters() {
    let (_dir, store, c) = store();
    let objects = (0..5)
        .map(|i| object(&id(i), Some("2026-01-01T00:00:00.000Z")))
        .collect();
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
fn first_and_last_versions_follow_inserts_and_deletes() {
    let (_dir, store, c) = store();
    let x = id(1);
    // Versions arrive out of order.
    for m in [
        "2026-01-02T00:00:00.000Z",
        "2026-01-01T00:00:00.000Z",
        "2026-01-03T00:00:00.000Z",
    ] {
        store.ingest(batch(c, vec![object(&x, Some(m))])).unwrap();
    }
    let versions = |v: VersionFilter| -> Vec<String> {
        let f = ObjectFilter {
            versions: v,
            ..Default::default()
        };
        store
            .list_objects(c, &f, None, 100, false)
            .unwrap()
            .items
            .into_iter()
            .map(|o| o.version)
            .collect()
    };
    assert_eq!(
        versions(VersionFilter::default()),
        ["2026-01-03T00:00:00.000Z"]
    );
    assert_eq!(
        versions(VersionFilter::Select {
            first: true,
            last: false,
            exact: vec![]
        }),
        ["2026-01-01T00:00:00.000Z"]
    );
    assert_eq!(versions(VersionFilter::All).len(), 3);
    let last_only = ObjectFilter {
        versions: VersionFilter::Select {
            first: false,
            last: true,
            exact: vec![],
        },
        ..Default::default()
    };
    assert_eq!(store.delete_object(c, &x, &last_only).unwrap(), 1);
    assert_eq!(
        versions(VersionFilter::default()),
        ["2026-01-02T00:00:00.000Z"]
    );
    let page = store
        .list_versions(c, &x, &ObjectFilter::default(), None, 10)
        .unwrap();
    let listed: Vec<_> = page.items.iter().map(|o| o.version.as_str()).collect();
    assert_eq!(
        listed,
        ["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z"]
    );
}

#[test]
fn identical_reposts_are_idempotent_and_conflicting_ones_refused() {
    let (_dir, store, c) = store();
    let x = object(&id(7), Some("2026-01-01T00:00:00.000Z"));
    store.ingest(batch(c, vec![x.clone()])).unwrap();
    let again = store.ingest(batch(c, vec![x.clone()])).unwrap();
    assert_eq!(again.details.successes.len(), 1);
    let mut changed = x.clone();
    changed.body = r#"{"different":true}"#.into();
    let conflict = store.ingest(batch(c, vec![changed])).unwrap();
    assert_eq!(conflict.details.failures.len(), 1);
    assert_eq!(store.object_count(c).unwrap(), 1);
    // Unversioned objects: the same id again is the same object.
    let sco = object("ipv4-addr--00000000-0000-5000-8000-000000000001", None);
    store.ingest(batch(c, vec![sco.clone()])).unwrap();
    store.ingest(batch(c, vec![sco])).unwrap();
    assert_eq!(store.object_count(c).unwrap(), 2);
}

#[test]
fn pending_batches_survive_until_ingested() {
    let (dir, store, c) = store();
    let b = batch(c, vec![object(&id(9), Some("2026-01-01T00:00:00.000Z"))]);
    let pending = store.begin_pending(&b).unwrap();
    assert!(pending.completed.is_none());
    drop(store);
    // A restart finds the batch and finishes it.
    let reopened = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
    let batches = reopened.pending_batches().unwrap();
    assert_eq!(batches.len(), 1);
    let done = reopened
        .ingest(batches.into_iter().next().unwrap())
        .unwrap();
    assert_eq!(done.details.successes.len(), 1);
    assert!(reopened.pending_batches().unwrap().is_empty());
    assert!(
        reopened
            .status(&b.status_id)
            .unwrap()
            .unwrap()
            .completed
            .is_some()
    );
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

/// Queued events are committed after durable ones that happened later; the
/// log still reads in the order things happened.
#[test]
fn the_audit_log_lists_events_in_time_order_whatever_their_commit_order() {
    let (_dir, store, _) = store();
    let at = |micros| Timestamp::from_micros(micros);
    store
        .append_audit(AuditEvent {
            at: at(2_000_000),
            ..AuditEvent::now("member-add", "ok")
        })
        .unwrap();
    store
        .append_audit(AuditEvent {
            at: at(1_000_000),
            ..AuditEvent::now("poll-objects", "ok")
        })
        .unwrap();
    let actions: Vec<String> = store
        .audit(&AuditQuery::default())
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["poll-objects", "member-add"]);
    let first = store
        .audit(&AuditQuery {
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(first[0].action, "poll-objects");
}

fn another_collection(store: &SqliteStore, alias: &str) -> CollectionId {
    store
        .create_collection(NewCollection {
            api_root: "crc".into(),
            alias: Some(alias.into()),
            title: alias.into(),
            description: None,
            tier: Tier::Green,
        })
        .unwrap()
        .id
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

fn fill(store: &SqliteStore, c: CollectionId, from: usize, n: usize) {
    let objects = (from..from + n)
        .map(|i| object(&id(i), Some("2026-01-01T00:00:00.000Z")))
        .collect();
    let status = store.ingest(batch(c, objects)).unwrap();
    assert_eq!(status.details.successes.len(), n);
}

#[test]
fn a_deleted_collection_vanishes_at_once_and_is_emptied_in_bounded_transactions() {
    let (dir, store, keep) = store_with(&Options {
        max_rows_per_transaction: 7,
        ..Options::default()
    });
    let doomed = another_collection(&store, "doomed");
    fill(&store, doomed, 0, 50);
    fill(&store, keep, 100, 3);
    store
        .set_grant(Grant {
            collection: doomed,
            grantee: Grantee::Sector("rail".into()),
            read: true,
            write: true,
        })
        .unwrap();

    store.delete_collection(doomed).unwrap();
    // Gone for every reader at once, although no object is removed yet.
    assert_eq!(rows_of(&dir, doomed), 50);
    assert!(store.collection(doomed).unwrap().is_none());
    assert!(store.collections().unwrap().iter().all(|c| c.id != doomed));
    let auth = store.auth_data().unwrap();
    assert!(auth.collections.iter().all(|c| c.id != doomed));
    assert!(auth.grants.iter().all(|g| g.collection != doomed));
    assert!(matches!(
        store.delete_collection(doomed),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_grant(Grant {
            collection: doomed,
            grantee: Grantee::Sector("rail".into()),
            read: true,
            write: false,
        }),
        Err(StoreError::NotFound(_))
    ));
    // Its alias is free for a new collection.
    another_collection(&store, "doomed");
    // An envelope that was already on its way stores nothing there.
    let late = store
        .ingest(batch(
            doomed,
            vec![object(&id(999), Some("2026-01-01T00:00:00.000Z"))],
        ))
        .unwrap();
    assert!(late.details.successes.is_empty());
    assert!(
        late.details.failures[0]
            .message
            .as_deref()
            .unwrap()
            .contains("deleted")
    );

    let report = store.purge_deleted_collections().unwrap();
    assert_eq!(report.collections, 1);
    assert_eq!(report.objects, 50);
    // 7 rows at most per transaction: 8 transactions for 50 rows.
    assert_eq!(report.transactions, 8);
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
    // The other collection is untouched, and nothing is left to do.
    assert_eq!(store.object_count(keep).unwrap(), 3);
    assert_eq!(
        store.purge_deleted_collections().unwrap(),
        PurgeReport::default()
    );
}

#[test]
fn a_deletion_interrupted_by_a_crash_stays_hidden_and_is_finished_by_the_next_run() {
    let (dir, store, keep) = store();
    let doomed = another_collection(&store, "doomed");
    fill(&store, doomed, 0, 40);
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

#[test]
fn expired_statuses_are_purged_in_bounded_transactions() {
    let (_dir, store, c) = store_with(&Options {
        max_rows_per_transaction: 3,
        ..Options::default()
    });
    let ids: Vec<String> = (0..10)
        .map(|i| {
            store
                .ingest(batch(
                    c,
                    vec![object(&id(i), Some("2026-01-01T00:00:00.000Z"))],
                ))
                .unwrap()
                .id
        })
        .collect();
    let cutoff = Timestamp::now();
    let kept = store.ingest(batch(c, vec![])).unwrap().id;
    assert_eq!(store.purge_statuses(cutoff).unwrap(), 10);
    for id in &ids {
        assert!(store.status(id).unwrap().is_none());
    }
    assert!(store.status(&kept).unwrap().is_some());
}

/// An object whose body is about `size` bytes.
fn sized_object(n: usize, size: usize) -> NewObject {
    let mut o = object(&id(n), Some("2026-01-01T00:00:00.000Z"));
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
    let ballast = another_collection(&store, "ballast");
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
        .ingest(batch(
            c,
            vec![object(&id(1), Some("2026-01-01T00:00:00.000Z"))],
        ))
        .unwrap_err();
    assert!(matches!(err, StoreError::Busy), "{err}");
    assert!(matches!(store.delete_collection(c), Err(StoreError::Busy)));
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(store.object_count(c).unwrap(), 0);
    assert!(store.collection(c).unwrap().is_some());
    // Once the lock is free, the same envelope goes through.
    let status = store
        .ingest(batch(
            c,
            vec![object(&id(1), Some("2026-01-01T00:00:00.000Z"))],
        ))
        .unwrap();
    assert_eq!(status.details.successes.len(), 1);
}
