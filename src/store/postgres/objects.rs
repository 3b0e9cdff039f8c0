//! Objects: the ingest transaction (one per group of envelopes for one
//! collection), pages, versions and deletion.

use std::collections::{BTreeMap, HashMap, HashSet};

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::console;
use super::pool::Db;
use super::sql;
use crate::model::{CollectionId, Timestamp};
use crate::store::{
    Cursor, IngestBatch, NewObject, ObjectFilter, Page, StatusDetail, StatusDetails, StatusRecord,
    StoreResult, StoredObject, VersionFilter, payload, same_json,
};

/// Rows per statement when a transaction writes many: bounds each
/// statement's parameters whatever the envelope's size.
const CHUNK: usize = 2_000;

/// The two 32-bit advisory-lock keys of a collection (see `sql::COLLECTION_LOCK`).
pub fn lock_keys(collection: CollectionId) -> (i32, i32) {
    let b = collection.0.as_bytes();
    (
        i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    )
}

/// Takes the collection's write lock for the rest of the transaction, then
/// checks the collection still exists and is not deleted.
pub async fn lock_collection<C: GenericClient>(
    db: &Db<'_, C>,
    collection: CollectionId,
) -> StoreResult<bool> {
    let (a, b) = lock_keys(collection);
    db.query(sql::COLLECTION_LOCK, &[&a, &b]).await?;
    // A new statement, so a new snapshot: it sees every commit made before
    // the lock was granted.
    Ok(db
        .query_one(sql::COLLECTION_LIVE, &[&collection.0])
        .await?
        .get(0))
}

/// A version already stored, or added earlier in this transaction.
struct Known {
    version_text: String,
    /// The body, when it was fetched (stored rows at an incoming version)
    /// or added in this transaction.
    body: Option<String>,
}

#[derive(Default)]
struct ObjectState {
    versions: BTreeMap<i64, Known>,
    stored_min: Option<i64>,
    stored_max: Option<i64>,
}

struct NewRow<'a> {
    date_added: i64,
    object: &'a NewObject,
    version: i64,
    version_text: String,
}

/// What one envelope came to.
pub enum Outcome {
    /// Stored now: the completed status to record.
    Done(StatusRecord),
    /// Another transaction completed it first (a pending envelope finished
    /// by two nodes): its recorded status.
    AlreadyDone(StatusRecord),
}

/// Stores a group of envelopes for one collection in the caller's
/// transaction, which already holds the collection's lock: decides every
/// object against what is stored, takes date_added values from the clock,
/// inserts, and records each envelope's completed status and audit event.
/// Into a collection that is not `live` (deleted while the envelopes were
/// on their way) nothing is stored: every object is a failure saying so.
pub async fn apply_group<C: GenericClient>(
    db: &Db<'_, C>,
    collection: CollectionId,
    live: bool,
    batches: &[IngestBatch],
    now: Timestamp,
) -> StoreResult<Vec<Outcome>> {
    // Envelopes accepted as pending may be finished by two nodes at once:
    // whoever locks the status row first finishes it.
    let ids: Vec<&str> = batches.iter().map(|b| b.status_id.as_str()).collect();
    let mut finished: HashMap<String, (Timestamp, String)> = HashMap::new();
    for row in db.query(sql::STATUSES_LOCK, &[&ids]).await? {
        let completed: Option<i64> = row.get(1);
        if let Some(done) = completed {
            finished.insert(row.get(0), (Timestamp::from_micros(done), row.get(2)));
        }
    }

    let todo: Vec<&IngestBatch> = batches
        .iter()
        .filter(|b| !finished.contains_key(&b.status_id))
        .collect();
    if !live {
        return record_gone(db, collection, batches, &todo, &finished, now).await;
    }
    let mut states: HashMap<&str, ObjectState> = HashMap::new();
    let incoming: Vec<&str> = {
        let mut seen = HashSet::new();
        todo.iter()
            .flat_map(|b| b.accepted.iter())
            .map(|o| o.id.as_str())
            .filter(|id| seen.insert(*id))
            .collect()
    };
    let incoming_set: HashSet<&str> = incoming.iter().copied().collect();
    for chunk in incoming.chunks(CHUNK) {
        for row in db
            .query(sql::OBJECT_VERSIONS_OF, &[&collection.0, &chunk])
            .await?
        {
            let id: String = row.get(0);
            let Some(key) = incoming_set.get(id.as_str()).copied() else {
                continue;
            };
            let version: i64 = row.get(1);
            let state = states.entry(key).or_default();
            state.stored_min = Some(state.stored_min.map_or(version, |m| m.min(version)));
            state.stored_max = Some(state.stored_max.map_or(version, |m| m.max(version)));
            state.versions.insert(
                version,
                Known {
                    version_text: row.get(2),
                    body: None,
                },
            );
        }
    }
    // Bodies only where an incoming version is already stored (a repost).
    let mut repost_ids = Vec::new();
    let mut repost_versions = Vec::new();
    for o in todo.iter().flat_map(|b| b.accepted.iter()) {
        if let (Some((v, _)), Some(state)) = (&o.version, states.get(o.id.as_str()))
            && state.versions.contains_key(&v.micros())
        {
            repost_ids.push(o.id.as_str());
            repost_versions.push(v.micros());
        }
    }
    for (ids, versions) in repost_ids.chunks(CHUNK).zip(repost_versions.chunks(CHUNK)) {
        for row in db
            .query(sql::OBJECT_BODIES_AT, &[&collection.0, &ids, &versions])
            .await?
        {
            let id: String = row.get(0);
            if let Some(state) = states.get_mut(id.as_str())
                && let Some(known) = state.versions.get_mut(&row.get::<_, i64>(1))
            {
                known.body = Some(row.get(2));
            }
        }
    }

    // One clock value per accepted object at most (duplicates leave gaps,
    // which cost nothing).
    let wanted: usize = todo.iter().map(|b| b.accepted.len()).sum();
    let mut next_added = if wanted > 0 {
        db.query_one(sql::TAKE_ADDED, &[&(wanted as i64)])
            .await?
            .get::<_, i64>(0)
    } else {
        0
    };

    let mut rows: Vec<NewRow<'_>> = Vec::new();
    let mut outcomes = Vec::with_capacity(batches.len());
    let mut statuses = Vec::new();
    for batch in batches {
        if let Some((completed, details)) = finished.get(&batch.status_id) {
            let details = super::status_details(details)?;
            outcomes.push(Outcome::AlreadyDone(
                batch.status(Some(*completed), details),
            ));
            continue;
        }
        let mut details = StatusDetails {
            successes: Vec::with_capacity(batch.accepted.len()),
            failures: batch.refused.clone(),
            pendings: Vec::new(),
        };
        for object in &batch.accepted {
            let state = states.entry(object.id.as_str()).or_default();
            match &object.version {
                Some((version, version_text)) => {
                    let v = version.micros();
                    if let Some(known) = state.versions.get(&v) {
                        let same = known
                            .body
                            .as_deref()
                            .is_some_and(|b| same_json(b, &object.body));
                        if same {
                            details
                                .successes
                                .push(success(object, version_text.clone()));
                        } else {
                            details.failures.push(StatusDetail {
                                id: object.id.clone(),
                                version: version_text.clone(),
                                message: Some(
                                    "a different object with this id and version is already stored; \
                                     a new version needs a later `modified`"
                                        .into(),
                                ),
                            });
                        }
                        continue;
                    }
                    state.versions.insert(
                        v,
                        Known {
                            version_text: version_text.clone(),
                            body: Some(object.body.clone()),
                        },
                    );
                    rows.push(NewRow {
                        date_added: next_added,
                        object,
                        version: v,
                        version_text: version_text.clone(),
                    });
                    next_added += 1;
                    details
                        .successes
                        .push(success(object, version_text.clone()));
                }
                None => {
                    // Unversioned (most SCOs): the id is derived from the
                    // content, so the same id again is the same object.
                    if let Some(known) = state.versions.values().next() {
                        details
                            .successes
                            .push(success(object, known.version_text.clone()));
                        continue;
                    }
                    let date_added = next_added;
                    next_added += 1;
                    let version_text = Timestamp::from_micros(date_added).to_string();
                    state.versions.insert(
                        date_added,
                        Known {
                            version_text: version_text.clone(),
                            body: Some(object.body.clone()),
                        },
                    );
                    rows.push(NewRow {
                        date_added,
                        object,
                        version: date_added,
                        version_text: version_text.clone(),
                    });
                    details.successes.push(success(object, version_text));
                }
            }
        }
        let record = batch.status(Some(now), details);
        statuses.push(record.clone());
        outcomes.push(Outcome::Done(record));
    }

    insert_rows(db, collection, &rows, &states).await?;
    super::statuses::upsert(db, &statuses, None).await?;
    let events: Vec<_> = statuses
        .iter()
        .zip(todo.iter())
        .map(|(record, batch)| push_event(batch, record, now))
        .collect();
    super::audit::insert(db, &events).await?;
    if !rows.is_empty() {
        db.query(sql::NOTIFY_OBJECTS, &[&collection.to_string()])
            .await?;
    }
    Ok(outcomes)
}

/// Completes envelopes for a deleted collection: every object refused.
async fn record_gone<C: GenericClient>(
    db: &Db<'_, C>,
    collection: CollectionId,
    batches: &[IngestBatch],
    todo: &[&IngestBatch],
    finished: &HashMap<String, (Timestamp, String)>,
    now: Timestamp,
) -> StoreResult<Vec<Outcome>> {
    let mut outcomes = Vec::with_capacity(batches.len());
    let mut statuses = Vec::new();
    for batch in batches {
        if let Some((completed, details)) = finished.get(&batch.status_id) {
            let details = super::status_details(details)?;
            outcomes.push(Outcome::AlreadyDone(
                batch.status(Some(*completed), details),
            ));
            continue;
        }
        let mut failures = batch.refused.clone();
        failures.extend(
            batch
                .accepted
                .iter()
                .map(|o| payload::refused_by_deleted_collection(collection, o)),
        );
        let details = StatusDetails {
            successes: Vec::new(),
            failures,
            pendings: Vec::new(),
        };
        let record = batch.status(Some(now), details);
        statuses.push(record.clone());
        outcomes.push(Outcome::Done(record));
    }
    super::statuses::upsert(db, &statuses, None).await?;
    let events: Vec<_> = statuses
        .iter()
        .zip(todo.iter())
        .map(|(record, batch)| push_event(batch, record, now))
        .collect();
    super::audit::insert(db, &events).await?;
    Ok(outcomes)
}

fn success(object: &NewObject, version: String) -> StatusDetail {
    StatusDetail {
        id: object.id.clone(),
        version,
        message: None,
    }
}

fn push_event(
    batch: &IngestBatch,
    record: &StatusRecord,
    now: Timestamp,
) -> crate::store::AuditEvent {
    let outcome = if record.details.failures.is_empty() {
        "ok"
    } else if record.details.successes.is_empty() {
        "refused"
    } else {
        "partial"
    };
    crate::store::AuditEvent {
        at: now,
        member: batch.member.clone(),
        fingerprint: batch.fingerprint.clone(),
        action: "push".into(),
        collection: Some(batch.collection.to_string()),
        objects: Some(record.total() as u64),
        outcome: outcome.into(),
        detail: Some(format!(
            "status {}: {} stored, {} refused",
            record.id,
            record.details.successes.len(),
            record.details.failures.len()
        )),
    }
}

/// Inserts the new rows with their first/last flags, clearing the flags of
/// stored versions they displace.
async fn insert_rows<C: GenericClient>(
    db: &Db<'_, C>,
    collection: CollectionId,
    rows: &[NewRow<'_>],
    states: &HashMap<&str, ObjectState>,
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // The final first and last version of every object touched.
    let mut ends: HashMap<&str, (i64, i64)> = HashMap::new();
    for row in rows {
        let id = row.object.id.as_str();
        let state = states.get(id);
        let lo = state.and_then(|s| s.versions.keys().next().copied());
        let hi = state.and_then(|s| s.versions.keys().next_back().copied());
        ends.insert(id, (lo.unwrap_or(row.version), hi.unwrap_or(row.version)));
    }
    let mut clear_first = Vec::new();
    let mut clear_last = Vec::new();
    for (id, (lo, hi)) in &ends {
        if let Some(state) = states.get(id) {
            if state.stored_min.is_some_and(|m| *lo < m) {
                clear_first.push(*id);
            }
            if state.stored_max.is_some_and(|m| *hi > m) {
                clear_last.push(*id);
            }
        }
    }
    for chunk in clear_first.chunks(CHUNK) {
        db.execute(sql::OBJECT_CLEAR_FIRST, &[&collection.0, &chunk])
            .await?;
    }
    for chunk in clear_last.chunks(CHUNK) {
        db.execute(sql::OBJECT_CLEAR_LAST, &[&collection.0, &chunk])
            .await?;
    }
    for chunk in rows.chunks(CHUNK) {
        let mut added = Vec::with_capacity(chunk.len());
        let mut ids = Vec::with_capacity(chunk.len());
        let mut types = Vec::with_capacity(chunk.len());
        let mut versions = Vec::with_capacity(chunk.len());
        let mut texts = Vec::with_capacity(chunk.len());
        let mut specs = Vec::with_capacity(chunk.len());
        let mut firsts = Vec::with_capacity(chunk.len());
        let mut lasts = Vec::with_capacity(chunk.len());
        let mut bodies = Vec::with_capacity(chunk.len());
        let mut index = console::Index::default();
        for row in chunk {
            let (lo, hi) = ends[row.object.id.as_str()];
            index.add(
                row.date_added,
                &row.object.id,
                &row.object.object_type,
                &row.object.body,
                row.version == hi,
            );
            added.push(row.date_added);
            ids.push(row.object.id.as_str());
            types.push(row.object.object_type.as_str());
            versions.push(row.version);
            texts.push(row.version_text.as_str());
            specs.push(row.object.spec_version.as_str());
            firsts.push(row.version == lo);
            lasts.push(row.version == hi);
            bodies.push(row.object.body.as_str());
        }
        db.execute(
            sql::OBJECT_INSERT_MANY,
            &[
                &collection.0,
                &added,
                &ids,
                &types,
                &versions,
                &texts,
                &specs,
                &firsts,
                &lasts,
                &bodies,
                &index.creators,
            ],
        )
        .await?;
        index.write(db, collection.0).await?;
    }
    Ok(())
}

/// Inserts rows copied from another database, keys and flags as they are.
pub async fn insert_as_is<C: GenericClient>(
    db: &Db<'_, C>,
    rows: &[crate::store::copy::ObjectRow],
) -> StoreResult<()> {
    let mut by_collection: BTreeMap<uuid::Uuid, Vec<&crate::store::copy::ObjectRow>> =
        BTreeMap::new();
    for row in rows {
        by_collection.entry(row.collection.0).or_default().push(row);
    }
    for (collection, rows) in by_collection {
        for chunk in rows.chunks(CHUNK) {
            let added: Vec<i64> = chunk.iter().map(|r| r.date_added).collect();
            let ids: Vec<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
            let types: Vec<&str> = chunk.iter().map(|r| r.object_type.as_str()).collect();
            let versions: Vec<i64> = chunk.iter().map(|r| r.version).collect();
            let texts: Vec<&str> = chunk.iter().map(|r| r.version_text.as_str()).collect();
            let specs: Vec<&str> = chunk.iter().map(|r| r.spec_version.as_str()).collect();
            let firsts: Vec<bool> = chunk.iter().map(|r| r.is_first).collect();
            let lasts: Vec<bool> = chunk.iter().map(|r| r.is_last).collect();
            let bodies: Vec<&str> = chunk.iter().map(|r| r.body.as_str()).collect();
            let mut index = console::Index::default();
            for r in chunk {
                index.add(r.date_added, &r.id, &r.object_type, &r.body, r.is_last);
            }
            db.execute(
                sql::OBJECT_INSERT_MANY,
                &[
                    &collection,
                    &added,
                    &ids,
                    &types,
                    &versions,
                    &texts,
                    &specs,
                    &firsts,
                    &lasts,
                    &bodies,
                    &index.creators,
                ],
            )
            .await?;
            index.write(db, collection).await?;
        }
    }
    Ok(())
}

/// Binds the version filter as ($all, $first, $last, $exact).
fn version_params(filter: &VersionFilter) -> (bool, bool, bool, Vec<i64>) {
    match filter {
        VersionFilter::All => (true, false, false, Vec::new()),
        VersionFilter::Select { first, last, exact } => (
            false,
            *first,
            *last,
            exact.iter().map(|t| t.micros()).collect(),
        ),
    }
}

fn list_or_null(values: &[String]) -> Option<&[String]> {
    (!values.is_empty()).then_some(values)
}

fn stored_object(row: &Row) -> StoredObject {
    StoredObject {
        date_added: Timestamp::from_micros(row.get(0)),
        id: row.get(1),
        version: row.get(2),
        spec_version: row.get(3),
        body: row.get(4),
    }
}

pub async fn page<C: GenericClient>(
    db: &Db<'_, C>,
    collection: CollectionId,
    filter: &ObjectFilter,
    after: Option<Cursor>,
    limit: usize,
    with_body: bool,
) -> StoreResult<Page<StoredObject>> {
    let lower = after
        .map(|c| c.0)
        .max(filter.added_after.map(|t| t.micros()))
        .unwrap_or(i64::MIN);
    let (all, first, last, exact) = version_params(&filter.versions);
    let specs = list_or_null(&filter.spec_versions);
    let fetch = limit.saturating_add(1).min(i64::MAX as usize) as i64;
    let no_list: Option<&[String]> = None;
    let rows = if !filter.ids.is_empty() {
        let sql = if with_body {
            sql::OBJECTS_PAGE_BY_ID
        } else {
            sql::MANIFEST_PAGE_BY_ID
        };
        db.query(
            sql,
            &[
                &collection.0,
                &lower,
                &filter.ids,
                &list_or_null(&filter.types),
                &specs,
                &all,
                &first,
                &last,
                &exact,
                &fetch,
            ],
        )
        .await?
    } else if filter.types.len() == 1 {
        let sql = if with_body {
            sql::OBJECTS_PAGE_BY_TYPE
        } else {
            sql::MANIFEST_PAGE_BY_TYPE
        };
        db.query(
            sql,
            &[
                &collection.0,
                &lower,
                &filter.types[0],
                &no_list,
                &specs,
                &all,
                &first,
                &last,
                &exact,
                &fetch,
            ],
        )
        .await?
    } else {
        let sql = if with_body {
            sql::OBJECTS_PAGE
        } else {
            sql::MANIFEST_PAGE
        };
        db.query(
            sql,
            &[
                &collection.0,
                &lower,
                &list_or_null(&filter.types),
                &no_list,
                &specs,
                &all,
                &first,
                &last,
                &exact,
                &fetch,
            ],
        )
        .await?
    };
    let mut items: Vec<StoredObject> = rows.iter().map(stored_object).collect();
    let more = items.len() > limit;
    items.truncate(limit);
    let last_key = items.last().map(|o| Cursor(o.date_added.micros()));
    Ok(Page {
        items,
        more,
        last_key,
    })
}

pub async fn versions<C: GenericClient>(
    db: &Db<'_, C>,
    collection: CollectionId,
    object_id: &str,
    filter: &ObjectFilter,
    after: Option<Cursor>,
    limit: usize,
) -> StoreResult<Page<StoredObject>> {
    let fetch = limit.saturating_add(1).min(i64::MAX as usize) as i64;
    let rows = db
        .query(
            sql::VERSIONS_PAGE,
            &[
                &collection.0,
                &object_id,
                &after.map(|c| c.0).unwrap_or(i64::MIN),
                &filter.added_after.map(|t| t.micros()).unwrap_or(i64::MIN),
                &list_or_null(&filter.spec_versions),
                &fetch,
            ],
        )
        .await?;
    let more = rows.len() > limit;
    let mut last_key = None;
    let items = rows
        .iter()
        .take(limit)
        .map(|r| {
            last_key = Some(Cursor(r.get(0)));
            StoredObject {
                date_added: Timestamp::from_micros(r.get(1)),
                id: r.get(2),
                version: r.get(3),
                spec_version: r.get(4),
                body: String::new(),
            }
        })
        .collect();
    Ok(Page {
        items,
        more,
        last_key,
    })
}

/// Deletes matching versions under the collection's lock (so first/last
/// flags stay right beside a concurrent ingest) and re-marks the ends.
pub async fn delete<C: GenericClient>(
    db: &Db<'_, C>,
    collection: CollectionId,
    object_id: &str,
    filter: &ObjectFilter,
) -> StoreResult<usize> {
    if !lock_collection(db, collection).await? {
        return Ok(0);
    }
    let (all, first, last, exact) = version_params(&filter.versions);
    let n = db
        .execute(
            sql::OBJECT_DELETE,
            &[
                &collection.0,
                &object_id,
                &list_or_null(&filter.spec_versions),
                &all,
                &first,
                &last,
                &exact,
            ],
        )
        .await?;
    if n > 0 {
        db.execute(sql::OBJECT_REMARK_ENDS, &[&collection.0, &object_id])
            .await?;
    }
    Ok(n as usize)
}
