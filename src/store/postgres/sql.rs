//! Every SQL statement, as static text: each connection prepares a statement
//! once and keeps it (see `pool.rs`). Variable-length filters bind one array
//! each (`= ANY($n)`, `unnest`), which keeps the text constant whatever the
//! number of values, and a NULL array means "no filter".

pub const AUTH_REVISION: &str = "SELECT revision FROM auth_state WHERE id = 1";
pub const CURSOR_KEY: &str = "SELECT value FROM meta WHERE key = 'cursor_key'";

pub const API_ROOTS: &str = "SELECT name, title, description, max_content_length, is_default FROM api_roots ORDER BY name COLLATE \"C\"";
pub const API_ROOT_UPSERT: &str =
    "INSERT INTO api_roots (name, title, description, max_content_length, is_default)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (name) DO UPDATE SET title = excluded.title, description = excluded.description,
        max_content_length = excluded.max_content_length, is_default = excluded.is_default";
pub const API_ROOT_CLEAR_DEFAULT: &str =
    "UPDATE api_roots SET is_default = false WHERE name <> $1 AND is_default";
pub const API_ROOT_DELETE: &str = "DELETE FROM api_roots WHERE name = $1
     AND NOT EXISTS (SELECT 1 FROM collections WHERE api_root = $1)";

// A collection with `deleted_at` set is gone for every purpose but the
// removal of its objects.
pub const COLLECTIONS: &str = "SELECT id, api_root, alias, title, description, tier, created
     FROM collections WHERE deleted_at IS NULL ORDER BY created, id";
pub const COLLECTION: &str = "SELECT id, api_root, alias, title, description, tier, created
     FROM collections WHERE id = $1 AND deleted_at IS NULL";
pub const COLLECTION_LIVE: &str =
    "SELECT EXISTS (SELECT 1 FROM collections WHERE id = $1 AND deleted_at IS NULL)";
pub const COLLECTION_INSERT: &str =
    "INSERT INTO collections (id, api_root, alias, title, description, tier, created)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const COLLECTION_UPDATE: &str =
    "UPDATE collections SET alias = $2, title = $3, description = $4, tier = $5
     WHERE id = $1 AND deleted_at IS NULL";
/// Hides the collection and frees its alias for a new one.
pub const COLLECTION_MARK_DELETED: &str = "UPDATE collections SET deleted_at = $2, alias = NULL
     WHERE id = $1 AND deleted_at IS NULL";
pub const COLLECTION_GRANTS_DELETE: &str = "DELETE FROM grants WHERE collection_id = $1";
pub const COLLECTIONS_DELETED: &str =
    "SELECT id FROM collections WHERE deleted_at IS NOT NULL ORDER BY deleted_at, id";
/// $1 collection, $2 most rows: the oldest objects of the collection.
pub const COLLECTION_OBJECTS_DELETE_SOME: &str =
    "DELETE FROM objects WHERE collection_id = $1 AND date_added IN (
        SELECT date_added FROM objects WHERE collection_id = $1 ORDER BY date_added LIMIT $2)";
pub const COLLECTION_DELETE: &str =
    "DELETE FROM collections WHERE id = $1 AND deleted_at IS NOT NULL";
/// Serialises every write to one collection's objects, on every node; held
/// until the transaction ends (see the module comment of `mod.rs`). The two
/// 32-bit keys are the first 8 bytes of the collection's UUID: a space of
/// their own, apart from the one-key locks the schema uses.
pub const COLLECTION_LOCK: &str = "SELECT pg_advisory_xact_lock($1, $2)";

pub const MEMBERS: &str =
    "SELECT name, sector, contact, identity_ref, clearance, suspended, is_operator, created
     FROM members ORDER BY name COLLATE \"C\"";
pub const MEMBER_BY_NAME: &str =
    "SELECT name, sector, contact, identity_ref, clearance, suspended, is_operator, created
     FROM members WHERE name = $1";
pub const MEMBER_ID: &str = "SELECT id FROM members WHERE name = $1";
pub const MEMBER_INSERT: &str =
    "INSERT INTO members (name, sector, contact, identity_ref, clearance, is_operator, created)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const MEMBER_UPDATE: &str = "UPDATE members SET sector = $2, contact = $3, identity_ref = $4, clearance = $5, suspended = $6
     WHERE name = $1";
pub const MEMBER_DELETE: &str = "DELETE FROM members WHERE name = $1";

pub const CERTIFICATES: &str = "SELECT m.name, c.fingerprint, c.serial, c.subject, c.not_before, c.not_after, c.revoked_at, c.added
     FROM certificates c JOIN members m ON m.id = c.member_id ORDER BY c.added, c.fingerprint COLLATE \"C\"";
pub const CERTIFICATE: &str = "SELECT m.name, c.fingerprint, c.serial, c.subject, c.not_before, c.not_after, c.revoked_at, c.added
     FROM certificates c JOIN members m ON m.id = c.member_id WHERE c.fingerprint = $1";
pub const CERTIFICATE_INSERT: &str = "INSERT INTO certificates (fingerprint, member_id, serial, subject, not_before, not_after, revoked_at, added)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub const CERTIFICATE_REVOKE: &str =
    "UPDATE certificates SET revoked_at = $2 WHERE fingerprint = $1 AND revoked_at IS NULL";

pub const GRANTS: &str = "SELECT g.collection_id, m.name, g.sector, g.can_read, g.can_write
     FROM grants g LEFT JOIN members m ON m.id = g.member_id
     ORDER BY g.collection_id, m.name COLLATE \"C\" NULLS FIRST, g.sector COLLATE \"C\" NULLS FIRST";
// Grants go only to collections that exist and are not being deleted.
pub const GRANT_UPSERT_MEMBER: &str = "INSERT INTO grants (collection_id, member_id, can_read, can_write)
     SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM collections WHERE id = $1 AND deleted_at IS NULL)
     ON CONFLICT (collection_id, member_id) DO UPDATE SET can_read = excluded.can_read, can_write = excluded.can_write";
pub const GRANT_UPSERT_SECTOR: &str = "INSERT INTO grants (collection_id, sector, can_read, can_write)
     SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM collections WHERE id = $1 AND deleted_at IS NULL)
     ON CONFLICT (collection_id, sector) DO UPDATE SET can_read = excluded.can_read, can_write = excluded.can_write";
pub const GRANT_DELETE_MEMBER: &str =
    "DELETE FROM grants WHERE collection_id = $1 AND member_id = $2";
pub const GRANT_DELETE_SECTOR: &str = "DELETE FROM grants WHERE collection_id = $1 AND sector = $2";

pub const TOKENS: &str = "SELECT t.id, m.name, t.hash, t.created, t.expires, t.revoked_at
     FROM tokens t JOIN members m ON m.id = t.member_id ORDER BY t.created, t.id COLLATE \"C\"";
pub const TOKEN_INSERT: &str =
    "INSERT INTO tokens (id, member_id, hash, created, expires, revoked_at)
     VALUES ($1, $2, $3, $4, $5, $6)";
pub const TOKEN_REVOKE: &str =
    "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";

/// Every stored version of the given objects: enough to decide, per incoming
/// object, "already there", "conflict", and its first/last flags.
pub const OBJECT_VERSIONS_OF: &str = "SELECT object_id, version, version_text FROM objects
     WHERE collection_id = $1 AND object_id = ANY($2)";
/// The stored bodies at exactly the incoming (id, version) pairs.
pub const OBJECT_BODIES_AT: &str = "SELECT o.object_id, o.version, o.body
     FROM unnest($2::text[], $3::bigint[]) AS n(id, v)
     JOIN objects o ON o.collection_id = $1 AND o.object_id = n.id AND o.version = n.v";
pub const OBJECT_CLEAR_FIRST: &str = "UPDATE objects SET is_first = false WHERE collection_id = $1 AND object_id = ANY($2) AND is_first";
pub const OBJECT_CLEAR_LAST: &str = "UPDATE objects SET is_last = false WHERE collection_id = $1 AND object_id = ANY($2) AND is_last";
pub const OBJECT_INSERT_MANY: &str =
    "INSERT INTO objects (collection_id, date_added, object_id, object_type,
        version, version_text, spec_version, is_first, is_last, body, created_by)
     SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[],
        $7::text[], $8::boolean[], $9::boolean[], $10::text[], $11::text[])";
/// The first of `n` consecutive date_added values, all later than any value
/// taken before, by any node (see the schema).
pub const TAKE_ADDED: &str = "SELECT breakwater_take_added($1)";
pub const NOTIFY_OBJECTS: &str = "SELECT pg_notify('breakwater_objects', $1)";
pub const OBJECT_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM objects WHERE collection_id = $1 AND object_id = $2)";
/// The last key of a collection: one step down the primary key's index.
pub const OBJECT_LAST_KEY: &str = "SELECT max(date_added) FROM objects WHERE collection_id = $1";
pub const OBJECT_COUNT: &str = "SELECT count(*) FROM objects WHERE collection_id = $1";
pub const OBJECT_REMARK_ENDS: &str =
    "UPDATE objects o SET is_first = (o.version = e.lo), is_last = (o.version = e.hi)
     FROM (SELECT min(version) AS lo, max(version) AS hi FROM objects
           WHERE collection_id = $1 AND object_id = $2) e
     WHERE o.collection_id = $1 AND o.object_id = $2
       AND (o.is_first <> (o.version = e.lo) OR o.is_last <> (o.version = e.hi))";
/// $1 collection, $2 object id, $3 spec versions (or NULL), $4 all, $5
/// first, $6 last, $7 exact versions.
pub const OBJECT_DELETE: &str = "DELETE FROM objects WHERE collection_id = $1 AND object_id = $2
       AND ($3::text[] IS NULL OR spec_version = ANY($3))
       AND ($4 OR ($5 AND is_first) OR ($6 AND is_last) OR version = ANY($7))";
pub const DATABASE_SIZE: &str = "SELECT pg_database_size(current_database())";

// Pages. Parameters: $1 collection, $2 lower bound (exclusive) on
// date_added, $3 the index-driving filter (types, one type, or ids), $4
// types when $3 holds ids (or NULL), $5 spec versions (or NULL), $6 all
// versions, $7 first, $8 last, $9 exact versions, $10 limit.
//
// Three texts for the same filter, as in the SQLite backend: by id (few
// rows), by one type (that index is in date_added order), or the
// collection's date_added order. Each has one sensible plan whatever the
// bound values, so the cached generic plans stay good and a page's cost does
// not grow with the collection.
macro_rules! rest_of_filter {
    () => {
        " AND ($5::text[] IS NULL OR spec_version = ANY($5))
          AND ($6 OR ($7 AND is_first) OR ($8 AND is_last) OR version = ANY($9))"
    };
}
macro_rules! object_columns {
    () => {
        "SELECT date_added, object_id, version_text, spec_version, body FROM objects"
    };
}
macro_rules! manifest_columns {
    () => {
        "SELECT date_added, object_id, version_text, spec_version, '' AS body FROM objects"
    };
}
macro_rules! by_date_added {
    () => {
        " WHERE collection_id = $1 AND date_added > $2
          AND ($3::text[] IS NULL OR object_type = ANY($3)) AND $4::text[] IS NULL"
    };
}
macro_rules! by_type {
    () => {
        " WHERE collection_id = $1 AND object_type = $3::text AND date_added > $2
          AND $4::text[] IS NULL"
    };
}
macro_rules! by_id {
    () => {
        " WHERE collection_id = $1 AND object_id = ids.id AND date_added > $2
          AND ($4::text[] IS NULL OR object_type = ANY($4))"
    };
}
macro_rules! order_limit {
    () => {
        " ORDER BY date_added LIMIT $10"
    };
}
macro_rules! by_id_page {
    ($columns:expr) => {
        concat!(
            "SELECT p.* FROM unnest($3::text[]) AS ids(id) CROSS JOIN LATERAL (",
            $columns,
            by_id!(),
            rest_of_filter!(),
            ") p ORDER BY p.date_added LIMIT $10"
        )
    };
}
pub const OBJECTS_PAGE: &str = concat!(
    object_columns!(),
    by_date_added!(),
    rest_of_filter!(),
    order_limit!()
);
pub const OBJECTS_PAGE_BY_TYPE: &str = concat!(
    object_columns!(),
    by_type!(),
    rest_of_filter!(),
    order_limit!()
);
pub const OBJECTS_PAGE_BY_ID: &str = by_id_page!(object_columns!());
pub const MANIFEST_PAGE: &str = concat!(
    manifest_columns!(),
    by_date_added!(),
    rest_of_filter!(),
    order_limit!()
);
pub const MANIFEST_PAGE_BY_TYPE: &str = concat!(
    manifest_columns!(),
    by_type!(),
    rest_of_filter!(),
    order_limit!()
);
pub const MANIFEST_PAGE_BY_ID: &str = by_id_page!(manifest_columns!());

/// $1 collection, $2 object id, $3 version lower bound (exclusive),
/// $4 added_after, $5 spec versions (or NULL), $6 limit.
pub const VERSIONS_PAGE: &str = "SELECT version, date_added, object_id, version_text, spec_version
     FROM objects
     WHERE collection_id = $1 AND object_id = $2 AND version > $3 AND date_added > $4
       AND ($5::text[] IS NULL OR spec_version = ANY($5))
     ORDER BY version LIMIT $6";

pub const STATUS: &str =
    "SELECT id, api_root, collection_id, member, request_timestamp, completed, details
     FROM statuses WHERE id = $1";
pub const STATUS_UPSERT_MANY: &str = "INSERT INTO statuses (id, api_root, collection_id, member, request_timestamp,
        completed, total_count, success_count, failure_count, pending_count, details, payload)
     SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::bigint[],
        $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::text[])
     ON CONFLICT (id) DO UPDATE SET completed = excluded.completed, total_count = excluded.total_count,
        success_count = excluded.success_count, failure_count = excluded.failure_count,
        pending_count = excluded.pending_count, details = excluded.details, payload = excluded.payload";
/// Locks the statuses of pending envelopes about to be finished: whoever
/// holds the lock finishes it; whoever comes after finds it completed.
pub const STATUSES_LOCK: &str =
    "SELECT id, completed, details FROM statuses WHERE id = ANY($1) ORDER BY id FOR UPDATE";
/// Pending envelopes no transaction is finishing right now.
pub const STATUSES_PENDING: &str =
    "SELECT id, api_root, collection_id, member, request_timestamp, details, payload
     FROM statuses WHERE completed IS NULL AND payload IS NOT NULL AND request_timestamp < $1
     ORDER BY request_timestamp FOR UPDATE SKIP LOCKED";
/// $1 completed before, $2 most rows.
pub const STATUSES_PURGE_SOME: &str = "DELETE FROM statuses WHERE id IN (
        SELECT id FROM statuses WHERE completed < $1 ORDER BY completed LIMIT $2)";

pub const AUDIT_INSERT_MANY: &str =
    "INSERT INTO audit (at, member, fingerprint, action, collection, objects, outcome, detail)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::bigint[], $7::text[], $8::text[])";
pub const AUDIT_QUERY: &str =
    "SELECT at, member, fingerprint, action, collection, objects, outcome, detail FROM audit
     WHERE ($1::text IS NULL OR member = $1) AND at >= $2 ORDER BY at, id LIMIT $3";

// `store copy`.
pub const OBJECTS_AFTER: &str = "SELECT collection_id, date_added, object_id, object_type, version,
        version_text, spec_version, is_first, is_last, body
     FROM objects WHERE collection_id = $1 AND date_added > $2 ORDER BY date_added LIMIT $3";
pub const STATUSES_AFTER: &str =
    "SELECT id, api_root, collection_id, member, request_timestamp, completed,
        details, payload
     FROM statuses WHERE id COLLATE \"C\" > $1 ORDER BY id COLLATE \"C\" LIMIT $2";
pub const AUDIT_AFTER: &str =
    "SELECT id, at, member, fingerprint, action, collection, objects, outcome, detail
     FROM audit WHERE id > $1 ORDER BY id LIMIT $2";
pub const IS_EMPTY: &str =
    "SELECT NOT EXISTS (SELECT 1 FROM members) AND NOT EXISTS (SELECT 1 FROM collections)
     AND NOT EXISTS (SELECT 1 FROM objects) AND NOT EXISTS (SELECT 1 FROM audit)";
pub const CURSOR_KEY_SET: &str = "INSERT INTO meta (key, value) VALUES ('cursor_key', $1)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";
pub const MEMBER_INSERT_AS_IS: &str =
    "INSERT INTO members (name, sector, contact, identity_ref, clearance, suspended,
        is_operator, created)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub const CLOCK_AT_LEAST: &str = "SELECT breakwater_clock_at_least($1)";
