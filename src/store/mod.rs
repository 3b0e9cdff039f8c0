//! Persistence. Knows nothing of HTTP, TAXII media types or the CLI: it
//! exposes domain records and one object-safe trait, with two backends:
//! SQLite (one node, embedded) and PostgreSQL (several nodes on one
//! database). Calls are synchronous; async callers run them on a blocking
//! thread.

#[cfg(test)]
mod behaviour;
pub(crate) mod chunker;
mod console;
pub mod copy;
mod error;
pub(crate) mod payload;
pub mod postgres;
pub mod sqlite;
#[cfg(test)]
#[path = "../../tests/support/postgres.rs"]
pub(crate) mod test_postgres;

use std::sync::Arc;

use serde::Serialize;

pub use console::*;
pub use error::StoreError;

use crate::model::{CollectionId, Tier, Timestamp};

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Serialize)]
pub struct ApiRoot {
    pub name: String,
    pub title: String,
    pub description: Option<String>,
    pub max_content_length: u64,
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Collection {
    pub id: CollectionId,
    pub api_root: String,
    pub alias: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub tier: Tier,
    pub created: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewCollection {
    pub api_root: String,
    pub alias: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub tier: Tier,
}

#[derive(Debug, Clone, Default)]
pub struct CollectionUpdate {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub alias: Option<Option<String>>,
    pub tier: Option<Tier>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub name: String,
    pub sector: String,
    pub contact: Option<String>,
    pub identity_ref: Option<String>,
    pub clearance: Tier,
    pub suspended: bool,
    pub is_operator: bool,
    pub created: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewMember {
    pub name: String,
    pub sector: String,
    pub contact: Option<String>,
    pub identity_ref: Option<String>,
    pub clearance: Tier,
    pub is_operator: bool,
}

#[derive(Debug, Clone, Default)]
pub struct MemberUpdate {
    pub sector: Option<String>,
    pub contact: Option<Option<String>>,
    pub identity_ref: Option<Option<String>>,
    pub clearance: Option<Tier>,
    pub suspended: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificateRecord {
    pub member: String,
    pub fingerprint: String,
    pub serial: String,
    pub subject: Option<String>,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub added: Timestamp,
}

/// Who a grant is for: one member, or every member of a sector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grantee {
    Member(String),
    Sector(String),
}

impl std::fmt::Display for Grantee {
    /// "member NAME" or "sector NAME", for messages and the audit log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grantee::Member(m) => write!(f, "member {m}"),
            Grantee::Sector(s) => write!(f, "sector {s}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Grant {
    pub collection: CollectionId,
    pub grantee: Grantee,
    pub read: bool,
    pub write: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub member: String,
    pub hash: String,
    pub created: Timestamp,
    pub expires: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// Everything the authentication layer needs, loaded in one read and cached
/// until `revision` changes.
#[derive(Debug, Clone, Default)]
pub struct AuthData {
    pub revision: i64,
    pub members: Vec<Member>,
    pub certificates: Vec<CertificateRecord>,
    pub grants: Vec<Grant>,
    pub tokens: Vec<TokenRecord>,
    pub collections: Vec<Collection>,
    pub api_roots: Vec<ApiRoot>,
}

/// One STIX object version accepted for storage. `body` is the object's JSON
/// text exactly as received.
#[derive(Debug, Clone)]
pub struct NewObject {
    pub id: String,
    pub object_type: String,
    pub spec_version: String,
    /// `modified`, else `created`; `None` for unversioned objects (most SCOs),
    /// whose version becomes their `date_added`.
    pub version: Option<(Timestamp, String)>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StatusDetail {
    pub id: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StatusDetails {
    #[serde(default)]
    pub successes: Vec<StatusDetail>,
    #[serde(default)]
    pub failures: Vec<StatusDetail>,
    #[serde(default)]
    pub pendings: Vec<StatusDetail>,
}

#[derive(Debug, Clone)]
pub struct StatusRecord {
    pub id: String,
    pub api_root: String,
    pub collection: CollectionId,
    pub member: Option<String>,
    pub request_timestamp: Timestamp,
    pub completed: Option<Timestamp>,
    pub details: StatusDetails,
}

impl StatusRecord {
    pub fn total(&self) -> usize {
        self.details.successes.len() + self.details.failures.len() + self.details.pendings.len()
    }
}

/// One envelope's worth of work for the writer: objects to store and the
/// refusals already decided by validation and policy.
#[derive(Debug, Clone)]
pub struct IngestBatch {
    pub status_id: String,
    pub api_root: String,
    pub collection: CollectionId,
    pub member: Option<String>,
    pub fingerprint: Option<String>,
    pub request_timestamp: Timestamp,
    pub accepted: Vec<NewObject>,
    pub refused: Vec<StatusDetail>,
}

impl IngestBatch {
    /// This envelope's status resource with the given outcome so far.
    pub fn status(&self, completed: Option<Timestamp>, details: StatusDetails) -> StatusRecord {
        StatusRecord {
            id: self.status_id.clone(),
            api_root: self.api_root.clone(),
            collection: self.collection,
            member: self.member.clone(),
            request_timestamp: self.request_timestamp,
            completed,
            details,
        }
    }
}

/// `match[version]`: any combination of first, last and exact versions, or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionFilter {
    All,
    Select {
        first: bool,
        last: bool,
        exact: Vec<Timestamp>,
    },
}

impl Default for VersionFilter {
    /// TAXII 2.1 §3.4.1: without `match[version]`, only the latest version.
    fn default() -> Self {
        VersionFilter::Select {
            first: false,
            last: true,
            exact: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectFilter {
    pub added_after: Option<Timestamp>,
    pub ids: Vec<String>,
    pub types: Vec<String>,
    pub versions: VersionFilter,
    pub spec_versions: Vec<String>,
}

/// A keyset position: the last key the previous page returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub i64);

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
    /// The key of the last item, to resume after.
    pub last_key: Option<Cursor>,
}

#[derive(Debug, Clone)]
pub struct StoredObject {
    pub id: String,
    pub date_added: Timestamp,
    pub version: String,
    pub spec_version: String,
    /// The object's JSON exactly as posted; empty when only the manifest was asked for.
    pub body: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub at: Timestamp,
    pub member: Option<String>,
    pub fingerprint: Option<String>,
    pub action: String,
    pub collection: Option<String>,
    pub objects: Option<u64>,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event happening now; fill in the other fields with struct update
    /// syntax (`AuditEvent { member, ..AuditEvent::now("push", "ok") }`).
    pub fn now(action: impl Into<String>, outcome: impl Into<String>) -> AuditEvent {
        AuditEvent {
            at: Timestamp::now(),
            member: None,
            fingerprint: None,
            action: action.into(),
            collection: None,
            objects: None,
            outcome: outcome.into(),
            detail: None,
        }
    }
}

/// What a purge of deleted collections did: how much it removed and in how
/// many transactions, and the longest of them (the longest any other writer
/// could have waited for it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub collections: usize,
    pub objects: u64,
    pub transactions: usize,
    pub longest_transaction: std::time::Duration,
}

impl PurgeReport {
    pub fn record(&mut self, took: std::time::Duration) {
        self.transactions += 1;
        self.longest_transaction = self.longest_transaction.max(took);
    }
}

/// Whether writes currently succeed, as far as the store can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteHealth {
    Ok,
    /// The last write failed for lack of space (a full disk, or the
    /// configured size limit), and none has succeeded since.
    Full,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub member: Option<String>,
    pub since: Option<Timestamp>,
    pub limit: usize,
}

/// What a wake-up from [`Store::watch_objects`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectsChanged {
    /// New objects were committed into this collection.
    Collection(CollectionId),
    /// Notifications may have been missed (the watch reconnected): any
    /// collection may have new objects.
    Anything,
}

/// Called, on a thread of the store's, with every [`ObjectsChanged`]; it
/// should only wake whoever waits, never block.
pub type ObjectsWake = Arc<dyn Fn(ObjectsChanged) + Send + Sync>;

/// Two JSON texts that hold the same value (an identical repost of an
/// object, whatever its whitespace or key order).
pub(crate) fn same_json(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// The storage interface the domain services use.
pub trait Store: Send + Sync + 'static {
    // API roots and collections
    fn api_roots(&self) -> StoreResult<Vec<ApiRoot>>;
    fn upsert_api_root(&self, root: ApiRoot) -> StoreResult<()>;
    /// Removes an API root that holds no collection (`Conflict` otherwise).
    fn delete_api_root(&self, name: &str) -> StoreResult<()>;
    fn collections(&self) -> StoreResult<Vec<Collection>>;
    fn collection(&self, id: CollectionId) -> StoreResult<Option<Collection>>;
    fn create_collection(&self, new: NewCollection) -> StoreResult<Collection>;
    fn update_collection(
        &self,
        id: CollectionId,
        update: CollectionUpdate,
    ) -> StoreResult<Collection>;
    /// Deletes a collection for every reader and writer at once, in one
    /// short transaction: it leaves every listing with its grants, its alias
    /// is free again, and nothing more can be stored into it. Its objects
    /// stay on disk until `purge_deleted_collections` removes them.
    fn delete_collection(&self, id: CollectionId) -> StoreResult<()>;
    /// Removes the objects of every deleted collection, then the collection
    /// itself, in transactions short enough not to hold up other writers.
    /// Safe to run from several processes at once, and after a crash: it
    /// goes on where the interrupted run stopped.
    fn purge_deleted_collections(&self) -> StoreResult<PurgeReport>;

    // Members, certificates, grants, tokens
    fn members(&self) -> StoreResult<Vec<Member>>;
    fn create_member(&self, new: NewMember) -> StoreResult<Member>;
    fn update_member(&self, name: &str, update: MemberUpdate) -> StoreResult<Member>;
    fn delete_member(&self, name: &str) -> StoreResult<()>;
    fn add_certificate(&self, cert: CertificateRecord) -> StoreResult<()>;
    fn certificates(&self) -> StoreResult<Vec<CertificateRecord>>;
    fn revoke_certificate(
        &self,
        fingerprint: &str,
        at: Timestamp,
    ) -> StoreResult<CertificateRecord>;
    fn set_grant(&self, grant: Grant) -> StoreResult<()>;
    fn remove_grant(&self, collection: CollectionId, grantee: &Grantee) -> StoreResult<()>;
    fn grants(&self) -> StoreResult<Vec<Grant>>;
    fn add_token(&self, token: TokenRecord) -> StoreResult<()>;
    fn revoke_token(&self, id: &str, at: Timestamp) -> StoreResult<()>;
    fn tokens(&self) -> StoreResult<Vec<TokenRecord>>;
    fn auth_revision(&self) -> StoreResult<i64>;
    fn auth_data(&self) -> StoreResult<AuthData>;

    // Objects
    /// Stores a batch durably (committed before returning) and records its
    /// completed status. Identical id+version already present counts as success.
    fn ingest(&self, batch: IngestBatch) -> StoreResult<StatusRecord>;
    /// Records a pending status holding the accepted objects, durably, so the
    /// work survives a crash; `complete_pending` finishes it.
    fn begin_pending(&self, batch: &IngestBatch) -> StoreResult<StatusRecord>;
    /// Ingests every batch still pending (at start-up, or right after `begin_pending`).
    fn pending_batches(&self) -> StoreResult<Vec<IngestBatch>>;
    fn status(&self, id: &str) -> StoreResult<Option<StatusRecord>>;
    /// Removes statuses completed before `before`, in short transactions.
    fn purge_statuses(&self, before: Timestamp) -> StoreResult<usize>;
    fn list_objects(
        &self,
        collection: CollectionId,
        filter: &ObjectFilter,
        after: Option<Cursor>,
        limit: usize,
        with_body: bool,
    ) -> StoreResult<Page<StoredObject>>;
    /// The versions of one object, oldest version first, keyed by version.
    fn list_versions(
        &self,
        collection: CollectionId,
        object_id: &str,
        filter: &ObjectFilter,
        after: Option<Cursor>,
        limit: usize,
    ) -> StoreResult<Page<StoredObject>>;
    fn object_exists(&self, collection: CollectionId, object_id: &str) -> StoreResult<bool>;
    /// Deletes the matching versions of one object; returns how many went.
    fn delete_object(
        &self,
        collection: CollectionId,
        object_id: &str,
        filter: &ObjectFilter,
    ) -> StoreResult<usize>;
    fn object_count(&self, collection: CollectionId) -> StoreResult<u64>;
    /// The collection's largest `date_added` key visible now (`None` while
    /// it has no objects): every object that becomes visible later has a
    /// larger key, on every node (the live-push stream starts "from now"
    /// here).
    fn last_key(&self, collection: CollectionId) -> StoreResult<Option<Cursor>>;
    /// Bytes used on disk (for metrics).
    fn size_bytes(&self) -> StoreResult<u64>;
    /// Whether writes fail for lack of space; back to `Ok` as soon as
    /// objects are stored again.
    fn write_health(&self) -> WriteHealth;

    // Audit
    /// Appends an event durably before returning.
    fn append_audit(&self, event: AuditEvent) -> StoreResult<()>;
    /// Queues an event to be committed with the next write (request paths:
    /// polls and refusals must not each cost a commit).
    fn queue_audit(&self, event: AuditEvent) -> StoreResult<()>;
    fn audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;

    // Read models for the web console (see `console.rs`); each is bounded.
    /// Objects and versions per type in these collections.
    fn type_counts(&self, collections: &[CollectionId]) -> StoreResult<Vec<TypeCount>>;
    /// Activity per period and sector, oldest period first.
    fn activity(&self, query: &ActivityQuery) -> StoreResult<Vec<ActivityBucket>>;
    /// Refused objects by reason, most frequent first, at most `query.limit`.
    fn refusals(&self, query: &RefusalQuery) -> StoreResult<Vec<RefusalCount>>;
    /// Latest versions newest first (by `date_added`), before `before`,
    /// examining at most `budget` candidate rows.
    fn browse_objects(
        &self,
        collection: CollectionId,
        filter: &BrowseFilter,
        before: Option<Cursor>,
        limit: usize,
        budget: usize,
    ) -> StoreResult<ScanPage<ObjectSummary, Cursor>>;
    /// The latest version of each of these objects found in these collections.
    fn locate_objects(
        &self,
        collections: &[CollectionId],
        ids: &[String],
    ) -> StoreResult<Vec<ObjectSummary>>;
    /// Edges into and out of `object_id` stated by the latest versions of
    /// relationships and sightings in these collections, at most `limit` each way.
    fn edges(
        &self,
        collections: &[CollectionId],
        object_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<Edge>>;
    /// Submissions (statuses), newest first; one member's or everyone's.
    fn statuses_page(
        &self,
        member: Option<&str>,
        before: Option<&StatusCursor>,
        limit: usize,
    ) -> StoreResult<ScanPage<StatusSummary, StatusCursor>>;
    /// Audit events, newest first, examining at most `budget` candidate rows.
    fn audit_page(
        &self,
        filter: &AuditFilter,
        before: Option<AuditCursor>,
        limit: usize,
        budget: usize,
    ) -> StoreResult<ScanPage<AuditRecord, AuditCursor>>;
    // Notifications
    /// Asks to be woken whenever objects are committed into a collection by
    /// another process sharing the database (PostgreSQL: any node). Returns
    /// false where the backend has no such notifications (SQLite: one
    /// process writes); the caller then relies on its own commits and a
    /// periodic re-check.
    fn watch_objects(&self, wake: ObjectsWake) -> StoreResult<bool> {
        let _ = wake;
        Ok(false)
    }
}

/// An opened database of either kind, for the wiring in `app` and the CLI:
/// the trait object, plus what only start-up needs.
#[derive(Clone)]
pub enum Backend {
    Sqlite(Arc<sqlite::SqliteStore>),
    Postgres(Arc<postgres::PgStore>),
}

impl Backend {
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(s) => s.clone(),
            Backend::Postgres(s) => s.clone(),
        }
    }

    /// The secret that authenticates pagination tokens (shared by every
    /// process using the database).
    pub fn cursor_key(&self) -> StoreResult<Vec<u8>> {
        match self {
            Backend::Sqlite(s) => s.cursor_key(),
            Backend::Postgres(s) => s.cursor_key(),
        }
    }

    /// The database as `store copy` reads and writes it.
    pub fn portable(&self) -> &dyn copy::Portable {
        match self {
            Backend::Sqlite(s) => s.as_ref(),
            Backend::Postgres(s) => s.as_ref(),
        }
    }
}

impl std::ops::Deref for Backend {
    type Target = dyn Store;
    fn deref(&self) -> &(dyn Store + 'static) {
        match self {
            Backend::Sqlite(s) => s.as_ref(),
            Backend::Postgres(s) => s.as_ref(),
        }
    }
}
