//! Every SQL statement, as static text so `prepare_cached` can reuse it.
//! Variable-length filters bind one JSON array each (`json_each`), which keeps
//! the text constant whatever the number of values.

pub const CLOCK_LAST: &str = "SELECT last_added FROM clock WHERE id = 1";
pub const CLOCK_SAVE: &str = "UPDATE clock SET last_added = ?1 WHERE id = 1";
pub const AUTH_REVISION: &str = "SELECT auth_revision FROM clock WHERE id = 1";
pub const CURSOR_KEY: &str = "SELECT value FROM meta WHERE key = 'cursor_key'";

pub const API_ROOTS: &str =
    "SELECT name, title, description, max_content_length, is_default FROM api_roots ORDER BY name";
pub const API_ROOT_UPSERT: &str =
    "INSERT INTO api_roots (name, title, description, max_content_length, is_default)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT(name) DO UPDATE SET title = excluded.title, description = excluded.description,
        max_content_length = excluded.max_content_length, is_default = excluded.is_default";
pub const API_ROOT_CLEAR_DEFAULT: &str = "UPDATE api_roots SET is_default = 0 WHERE name <> ?1";
pub const API_ROOT_DELETE: &str = "DELETE FROM api_roots WHERE name = ?1 AND NOT EXISTS (SELECT 1 FROM collections WHERE api_root = ?1)";
/// API roots are served from the auth snapshot: a change must reload it.
pub const AUTH_REVISION_BUMP: &str =
    "UPDATE clock SET auth_revision = auth_revision + 1 WHERE id = 1";

// A collection with `deleted_at` set is gone for every purpose but the
// removal of its objects.
pub const COLLECTIONS: &str = "SELECT id, api_root, alias, title, description, tier, created
     FROM collections WHERE deleted_at IS NULL ORDER BY created, id";
pub const COLLECTION: &str = "SELECT id, api_root, alias, title, description, tier, created
     FROM collections WHERE id = ?1 AND deleted_at IS NULL";
pub const COLLECTION_LIVE: &str =
    "SELECT EXISTS (SELECT 1 FROM collections WHERE id = ?1 AND deleted_at IS NULL)";
pub const COLLECTION_INSERT: &str =
    "INSERT INTO collections (id, api_root, alias, title, description, tier, created)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
pub const COLLECTION_UPDATE: &str =
    "UPDATE collections SET alias = ?2, title = ?3, description = ?4, tier = ?5
     WHERE id = ?1 AND deleted_at IS NULL";
/// Hides the collection and frees its alias for a new one.
pub const COLLECTION_MARK_DELETED: &str =
    "UPDATE collections SET deleted_at = ?2, alias = NULL WHERE id = ?1 AND deleted_at IS NULL";
pub const COLLECTION_GRANTS_DELETE: &str = "DELETE FROM grants WHERE collection_id = ?1";
pub const COLLECTIONS_DELETED: &str =
    "SELECT id FROM collections WHERE deleted_at IS NOT NULL ORDER BY deleted_at, id";
/// ?1 collection, ?2 most rows: the oldest objects of the collection.
pub const COLLECTION_OBJECTS_DELETE_SOME: &str = "DELETE FROM objects WHERE date_added IN (
        SELECT date_added FROM objects INDEXED BY objects_page WHERE collection_id = ?1
        ORDER BY date_added LIMIT ?2)";
pub const COLLECTION_DELETE: &str =
    "DELETE FROM collections WHERE id = ?1 AND deleted_at IS NOT NULL";

pub const MEMBERS: &str =
    "SELECT name, sector, contact, identity_ref, clearance, suspended, is_operator, created
     FROM members ORDER BY name";
pub const MEMBER_BY_NAME: &str =
    "SELECT name, sector, contact, identity_ref, clearance, suspended, is_operator, created
     FROM members WHERE name = ?1";
pub const MEMBER_ID: &str = "SELECT id FROM members WHERE name = ?1";
pub const MEMBER_INSERT: &str =
    "INSERT INTO members (name, sector, contact, identity_ref, clearance, is_operator, created)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
pub const MEMBER_UPDATE: &str = "UPDATE members SET sector = ?2, contact = ?3, identity_ref = ?4, clearance = ?5, suspended = ?6
     WHERE name = ?1";
pub const MEMBER_DELETE: &str = "DELETE FROM members WHERE name = ?1";

pub const CERTIFICATES: &str = "SELECT m.name, c.fingerprint, c.serial, c.subject, c.not_before, c.not_after, c.revoked_at, c.added
     FROM certificates c JOIN members m ON m.id = c.member_id ORDER BY c.added, c.fingerprint";
pub const CERTIFICATE: &str = "SELECT m.name, c.fingerprint, c.serial, c.subject, c.not_before, c.not_after, c.revoked_at, c.added
     FROM certificates c JOIN members m ON m.id = c.member_id WHERE c.fingerprint = ?1";
pub const CERTIFICATE_INSERT: &str = "INSERT INTO certificates (fingerprint, member_id, serial, subject, not_before, not_after, revoked_at, added)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
pub const CERTIFICATE_REVOKE: &str =
    "UPDATE certificates SET revoked_at = ?2 WHERE fingerprint = ?1 AND revoked_at IS NULL";

pub const GRANTS: &str = "SELECT g.collection_id, m.name, g.sector, g.can_read, g.can_write
     FROM grants g LEFT JOIN members m ON m.id = g.member_id ORDER BY g.collection_id, m.name, g.sector";
// Grants go only to collections that exist and are not being deleted.
pub const GRANT_UPSERT_MEMBER: &str = "INSERT INTO grants (collection_id, member_id, can_read, can_write)
     SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM collections WHERE id = ?1 AND deleted_at IS NULL)
     ON CONFLICT(collection_id, member_id) DO UPDATE SET can_read = excluded.can_read, can_write = excluded.can_write";
pub const GRANT_UPSERT_SECTOR: &str = "INSERT INTO grants (collection_id, sector, can_read, can_write)
     SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM collections WHERE id = ?1 AND deleted_at IS NULL)
     ON CONFLICT(collection_id, sector) DO UPDATE SET can_read = excluded.can_read, can_write = excluded.can_write";
pub const GRANT_DELETE_MEMBER: &str =
    "DELETE FROM grants WHERE collection_id = ?1 AND member_id = ?2";
pub const GRANT_DELETE_SECTOR: &str = "DELETE FROM grants WHERE collection_id = ?1 AND sector = ?2";

pub const TOKENS: &str = "SELECT t.id, m.name, t.hash, t.created, t.expires, t.revoked_at
     FROM tokens t JOIN members m ON m.id = t.member_id ORDER BY t.created";
pub const TOKEN_INSERT: &str =
    "INSERT INTO tokens (id, member_id, hash, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)";
pub const TOKEN_REVOKE: &str =
    "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL";

pub const OBJECT_BODY_AT_VERSION: &str =
    "SELECT body FROM objects WHERE collection_id = ?1 AND object_id = ?2 AND version = ?3";
pub const OBJECT_ANY_VERSION_TEXT: &str =
    "SELECT version_text FROM objects WHERE collection_id = ?1 AND object_id = ?2 LIMIT 1";
pub const OBJECT_VERSION_RANGE: &str =
    "SELECT MIN(version), MAX(version) FROM objects WHERE collection_id = ?1 AND object_id = ?2";
pub const OBJECT_CLEAR_FIRST: &str =
    "UPDATE objects SET is_first = 0 WHERE collection_id = ?1 AND object_id = ?2 AND is_first = 1";
pub const OBJECT_CLEAR_LAST: &str =
    "UPDATE objects SET is_last = 0 WHERE collection_id = ?1 AND object_id = ?2 AND is_last = 1";
pub const OBJECT_INSERT: &str =
    "INSERT INTO objects (collection_id, date_added, object_id, object_type, version, version_text,
        spec_version, is_first, is_last, body)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
pub const OBJECT_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM objects WHERE collection_id = ?1 AND object_id = ?2)";
pub const OBJECT_LAST_KEY: &str =
    "SELECT MAX(date_added) FROM objects INDEXED BY objects_page WHERE collection_id = ?1";
pub const OBJECT_COUNT: &str = "SELECT COUNT(*) FROM objects WHERE collection_id = ?1";
pub const OBJECT_REMARK_ENDS: &str = "UPDATE objects SET
        is_first = (version = (SELECT MIN(o.version) FROM objects o WHERE o.collection_id = ?1 AND o.object_id = ?2)),
        is_last = (version = (SELECT MAX(o.version) FROM objects o WHERE o.collection_id = ?1 AND o.object_id = ?2))
     WHERE collection_id = ?1 AND object_id = ?2";

/// The filter clauses after the index-driving ones. Parameters: ?1 collection,
/// ?2 lower bound (exclusive) on date_added, ?3 ids (JSON array), ?4 types
/// (JSON array, or one type for the by-type plan), ?5 spec versions (JSON or
/// NULL), ?6 all versions (bool), ?7 first, ?8 last, ?9 exact versions (JSON
/// array), ?10 limit.
macro_rules! rest_of_filter {
    () => {
        " AND date_added > ?2
         AND (?5 IS NULL OR spec_version IN (SELECT value FROM json_each(?5)))
         AND (?6 OR (?7 AND is_first) OR (?8 AND is_last) OR version IN (SELECT value FROM json_each(?9)))
         ORDER BY date_added LIMIT ?10"
    };
}

macro_rules! by_id {
    () => {
        " INDEXED BY objects_version WHERE collection_id = ?1 AND object_id IN (SELECT value FROM json_each(?3))
          AND (?4 IS NULL OR object_type IN (SELECT value FROM json_each(?4)))"
    };
}
macro_rules! by_type {
    () => {
        " INDEXED BY objects_type WHERE collection_id = ?1 AND object_type = ?4"
    };
}
macro_rules! by_date_added {
    () => {
        " INDEXED BY objects_page WHERE collection_id = ?1 AND (?4 IS NULL OR object_type IN (SELECT value FROM json_each(?4)))"
    };
}

// Three plans for the same filter, picked by the caller: by id (few rows), by
// a single type (that index's order is date_added order), or the collection's
// date_added index. Forcing the plan keeps a page's cost independent of
// the collection's size instead of leaving it to the planner's guess about
// json_each.
macro_rules! object_columns {
    () => {
        "SELECT date_added, object_id, version_text, spec_version, body FROM objects"
    };
}
macro_rules! manifest_columns {
    () => {
        "SELECT date_added, object_id, version_text, spec_version, '' FROM objects"
    };
}
pub const OBJECTS_PAGE_BY_ID: &str = concat!(object_columns!(), by_id!(), rest_of_filter!());
pub const OBJECTS_PAGE_BY_TYPE: &str = concat!(object_columns!(), by_type!(), rest_of_filter!());
pub const OBJECTS_PAGE: &str = concat!(object_columns!(), by_date_added!(), rest_of_filter!());
pub const MANIFEST_PAGE_BY_ID: &str = concat!(manifest_columns!(), by_id!(), rest_of_filter!());
pub const MANIFEST_PAGE_BY_TYPE: &str = concat!(manifest_columns!(), by_type!(), rest_of_filter!());
pub const MANIFEST_PAGE: &str = concat!(manifest_columns!(), by_date_added!(), rest_of_filter!());

/// ?1 collection, ?2 object id, ?5 spec versions (JSON or NULL), ?6 all, ?7
/// first, ?8 last, ?9 exact versions (JSON array).
pub const OBJECT_DELETE: &str = "DELETE FROM objects WHERE collection_id = ?1 AND object_id = ?2
       AND (?5 IS NULL OR spec_version IN (SELECT value FROM json_each(?5)))
       AND (?6 OR (?7 AND is_first) OR (?8 AND is_last) OR version IN (SELECT value FROM json_each(?9)))";

/// ?1 collection, ?2 object id, ?3 version lower bound (exclusive),
/// ?4 added_after, ?5 spec versions (JSON or NULL), ?6 limit.
pub const VERSIONS_PAGE: &str = "SELECT version, date_added, object_id, version_text, spec_version
     FROM objects INDEXED BY objects_version
     WHERE collection_id = ?1 AND object_id = ?2 AND version > ?3 AND date_added > ?4
       AND (?5 IS NULL OR spec_version IN (SELECT value FROM json_each(?5)))
     ORDER BY version LIMIT ?6";

pub const STATUS: &str =
    "SELECT id, api_root, collection_id, member, request_timestamp, completed, details
     FROM statuses WHERE id = ?1";
pub const STATUS_UPSERT: &str = "INSERT INTO statuses (id, api_root, collection_id, member, request_timestamp, completed,
        total_count, success_count, failure_count, pending_count, details, payload)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
     ON CONFLICT(id) DO UPDATE SET completed = excluded.completed, total_count = excluded.total_count,
        success_count = excluded.success_count, failure_count = excluded.failure_count,
        pending_count = excluded.pending_count, details = excluded.details, payload = excluded.payload";
pub const STATUSES_PENDING: &str =
    "SELECT id, api_root, collection_id, member, request_timestamp, details, payload
     FROM statuses WHERE completed IS NULL AND payload IS NOT NULL ORDER BY request_timestamp";
/// ?1 completed before, ?2 most rows.
pub const STATUSES_PURGE_SOME: &str = "DELETE FROM statuses WHERE id IN (
        SELECT id FROM statuses INDEXED BY statuses_completed WHERE completed < ?1
        ORDER BY completed LIMIT ?2)";

pub const AUDIT_INSERT: &str =
    "INSERT INTO audit (at, member, fingerprint, action, collection, objects, outcome, detail)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
pub const AUDIT_QUERY: &str =
    "SELECT at, member, fingerprint, action, collection, objects, outcome, detail FROM audit
     WHERE (?1 IS NULL OR member = ?1) AND at >= ?2 ORDER BY at, id LIMIT ?3";
