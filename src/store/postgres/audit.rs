//! The audit log: one table every node appends to, read in time order.

use deadpool_postgres::GenericClient;

use super::pool::Db;
use super::sql;
use crate::model::Timestamp;
use crate::store::{AuditEvent, AuditQuery, StoreResult};

/// Events per statement.
const CHUNK: usize = 2_000;

pub async fn insert<C: GenericClient>(db: &Db<'_, C>, events: &[AuditEvent]) -> StoreResult<()> {
    for chunk in events.chunks(CHUNK) {
        let mut at = Vec::with_capacity(chunk.len());
        let mut member = Vec::with_capacity(chunk.len());
        let mut fingerprint = Vec::with_capacity(chunk.len());
        let mut action = Vec::with_capacity(chunk.len());
        let mut collection = Vec::with_capacity(chunk.len());
        let mut objects = Vec::with_capacity(chunk.len());
        let mut outcome = Vec::with_capacity(chunk.len());
        let mut detail = Vec::with_capacity(chunk.len());
        for e in chunk {
            at.push(e.at.micros());
            member.push(e.member.as_deref());
            fingerprint.push(e.fingerprint.as_deref());
            action.push(e.action.as_str());
            collection.push(e.collection.as_deref());
            objects.push(e.objects.map(|n| n as i64));
            outcome.push(e.outcome.as_str());
            detail.push(e.detail.as_deref());
        }
        db.execute(
            sql::AUDIT_INSERT_MANY,
            &[
                &at,
                &member,
                &fingerprint,
                &action,
                &collection,
                &objects,
                &outcome,
                &detail,
            ],
        )
        .await?;
    }
    Ok(())
}

pub async fn query<C: GenericClient>(
    db: &Db<'_, C>,
    q: &AuditQuery,
) -> StoreResult<Vec<AuditEvent>> {
    let limit = if q.limit == 0 {
        i64::MAX
    } else {
        q.limit as i64
    };
    Ok(db
        .query(
            sql::AUDIT_QUERY,
            &[
                &q.member,
                &q.since.map(|t| t.micros()).unwrap_or(i64::MIN),
                &limit,
            ],
        )
        .await?
        .iter()
        .map(|r| AuditEvent {
            at: Timestamp::from_micros(r.get(0)),
            member: r.get(1),
            fingerprint: r.get(2),
            action: r.get(3),
            collection: r.get(4),
            objects: r.get::<_, Option<i64>>(5).map(|n| n as u64),
            outcome: r.get(6),
            detail: r.get(7),
        })
        .collect())
}
