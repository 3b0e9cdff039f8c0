//! The console's read models (schema 0004): counts, rollups, refusals,
//! newest-first browsing, relationship edges, submissions and audit pages.
//! Every statement walks one index in order and stops at a limit or a scan
//! budget, so a page costs the same at 10,000 objects as at 1,000,000.

use rusqlite::{Connection, Row, params};

use super::{SqliteStore, collect, collection_id, ts};
use crate::model::CollectionId;
use crate::store::*;

/// ?1 collections (JSON array). A deleted collection's rows go when it is
/// marked deleted (`collections_console_hide` in 0004).
const TYPE_COUNTS: &str = "SELECT collection_id, object_type, objects, versions
     FROM object_type_counts
     WHERE collection_id IN (SELECT value FROM json_each(?1)) AND versions > 0
     ORDER BY collection_id, object_type";

/// ?1 first period, ?2 action, ?3 collections (JSON array or NULL for all),
/// ?4 member (or NULL).
macro_rules! activity_sql {
    ($table:literal) => {
        concat!(
            "SELECT period, sector, SUM(objects), SUM(refused), SUM(requests) FROM ",
            $table,
            " WHERE period >= ?1 AND action = ?2
               AND (?3 IS NULL OR collection_id IN (SELECT value FROM json_each(?3)))
               AND collection_id IN (SELECT id FROM collections WHERE deleted_at IS NULL)
               AND (?4 IS NULL OR member = ?4)
             GROUP BY period, sector ORDER BY period, sector"
        )
    };
}
const ACTIVITY_HOURLY: &str = activity_sql!("activity_hourly");
const ACTIVITY_DAILY: &str = activity_sql!("activity_daily");

/// ?1 first day, ?2 collections (JSON or NULL), ?3 member (or NULL), ?4 limit.
const REFUSALS: &str = "SELECT reason, SUM(objects) AS n FROM refusals_daily
     WHERE period >= ?1
       AND (?2 IS NULL OR collection_id IN (SELECT value FROM json_each(?2)))
       AND collection_id IN (SELECT id FROM collections WHERE deleted_at IS NULL)
       AND (?3 IS NULL OR member = ?3)
     GROUP BY reason ORDER BY n DESC, reason LIMIT ?4";

// Browsing: each plan walks one index newest first and yields every
// candidate's key with whether it passes the remaining filters; the caller
// stops at a full page or at the scan budget. Parameters: ?1 collection,
// ?2 upper bound (exclusive) on date_added, ?3 lower bound (inclusive),
// ?4 type (or NULL), ?5 creator (or NULL), ?6 label, ?7 budget.
macro_rules! browse_rest {
    () => {
        " AND date_added < ?2 AND date_added >= ?3 ORDER BY date_added DESC LIMIT ?7"
    };
}
macro_rules! browse_hit {
    ($o:literal) => {
        concat!(
            "(",
            $o,
            "is_last = 1 AND (?4 IS NULL OR ",
            $o,
            "object_type IS ?4) AND (?5 IS NULL OR json_extract(",
            $o,
            "body, '$.created_by_ref') IS ?5))"
        )
    };
}
const BROWSE_BY_DATE: &str = concat!(
    "SELECT date_added, ",
    browse_hit!(""),
    " FROM objects INDEXED BY objects_page WHERE collection_id = ?1 AND ?6 IS NULL",
    browse_rest!()
);
const BROWSE_BY_TYPE: &str = concat!(
    "SELECT date_added, ",
    browse_hit!(""),
    " FROM objects INDEXED BY objects_type WHERE collection_id = ?1 AND object_type = ?4 AND ?6 IS NULL",
    browse_rest!()
);
const BROWSE_BY_CREATOR: &str = concat!(
    "SELECT date_added, ",
    browse_hit!(""),
    " FROM objects INDEXED BY objects_creator
      WHERE collection_id = ?1 AND json_extract(body, '$.created_by_ref') = ?5 AND ?6 IS NULL",
    browse_rest!()
);
const BROWSE_BY_LABEL: &str = concat!(
    "SELECT l.date_added, ",
    browse_hit!("o."),
    " FROM object_labels l
      CROSS JOIN objects o ON o.date_added = l.date_added
      WHERE l.collection_id = ?1 AND l.label = ?6
        AND l.date_added < ?2 AND l.date_added >= ?3
      ORDER BY l.date_added DESC LIMIT ?7"
);

macro_rules! summary_columns {
    () => {
        "SELECT date_added, collection_id, object_id, object_type, version_text, spec_version,
            json_extract(body, '$.name'), json_extract(body, '$.created_by_ref'),
            CASE json_type(body, '$.labels') WHEN 'array' THEN json_extract(body, '$.labels') END
         FROM objects"
    };
}
/// ?1 date_added keys (JSON array).
const SUMMARIES_BY_KEY: &str = concat!(
    summary_columns!(),
    " WHERE date_added IN (SELECT value FROM json_each(?1)) ORDER BY date_added DESC"
);
/// ?1 collections (JSON array), ?2 object id.
const SUMMARY_LATEST: &str = concat!(
    summary_columns!(),
    " INDEXED BY objects_version
      WHERE collection_id IN (SELECT value FROM json_each(?1)) AND object_id = ?2 AND is_last = 1"
);

/// ?1 object id, ?2 collections (JSON array), ?3 limit each way. Only edges
/// whose relationship or sighting is in its latest version count.
const EDGES: &str = "SELECT * FROM (
        SELECT e.source_ref, e.target_ref, e.edge_type, e.via_id, e.collection_id
        FROM object_edges e
        CROSS JOIN objects o ON o.date_added = e.date_added
        WHERE e.source_ref = ?1 AND e.collection_id IN (SELECT value FROM json_each(?2))
          AND o.is_last = 1
        LIMIT ?3)
     UNION ALL SELECT * FROM (
        SELECT e.source_ref, e.target_ref, e.edge_type, e.via_id, e.collection_id
        FROM object_edges e INDEXED BY object_edges_target
        CROSS JOIN objects o ON o.date_added = e.date_added
        WHERE e.target_ref = ?1 AND e.collection_id IN (SELECT value FROM json_each(?2))
          AND o.is_last = 1
        LIMIT ?3)";

macro_rules! status_columns {
    () => {
        "SELECT id, api_root, collection_id, member, request_timestamp, completed,
            total_count, success_count, failure_count, pending_count FROM statuses"
    };
}
/// ?1 member, ?2/?3 cursor (request_timestamp, id) exclusive, ?4 limit.
const STATUSES_OF_MEMBER: &str = concat!(
    status_columns!(),
    " INDEXED BY statuses_member WHERE member = ?1 AND (request_timestamp, id) < (?2, ?3)
      ORDER BY request_timestamp DESC, id DESC LIMIT ?4"
);
const STATUSES_ALL: &str = concat!(
    status_columns!(),
    " INDEXED BY statuses_requested WHERE ?1 IS NULL AND (request_timestamp, id) < (?2, ?3)
      ORDER BY request_timestamp DESC, id DESC LIMIT ?4"
);

// The audit page: one index newest first by (at, id), the other filters
// checked on each candidate. ?1 member, ?2 action, ?3 outcome, ?4/?5 cursor
// (at, id) exclusive, ?6 lower bound on at (inclusive), ?7 budget.
macro_rules! audit_columns {
    () => {
        "SELECT id, at, member, fingerprint, action, collection, objects, outcome, detail,
            ((?1 IS NULL OR member IS ?1) AND (?2 IS NULL OR action IS ?2)
             AND (?3 IS NULL OR outcome IS ?3)) FROM audit"
    };
}
macro_rules! audit_rest {
    () => {
        " AND (at, id) < (?4, ?5) AND at >= ?6 ORDER BY at DESC, id DESC LIMIT ?7"
    };
}
const AUDIT_BY_MEMBER: &str = concat!(
    audit_columns!(),
    " INDEXED BY audit_member WHERE member = ?1",
    audit_rest!()
);
const AUDIT_BY_ACTION: &str = concat!(
    audit_columns!(),
    " INDEXED BY audit_action WHERE action = ?2",
    audit_rest!()
);
const AUDIT_BY_TIME: &str = concat!(
    audit_columns!(),
    " INDEXED BY audit_at WHERE 1",
    audit_rest!()
);

const COUNT_INSERTED: &str =
    "INSERT INTO object_type_counts (collection_id, object_type, versions, objects)
     VALUES (?1, ?2, 1, ?3)
     ON CONFLICT (collection_id, object_type) DO UPDATE
        SET versions = versions + 1, objects = objects + excluded.objects";
const LABEL_INSERT: &str =
    "INSERT OR IGNORE INTO object_labels (collection_id, label, date_added) VALUES (?3, ?2, ?1)";
const EDGE_INSERT: &str = "INSERT OR IGNORE INTO object_edges
        (date_added, source_ref, target_ref, edge_type, collection_id, via_id)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Counts a new object version and adds its labels, and a relationship's or
/// sighting's edges, as the writer stores it or `store copy` imports it
/// (inside its transaction): the same rows the schema-0004 migration
/// derives for objects stored before it.
pub(super) fn index_object(
    tx: &Connection,
    collection: &str,
    date_added: i64,
    (id, object_type, body): (&str, &str, &str),
    is_last: bool,
) -> StoreResult<()> {
    tx.prepare_cached(COUNT_INSERTED)?
        .execute(params![collection, object_type, is_last])?;
    let found = index_entries(id, object_type, body);
    let labels = found.labels;
    if !labels.is_empty() {
        let mut insert = tx.prepare_cached(LABEL_INSERT)?;
        for label in &labels {
            insert.execute(params![date_added, label, collection])?;
        }
    }
    let edges = found.edges;
    if !edges.is_empty() {
        let mut insert = tx.prepare_cached(EDGE_INSERT)?;
        for (source, target, kind) in edges {
            insert.execute(params![date_added, source, target, kind, collection, id])?;
        }
    }
    Ok(())
}

fn ids_json(collections: &[CollectionId]) -> String {
    let ids: Vec<String> = collections.iter().map(|c| c.to_string()).collect();
    serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

fn summary_row(r: &Row<'_>) -> rusqlite::Result<ObjectSummary> {
    let labels: Option<String> = r.get(8)?;
    Ok(ObjectSummary {
        date_added: ts(r.get(0)?),
        collection: collection_id(r.get(1)?)?,
        id: r.get(2)?,
        object_type: r.get(3)?,
        version: r.get(4)?,
        spec_version: r.get(5)?,
        name: text_value(r, 6)?,
        created_by: text_value(r, 7)?,
        labels: labels
            .and_then(|text| serde_json::from_str::<Vec<serde_json::Value>>(&text).ok())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    })
}

/// A JSON value that should be a string; anything else (a hostile `name`
/// that is a number or an object) reads as absent.
fn text_value(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(i)? {
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        _ => None,
    })
}

fn status_summary(r: &Row<'_>) -> rusqlite::Result<StatusSummary> {
    Ok(StatusSummary {
        id: r.get(0)?,
        api_root: r.get(1)?,
        collection: collection_id(r.get(2)?)?,
        member: r.get(3)?,
        request_timestamp: ts(r.get(4)?),
        completed: r.get::<_, Option<i64>>(5)?.map(ts),
        total: count(r.get(6)?),
        successes: count(r.get(7)?),
        failures: count(r.get(8)?),
        pendings: count(r.get(9)?),
    })
}

/// Walks a plan's candidates, keeping hits until the page is full (one
/// extra hit proves there is more) or the budget is spent.
fn scan<K: Copy>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    limit: usize,
    budget: usize,
    mut row: impl FnMut(&Row<'_>) -> rusqlite::Result<(K, bool)>,
) -> StoreResult<(Vec<K>, Option<K>, bool)> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut hits = Vec::new();
    let mut scanned = 0usize;
    let mut last = None;
    while let Some(r) = rows.next()? {
        let (key, hit) = row(r)?;
        scanned += 1;
        if hit {
            if hits.len() == limit {
                // A further hit exists: the page ends at the last kept one.
                let resume = hits.last().copied();
                return Ok((hits, resume, false));
            }
            hits.push(key);
        }
        last = Some(key);
    }
    if scanned >= budget {
        // Stopped by the budget: resume after the last row examined.
        return Ok((hits, last, true));
    }
    Ok((hits, None, false))
}

impl SqliteStore {
    pub(super) fn console_type_counts(
        &self,
        collections: &[CollectionId],
    ) -> StoreResult<Vec<TypeCount>> {
        self.read(|c| {
            collect(c, TYPE_COUNTS, [ids_json(collections)], |r| {
                Ok(TypeCount {
                    collection: collection_id(r.get(0)?)?,
                    object_type: r.get(1)?,
                    objects: count(r.get(2)?),
                    versions: count(r.get(3)?),
                })
            })
        })
    }

    pub(super) fn console_activity(&self, q: &ActivityQuery) -> StoreResult<Vec<ActivityBucket>> {
        let sql = match q.granularity {
            Granularity::Hour => ACTIVITY_HOURLY,
            Granularity::Day => ACTIVITY_DAILY,
        };
        let collections = q.collections.as_deref().map(ids_json);
        self.read(|c| {
            collect(
                c,
                sql,
                params![
                    q.granularity.period_of(q.since),
                    q.action.as_str(),
                    collections,
                    q.member
                ],
                |r| {
                    Ok(ActivityBucket {
                        period: r.get(0)?,
                        sector: r.get(1)?,
                        objects: count(r.get(2)?),
                        refused: count(r.get(3)?),
                        requests: count(r.get(4)?),
                    })
                },
            )
        })
    }

    pub(super) fn console_refusals(&self, q: &RefusalQuery) -> StoreResult<Vec<RefusalCount>> {
        let collections = q.collections.as_deref().map(ids_json);
        self.read(|c| {
            collect(
                c,
                REFUSALS,
                params![
                    Granularity::Day.period_of(q.since),
                    collections,
                    q.member,
                    q.limit as i64
                ],
                |r| {
                    Ok(RefusalCount {
                        reason: r.get(0)?,
                        objects: count(r.get(1)?),
                    })
                },
            )
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
        self.read(|c| {
            let (keys, resume, budget_spent) = scan(
                c,
                sql,
                params![
                    collection.to_string(),
                    upper,
                    lower,
                    filter.object_type,
                    filter.creator,
                    filter.label,
                    budget as i64
                ],
                limit,
                budget,
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?)),
            )?;
            let items = if keys.is_empty() {
                Vec::new()
            } else {
                let keys = serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into());
                collect(c, SUMMARIES_BY_KEY, [keys], summary_row)?
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
        let collections = ids_json(collections);
        self.read(|c| {
            let mut out = Vec::new();
            for id in ids {
                out.extend(collect(
                    c,
                    SUMMARY_LATEST,
                    params![collections, id],
                    summary_row,
                )?);
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
        self.read(|c| {
            collect(
                c,
                EDGES,
                params![object_id, ids_json(collections), limit as i64],
                |r| {
                    Ok(Edge {
                        source: r.get(0)?,
                        target: r.get(1)?,
                        edge_type: r.get(2)?,
                        via: r.get(3)?,
                        collection: collection_id(r.get(4)?)?,
                    })
                },
            )
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
        let items = self.read(|c| {
            collect(
                c,
                sql,
                params![member, at, id, (limit + 1) as i64],
                status_summary,
            )
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
        self.read(|c| {
            let mut records = Vec::new();
            let (_, resume, budget_spent) = scan(
                c,
                sql,
                params![
                    filter.member,
                    filter.action,
                    filter.outcome,
                    at,
                    id,
                    lower,
                    budget as i64
                ],
                limit,
                budget,
                |r| {
                    let cursor = AuditCursor {
                        at: ts(r.get(1)?),
                        id: r.get(0)?,
                    };
                    let hit: bool = r.get(9)?;
                    if hit && records.len() < limit {
                        records.push(AuditRecord {
                            id: cursor.id,
                            event: AuditEvent {
                                at: cursor.at,
                                member: r.get(2)?,
                                fingerprint: r.get(3)?,
                                action: r.get(4)?,
                                collection: r.get(5)?,
                                objects: r.get::<_, Option<i64>>(6)?.map(count),
                                outcome: r.get(7)?,
                                detail: r.get(8)?,
                            },
                        });
                    }
                    Ok((cursor, hit))
                },
            )?;
            Ok(ScanPage {
                items: records,
                resume,
                budget_spent,
            })
        })
    }
}

#[cfg(test)]
mod tests;
