//! Store tests against a real file (WAL needs one).

use std::sync::Arc;

use super::SqliteStore;
use crate::model::{CollectionId, Tier, Timestamp};
use crate::store::*;

fn store() -> (tempfile::TempDir, Arc<SqliteStore>, CollectionId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db.sqlite")).unwrap());
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
