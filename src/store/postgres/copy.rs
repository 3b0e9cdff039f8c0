//! `store copy` for PostgreSQL: keyset reads, and each batch written in one
//! transaction with the same multi-row statements ingest uses.

use super::members;
use super::pool::Db;
use super::{PgStore, sql, statuses};
use crate::model::{CollectionId, Timestamp};
use crate::store::copy::{ObjectRow, Portable, Settings, StatusRow};
use crate::store::{AuditEvent, StatusRecord, StoreResult};

impl Portable for PgStore {
    fn cursor_key(&self) -> StoreResult<Vec<u8>> {
        PgStore::cursor_key(self)
    }

    fn export_objects(
        &self,
        collection: CollectionId,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<ObjectRow>> {
        self.inner.read(async |db| {
            Ok(db
                .query(
                    sql::OBJECTS_AFTER,
                    &[&collection.0, &after, &(limit as i64)],
                )
                .await?
                .iter()
                .map(|r| ObjectRow {
                    collection: CollectionId(r.get(0)),
                    date_added: r.get(1),
                    id: r.get(2),
                    object_type: r.get(3),
                    version: r.get(4),
                    version_text: r.get(5),
                    spec_version: r.get(6),
                    is_first: r.get(7),
                    is_last: r.get(8),
                    body: r.get(9),
                })
                .collect())
        })
    }

    fn export_statuses(&self, after: &str, limit: usize) -> StoreResult<Vec<StatusRow>> {
        self.inner.read(async |db| {
            db.query(sql::STATUSES_AFTER, &[&after, &(limit as i64)])
                .await?
                .iter()
                .map(|r| {
                    Ok(StatusRow {
                        record: StatusRecord {
                            id: r.get(0),
                            api_root: r.get(1),
                            collection: CollectionId(r.get(2)),
                            member: r.get(3),
                            request_timestamp: Timestamp::from_micros(r.get(4)),
                            completed: r.get::<_, Option<i64>>(5).map(Timestamp::from_micros),
                            details: super::status_details(r.get(6))?,
                        },
                        payload: r.get(7),
                    })
                })
                .collect()
        })
    }

    fn export_audit(&self, after: i64, limit: usize) -> StoreResult<Vec<(i64, AuditEvent)>> {
        self.inner.read(async |db| {
            Ok(db
                .query(sql::AUDIT_AFTER, &[&after, &(limit as i64)])
                .await?
                .iter()
                .map(|r| {
                    (
                        r.get(0),
                        AuditEvent {
                            at: Timestamp::from_micros(r.get(1)),
                            member: r.get(2),
                            fingerprint: r.get(3),
                            action: r.get(4),
                            collection: r.get(5),
                            objects: r.get::<_, Option<i64>>(6).map(|n| n as u64),
                            outcome: r.get(7),
                            detail: r.get(8),
                        },
                    )
                })
                .collect())
        })
    }

    fn is_empty(&self) -> StoreResult<bool> {
        self.inner
            .read(async |db| Ok(db.query_one(sql::IS_EMPTY, &[]).await?.get(0)))
    }

    fn import_settings(&self, s: &Settings) -> StoreResult<()> {
        self.auth_write(async |db| {
            db.execute(sql::CURSOR_KEY_SET, &[&s.cursor_key]).await?;
            for root in &s.api_roots {
                members::upsert_api_root(db, root).await?;
            }
            for c in &s.collections {
                members::insert_collection(db, c).await?;
            }
            for m in &s.members {
                db.execute(
                    sql::MEMBER_INSERT_AS_IS,
                    &[
                        &m.name,
                        &m.sector,
                        &m.contact,
                        &m.identity_ref,
                        &m.clearance.as_str(),
                        &m.suspended,
                        &m.is_operator,
                        &m.created.micros(),
                    ],
                )
                .await?;
            }
            for cert in &s.certificates {
                members::add_certificate(db, cert).await?;
            }
            for g in &s.grants {
                members::set_grant(db, g).await?;
            }
            for t in &s.tokens {
                members::add_token(db, t).await?;
            }
            Ok(())
        })
    }

    fn import_objects(&self, rows: &[ObjectRow]) -> StoreResult<()> {
        self.inner
            .write(async |db| super::objects::insert_as_is(db, rows).await)
    }

    fn import_statuses(&self, rows: &[StatusRow]) -> StoreResult<()> {
        self.inner.write(async |db: &Db<'_, _>| {
            for row in rows {
                statuses::upsert(
                    db,
                    std::slice::from_ref(&row.record),
                    row.payload.as_deref(),
                )
                .await?;
            }
            Ok(())
        })
    }

    fn import_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        self.inner
            .write(async |db| super::audit::insert(db, events).await)
    }

    fn clock_at_least(&self, last: i64) -> StoreResult<()> {
        self.inner.write(async |db| {
            db.query(sql::CLOCK_AT_LEAST, &[&last]).await?;
            Ok(())
        })
    }
}
