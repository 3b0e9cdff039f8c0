//! The contract both backends meet: one generic function per behaviour,
//! called once per backend (`sqlite::` and `postgres::` test modules at the
//! bottom). "Two stores" means two processes (or nodes) on one database: a
//! second store opened on the same file or URL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::{CollectionId, Tier, Timestamp};
use crate::store::*;

/// A database of one backend, opened as many times as a test likes.
pub(crate) trait Fixture {
    /// A store on the fixture's database (a new one each call).
    fn open(&self) -> Arc<dyn Store>;
    /// The same, removing at most `max_rows` rows per maintenance transaction.
    fn open_with_max_rows(&self, max_rows: usize) -> Arc<dyn Store>;
    /// Rows of a table, of one collection or all: what no `Store` method
    /// shows, such as side rows left behind.
    fn rows(&self, table: &str, collection: Option<CollectionId>) -> i64;
}

/// Counts a table's rows, of the collection bound as `key` when there is one.
fn count_sql(table: &str, collection: Option<CollectionId>, key: &str) -> String {
    match collection {
        Some(_) => format!("SELECT COUNT(*) FROM {table} WHERE {key}"),
        None => format!("SELECT COUNT(*) FROM {table}"),
    }
}

struct SqliteFixture {
    dir: tempfile::TempDir,
}

impl Fixture for SqliteFixture {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(
            crate::store::sqlite::SqliteStore::open(&self.dir.path().join("db.sqlite")).unwrap(),
        )
    }
    fn open_with_max_rows(&self, max_rows: usize) -> Arc<dyn Store> {
        let options = crate::store::sqlite::Options {
            max_rows_per_transaction: max_rows,
            ..Default::default()
        };
        Arc::new(
            crate::store::sqlite::SqliteStore::open_with(
                &self.dir.path().join("db.sqlite"),
                &options,
            )
            .unwrap(),
        )
    }
    fn rows(&self, table: &str, collection: Option<CollectionId>) -> i64 {
        let conn = rusqlite::Connection::open(self.dir.path().join("db.sqlite")).unwrap();
        let sql = count_sql(table, collection, "collection_id = ?1");
        match collection {
            Some(c) => conn.query_row(&sql, [c.to_string()], |r| r.get(0)),
            None => conn.query_row(&sql, [], |r| r.get(0)),
        }
        .unwrap()
    }
}

pub(crate) struct PostgresFixture {
    pub db: super::test_postgres::TestDatabase,
}

impl Fixture for PostgresFixture {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(crate::store::postgres::PgStore::open(&self.db.url, 8).unwrap())
    }
    fn open_with_max_rows(&self, max_rows: usize) -> Arc<dyn Store> {
        let options = crate::store::postgres::Options {
            pool_size: 8,
            max_rows_per_transaction: max_rows,
            ..Default::default()
        };
        Arc::new(crate::store::postgres::PgStore::open_with(&self.db.url, &options).unwrap())
    }
    fn rows(&self, table: &str, collection: Option<CollectionId>) -> i64 {
        let sql = count_sql(table, collection, "collection_id::text = $1");
        let url = self.db.url.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let driver = tokio::spawn(conn);
            let row = match collection {
                Some(c) => client.query_one(&sql, &[&c.to_string()]).await,
                None => client.query_one(&sql, &[]).await,
            }
            .unwrap();
            drop(client);
            let _ = driver.await;
            row.get(0)
        })
    }
}

fn sqlite_fixture() -> SqliteFixture {
    SqliteFixture {
        dir: tempfile::tempdir().unwrap(),
    }
}

pub(crate) fn postgres_fixture() -> Option<PostgresFixture> {
    super::test_postgres::database().map(|db| PostgresFixture { db })
}

/// A store with the API root `crc` and one green collection.
fn setup(f: &dyn Fixture) -> (Arc<dyn Store>, CollectionId) {
    let store = f.open();
    let c = seed(&*store);
    (store, c)
}

/// Gives `store` the API root `crc` and one green collection, its id.
pub(crate) fn seed(store: &dyn Store) -> CollectionId {
    api_root(store);
    new_collection(store, "green")
}

/// Gives `store` the default API root `crc`.
pub(crate) fn api_root(store: &dyn Store) {
    store
        .upsert_api_root(ApiRoot {
            name: "crc".into(),
            title: "t".into(),
            description: None,
            max_content_length: 1000,
            is_default: true,
        })
        .unwrap();
}

fn new_collection(store: &dyn Store, title: &str) -> CollectionId {
    store
        .create_collection(NewCollection {
            api_root: "crc".into(),
            alias: None,
            title: title.into(),
            description: None,
            tier: Tier::Green,
        })
        .unwrap()
        .id
}

pub(crate) fn object(id: &str, modified: Option<&str>) -> NewObject {
    NewObject {
        id: id.into(),
        object_type: id.split("--").next().unwrap().into(),
        spec_version: "2.1".into(),
        version: modified.map(|m| (Timestamp::parse(m).unwrap(), m.to_string())),
        body: format!(r#"{{"id":"{id}","modified":"{}"}}"#, modified.unwrap_or("")),
    }
}

pub(crate) fn batch(collection: CollectionId, objects: Vec<NewObject>) -> IngestBatch {
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

pub(crate) fn id(n: usize) -> String {
    format!("indicator--00000000-0000-4000-8000-{n:012}")
}

pub(crate) const V1: &str = "2026-01-01T00:00:00.000Z";

/// Polls `probe` until it holds; a bound on waiting, not a timing claim.
fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !probe() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Writers on two stores (two nodes) push into one collection while a third
/// polls with `added_after` = the last `date_added` it saw: every object is
/// seen exactly once, in strictly increasing `date_added` order.
fn polling_after_the_last_date_added_sees_every_object_once(f: &dyn Fixture) {
    let (_store, c) = setup(f);
    let nodes = [f.open(), f.open()];
    let poller = f.open();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = nodes[w % 2].clone();
            std::thread::spawn(move || {
                for e in 0..20 {
                    let objects = (0..5)
                        .map(|i| object(&id(w * 1000 + e * 10 + i), Some(V1)))
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
        let page = poller.list_objects(c, &filter, None, 1000, false).unwrap();
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

/// `date_added` is unique across collections too (a copy into SQLite keeps
/// it as the row id), and each collection's keys increase.
fn date_added_is_unique_across_collections(f: &dyn Fixture) {
    let (store, a) = setup(f);
    let b = new_collection(&*store, "other");
    let other = f.open();
    let threads: Vec<_> = [(store.clone(), a), (other, b)]
        .into_iter()
        .map(|(s, c)| {
            std::thread::spawn(move || {
                for e in 0..10 {
                    let objects = (0..20)
                        .map(|i| object(&id(e * 100 + i), Some(V1)))
                        .collect();
                    s.ingest(batch(c, objects)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut all = Vec::new();
    for c in [a, b] {
        let page = store
            .list_objects(c, &ObjectFilter::default(), None, 1000, false)
            .unwrap();
        assert_eq!(page.items.len(), 200);
        all.extend(page.items.iter().map(|o| o.date_added));
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 400, "no date_added is used twice");
}

fn keyset_pages_cover_the_collection_once(f: &dyn Fixture) {
    let (store, c) = setup(f);
    let objects = (0..25).map(|i| object(&id(i), Some(V1))).collect();
    store.ingest(batch(c, objects)).unwrap();
    let filter = ObjectFilter::default();
    let mut after = None;
    let mut ids = Vec::new();
    loop {
        let page = store.list_objects(c, &filter, after, 10, true).unwrap();
        ids.extend(page.items.iter().map(|o| o.id.clone()));
        assert!(page.items.iter().all(|o| o.body.contains(&o.id)));
        if !page.more {
            break;
        }
        after = page.last_key;
    }
    assert_eq!(ids.len(), 25);
    ids.dedup();
    assert_eq!(ids.len(), 25);
}

/// Filters by id, type, spec version and versions, with and without bodies.
fn filters_select_the_same_objects(f: &dyn Fixture) {
    let (store, c) = setup(f);
    let sco = "ipv4-addr--00000000-0000-5000-8000-000000000001";
    let mut objects: Vec<NewObject> = (0..6).map(|i| object(&id(i), Some(V1))).collect();
    objects.push(object(sco, None));
    let mut old = object(&id(0), Some("2025-06-01T00:00:00.000Z"));
    old.spec_version = "2.0".into();
    objects.push(old);
    store.ingest(batch(c, objects)).unwrap();
    let ids = |filter: ObjectFilter, bodies: bool| -> Vec<String> {
        let page = store.list_objects(c, &filter, None, 100, bodies).unwrap();
        if !bodies {
            assert!(page.items.iter().all(|o| o.body.is_empty()));
        }
        page.items.into_iter().map(|o| o.id).collect()
    };
    for bodies in [true, false] {
        assert_eq!(ids(ObjectFilter::default(), bodies).len(), 7);
        let by_type = ObjectFilter {
            types: vec!["ipv4-addr".into()],
            ..Default::default()
        };
        assert_eq!(ids(by_type, bodies), [sco]);
        let two_types = ObjectFilter {
            types: vec!["ipv4-addr".into(), "indicator".into()],
            ..Default::default()
        };
        assert_eq!(ids(two_types, bodies).len(), 7);
        let by_id = ObjectFilter {
            ids: vec![id(3), id(1), "indicator--nope".into()],
            ..Default::default()
        };
        assert_eq!(ids(by_id, bodies), [id(1), id(3)]);
        let id_and_type = ObjectFilter {
            ids: vec![id(3), sco.into()],
            types: vec!["ipv4-addr".into()],
            ..Default::default()
        };
        assert_eq!(ids(id_and_type, bodies), [sco]);
        let spec = ObjectFilter {
            spec_versions: vec!["2.0".into()],
            versions: VersionFilter::All,
            ..Default::default()
        };
        assert_eq!(ids(spec, bodies), [id(0)]);
        let exact = ObjectFilter {
            versions: VersionFilter::Select {
                first: false,
                last: false,
                exact: vec![Timestamp::parse("2025-06-01T00:00:00.000Z").unwrap()],
            },
            ..Default::default()
        };
        assert_eq!(ids(exact, bodies), [id(0)]);
    }
    assert!(store.object_exists(c, sco).unwrap());
    assert!(!store.object_exists(c, "indicator--nope").unwrap());
    assert_eq!(store.object_count(c).unwrap(), 8);
}

fn first_and_last_versions_follow_inserts_and_deletes(f: &dyn Fixture) {
    let (store, c) = setup(f);
    let x = id(1);
    // Versions arrive out of order, two of them in one envelope.
    store
        .ingest(batch(c, vec![object(&x, Some("2026-01-02T00:00:00.000Z"))]))
        .unwrap();
    store
        .ingest(batch(
            c,
            vec![
                object(&x, Some("2026-01-01T00:00:00.000Z")),
                object(&x, Some("2026-01-03T00:00:00.000Z")),
            ],
        ))
        .unwrap();
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
    let page = store
        .list_versions(c, &x, &ObjectFilter::default(), None, 1)
        .unwrap();
    assert!(page.more);
    let rest = store
        .list_versions(c, &x, &ObjectFilter::default(), page.last_key, 10)
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(!rest.more);
    assert_eq!(
        store
            .delete_object(c, "indicator--nope", &ObjectFilter::default())
            .unwrap(),
        0
    );
}

fn identical_reposts_are_idempotent_and_conflicting_ones_refused(f: &dyn Fixture) {
    let (store, c) = setup(f);
    let x = object(&id(7), Some(V1));
    store.ingest(batch(c, vec![x.clone()])).unwrap();
    // The same object again, with other whitespace: the same object.
    let mut spaced = x.clone();
    spaced.body = spaced.body.replace(',', " ,\n ");
    let again = store.ingest(batch(c, vec![spaced])).unwrap();
    assert_eq!(again.details.successes.len(), 1);
    let mut changed = x.clone();
    changed.body = r#"{"different":true}"#.into();
    let conflict = store.ingest(batch(c, vec![changed.clone()])).unwrap();
    assert_eq!(conflict.details.failures.len(), 1);
    assert!(conflict.details.failures[0].message.is_some());
    // Within one envelope: the second of two different bodies is refused.
    let y = object(&id(8), Some(V1));
    let mut y2 = y.clone();
    y2.body = r#"{"other":1}"#.into();
    let both = store.ingest(batch(c, vec![y, y2])).unwrap();
    assert_eq!(
        (both.details.successes.len(), both.details.failures.len()),
        (1, 1)
    );
    assert_eq!(store.object_count(c).unwrap(), 2);
    // Unversioned objects: the same id again is the same object, and keeps
    // the version it was given first.
    let sco = object("ipv4-addr--00000000-0000-5000-8000-000000000001", None);
    let first = store.ingest(batch(c, vec![sco.clone()])).unwrap();
    let second = store.ingest(batch(c, vec![sco.clone(), sco])).unwrap();
    assert_eq!(store.object_count(c).unwrap(), 3);
    assert_eq!(second.details.successes.len(), 2);
    assert!(
        second
            .details
            .successes
            .iter()
            .all(|s| s.version == first.details.successes[0].version)
    );
}

/// The status of an envelope is readable from any store on the database.
fn statuses_are_readable_from_another_store(f: &dyn Fixture) {
    let (store, c) = setup(f);
    let mut b = batch(c, vec![object(&id(1), Some(V1))]);
    b.refused.push(StatusDetail {
        id: "indicator--bad".into(),
        version: V1.into(),
        message: Some("no".into()),
    });
    let done = store.ingest(b.clone()).unwrap();
    let other = f.open();
    let read = other.status(&b.status_id).unwrap().unwrap();
    assert_eq!(read.details, done.details);
    assert_eq!(read.total(), 2);
    assert_eq!(read.collection, c);
    assert!(read.completed.is_some());
    assert!(other.status("nope").unwrap().is_none());
    // Completed statuses older than the cut-off go.
    assert_eq!(
        store
            .purge_statuses(Timestamp::now().plus_micros(1_000_000))
            .unwrap(),
        1
    );
    assert!(other.status(&b.status_id).unwrap().is_none());
}

fn pending_batches_survive_until_ingested(f: &dyn Fixture) {
    let (store, c) = setup(f);
    let b = batch(c, vec![object(&id(9), Some(V1)), object(&id(10), None)]);
    let pending = store.begin_pending(&b).unwrap();
    assert!(pending.completed.is_none());
    assert_eq!(pending.details.pendings.len(), 2);
    drop(store);
    // A restart (or another node) finds the batch and finishes it.
    let reopened = f.open();
    let read = reopened.status(&b.status_id).unwrap().unwrap();
    assert!(read.completed.is_none());
    let batches = reopened.pending_batches().unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].accepted[0].body, b.accepted[0].body);
    let done = reopened
        .ingest(batches.into_iter().next().unwrap())
        .unwrap();
    assert_eq!(done.details.successes.len(), 2);
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

fn queued_audit_events_reach_the_log_and_it_reads_in_time_order(f: &dyn Fixture) {
    let (store, _c) = setup(f);
    let at = |micros| Timestamp::from_micros(micros);
    store
        .append_audit(AuditEvent {
            at: at(2_000_000),
            member: Some("a".into()),
            ..AuditEvent::now("member-add", "ok")
        })
        .unwrap();
    // Another node writes an earlier event later.
    f.open()
        .append_audit(AuditEvent {
            at: at(1_000_000),
            ..AuditEvent::now("poll-objects", "ok")
        })
        .unwrap();
    store
        .queue_audit(AuditEvent {
            at: at(3_000_000),
            objects: Some(3),
            ..AuditEvent::now("poll-manifest", "ok")
        })
        .unwrap();
    let reader = f.open();
    eventually("the queued event is committed", || {
        reader
            .audit(&AuditQuery::default())
            .unwrap()
            .iter()
            .any(|e| e.action == "poll-manifest")
    });
    let actions: Vec<String> = reader
        .audit(&AuditQuery::default())
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["poll-objects", "member-add", "poll-manifest"]);
    let first = reader
        .audit(&AuditQuery {
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(first[0].action, "poll-objects");
    let mine = reader
        .audit(&AuditQuery {
            member: Some("a".into()),
            since: Some(at(1_500_000)),
            limit: 0,
        })
        .unwrap();
    assert_eq!(mine.len(), 1);
}

/// Every change authentication depends on moves the revision every store
/// on the database sees.
fn every_change_to_who_may_do_what_moves_the_auth_revision(f: &dyn Fixture) {
    let (store, c) = setup(f);
    let watcher = f.open();
    let last = std::cell::Cell::new(watcher.auth_revision().unwrap());
    let moved = |what: &str| {
        eventually(what, || watcher.auth_revision().unwrap() > last.get());
        last.set(watcher.auth_revision().unwrap());
    };
    store
        .create_member(NewMember {
            name: "acme".into(),
            sector: "shipping".into(),
            contact: None,
            identity_ref: None,
            clearance: Tier::Amber,
            is_operator: false,
        })
        .unwrap();
    moved("member added");
    let fp = "ab".repeat(32);
    store
        .add_certificate(CertificateRecord {
            member: "acme".into(),
            fingerprint: fp.clone(),
            serial: "01".into(),
            subject: Some("CN=acme".into()),
            not_before: Timestamp::from_micros(0),
            not_after: Timestamp::now().plus_micros(1_000_000_000),
            revoked_at: None,
            added: Timestamp::now(),
        })
        .unwrap();
    moved("certificate added");
    let grant = Grant {
        collection: c,
        grantee: Grantee::Member("acme".into()),
        read: true,
        write: false,
    };
    store.set_grant(grant.clone()).unwrap();
    moved("grant set");
    let data = watcher.auth_data().unwrap();
    assert_eq!(data.revision, last.get());
    assert_eq!(data.members.len(), 1);
    assert_eq!(data.certificates[0].fingerprint, fp);
    assert_eq!(data.grants.len(), 1);
    assert_eq!(data.collections.len(), 1);
    assert_eq!(data.api_roots.len(), 1);
    let revoked = store
        .revoke_certificate(&fp.to_uppercase(), Timestamp::now())
        .unwrap();
    assert!(revoked.revoked_at.is_some());
    moved("certificate revoked");
    store
        .update_member(
            "acme",
            MemberUpdate {
                suspended: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    moved("member suspended");
    store
        .remove_grant(c, &Grantee::Member("acme".into()))
        .unwrap();
    moved("grant removed");
    store
        .add_token(TokenRecord {
            id: "t1".into(),
            member: "acme".into(),
            hash: "cd".repeat(32),
            created: Timestamp::now(),
            expires: None,
            revoked_at: None,
        })
        .unwrap();
    moved("token added");
    store.revoke_token("t1", Timestamp::now()).unwrap();
    moved("token revoked");
    store
        .update_collection(
            c,
            CollectionUpdate {
                title: Some("renamed".into()),
                ..Default::default()
            },
        )
        .unwrap();
    moved("collection renamed");
    store.delete_member("acme").unwrap();
    moved("member deleted");
}

/// Records round-trip, and mistakes come back as `NotFound` or `Conflict`.
fn members_grants_and_collections_keep_their_rules(f: &dyn Fixture) {
    let (store, c) = setup(f);
    let new = NewMember {
        name: "acme".into(),
        sector: "shipping".into(),
        contact: Some("soc@acme.example".into()),
        identity_ref: None,
        clearance: Tier::Amber,
        is_operator: false,
    };
    let m = store.create_member(new.clone()).unwrap();
    assert_eq!(m.contact.as_deref(), Some("soc@acme.example"));
    assert!(!m.suspended);
    assert!(matches!(
        store.create_member(new),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.update_member("nobody", MemberUpdate::default()),
        Err(StoreError::NotFound(_))
    ));
    store
        .set_grant(Grant {
            collection: c,
            grantee: Grantee::Sector("rail".into()),
            read: true,
            write: true,
        })
        .unwrap();
    store
        .set_grant(Grant {
            collection: c,
            grantee: Grantee::Member("acme".into()),
            read: true,
            write: false,
        })
        .unwrap();
    // Setting a grant again replaces it.
    store
        .set_grant(Grant {
            collection: c,
            grantee: Grantee::Member("acme".into()),
            read: true,
            write: true,
        })
        .unwrap();
    let grants = store.grants().unwrap();
    assert_eq!(grants.len(), 2);
    assert_eq!(grants[0].grantee, Grantee::Sector("rail".into()));
    assert!(grants[1].write);
    assert!(matches!(
        store.set_grant(Grant {
            collection: CollectionId::new_random(),
            grantee: Grantee::Sector("rail".into()),
            read: true,
            write: false,
        }),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.remove_grant(c, &Grantee::Sector("road".into())),
        Err(StoreError::NotFound(_))
    ));
    let alias = |a: &str| NewCollection {
        api_root: "crc".into(),
        alias: Some(a.into()),
        title: "t".into(),
        description: None,
        tier: Tier::Amber,
    };
    let aliased = store.create_collection(alias("ships")).unwrap();
    assert!(matches!(
        store.create_collection(alias("ships")),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .collection(aliased.id)
            .unwrap()
            .unwrap()
            .alias
            .as_deref(),
        Some("ships")
    );
    assert!(matches!(
        store.delete_api_root("crc"),
        Err(StoreError::Conflict(_))
    ));
    store
        .ingest(batch(aliased.id, vec![object(&id(1), Some(V1))]))
        .unwrap();
    store.delete_collection(aliased.id).unwrap();
    assert!(store.collection(aliased.id).unwrap().is_none());
    store.purge_deleted_collections().unwrap();
    assert_eq!(store.object_count(aliased.id).unwrap(), 0);
    assert!(matches!(
        store.delete_collection(aliased.id),
        Err(StoreError::NotFound(_))
    ));
    // One default API root at a time.
    store
        .upsert_api_root(ApiRoot {
            name: "partners".into(),
            title: "p".into(),
            description: None,
            max_content_length: 10,
            is_default: true,
        })
        .unwrap();
    let roots = store.api_roots().unwrap();
    assert_eq!(
        roots
            .iter()
            .map(|r| (r.name.as_str(), r.is_default))
            .collect::<Vec<_>>(),
        [("crc", false), ("partners", true)]
    );
    store.delete_api_root("partners").unwrap();
}

pub(crate) fn alias_collection(store: &dyn Store, alias: &str) -> CollectionId {
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

pub(crate) fn fill(store: &dyn Store, c: CollectionId, from: usize, n: usize) {
    let objects = (from..from + n).map(|i| object(&id(i), Some(V1))).collect();
    let status = store.ingest(batch(c, objects)).unwrap();
    assert_eq!(status.details.successes.len(), n);
}

fn a_deleted_collection_vanishes_at_once_and_is_emptied_in_bounded_transactions(f: &dyn Fixture) {
    let (_, keep) = setup(f);
    let store = f.open_with_max_rows(7);
    let other = f.open();
    let doomed = alias_collection(&*store, "doomed");
    fill(&*store, doomed, 0, 50);
    fill(&*store, keep, 100, 3);
    store
        .set_grant(Grant {
            collection: doomed,
            grantee: Grantee::Sector("rail".into()),
            read: true,
            write: true,
        })
        .unwrap();
    let revision = other.auth_revision().unwrap();

    store.delete_collection(doomed).unwrap();
    // Gone for every reader at once (another store, another node too),
    // although no object is removed yet.
    assert_eq!(store.object_count(doomed).unwrap(), 50);
    for s in [&store, &other] {
        assert!(s.collection(doomed).unwrap().is_none());
        assert!(s.collections().unwrap().iter().all(|c| c.id != doomed));
    }
    eventually("the deletion moves the auth revision", || {
        other.auth_revision().unwrap() > revision
    });
    let auth = other.auth_data().unwrap();
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
    assert!(matches!(
        store.update_collection(doomed, CollectionUpdate::default()),
        Err(StoreError::NotFound(_))
    ));
    // Its alias is free for a new collection.
    alias_collection(&*store, "doomed");
    // An envelope that was already on its way stores nothing there.
    let late = other
        .ingest(batch(doomed, vec![object(&id(999), Some(V1))]))
        .unwrap();
    assert!(late.details.successes.is_empty());
    assert!(late.completed.is_some());
    assert!(
        late.details.failures[0]
            .message
            .as_deref()
            .unwrap()
            .contains("deleted")
    );
    assert_eq!(store.object_count(doomed).unwrap(), 50);

    let report = store.purge_deleted_collections().unwrap();
    assert_eq!(report.collections, 1);
    assert_eq!(report.objects, 50);
    // 7 rows at most per transaction: 8 transactions for 50 rows.
    assert_eq!(report.transactions, 8);
    assert_eq!(store.object_count(doomed).unwrap(), 0);
    // The other collection is untouched, and nothing is left to do, on any
    // store.
    assert_eq!(store.object_count(keep).unwrap(), 3);
    assert_eq!(
        other.purge_deleted_collections().unwrap(),
        PurgeReport::default()
    );
}

fn two_stores_purging_at_once_remove_everything_once(f: &dyn Fixture) {
    let (store, keep) = setup(f);
    let doomed: Vec<CollectionId> = (0..3)
        .map(|i| {
            let c = alias_collection(&*store, &format!("doomed-{i}"));
            fill(&*store, c, i * 100, 40);
            store.delete_collection(c).unwrap();
            c
        })
        .collect();
    fill(&*store, keep, 1000, 2);
    let purgers: Vec<_> = (0..2)
        .map(|_| {
            let s = f.open_with_max_rows(5);
            std::thread::spawn(move || s.purge_deleted_collections().unwrap())
        })
        .collect();
    let reports: Vec<PurgeReport> = purgers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        reports.iter().map(|r| r.objects).sum::<u64>(),
        120,
        "every object removed once: {reports:?}"
    );
    for c in doomed {
        assert_eq!(store.object_count(c).unwrap(), 0);
    }
    assert_eq!(store.object_count(keep).unwrap(), 2);
    assert_eq!(
        store.purge_deleted_collections().unwrap(),
        PurgeReport::default()
    );
}

fn expired_statuses_are_purged_in_bounded_transactions(f: &dyn Fixture) {
    let (_, c) = setup(f);
    let store = f.open_with_max_rows(3);
    let ids: Vec<String> = (0..10)
        .map(|i| {
            store
                .ingest(batch(c, vec![object(&id(i), Some(V1))]))
                .unwrap()
                .id
        })
        .collect();
    let pending = batch(c, vec![object(&id(50), Some(V1))]);
    store.begin_pending(&pending).unwrap();
    let cutoff = Timestamp::now().plus_micros(1);
    std::thread::sleep(Duration::from_millis(2));
    let kept = store.ingest(batch(c, vec![])).unwrap().id;
    assert_eq!(store.purge_statuses(cutoff).unwrap(), 10);
    for id in &ids {
        assert!(store.status(id).unwrap().is_none());
    }
    assert!(store.status(&kept).unwrap().is_some());
    // A pending envelope is never purged: it has not completed.
    assert!(store.status(&pending.status_id).unwrap().is_some());
    assert_eq!(store.write_health(), WriteHealth::Ok);
}

fn the_last_key_is_the_newest_visible_object_for_every_store(f: &dyn Fixture) {
    let (store, c) = setup(f);
    let other = f.open();
    let empty = new_collection(&*store, "empty");
    assert_eq!(store.last_key(c).unwrap(), None);
    fill(&*store, c, 0, 5);
    fill(&*other, empty, 10, 1);
    let every = ObjectFilter {
        versions: VersionFilter::All,
        ..Default::default()
    };
    let page = store.list_objects(c, &every, None, 100, false).unwrap();
    let head = other.last_key(c).unwrap().expect("a key");
    assert_eq!(Some(head), page.last_key);
    // Nothing after the head now; the next object, from any store, is.
    assert!(
        store
            .list_objects(c, &every, Some(head), 100, false)
            .unwrap()
            .items
            .is_empty()
    );
    fill(&*other, c, 20, 1);
    let after = store
        .list_objects(c, &every, Some(head), 100, false)
        .unwrap();
    assert_eq!(after.items.len(), 1);
    assert_eq!(store.last_key(c).unwrap(), after.last_key);
    assert!(store.last_key(empty).unwrap().is_some());
}

macro_rules! behaviours {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&super::sqlite_fixture());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(f) = super::postgres_fixture() {
                        super::$name(&f);
                    }
                }
            )*
        }
    };
}

pub(crate) mod console;

behaviours!(
    polling_after_the_last_date_added_sees_every_object_once,
    date_added_is_unique_across_collections,
    keyset_pages_cover_the_collection_once,
    filters_select_the_same_objects,
    first_and_last_versions_follow_inserts_and_deletes,
    identical_reposts_are_idempotent_and_conflicting_ones_refused,
    statuses_are_readable_from_another_store,
    pending_batches_survive_until_ingested,
    queued_audit_events_reach_the_log_and_it_reads_in_time_order,
    every_change_to_who_may_do_what_moves_the_auth_revision,
    members_grants_and_collections_keep_their_rules,
    a_deleted_collection_vanishes_at_once_and_is_emptied_in_bounded_transactions,
    two_stores_purging_at_once_remove_everything_once,
    expired_statuses_are_purged_in_bounded_transactions,
    the_last_key_is_the_newest_visible_object_for_every_store,
);
