//! The console's read models (schema 3): counts, rollups, refusals,
//! newest-first browsing, relationship edges, submissions and audit pages,
//! with the same plans, budgets and cursors as SQLite's. Every statement
//! walks one index in order and stops at a limit or a scan budget, so a page
//! costs the same at 10,000 objects as at 1,000,000.
//!
//! A new object version's count, labels, edges and creator are written here
//! ([`Index`]) by whichever path inserts it (ingest, `store copy`), in its
//! transaction; triggers in the schema follow is_last changes, deletions,
//! completed statuses and poll audits.

use std::collections::BTreeMap;

use deadpool_postgres::GenericClient;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_postgres::Row;

use super::PgStore;
use super::pool::Db;
use crate::model::{CollectionId, Timestamp};
use crate::store::*;

const COUNTS_ADD: &str =
    "INSERT INTO object_type_counts AS c (collection_id, object_type, versions, objects)
     SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::bigint[])
     ON CONFLICT (collection_id, object_type) DO UPDATE
        SET versions = c.versions + excluded.versions, objects = c.objects + excluded.objects";
const LABELS_ADD: &str = "INSERT INTO object_labels (collection_id, label, date_added)
     SELECT $1, * FROM unnest($2::text[], $3::bigint[]) ON CONFLICT DO NOTHING";
const EDGES_ADD: &str = "INSERT INTO object_edges
        (collection_id, date_added, source_ref, target_ref, edge_type, via_id)
     SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])
     ON CONFLICT DO NOTHING";

/// $1 collections. A deleted collection's rows go when it is marked deleted.
const TYPE_COUNTS: &str = "SELECT collection_id, object_type, objects, versions
     FROM object_type_counts
     WHERE collection_id = ANY($1::uuid[]) AND versions > 0
     ORDER BY collection_id, object_type";

/// $1 first period, $2 action, $3 collections (or NULL for all), $4 member
/// (or NULL).
macro_rules! activity_sql {
    ($table:literal) => {
        concat!(
            "SELECT period, sector, sum(objects)::bigint, sum(refused)::bigint,
                sum(requests)::bigint FROM ",
            $table,
            " WHERE period >= $1 AND action = $2
               AND ($3::text[] IS NULL OR collection_id = ANY($3::text[]))
               AND collection_id IN (SELECT id::text FROM collections WHERE deleted_at IS NULL)
               AND ($4::text IS NULL OR member = $4::text)
             GROUP BY period, sector ORDER BY period, sector"
        )
    };
}
const ACTIVITY_HOURLY: &str = activity_sql!("activity_hourly");
const ACTIVITY_DAILY: &str = activity_sql!("activity_daily");

/// $1 first day, $2 collections (or NULL), $3 member (or NULL), $4 limit.
const REFUSALS: &str = "SELECT reason, sum(objects)::bigint AS n FROM refusals_daily
     WHERE period >= $1
       AND ($2::text[] IS NULL OR collection_id = ANY($2::text[]))
       AND collection_id IN (SELECT id::text FROM collections WHERE deleted_at IS NULL)
       AND ($3::text IS NULL OR member = $3::text)
     GROUP BY reason ORDER BY n DESC, reason LIMIT $4";

// Browsing: each plan walks one index newest first and yields every
// candidate's key with whether it passes the remaining filters; the caller
// stops at a full page or at the scan budget. Parameters: $1 collection,
// $2 upper bound (exclusive) on date_added, $3 lower bound (inclusive),
// $4 type (or NULL), $5 creator (or NULL), $6 label, $7 budget.
macro_rules! browse_rest {
    () => {
        " AND date_added < $2 AND date_added >= $3 ORDER BY date_added DESC LIMIT $7"
    };
}
macro_rules! browse_hit {
    ($o:literal) => {
        concat!(
            "(",
            $o,
            "is_last AND ($4::text IS NULL OR ",
            $o,
            "object_type = $4::text) AND ($5::text IS NULL OR ",
            $o,
            "created_by IS NOT DISTINCT FROM $5::text))"
        )
    };
}
const BROWSE_BY_DATE: &str = concat!(
    "SELECT date_added, ",
    browse_hit!(""),
    " FROM objects WHERE collection_id = $1 AND $6::text IS NULL",
    browse_rest!()
);
const BROWSE_BY_TYPE: &str = concat!(
    "SELECT date_added, ",
    browse_hit!(""),
    " FROM objects WHERE collection_id = $1 AND object_type = $4::text AND $6::text IS NULL",
    browse_rest!()
);
const BROWSE_BY_CREATOR: &str = concat!(
    "SELECT date_added, ",
    browse_hit!(""),
    " FROM objects WHERE collection_id = $1 AND created_by = $5::text AND $6::text IS NULL",
    browse_rest!()
);
const BROWSE_BY_LABEL: &str = concat!(
    "SELECT l.date_added, ",
    browse_hit!("o."),
    " FROM object_labels l
      JOIN objects o ON o.collection_id = l.collection_id AND o.date_added = l.date_added
      WHERE l.collection_id = $1 AND l.label = $6::text
        AND l.date_added < $2 AND l.date_added >= $3
      ORDER BY l.date_added DESC LIMIT $7"
);

macro_rules! summary_columns {
    () => {
        "SELECT date_added, collection_id, object_id, object_type, version_text, spec_version, body
         FROM objects"
    };
}
/// $1 collection, $2 date_added keys.
const SUMMARIES_BY_KEY: &str = concat!(
    summary_columns!(),
    " WHERE collection_id = $1 AND date_added = ANY($2::bigint[]) ORDER BY date_added DESC"
);
/// $1 collections, $2 object id.
const SUMMARY_LATEST: &str = concat!(
    summary_columns!(),
    " WHERE collection_id = ANY($1::uuid[]) AND object_id = $2 AND is_last ORDER BY collection_id"
);

/// $1 object id, $2 collections, $3 limit each way. Only edges whose
/// relationship or sighting is in its latest version count.
const EDGES: &str = "(SELECT e.source_ref, e.target_ref, e.edge_type, e.via_id, e.collection_id
        FROM object_edges e
        JOIN objects o ON o.collection_id = e.collection_id AND o.date_added = e.date_added
        WHERE e.source_ref = $1 AND e.collection_id = ANY($2::uuid[]) AND o.is_last
        ORDER BY e.collection_id, e.date_added, e.target_ref, e.edge_type
        LIMIT $3)
     UNION ALL (SELECT e.source_ref, e.target_ref, e.edge_type, e.via_id, e.collection_id
        FROM object_edges e
        JOIN objects o ON o.collection_id = e.collection_id AND o.date_added = e.date_added
        WHERE e.target_ref = $1 AND e.collection_id = ANY($2::uuid[]) AND o.is_last
        ORDER BY e.collection_id, e.date_added, e.source_ref, e.edge_type
        LIMIT $3)";

macro_rules! status_columns {
    () => {
        "SELECT id, api_root, collection_id, member, request_timestamp, completed,
            total_count, success_count, failure_count, pending_count FROM statuses"
    };
}
/// $1 member, $2/$3 cursor (request_timestamp, id) exclusive, $4 limit.
const STATUSES_OF_MEMBER: &str = concat!(
    status_columns!(),
    " WHERE member = $1::text AND (request_timestamp, id) < ($2, $3::text)
      ORDER BY request_timestamp DESC, id DESC LIMIT $4"
);
const STATUSES_ALL: &str = concat!(
    status_columns!(),
    " WHERE $1::text IS NULL AND (request_timestamp, id) < ($2, $3::text)
      ORDER BY request_timestamp DESC, id DESC LIMIT $4"
);

// The audit page: one index newest first by (at, id), the other filters
// checked on each candidate. $1 member, $2 action, $3 outcome, $4/$5 cursor
// (at, id) exclusive, $6 lower bound on at (inclusive), $7 budget.
macro_rules! audit_columns {
    () => {
        "SELECT id, at, member, fingerprint, action, collection, objects, outcome, detail,
            (($1::text IS NULL OR member IS NOT DISTINCT FROM $1::text)
             AND ($2::text IS NULL OR action IS NOT DISTINCT FROM $2::text)
             AND ($3::text IS NULL OR outcome IS NOT DISTINCT FROM $3::text)) FROM audit"
    };
}
macro_rules! audit_rest {
    () => {
        " AND (at, id) < ($4, $5) AND at >= $6 ORDER BY at DESC, id DESC LIMIT $7"
    };
}
const AUDIT_BY_MEMBER: &str = concat!(audit_columns!(), " WHERE member = $1::text", audit_rest!());
const AUDIT_BY_ACTION: &str = concat!(audit_columns!(), " WHERE action = $2::text", audit_rest!());
const AUDIT_BY_TIME: &str = concat!(audit_columns!(), " WHERE true", audit_rest!());

/// PostgreSQL text cannot hold U+0000 (a member may send it, escaped, in
/// any string): such a label, creator or reference is not indexed.
fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// What a group of new versions of one collection adds to the read models,
/// gathered as they are inserted and written after them.
#[derive(Default)]
pub struct Index {
    /// Each version's creator, in insertion order (a column of `objects`).
    pub creators: Vec<Option<String>>,
    counts: BTreeMap<String, (i64, i64)>,
    label_texts: Vec<String>,
    label_keys: Vec<i64>,
    edge_keys: Vec<i64>,
    edge_sources: Vec<String>,
    edge_targets: Vec<String>,
    edge_types: Vec<String>,
    edge_vias: Vec<String>,
}

impl Index {
    pub fn add(&mut self, date_added: i64, id: &str, object_type: &str, body: &str, is_last: bool) {
        let count = self.counts.entry(object_type.to_string()).or_default();
        count.0 += 1;
        count.1 += i64::from(is_last);
        let found = index_entries(id, object_type, body);
        self.creators.push(found.created_by.filter(|c| storable(c)));
        for label in found.labels.into_iter().filter(|l| storable(l)) {
            self.label_texts.push(label);
            self.label_keys.push(date_added);
        }
        for (source, target, kind) in found.edges {
            if storable(&source) && storable(&target) && storable(&kind) && storable(id) {
                self.edge_keys.push(date_added);
                self.edge_sources.push(source);
                self.edge_targets.push(target);
                self.edge_types.push(kind);
                self.edge_vias.push(id.to_string());
            }
        }
    }

    pub async fn write<C: GenericClient>(
        &self,
        db: &Db<'_, C>,
        collection: uuid::Uuid,
    ) -> StoreResult<()> {
        if !self.counts.is_empty() {
            let types: Vec<&str> = self.counts.keys().map(String::as_str).collect();
            let versions: Vec<i64> = self.counts.values().map(|c| c.0).collect();
            let objects: Vec<i64> = self.counts.values().map(|c| c.1).collect();
            db.execute(COUNTS_ADD, &[&collection, &types, &versions, &objects])
                .await?;
        }
        if !self.label_texts.is_empty() {
            db.execute(
                LABELS_ADD,
                &[&collection, &self.label_texts, &self.label_keys],
            )
            .await?;
        }
        if !self.edge_keys.is_empty() {
            db.execute(
                EDGES_ADD,
                &[
                    &collection,
                    &self.edge_keys,
                    &self.edge_sources,
                    &self.edge_targets,
                    &self.edge_types,
                    &self.edge_vias,
                ],
            )
            .await?;
        }
        Ok(())
    }
}

fn uuids(collections: &[CollectionId]) -> Vec<uuid::Uuid> {
    collections.iter().map(|c| c.0).collect()
}

fn texts_of(collections: &[CollectionId]) -> Vec<String> {
    collections.iter().map(|c| c.to_string()).collect()
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

/// The parts of a body a list shows.
#[derive(Deserialize)]
struct Shown<'a> {
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    created_by_ref: Option<&'a RawValue>,
    #[serde(borrow)]
    labels: Option<&'a RawValue>,
}

fn summary_row(r: &Row) -> ObjectSummary {
    let body: &str = r.get(6);
    let shown = serde_json::from_str::<Shown<'_>>(body).ok();
    ObjectSummary {
        date_added: Timestamp::from_micros(r.get(0)),
        collection: CollectionId(r.get(1)),
        id: r.get(2),
        object_type: r.get(3),
        version: r.get(4),
        spec_version: r.get(5),
        // A `name` that is not a string (hostile) reads as absent.
        name: shown.as_ref().and_then(|s| json_text(s.name)),
        created_by: shown.as_ref().and_then(|s| json_text(s.created_by_ref)),
        labels: shown.map(|s| json_texts(s.labels)).unwrap_or_default(),
    }
}

fn status_summary(r: &Row) -> StatusSummary {
    StatusSummary {
        id: r.get(0),
        api_root: r.get(1),
        collection: CollectionId(r.get(2)),
        member: r.get(3),
        request_timestamp: Timestamp::from_micros(r.get(4)),
        completed: r.get::<_, Option<i64>>(5).map(Timestamp::from_micros),
        total: count(r.get(6)),
        successes: count(r.get(7)),
        failures: count(r.get(8)),
        pendings: count(r.get(9)),
    }
}

/// Walks a plan's candidates, keeping hits until the page is full (one
/// extra hit proves there is more) or the budget is spent; as SQLite's.
fn scan<K: Copy>(
    rows: &[Row],
    limit: usize,
    budget: usize,
    mut row: impl FnMut(&Row) -> (K, bool),
) -> (Vec<K>, Option<K>, bool) {
    let mut hits = Vec::new();
    let mut scanned = 0usize;
    let mut last = None;
    for r in rows {
        let (key, hit) = row(r);
        scanned += 1;
        if hit {
            if hits.len() == limit {
                // A further hit exists: the page ends at the last kept one.
                let resume = hits.last().copied();
                return (hits, resume, false);
            }
            hits.push(key);
        }
        last = Some(key);
    }
    if scanned >= budget {
        // Stopped by the budget: resume after the last row examined.
        return (hits, last, true);
    }
    (hits, None, false)
}

impl PgStore {
    pub(super) fn console_type_counts(
        &self,
        collections: &[CollectionId],
    ) -> StoreResult<Vec<TypeCount>> {
        let ids = uuids(collections);
        self.inner.read(async |db| {
            Ok(db
                .query(TYPE_COUNTS, &[&ids])
                .await?
                .iter()
                .map(|r| TypeCount {
                    collection: CollectionId(r.get(0)),
                    object_type: r.get(1),
                    objects: count(r.get(2)),
                    versions: count(r.get(3)),
                })
                .collect())
        })
    }

    pub(super) fn console_activity(&self, q: &ActivityQuery) -> StoreResult<Vec<ActivityBucket>> {
        let sql = match q.granularity {
            Granularity::Hour => ACTIVITY_HOURLY,
            Granularity::Day => ACTIVITY_DAILY,
        };
        let collections = q.collections.as_deref().map(texts_of);
        let first = q.granularity.period_of(q.since);
        self.inner.read(async |db| {
            Ok(db
                .query(sql, &[&first, &q.action.as_str(), &collections, &q.member])
                .await?
                .iter()
                .map(|r| ActivityBucket {
                    period: r.get(0),
                    sector: r.get(1),
                    objects: count(r.get(2)),
                    refused: count(r.get(3)),
                    requests: count(r.get(4)),
                })
                .collect())
        })
    }

    pub(super) fn console_refusals(&self, q: &RefusalQuery) -> StoreResult<Vec<RefusalCount>> {
        let collections = q.collections.as_deref().map(texts_of);
        let first = Granularity::Day.period_of(q.since);
        let limit = q.limit as i64;
        self.inner.read(async |db| {
            Ok(db
                .query(REFUSALS, &[&first, &collections, &q.member, &limit])
                .await?
                .iter()
                .map(|r| RefusalCount {
                    reason: r.get(0),
                    objects: count(r.get(1)),
                })
                .collect())
        })
    }

    pub(super) fn console_browse(
        &self,
        collection: CollectionId,
        filter: &BrowseFilter,
        before: Option<Cursor>,
        limit: usize,
        budget: usize,
    ) -> StoreResult<ScanPage<ObjectSummary, Cursor>> {
        use crate::store::console::{BrowseIndex, BrowseScan, browse_scan};
        let BrowseScan {
            index,
            upper,
            lower,
            budget,
        } = browse_scan(filter, before, limit, budget);
        let sql = match index {
            BrowseIndex::Label => BROWSE_BY_LABEL,
            BrowseIndex::Creator => BROWSE_BY_CREATOR,
            BrowseIndex::Type => BROWSE_BY_TYPE,
            BrowseIndex::Date => BROWSE_BY_DATE,
        };
        let budget_param = budget as i64;
        self.inner.read(async |db| {
            let rows = db
                .query(
                    sql,
                    &[
                        &collection.0,
                        &upper,
                        &lower,
                        &filter.object_type,
                        &filter.creator,
                        &filter.label,
                        &budget_param,
                    ],
                )
                .await?;
            let (keys, resume, budget_spent) = scan(&rows, limit, budget, |r| {
                (r.get::<_, i64>(0), r.get::<_, bool>(1))
            });
            let items = if keys.is_empty() {
                Vec::new()
            } else {
                db.query(SUMMARIES_BY_KEY, &[&collection.0, &keys])
                    .await?
                    .iter()
                    .map(summary_row)
                    .collect()
            };
            Ok(ScanPage {
                items,
                resume: resume.map(Cursor),
                budget_spent,
            })
        })
    }

    pub(super) fn console_locate(
        &self,
        collections: &[CollectionId],
        ids: &[String],
    ) -> StoreResult<Vec<ObjectSummary>> {
        let collections = uuids(collections);
        self.inner.read(async |db| {
            let mut out = Vec::new();
            for id in ids {
                out.extend(
                    db.query(SUMMARY_LATEST, &[&collections, id])
                        .await?
                        .iter()
                        .map(summary_row),
                );
            }
            Ok(out)
        })
    }

    pub(super) fn console_edges(
        &self,
        collections: &[CollectionId],
        object_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<Edge>> {
        let collections = uuids(collections);
        let limit = limit as i64;
        self.inner.read(async |db| {
            Ok(db
                .query(EDGES, &[&object_id, &collections, &limit])
                .await?
                .iter()
                .map(|r| Edge {
                    source: r.get(0),
                    target: r.get(1),
                    edge_type: r.get(2),
                    via: r.get(3),
                    collection: CollectionId(r.get(4)),
                })
                .collect())
        })
    }

    pub(super) fn console_statuses(
        &self,
        member: Option<&str>,
        before: Option<&StatusCursor>,
        limit: usize,
    ) -> StoreResult<ScanPage<StatusSummary, StatusCursor>> {
        let sql = if member.is_some() {
            STATUSES_OF_MEMBER
        } else {
            STATUSES_ALL
        };
        let (at, id) = crate::store::console::status_position(before);
        let fetch = (limit + 1) as i64;
        let items: Vec<StatusSummary> = self.inner.read(async |db| {
            Ok(db
                .query(sql, &[&member, &at, &id, &fetch])
                .await?
                .iter()
                .map(status_summary)
                .collect())
        })?;
        Ok(crate::store::console::status_page(items, limit))
    }

    pub(super) fn console_audit(
        &self,
        filter: &AuditFilter,
        before: Option<AuditCursor>,
        limit: usize,
        budget: usize,
    ) -> StoreResult<ScanPage<AuditRecord, AuditCursor>> {
        use crate::store::console::{AuditIndex, AuditScan, audit_scan};
        let AuditScan {
            index,
            at,
            id,
            lower,
            budget,
        } = audit_scan(filter, before, limit, budget);
        let sql = match index {
            AuditIndex::Member => AUDIT_BY_MEMBER,
            AuditIndex::Action => AUDIT_BY_ACTION,
            AuditIndex::Time => AUDIT_BY_TIME,
        };
        let budget_param = budget as i64;
        let rows = self.inner.read(async |db| {
            db.query(
                sql,
                &[
                    &filter.member,
                    &filter.action,
                    &filter.outcome,
                    &at,
                    &id,
                    &lower,
                    &budget_param,
                ],
            )
            .await
        })?;
        let mut records = Vec::new();
        let (_, resume, budget_spent) = scan(&rows, limit, budget, |r| {
            let cursor = AuditCursor {
                at: Timestamp::from_micros(r.get(1)),
                id: r.get(0),
            };
            let hit: bool = r.get(9);
            if hit && records.len() < limit {
                records.push(AuditRecord {
                    id: cursor.id,
                    event: AuditEvent {
                        at: cursor.at,
                        member: r.get(2),
                        fingerprint: r.get(3),
                        action: r.get(4),
                        collection: r.get(5),
                        objects: r.get::<_, Option<i64>>(6).map(count),
                        outcome: r.get(7),
                        detail: r.get(8),
                    },
                });
            }
            (cursor, hit)
        });
        Ok(ScanPage {
            items: records,
            resume,
            budget_spent,
        })
    }
}
