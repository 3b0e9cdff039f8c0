//! `store copy`: everything in one database into another, of either kind,
//! in bounded batches: API roots, collections, members, certificates,
//! grants, tokens, the token key, every object version with its
//! `date_added`, statuses (pending ones with their payload) and the audit
//! log. The target's clock is moved past the last `date_added` copied, so
//! a member polling with a cursor from before the move misses nothing and
//! receives nothing twice, and `next` tokens stay valid (same key).

use crate::model::{CollectionId, Timestamp};
use crate::store::{
    ApiRoot, AuditEvent, CertificateRecord, Collection, Grant, Member, StatusRecord, Store,
    StoreError, StoreResult, TokenRecord,
};

/// Objects per batch (about 1 KiB each).
const OBJECT_BATCH: usize = 2_000;
/// Statuses per batch (a status may list thousands of objects).
const STATUS_BATCH: usize = 100;
const AUDIT_BATCH: usize = 5_000;

/// One stored object version, as both schemas keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRow {
    pub collection: CollectionId,
    pub date_added: i64,
    pub id: String,
    pub object_type: String,
    pub version: i64,
    pub version_text: String,
    pub spec_version: String,
    pub is_first: bool,
    pub is_last: bool,
    pub body: String,
}

/// A status with the payload of a pending envelope.
#[derive(Debug, Clone)]
pub struct StatusRow {
    pub record: StatusRecord,
    pub payload: Option<String>,
}

/// Everything except objects, statuses and audit: small enough to move in
/// one go.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub cursor_key: Vec<u8>,
    pub api_roots: Vec<ApiRoot>,
    pub collections: Vec<Collection>,
    pub members: Vec<Member>,
    pub certificates: Vec<CertificateRecord>,
    pub grants: Vec<Grant>,
    pub tokens: Vec<TokenRecord>,
}

/// What a backend offers `store copy`, beyond the `Store` trait.
pub trait Portable: Store {
    fn cursor_key(&self) -> StoreResult<Vec<u8>>;
    /// Object versions of one collection after `after` (`date_added`), in order.
    fn export_objects(
        &self,
        collection: CollectionId,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<ObjectRow>>;
    /// Statuses with ids after `after`, in id order.
    fn export_statuses(&self, after: &str, limit: usize) -> StoreResult<Vec<StatusRow>>;
    /// Audit events after the source's own key `after`, in key order.
    fn export_audit(&self, after: i64, limit: usize) -> StoreResult<Vec<(i64, AuditEvent)>>;
    /// True when the database holds no member, collection, object or event.
    fn is_empty(&self) -> StoreResult<bool>;
    /// Writes the settings as they are (ids, creation times, revocations).
    fn import_settings(&self, settings: &Settings) -> StoreResult<()>;
    fn import_objects(&self, rows: &[ObjectRow]) -> StoreResult<()>;
    fn import_statuses(&self, rows: &[StatusRow]) -> StoreResult<()>;
    fn import_audit(&self, events: &[AuditEvent]) -> StoreResult<()>;
    /// Moves the `date_added` clock to at least `last`.
    fn clock_at_least(&self, last: i64) -> StoreResult<()>;
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CopyReport {
    pub api_roots: usize,
    pub collections: usize,
    pub members: usize,
    pub certificates: usize,
    pub grants: usize,
    pub tokens: usize,
    pub objects: u64,
    pub statuses: u64,
    pub audit_events: u64,
    /// The largest `date_added` copied (microseconds), the target's clock.
    pub last_date_added: Option<i64>,
}

/// Copies everything from `from` into the empty database `to`; `progress`
/// hears each batch (what, how many so far).
pub fn copy(
    from: &dyn Portable,
    to: &dyn Portable,
    progress: &mut dyn FnMut(&str, u64),
) -> StoreResult<CopyReport> {
    if !to.is_empty()? {
        return Err(StoreError::Conflict(
            "the target database already holds members, collections, objects or audit events; copy into a new, empty database".into(),
        ));
    }
    let settings = Settings {
        cursor_key: from.cursor_key()?,
        api_roots: from.api_roots()?,
        collections: from.collections()?,
        members: from.members()?,
        certificates: from.certificates()?,
        grants: from.grants()?,
        tokens: from.tokens()?,
    };
    to.import_settings(&settings)?;
    let mut report = CopyReport {
        api_roots: settings.api_roots.len(),
        collections: settings.collections.len(),
        members: settings.members.len(),
        certificates: settings.certificates.len(),
        grants: settings.grants.len(),
        tokens: settings.tokens.len(),
        ..CopyReport::default()
    };
    for collection in &settings.collections {
        let mut after = i64::MIN;
        loop {
            let rows = from.export_objects(collection.id, after, OBJECT_BATCH)?;
            let Some(last) = rows.last() else { break };
            after = last.date_added;
            report.last_date_added = Some(report.last_date_added.map_or(after, |m| m.max(after)));
            to.import_objects(&rows)?;
            report.objects += rows.len() as u64;
            progress("objects", report.objects);
        }
    }
    if let Some(last) = report.last_date_added {
        to.clock_at_least(last)?;
    }
    let mut after = String::new();
    loop {
        let rows = from.export_statuses(&after, STATUS_BATCH)?;
        let Some(last) = rows.last() else { break };
        after = last.record.id.clone();
        to.import_statuses(&rows)?;
        report.statuses += rows.len() as u64;
        progress("statuses", report.statuses);
    }
    let mut after = i64::MIN;
    loop {
        let rows = from.export_audit(after, AUDIT_BATCH)?;
        let Some((last, _)) = rows.last() else { break };
        after = *last;
        let events: Vec<AuditEvent> = rows.into_iter().map(|(_, e)| e).collect();
        to.import_audit(&events)?;
        report.audit_events += events.len() as u64;
        progress("audit events", report.audit_events);
    }
    Ok(report)
}

/// The counts in a status record's columns, from its details.
pub fn status_counts(r: &StatusRecord) -> [i64; 4] {
    [
        r.total() as i64,
        r.details.successes.len() as i64,
        r.details.failures.len() as i64,
        r.details.pendings.len() as i64,
    ]
}

pub fn timestamp(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::Tier;
    use crate::store::*;

    fn sample(store: &dyn Store) -> CollectionId {
        store
            .upsert_api_root(ApiRoot {
                name: "crc".into(),
                title: "Cyber Resilience Center".into(),
                description: Some("d".into()),
                max_content_length: 1000,
                is_default: true,
            })
            .unwrap();
        let c = store
            .create_collection(NewCollection {
                api_root: "crc".into(),
                alias: Some("green".into()),
                title: "green".into(),
                description: None,
                tier: Tier::Green,
            })
            .unwrap()
            .id;
        store
            .create_member(NewMember {
                name: "acme".into(),
                sector: "shipping".into(),
                contact: Some("soc@acme.example".into()),
                identity_ref: None,
                clearance: Tier::Amber,
                is_operator: false,
            })
            .unwrap();
        store
            .update_member(
                "acme",
                MemberUpdate {
                    suspended: Some(true),
                    ..Default::default()
                },
            )
            .unwrap();
        store
            .add_certificate(CertificateRecord {
                member: "acme".into(),
                fingerprint: "ab".repeat(32),
                serial: "01".into(),
                subject: None,
                not_before: Timestamp::from_micros(0),
                not_after: Timestamp::from_micros(i64::MAX / 2),
                revoked_at: Some(Timestamp::from_micros(5)),
                added: Timestamp::from_micros(4),
            })
            .unwrap();
        store
            .set_grant(Grant {
                collection: c,
                grantee: Grantee::Sector("rail".into()),
                read: true,
                write: false,
            })
            .unwrap();
        store
            .add_token(TokenRecord {
                id: "t".into(),
                member: "acme".into(),
                hash: "cd".repeat(32),
                created: Timestamp::from_micros(7),
                expires: None,
                revoked_at: None,
            })
            .unwrap();
        for v in ["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z"] {
            store
                .ingest(IngestBatch {
                    status_id: uuid::Uuid::new_v4().to_string(),
                    api_root: "crc".into(),
                    collection: c,
                    member: Some("acme".into()),
                    fingerprint: None,
                    request_timestamp: Timestamp::now(),
                    accepted: (0..5)
                        .map(|i| NewObject {
                            id: format!("indicator--00000000-0000-4000-8000-00000000000{i}"),
                            object_type: "indicator".into(),
                            spec_version: "2.1".into(),
                            version: Some((Timestamp::parse(v).unwrap(), v.into())),
                            body: format!(
                                "{{\"i\": {i}, \"v\": \"{v}\", \"labels\": [\"l{i}\"], \"created_by_ref\": \"identity--{i}\"}}"
                            ),
                        })
                        .collect(),
                    refused: vec![],
                })
                .unwrap();
        }
        let pending = IngestBatch {
            status_id: "pending-one".into(),
            api_root: "crc".into(),
            collection: c,
            member: Some("acme".into()),
            fingerprint: None,
            request_timestamp: Timestamp::now(),
            accepted: vec![NewObject {
                id: "ipv4-addr--00000000-0000-5000-8000-000000000001".into(),
                object_type: "ipv4-addr".into(),
                spec_version: "2.1".into(),
                version: None,
                body: "{\"value\": \"10.0.0.1\"}".into(),
            }],
            refused: vec![],
        };
        store.begin_pending(&pending).unwrap();
        store
            .append_audit(AuditEvent {
                at: Timestamp::from_micros(1),
                ..AuditEvent::now("member-add", "ok")
            })
            .unwrap();
        c
    }

    /// Everything a member or an operator can read, in a comparable form.
    fn contents(store: &dyn Store, c: CollectionId) -> String {
        let all = ObjectFilter {
            versions: VersionFilter::All,
            ..Default::default()
        };
        let objects: Vec<_> = store
            .list_objects(c, &all, None, 1000, true)
            .unwrap()
            .items
            .into_iter()
            .map(|o| (o.date_added, o.id, o.version, o.spec_version, o.body))
            .collect();
        let latest: Vec<_> = store
            .list_objects(c, &ObjectFilter::default(), None, 1000, false)
            .unwrap()
            .items
            .into_iter()
            .map(|o| (o.id, o.version))
            .collect();
        let pending: Vec<_> = store
            .pending_batches()
            .unwrap()
            .into_iter()
            .map(|b| (b.status_id, b.accepted[0].body.clone()))
            .collect();
        let audit: Vec<_> = store
            .audit(&AuditQuery::default())
            .unwrap()
            .into_iter()
            .map(|e| (e.at, e.action, e.detail))
            .collect();
        // The console's read models, which the copy rebuilds as it imports.
        let counts = store.type_counts(&[c]).unwrap();
        let browse = |filter: &BrowseFilter| -> Vec<_> {
            store
                .browse_objects(c, filter, None, 100, 1000)
                .unwrap()
                .items
                .into_iter()
                .map(|o| (o.date_added, o.id, o.version, o.created_by, o.labels))
                .collect()
        };
        let browsed = (
            browse(&BrowseFilter::default()),
            browse(&BrowseFilter {
                label: Some("l1".into()),
                ..Default::default()
            }),
            browse(&BrowseFilter {
                creator: Some("identity--2".into()),
                ..Default::default()
            }),
        );
        assert_eq!(browsed.1.len(), 1, "one latest version labelled l1");
        format!(
            "{:?}\n{objects:?}\n{latest:?}\n{pending:?}\n{audit:?}\n{counts:?}\n{browsed:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            store.api_roots().unwrap(),
            store.collections().unwrap(),
            store.members().unwrap(),
            store.certificates().unwrap(),
            store.grants().unwrap(),
            store.tokens().unwrap(),
        )
    }

    /// SQLite to PostgreSQL and back: every record and the clock survive,
    /// and an object added afterwards gets a later `date_added`.
    #[test]
    fn a_database_copies_to_postgresql_and_back_unchanged() {
        let Some(pg) = crate::store::behaviour::postgres_fixture() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Arc::new(sqlite::SqliteStore::open(&dir.path().join("a.db")).unwrap());
        let c = sample(sqlite.as_ref());
        let postgres = Arc::new(postgres::PgStore::open(&pg.db.url, 4).unwrap());
        let report = copy(sqlite.as_ref(), postgres.as_ref(), &mut |_, _| {}).unwrap();
        assert_eq!(report.objects, 10);
        assert_eq!(report.statuses, 3);
        assert_eq!(contents(sqlite.as_ref(), c), contents(postgres.as_ref(), c));
        assert_eq!(sqlite.cursor_key().unwrap(), postgres.cursor_key().unwrap());
        let status = sqlite.status("pending-one").unwrap().unwrap();
        let copied = postgres.status("pending-one").unwrap().unwrap();
        assert_eq!(copied.details, status.details);
        assert!(copied.completed.is_none());

        let back = Arc::new(sqlite::SqliteStore::open(&dir.path().join("b.db")).unwrap());
        copy(postgres.as_ref(), back.as_ref(), &mut |_, _| {}).unwrap();
        assert_eq!(contents(sqlite.as_ref(), c), contents(back.as_ref(), c));

        // Into a database that holds data: refused.
        let err = copy(sqlite.as_ref(), back.as_ref(), &mut |_, _| {}).unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");

        // The clock carried over: what is added next sorts after everything,
        // even when this machine's clock is behind the copied one.
        let last = report.last_date_added.unwrap();
        let ahead = Timestamp::now().micros() + 3_600_000_000;
        for (store, portable) in [
            (
                postgres.as_ref() as &dyn Store,
                postgres.as_ref() as &dyn Portable,
            ),
            (back.as_ref(), back.as_ref()),
        ] {
            portable.clock_at_least(ahead).unwrap();
            let done = store
                .ingest(IngestBatch {
                    status_id: uuid::Uuid::new_v4().to_string(),
                    api_root: "crc".into(),
                    collection: c,
                    member: None,
                    fingerprint: None,
                    request_timestamp: Timestamp::now(),
                    accepted: vec![NewObject {
                        id: "indicator--00000000-0000-4000-8000-000000000099".into(),
                        object_type: "indicator".into(),
                        spec_version: "2.1".into(),
                        version: Some((Timestamp::from_micros(1), "x".into())),
                        body: "{}".into(),
                    }],
                    refused: vec![],
                })
                .unwrap();
            assert_eq!(done.details.successes.len(), 1);
            let newest = store
                .list_objects(c, &ObjectFilter::default(), None, 100, false)
                .unwrap()
                .items
                .into_iter()
                .map(|o| o.date_added.micros())
                .max()
                .unwrap();
            assert!(newest > ahead, "the clock never goes back");
            let after = ObjectFilter {
                added_after: Some(Timestamp::from_micros(last)),
                versions: VersionFilter::All,
                ..Default::default()
            };
            let page = store.list_objects(c, &after, None, 10, false).unwrap();
            assert_eq!(
                page.items.len(),
                1,
                "only the new object is after the old cursor"
            );
        }
    }
}
