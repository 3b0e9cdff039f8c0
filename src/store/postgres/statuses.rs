//! Status resources: written with the envelope they describe, read by id
//! from any node, and the pending envelopes any node may finish.

use deadpool_postgres::GenericClient;

use super::pool::Db;
use super::sql;
use crate::model::{CollectionId, Timestamp};
use crate::store::{IngestBatch, StatusRecord, StoreError, StoreResult};

/// Writes (or completes) status records; `payload` is the pending
/// envelope's objects, kept until it completes.
pub async fn upsert<C: GenericClient>(
    db: &Db<'_, C>,
    records: &[StatusRecord],
    payload: Option<&str>,
) -> StoreResult<()> {
    if records.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut roots = Vec::new();
    let mut collections = Vec::new();
    let mut members = Vec::new();
    let mut requested = Vec::new();
    let mut completed = Vec::new();
    let mut totals = Vec::new();
    let mut successes = Vec::new();
    let mut failures = Vec::new();
    let mut pendings = Vec::new();
    let mut details = Vec::new();
    let mut payloads = Vec::new();
    for r in records {
        ids.push(r.id.as_str());
        roots.push(r.api_root.as_str());
        collections.push(r.collection.0);
        members.push(r.member.as_deref());
        requested.push(r.request_timestamp.micros());
        completed.push(r.completed.map(|t| t.micros()));
        totals.push(r.total() as i64);
        successes.push(r.details.successes.len() as i64);
        failures.push(r.details.failures.len() as i64);
        pendings.push(r.details.pendings.len() as i64);
        details.push(
            serde_json::to_string(&r.details).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        );
        payloads.push(payload);
    }
    db.execute(
        sql::STATUS_UPSERT_MANY,
        &[
            &ids,
            &roots,
            &collections,
            &members,
            &requested,
            &completed,
            &totals,
            &successes,
            &failures,
            &pendings,
            &details,
            &payloads,
        ],
    )
    .await?;
    Ok(())
}

pub async fn get<C: GenericClient>(db: &Db<'_, C>, id: &str) -> StoreResult<Option<StatusRecord>> {
    let Some(row) = db.query_opt(sql::STATUS, &[&id]).await? else {
        return Ok(None);
    };
    let details: String = row.get(6);
    Ok(Some(StatusRecord {
        id: row.get(0),
        api_root: row.get(1),
        collection: CollectionId(row.get(2)),
        member: row.get(3),
        request_timestamp: Timestamp::from_micros(row.get(4)),
        completed: row.get::<_, Option<i64>>(5).map(Timestamp::from_micros),
        details: super::status_details(&details)?,
    }))
}

/// Pending envelopes requested before `before` that no transaction is
/// finishing right now.
pub async fn pending<C: GenericClient>(
    db: &Db<'_, C>,
    before: Timestamp,
) -> StoreResult<Vec<IngestBatch>> {
    db.query(sql::STATUSES_PENDING, &[&before.micros()])
        .await?
        .into_iter()
        .map(|row| {
            let details = super::status_details(row.get::<_, &str>(5))?;
            let payload: String = row.get(6);
            Ok(IngestBatch {
                status_id: row.get(0),
                api_root: row.get(1),
                collection: CollectionId(row.get(2)),
                member: row.get(3),
                fingerprint: None,
                request_timestamp: Timestamp::from_micros(row.get(4)),
                accepted: crate::store::payload::parse(&payload)?,
                refused: details.failures,
            })
        })
        .collect()
}
