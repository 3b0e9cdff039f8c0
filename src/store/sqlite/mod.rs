//! SQLite backend: WAL, one writer thread, a pool of read-only connections.

pub mod backup;
mod console;
mod copy;
mod maintenance;
mod migrations;
mod space;
mod sql;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use self::writer::Writer;
use crate::model::{CollectionId, Tier, Timestamp};
use crate::store::*;

pub use crate::store::chunker::DEFAULT_MAX_ROWS;
pub use migrations::LATEST as SCHEMA_VERSION;

/// The writer connection's page cache, in KiB (a negative `cache_size`).
const WRITER_CACHE_KIB: i64 = -32 * 1024;

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct Options {
    /// The database file may not grow beyond this many bytes; writes that
    /// would need more fail with `StoreError::Full`, exactly as on a full
    /// disk. `None`: as large as the disk allows.
    pub max_database_bytes: Option<u64>,
    /// Most rows one maintenance transaction (purging a deleted collection
    /// or expired statuses) removes; each also aims at about 0.1 s.
    pub max_rows_per_transaction: usize,
    /// How long the writer waits for another process's write lock before
    /// failing with `StoreError::Busy`.
    pub busy_wait: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_database_bytes: None,
            max_rows_per_transaction: DEFAULT_MAX_ROWS,
            busy_wait: migrations::BUSY_WAIT,
        }
    }
}

pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
    space: Arc<space::Space>,
    max_rows: usize,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database file.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        Self::open_with(path, &Options::default())
    }

    pub fn open_with(path: &Path, options: &Options) -> StoreResult<SqliteStore> {
        let mut conn = Connection::open(path)?;
        migrations::setup_pragmas(&conn)?;
        migrations::migrate(&mut conn)?;
        // The writer walks the id index at random (UUIDs) for every object it
        // stores; SQLite's default 2 MiB cache makes most of those walks
        // re-read pages from the OS.
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        conn.set_prepared_statement_cache_capacity(64);
        if let Some(bytes) = options.max_database_bytes {
            // Beyond this page SQLite answers SQLITE_FULL, as a full disk does,
            // so the limit exercises the very same path. A limit below the
            // current size holds the file at its current size.
            let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
            let pages = (bytes / page_size.max(1) as u64).clamp(1, i64::MAX as u64) as i64;
            conn.pragma_update_and_check(None, "max_page_count", pages, |r| r.get::<_, i64>(0))?;
        }
        let space = Arc::new(space::Space::new(path, options.max_database_bytes));
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Writer::spawn(conn, space.clone(), options.busy_wait),
            readers: Mutex::new(Vec::new()),
            space,
            max_rows: options.max_rows_per_transaction,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The secret that authenticates pagination tokens.
    pub fn cursor_key(&self) -> StoreResult<Vec<u8>> {
        self.read(|c| Ok(c.query_row(sql::CURSOR_KEY, [], |r| r.get(0))?))
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => self.open_reader()?,
        };
        let result = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        // Keep a handful; extra connections from a burst are simply closed.
        if pool.len() < 16 {
            pool.push(conn);
        }
        result
    }

    fn open_reader(&self) -> StoreResult<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        migrations::wait_for_locks(&conn)?;
        conn.pragma_update(None, "query_only", "ON")?;
        migrations::stable_plans(&conn)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }
}

fn ts(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros)
}

fn tier(text: String) -> rusqlite::Result<Tier> {
    text.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

fn collection_id(text: String) -> rusqlite::Result<CollectionId> {
    CollectionId::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("bad collection id {text}").into(),
        )
    })
}

fn api_root_row(r: &Row<'_>) -> rusqlite::Result<ApiRoot> {
    Ok(ApiRoot {
        name: r.get(0)?,
        title: r.get(1)?,
        description: r.get(2)?,
        max_content_length: r.get::<_, i64>(3)? as u64,
        is_default: r.get(4)?,
    })
}

fn collection_row(r: &Row<'_>) -> rusqlite::Result<Collection> {
    Ok(Collection {
        id: collection_id(r.get(0)?)?,
        api_root: r.get(1)?,
        alias: r.get(2)?,
        title: r.get(3)?,
        description: r.get(4)?,
        tier: tier(r.get(5)?)?,
        created: ts(r.get(6)?),
    })
}

fn member_row(r: &Row<'_>) -> rusqlite::Result<Member> {
    Ok(Member {
        name: r.get(0)?,
        sector: r.get(1)?,
        contact: r.get(2)?,
        identity_ref: r.get(3)?,
        clearance: tier(r.get(4)?)?,
        suspended: r.get(5)?,
        is_operator: r.get(6)?,
        created: ts(r.get(7)?),
    })
}

fn certificate_row(r: &Row<'_>) -> rusqlite::Result<CertificateRecord> {
    Ok(CertificateRecord {
        member: r.get(0)?,
        fingerprint: r.get(1)?,
        serial: r.get(2)?,
        subject: r.get(3)?,
        not_before: ts(r.get(4)?),
        not_after: ts(r.get(5)?),
        revoked_at: r.get::<_, Option<i64>>(6)?.map(ts),
        added: ts(r.get(7)?),
    })
}

fn grant_row(r: &Row<'_>) -> rusqlite::Result<Grant> {
    let member: Option<String> = r.get(1)?;
    let sector: Option<String> = r.get(2)?;
    Ok(Grant {
        collection: collection_id(r.get(0)?)?,
        grantee: match (member, sector) {
            (Some(m), _) => Grantee::Member(m),
            (None, s) => Grantee::Sector(s.unwrap_or_default()),
        },
        read: r.get(3)?,
        write: r.get(4)?,
    })
}

fn token_row(r: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get(0)?,
        member: r.get(1)?,
        hash: r.get(2)?,
        created: ts(r.get(3)?),
        expires: r.get::<_, Option<i64>>(4)?.map(ts),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(ts),
    })
}

fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, f)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Writes `root` (a new one, or new settings of one).
fn upsert_api_root(tx: &Connection, root: &ApiRoot) -> rusqlite::Result<usize> {
    tx.execute(
        sql::API_ROOT_UPSERT,
        params![
            root.name,
            root.title,
            root.description,
            root.max_content_length as i64,
            root.is_default
        ],
    )
}

/// Writes the new collection `c`.
fn insert_collection(tx: &Connection, c: &Collection) -> rusqlite::Result<usize> {
    tx.execute(
        sql::COLLECTION_INSERT,
        params![
            c.id.to_string(),
            c.api_root,
            c.alias,
            c.title,
            c.description,
            c.tier.as_str(),
            c.created.micros()
        ],
    )
}

/// Registers `cert` for the member with row id `member`.
fn insert_certificate(
    tx: &Connection,
    member: i64,
    cert: &CertificateRecord,
) -> rusqlite::Result<usize> {
    tx.execute(
        sql::CERTIFICATE_INSERT,
        params![
            cert.fingerprint,
            member,
            cert.serial,
            cert.subject,
            cert.not_before.micros(),
            cert.not_after.micros(),
            cert.revoked_at.map(|t| t.micros()),
            cert.added.micros()
        ],
    )
}

fn member_id(tx: &Connection, name: &str) -> StoreResult<i64> {
    tx.query_row(sql::MEMBER_ID, [name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("member '{name}'")))
}

fn conflict(e: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(what())
        }
        other => StoreError::Sqlite(other),
    }
}

fn json_list<T: serde::Serialize>(values: &[T]) -> Option<String> {
    (!values.is_empty()).then(|| serde_json::to_string(values).unwrap_or_else(|_| "[]".into()))
}

/// Binds the version filter as (?6 all, ?7 first, ?8 last, ?9 exact JSON).
fn version_params(filter: &VersionFilter) -> (bool, bool, bool, String) {
    match filter {
        VersionFilter::All => (true, false, false, "[]".into()),
        VersionFilter::Select { first, last, exact } => {
            let exact: Vec<i64> = exact.iter().map(|t| t.micros()).collect();
            (
                false,
                *first,
                *last,
                serde_json::to_string(&exact).unwrap_or_else(|_| "[]".into()),
            )
        }
    }
}

fn stored_object(r: &Row<'_>) -> rusqlite::Result<StoredObject> {
    Ok(StoredObject {
        date_added: ts(r.get(0)?),
        id: r.get(1)?,
        version: r.get(2)?,
        spec_version: r.get(3)?,
        body: r.get(4)?,
    })
}

fn status_details(text: &str) -> StoreResult<StatusDetails> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("status details: {e}")))
}

impl Store for SqliteStore {
    fn api_roots(&self) -> StoreResult<Vec<ApiRoot>> {
        self.read(|c| collect(c, sql::API_ROOTS, [], api_root_row))
    }

    fn upsert_api_root(&self, root: ApiRoot) -> StoreResult<()> {
        self.writer.exec(move |tx| {
            upsert_api_root(tx, &root)?;
            if root.is_default {
                tx.execute(sql::API_ROOT_CLEAR_DEFAULT, [&root.name])?;
            }
            tx.execute(sql::AUTH_REVISION_BUMP, [])?;
            Ok(())
        })
    }

    fn delete_api_root(&self, name: &str) -> StoreResult<()> {
        let name = name.to_string();
        self.writer.exec(move |tx| {
            if tx.execute(sql::API_ROOT_DELETE, [&name])? == 0 {
                return Err(StoreError::Conflict(format!(
                    "API root '{name}' does not exist or still holds collections"
                )));
            }
            tx.execute(sql::AUTH_REVISION_BUMP, [])?;
            Ok(())
        })
    }

    fn collections(&self) -> StoreResult<Vec<Collection>> {
        self.read(|c| collect(c, sql::COLLECTIONS, [], collection_row))
    }

    fn collection(&self, id: CollectionId) -> StoreResult<Option<Collection>> {
        self.read(|c| {
            Ok(c.prepare_cached(sql::COLLECTION)?
                .query_row([id.to_string()], collection_row)
                .optional()?)
        })
    }

    fn create_collection(&self, new: NewCollection) -> StoreResult<Collection> {
        let collection = Collection {
            id: CollectionId::new_random(),
            api_root: new.api_root,
            alias: new.alias,
            title: new.title,
            description: new.description,
            tier: new.tier,
            created: Timestamp::now(),
        };
        let record = collection.clone();
        self.writer.exec(move |tx| {
            insert_collection(tx, &record).map_err(|e| {
                conflict(e, || {
                    format!(
                        "a collection with alias '{}' already exists in API root '{}', or the API root does not exist",
                        record.alias.clone().unwrap_or_default(),
                        record.api_root
                    )
                })
            })?;
            Ok(())
        })?;
        Ok(collection)
    }

    fn update_collection(
        &self,
        id: CollectionId,
        update: CollectionUpdate,
    ) -> StoreResult<Collection> {
        self.writer.exec(move |tx| {
            let mut current = tx
                .query_row(sql::COLLECTION, [id.to_string()], collection_row)
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("collection {id}")))?;
            if let Some(t) = update.title {
                current.title = t;
            }
            if let Some(d) = update.description {
                current.description = d;
            }
            if let Some(a) = update.alias {
                current.alias = a;
            }
            if let Some(t) = update.tier {
                current.tier = t;
            }
            tx.execute(
                sql::COLLECTION_UPDATE,
                params![
                    id.to_string(),
                    current.alias,
                    current.title,
                    current.description,
                    current.tier.as_str()
                ],
            )
            .map_err(|e| conflict(e, || "another collection already uses that alias".into()))?;
            Ok(current)
        })
    }

    fn delete_collection(&self, id: CollectionId) -> StoreResult<()> {
        self.writer.exec(move |tx| {
            let n = tx.execute(
                sql::COLLECTION_MARK_DELETED,
                params![id.to_string(), Timestamp::now().micros()],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("collection {id}")));
            }
            tx.execute(sql::COLLECTION_GRANTS_DELETE, [id.to_string()])?;
            Ok(())
        })
    }

    fn purge_deleted_collections(&self) -> StoreResult<PurgeReport> {
        let deleted = self.read(|c| {
            collect(c, sql::COLLECTIONS_DELETED, [], |r| {
                collection_id(r.get(0)?)
            })
        })?;
        maintenance::purge_collections(&self.writer, deleted, self.max_rows)
    }

    fn members(&self) -> StoreResult<Vec<Member>> {
        self.read(|c| collect(c, sql::MEMBERS, [], member_row))
    }

    fn create_member(&self, new: NewMember) -> StoreResult<Member> {
        self.writer.exec(move |tx| {
            tx.execute(
                sql::MEMBER_INSERT,
                params![
                    new.name,
                    new.sector,
                    new.contact,
                    new.identity_ref,
                    new.clearance.as_str(),
                    new.is_operator,
                    Timestamp::now().micros()
                ],
            )
            .map_err(|e| {
                conflict(e, || {
                    format!("a member named '{}' already exists", new.name)
                })
            })?;
            Ok(tx.query_row(sql::MEMBER_BY_NAME, [&new.name], member_row)?)
        })
    }

    fn update_member(&self, name: &str, update: MemberUpdate) -> StoreResult<Member> {
        let name = name.to_string();
        self.writer.exec(move |tx| {
            let mut m = tx
                .query_row(sql::MEMBER_BY_NAME, [&name], member_row)
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("member '{name}'")))?;
            if let Some(s) = update.sector {
                m.sector = s;
            }
            if let Some(c) = update.contact {
                m.contact = c;
            }
            if let Some(i) = update.identity_ref {
                m.identity_ref = i;
            }
            if let Some(c) = update.clearance {
                m.clearance = c;
            }
            if let Some(s) = update.suspended {
                m.suspended = s;
            }
            tx.execute(
                sql::MEMBER_UPDATE,
                params![
                    name,
                    m.sector,
                    m.contact,
                    m.identity_ref,
                    m.clearance.as_str(),
                    m.suspended
                ],
            )?;
            Ok(m)
        })
    }

    fn delete_member(&self, name: &str) -> StoreResult<()> {
        let name = name.to_string();
        self.writer.exec(move |tx| {
            if tx.execute(sql::MEMBER_DELETE, [&name])? == 0 {
                return Err(StoreError::NotFound(format!("member '{name}'")));
            }
            Ok(())
        })
    }

    fn add_certificate(&self, cert: CertificateRecord) -> StoreResult<()> {
        self.writer.exec(move |tx| {
            let member = member_id(tx, &cert.member)?;
            insert_certificate(tx, member, &cert)
                .map_err(|e| conflict(e, || "that certificate is already registered".into()))?;
            Ok(())
        })
    }

    fn certificates(&self) -> StoreResult<Vec<CertificateRecord>> {
        self.read(|c| collect(c, sql::CERTIFICATES, [], certificate_row))
    }

    fn revoke_certificate(
        &self,
        fingerprint: &str,
        at: Timestamp,
    ) -> StoreResult<CertificateRecord> {
        let fp = fingerprint.to_ascii_lowercase().replace(':', "");
        self.writer.exec(move |tx| {
            tx.execute(sql::CERTIFICATE_REVOKE, params![fp, at.micros()])?;
            tx.query_row(sql::CERTIFICATE, [&fp], certificate_row)
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("certificate {fp}")))
        })
    }

    fn set_grant(&self, grant: Grant) -> StoreResult<()> {
        self.writer.exec(move |tx| {
            let collection = grant.collection.to_string();
            let changed = match &grant.grantee {
                Grantee::Member(name) => {
                    let id = member_id(tx, name)?;
                    tx.execute(
                        sql::GRANT_UPSERT_MEMBER,
                        params![collection, id, grant.read, grant.write],
                    )
                }
                Grantee::Sector(sector) => tx.execute(
                    sql::GRANT_UPSERT_SECTOR,
                    params![collection, sector, grant.read, grant.write],
                ),
            }
            .map_err(|e| conflict(e, || format!("collection {collection} does not exist")))?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("collection {collection}")));
            }
            Ok(())
        })
    }

    fn remove_grant(&self, collection: CollectionId, grantee: &Grantee) -> StoreResult<()> {
        let grantee = grantee.clone();
        self.writer.exec(move |tx| {
            let n = match &grantee {
                Grantee::Member(name) => {
                    let id = member_id(tx, name)?;
                    tx.execute(
                        sql::GRANT_DELETE_MEMBER,
                        params![collection.to_string(), id],
                    )?
                }
                Grantee::Sector(s) => {
                    tx.execute(sql::GRANT_DELETE_SECTOR, params![collection.to_string(), s])?
                }
            };
            if n == 0 {
                return Err(StoreError::NotFound("grant".into()));
            }
            Ok(())
        })
    }

    fn grants(&self) -> StoreResult<Vec<Grant>> {
        self.read(|c| collect(c, sql::GRANTS, [], grant_row))
    }

    fn add_token(&self, token: TokenRecord) -> StoreResult<()> {
        self.writer.exec(move |tx| {
            let member = member_id(tx, &token.member)?;
            tx.execute(
                sql::TOKEN_INSERT,
                params![
                    token.id,
                    member,
                    token.hash,
                    token.created.micros(),
                    token.expires.map(|t| t.micros())
                ],
            )?;
            Ok(())
        })
    }

    fn revoke_token(&self, id: &str, at: Timestamp) -> StoreResult<()> {
        let id = id.to_string();
        self.writer.exec(move |tx| {
            if tx.execute(sql::TOKEN_REVOKE, params![id, at.micros()])? == 0 {
                return Err(StoreError::NotFound(format!("active token '{id}'")));
            }
            Ok(())
        })
    }

    fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        self.read(|c| collect(c, sql::TOKENS, [], token_row))
    }

    fn auth_revision(&self) -> StoreResult<i64> {
        self.read(|c| {
            Ok(c.prepare_cached(sql::AUTH_REVISION)?
                .query_row([], |r| r.get(0))?)
        })
    }

    fn auth_data(&self) -> StoreResult<AuthData> {
        self.read(|c| {
            // One read transaction so the snapshot is consistent with its revision.
            c.execute_batch("BEGIN")?;
            let data = (|| {
                Ok(AuthData {
                    revision: c.query_row(sql::AUTH_REVISION, [], |r| r.get(0))?,
                    members: collect(c, sql::MEMBERS, [], member_row)?,
                    certificates: collect(c, sql::CERTIFICATES, [], certificate_row)?,
                    grants: collect(c, sql::GRANTS, [], grant_row)?,
                    tokens: collect(c, sql::TOKENS, [], token_row)?,
                    collections: collect(c, sql::COLLECTIONS, [], collection_row)?,
                    api_roots: collect(c, sql::API_ROOTS, [], api_root_row)?,
                })
            })();
            c.execute_batch("COMMIT")?;
            data
        })
    }

    fn ingest(&self, batch: IngestBatch) -> StoreResult<StatusRecord> {
        self.writer.ingest(batch)
    }

    fn begin_pending(&self, batch: &IngestBatch) -> StoreResult<StatusRecord> {
        let record = batch.status(None, super::payload::pending_details(batch));
        let payload = super::payload::serialize(&batch.accepted)?;
        let out = record.clone();
        self.writer.exec(move |tx| {
            let details = serde_json::to_string(&record.details)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            tx.execute(
                sql::STATUS_UPSERT,
                params![
                    record.id,
                    record.api_root,
                    record.collection.to_string(),
                    record.member,
                    record.request_timestamp.micros(),
                    Option::<i64>::None,
                    record.total() as i64,
                    0i64,
                    record.details.failures.len() as i64,
                    record.details.pendings.len() as i64,
                    details,
                    payload,
                ],
            )?;
            Ok(())
        })?;
        Ok(out)
    }

    fn pending_batches(&self) -> StoreResult<Vec<IngestBatch>> {
        let rows = self.read(|c| {
            collect(c, sql::STATUSES_PENDING, [], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    collection_id(r.get(2)?)?,
                    r.get::<_, Option<String>>(3)?,
                    ts(r.get(4)?),
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
        })?;
        rows.into_iter()
            .map(
                |(id, api_root, collection, member, requested, details, payload)| {
                    let details = status_details(&details)?;
                    let accepted = super::payload::parse(&payload)?;
                    Ok(IngestBatch {
                        status_id: id,
                        api_root,
                        collection,
                        member,
                        fingerprint: None,
                        request_timestamp: requested,
                        accepted,
                        refused: details.failures,
                    })
                },
            )
            .collect()
    }

    fn status(&self, id: &str) -> StoreResult<Option<StatusRecord>> {
        let row = self.read(|c| {
            Ok(c.prepare_cached(sql::STATUS)?
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        collection_id(r.get(2)?)?,
                        r.get::<_, Option<String>>(3)?,
                        ts(r.get(4)?),
                        r.get::<_, Option<i64>>(5)?.map(ts),
                        r.get::<_, String>(6)?,
                    ))
                })
                .optional()?)
        })?;
        row.map(
            |(id, api_root, collection, member, request_timestamp, completed, details)| {
                Ok(StatusRecord {
                    id,
                    api_root,
                    collection,
                    member,
                    request_timestamp,
                    completed,
                    details: status_details(&details)?,
                })
            },
        )
        .transpose()
    }

    fn purge_statuses(&self, before: Timestamp) -> StoreResult<usize> {
        maintenance::purge_statuses(&self.writer, before, self.max_rows)
    }

    fn list_objects(
        &self,
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
        let (sql, types): (&str, Option<String>) = if !filter.ids.is_empty() {
            let sql = if with_body {
                sql::OBJECTS_PAGE_BY_ID
            } else {
                sql::MANIFEST_PAGE_BY_ID
            };
            (sql, json_list(&filter.types))
        } else if filter.types.len() == 1 {
            let sql = if with_body {
                sql::OBJECTS_PAGE_BY_TYPE
            } else {
                sql::MANIFEST_PAGE_BY_TYPE
            };
            (sql, Some(filter.types[0].clone()))
        } else {
            let sql = if with_body {
                sql::OBJECTS_PAGE
            } else {
                sql::MANIFEST_PAGE
            };
            (sql, json_list(&filter.types))
        };
        let (all, first, last, exact) = version_params(&filter.versions);
        let fetch = limit.saturating_add(1);
        let mut items = self.read(|c| {
            collect(
                c,
                sql,
                params![
                    collection.to_string(),
                    lower,
                    json_list(&filter.ids),
                    types,
                    json_list(&filter.spec_versions),
                    all,
                    first,
                    last,
                    exact,
                    fetch as i64
                ],
                stored_object,
            )
        })?;
        let more = items.len() > limit;
        items.truncate(limit);
        let last_key = items.last().map(|o| Cursor(o.date_added.micros()));
        Ok(Page {
            items,
            more,
            last_key,
        })
    }

    fn list_versions(
        &self,
        collection: CollectionId,
        object_id: &str,
        filter: &ObjectFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> StoreResult<Page<StoredObject>> {
        let fetch = limit.saturating_add(1);
        let rows = self.read(|c| {
            collect(
                c,
                sql::VERSIONS_PAGE,
                params![
                    collection.to_string(),
                    object_id,
                    after.map(|c| c.0).unwrap_or(i64::MIN),
                    filter.added_after.map(|t| t.micros()).unwrap_or(i64::MIN),
                    json_list(&filter.spec_versions),
                    fetch as i64
                ],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        StoredObject {
                            date_added: ts(r.get(1)?),
                            id: r.get(2)?,
                            version: r.get(3)?,
                            spec_version: r.get(4)?,
                            body: String::new(),
                        },
                    ))
                },
            )
        })?;
        let more = rows.len() > limit;
        let mut last_key = None;
        let items = rows
            .into_iter()
            .take(limit)
            .map(|(version, o)| {
                last_key = Some(Cursor(version));
                o
            })
            .collect();
        Ok(Page {
            items,
            more,
            last_key,
        })
    }

    fn object_exists(&self, collection: CollectionId, object_id: &str) -> StoreResult<bool> {
        self.read(|c| {
            Ok(c.prepare_cached(sql::OBJECT_EXISTS)?
                .query_row(params![collection.to_string(), object_id], |r| r.get(0))?)
        })
    }

    fn delete_object(
        &self,
        collection: CollectionId,
        object_id: &str,
        filter: &ObjectFilter,
    ) -> StoreResult<usize> {
        let (all, first, last, exact) = version_params(&filter.versions);
        let spec = json_list(&filter.spec_versions);
        let object_id = object_id.to_string();
        self.writer.exec(move |tx| {
            let collection = collection.to_string();
            let n = tx.execute(
                sql::OBJECT_DELETE,
                params![
                    collection,
                    object_id,
                    rusqlite::types::Null,
                    rusqlite::types::Null,
                    spec,
                    all,
                    first,
                    last,
                    exact
                ],
            )?;
            if n > 0 {
                tx.execute(sql::OBJECT_REMARK_ENDS, params![collection, object_id])?;
            }
            Ok(n)
        })
    }

    fn object_count(&self, collection: CollectionId) -> StoreResult<u64> {
        self.read(|c| {
            Ok(c.prepare_cached(sql::OBJECT_COUNT)?
                .query_row([collection.to_string()], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    fn last_key(&self, collection: CollectionId) -> StoreResult<Option<Cursor>> {
        self.read(|c| {
            Ok(c.prepare_cached(sql::OBJECT_LAST_KEY)?
                .query_row([collection.to_string()], |r| r.get::<_, Option<i64>>(0))?
                .map(Cursor))
        })
    }

    fn size_bytes(&self) -> StoreResult<u64> {
        let mut total = 0;
        for suffix in ["", "-wal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            total += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        }
        Ok(total)
    }

    fn write_health(&self) -> WriteHealth {
        self.space.health()
    }

    fn append_audit(&self, event: AuditEvent) -> StoreResult<()> {
        self.writer
            .exec(move |tx| writer::write_audits(tx, std::slice::from_ref(&event)))
    }

    fn queue_audit(&self, event: AuditEvent) -> StoreResult<()> {
        self.writer.audit(event)
    }

    fn audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let limit = if q.limit == 0 {
            i64::MAX
        } else {
            q.limit as i64
        };
        self.read(|c| {
            collect(
                c,
                sql::AUDIT_QUERY,
                params![
                    q.member,
                    q.since.map(|t| t.micros()).unwrap_or(i64::MIN),
                    limit
                ],
                |r| {
                    Ok(AuditEvent {
                        at: ts(r.get(0)?),
                        member: r.get(1)?,
                        fingerprint: r.get(2)?,
                        action: r.get(3)?,
                        collection: r.get(4)?,
                        objects: r.get::<_, Option<i64>>(5)?.map(|n| n as u64),
                        outcome: r.get(6)?,
                        detail: r.get(7)?,
                    })
                },
            )
        })
    }

    fn type_counts(&self, collections: &[CollectionId]) -> StoreResult<Vec<TypeCount>> {
        self.console_type_counts(collections)
    }

    fn activity(&self, query: &ActivityQuery) -> StoreResult<Vec<ActivityBucket>> {
        self.console_activity(query)
    }

    fn refusals(&self, query: &RefusalQuery) -> StoreResult<Vec<RefusalCount>> {
        self.console_refusals(query)
    }

    fn browse_objects(
        &self,
        collection: CollectionId,
        filter: &BrowseFilter,
        before: Option<Cursor>,
        limit: usize,
        budget: usize,
    ) -> StoreResult<ScanPage<ObjectSummary, Cursor>> {
        self.console_browse(collection, filter, before, limit, budget)
    }

    fn locate_objects(
        &self,
        collections: &[CollectionId],
        ids: &[String],
    ) -> StoreResult<Vec<ObjectSummary>> {
        self.console_locate(collections, ids)
    }

    fn edges(
        &self,
        collections: &[CollectionId],
        object_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<Edge>> {
        self.console_edges(collections, object_id, limit)
    }

    fn statuses_page(
        &self,
        member: Option<&str>,
        before: Option<&StatusCursor>,
        limit: usize,
    ) -> StoreResult<ScanPage<StatusSummary, StatusCursor>> {
        self.console_statuses(member, before, limit)
    }

    fn audit_page(
        &self,
        filter: &AuditFilter,
        before: Option<AuditCursor>,
        limit: usize,
        budget: usize,
    ) -> StoreResult<ScanPage<AuditRecord, AuditCursor>> {
        self.console_audit(filter, before, limit, budget)
    }
}

#[cfg(test)]
mod tests;
