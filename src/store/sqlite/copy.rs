//! `store copy` for SQLite: reads in keyset batches from the reader pool,
//! writes each batch in one transaction on the writer thread.
//!
//! The statements only `store copy` uses are kept here; the others come
//! from `sql.rs`.

use rusqlite::params;

use super::{
    SqliteStore, collection_id, insert_certificate, insert_collection, member_id, sql, ts,
    upsert_api_root,
};
use crate::model::CollectionId;
use crate::store::copy::{ObjectRow, Portable, Settings, StatusRow, status_counts};
use crate::store::{AuditEvent, Grantee, StatusRecord, StoreError, StoreResult};

const OBJECTS_AFTER: &str =
    "SELECT collection_id, date_added, object_id, object_type, version, version_text,
        spec_version, is_first, is_last, body
     FROM objects INDEXED BY objects_page WHERE collection_id = ?1 AND date_added > ?2
     ORDER BY date_added LIMIT ?3";
const STATUSES_AFTER: &str =
    "SELECT id, api_root, collection_id, member, request_timestamp, completed, details, payload
     FROM statuses WHERE id > ?1 ORDER BY id LIMIT ?2";
const AUDIT_AFTER: &str =
    "SELECT id, at, member, fingerprint, action, collection, objects, outcome, detail
     FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2";
const IS_EMPTY: &str =
    "SELECT NOT EXISTS (SELECT 1 FROM members) AND NOT EXISTS (SELECT 1 FROM collections)
     AND NOT EXISTS (SELECT 1 FROM objects) AND NOT EXISTS (SELECT 1 FROM audit)";
const CURSOR_KEY_SET: &str = "INSERT INTO meta (key, value) VALUES ('cursor_key', ?1)
     ON CONFLICT(key) DO UPDATE SET value = excluded.value";
const MEMBER_INSERT_AS_IS: &str = "INSERT INTO members (name, sector, contact, identity_ref, clearance, suspended, is_operator, created)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const OBJECT_INSERT_AS_IS: &str =
    "INSERT INTO objects (date_added, collection_id, object_id, object_type, version,
        version_text, spec_version, is_first, is_last, body)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const CLOCK_AT_LEAST: &str = "UPDATE clock SET last_added = max(last_added, ?1) WHERE id = 1";

impl Portable for SqliteStore {
    fn cursor_key(&self) -> StoreResult<Vec<u8>> {
        SqliteStore::cursor_key(self)
    }

    fn export_objects(
        &self,
        collection: CollectionId,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<ObjectRow>> {
        self.read(|c| {
            super::collect(
                c,
                OBJECTS_AFTER,
                params![collection.to_string(), after, limit as i64],
                |r| {
                    Ok(ObjectRow {
                        collection: collection_id(r.get(0)?)?,
                        date_added: r.get(1)?,
                        id: r.get(2)?,
                        object_type: r.get(3)?,
                        version: r.get(4)?,
                        version_text: r.get(5)?,
                        spec_version: r.get(6)?,
                        is_first: r.get(7)?,
                        is_last: r.get(8)?,
                        body: r.get(9)?,
                    })
                },
            )
        })
    }

    fn export_statuses(&self, after: &str, limit: usize) -> StoreResult<Vec<StatusRow>> {
        let rows = self.read(|c| {
            super::collect(c, STATUSES_AFTER, params![after, limit as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    collection_id(r.get(2)?)?,
                    r.get::<_, Option<String>>(3)?,
                    ts(r.get(4)?),
                    r.get::<_, Option<i64>>(5)?.map(ts),
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })
        })?;
        rows.into_iter()
            .map(
                |(id, api_root, collection, member, requested, completed, details, payload)| {
                    Ok(StatusRow {
                        record: StatusRecord {
                            id,
                            api_root,
                            collection,
                            member,
                            request_timestamp: requested,
                            completed,
                            details: super::status_details(&details)?,
                        },
                        payload,
                    })
                },
            )
            .collect()
    }

    fn export_audit(&self, after: i64, limit: usize) -> StoreResult<Vec<(i64, AuditEvent)>> {
        self.read(|c| {
            super::collect(c, AUDIT_AFTER, params![after, limit as i64], |r| {
                Ok((
                    r.get(0)?,
                    AuditEvent {
                        at: ts(r.get(1)?),
                        member: r.get(2)?,
                        fingerprint: r.get(3)?,
                        action: r.get(4)?,
                        collection: r.get(5)?,
                        objects: r.get::<_, Option<i64>>(6)?.map(|n| n as u64),
                        outcome: r.get(7)?,
                        detail: r.get(8)?,
                    },
                ))
            })
        })
    }

    fn is_empty(&self) -> StoreResult<bool> {
        self.read(|c| Ok(c.query_row(IS_EMPTY, [], |r| r.get(0))?))
    }

    fn import_settings(&self, s: &Settings) -> StoreResult<()> {
        let s = s.clone();
        self.writer.exec(move |tx| {
            tx.execute(CURSOR_KEY_SET, [&s.cursor_key])?;
            for root in &s.api_roots {
                upsert_api_root(tx, root)?;
            }
            for c in &s.collections {
                insert_collection(tx, c)?;
            }
            for m in &s.members {
                tx.execute(
                    MEMBER_INSERT_AS_IS,
                    params![
                        m.name,
                        m.sector,
                        m.contact,
                        m.identity_ref,
                        m.clearance.as_str(),
                        m.suspended,
                        m.is_operator,
                        m.created.micros()
                    ],
                )?;
            }
            for cert in &s.certificates {
                insert_certificate(tx, member_id(tx, &cert.member)?, cert)?;
            }
            for g in &s.grants {
                let collection = g.collection.to_string();
                match &g.grantee {
                    Grantee::Member(name) => {
                        let id = member_id(tx, name)?;
                        tx.execute(
                            sql::GRANT_UPSERT_MEMBER,
                            params![collection, id, g.read, g.write],
                        )?
                    }
                    Grantee::Sector(sector) => tx.execute(
                        sql::GRANT_UPSERT_SECTOR,
                        params![collection, sector, g.read, g.write],
                    )?,
                };
            }
            for t in &s.tokens {
                let member = member_id(tx, &t.member)?;
                tx.execute(
                    sql::TOKEN_INSERT,
                    params![
                        t.id,
                        member,
                        t.hash,
                        t.created.micros(),
                        t.expires.map(|e| e.micros())
                    ],
                )?;
                if let Some(at) = t.revoked_at {
                    tx.execute(sql::TOKEN_REVOKE, params![t.id, at.micros()])?;
                }
            }
            Ok(())
        })
    }

    fn import_objects(&self, rows: &[ObjectRow]) -> StoreResult<()> {
        let rows = rows.to_vec();
        self.writer.exec(move |tx| {
            let mut stmt = tx.prepare_cached(OBJECT_INSERT_AS_IS)?;
            for o in &rows {
                stmt.execute(params![
                    o.date_added,
                    o.collection.to_string(),
                    o.id,
                    o.object_type,
                    o.version,
                    o.version_text,
                    o.spec_version,
                    o.is_first,
                    o.is_last,
                    o.body
                ])
                .map_err(|e| match e.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::ConstraintViolation) => {
                        StoreError::Conflict(format!(
                            "date_added {} of {} is already taken in the target",
                            o.date_added, o.id
                        ))
                    }
                    _ => StoreError::Sqlite(e),
                })?;
                super::console::index_object(
                    tx,
                    &o.collection.to_string(),
                    o.date_added,
                    (&o.id, &o.object_type, &o.body),
                    o.is_last,
                )?;
            }
            Ok(())
        })
    }

    fn import_statuses(&self, rows: &[StatusRow]) -> StoreResult<()> {
        let rows = rows.to_vec();
        self.writer.exec(move |tx| {
            let mut stmt = tx.prepare_cached(sql::STATUS_UPSERT)?;
            for row in &rows {
                let r = &row.record;
                let [total, successes, failures, pendings] = status_counts(r);
                let details = serde_json::to_string(&r.details)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                stmt.execute(params![
                    r.id,
                    r.api_root,
                    r.collection.to_string(),
                    r.member,
                    r.request_timestamp.micros(),
                    r.completed.map(|t| t.micros()),
                    total,
                    successes,
                    failures,
                    pendings,
                    details,
                    row.payload
                ])?;
            }
            Ok(())
        })
    }

    fn import_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        let events = events.to_vec();
        self.writer
            .exec(move |tx| super::writer::write_audits(tx, &events))
    }

    fn clock_at_least(&self, last: i64) -> StoreResult<()> {
        self.writer.exec(move |tx| {
            tx.execute(CLOCK_AT_LEAST, [last])?;
            Ok(())
        })
    }
}
