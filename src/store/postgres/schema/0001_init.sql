-- Breakwater schema for PostgreSQL, version 1.
-- Timestamps are microseconds since the Unix epoch (bigint) unless named
-- *_text, as in the SQLite schema, so records copy between the two unchanged.
-- Lists sort text by byte (COLLATE "C"), as SQLite does, whatever the
-- database's collation.

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);

-- The revision of everything authentication depends on. Every change bumps
-- it and notifies channel breakwater_auth, so each node reloads its member
-- snapshot on its next request.
CREATE TABLE auth_state (
    id       integer PRIMARY KEY CHECK (id = 1),
    revision bigint NOT NULL
);
INSERT INTO auth_state (id, revision) VALUES (1, 1);

-- The date_added clock: microseconds, strictly increasing across every
-- collection and every node. Values are only ever taken through
-- breakwater_take_added(), which holds an advisory lock for the instant it
-- reads and advances the sequence.
CREATE SEQUENCE date_added_clock AS bigint MINVALUE 0 START WITH 0;

-- Advisory lock keys (the collection locks use the first 8 bytes of the
-- collection's UUID): 0x42570001 serialises migrations, 0x42570002 the clock.
CREATE FUNCTION breakwater_take_added(n bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    first_value bigint;
BEGIN
    PERFORM pg_advisory_lock(1112997890);
    BEGIN
        SELECT greatest(c.last_value + 1,
                        (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)
          INTO first_value FROM date_added_clock c;
        PERFORM setval('date_added_clock', first_value + n - 1);
    EXCEPTION WHEN query_canceled OR others THEN
        PERFORM pg_advisory_unlock(1112997890);
        RAISE;
    END;
    PERFORM pg_advisory_unlock(1112997890);
    RETURN first_value;
END
$$;

-- Moves the clock past a value stored by a copy from another database.
CREATE FUNCTION breakwater_clock_at_least(v bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    now_last bigint;
BEGIN
    PERFORM pg_advisory_lock(1112997890);
    BEGIN
        SELECT greatest(c.last_value, v) INTO now_last FROM date_added_clock c;
        PERFORM setval('date_added_clock', now_last);
    EXCEPTION WHEN query_canceled OR others THEN
        PERFORM pg_advisory_unlock(1112997890);
        RAISE;
    END;
    PERFORM pg_advisory_unlock(1112997890);
    RETURN now_last;
END
$$;

CREATE TABLE api_roots (
    name               text PRIMARY KEY,
    title              text NOT NULL,
    description        text,
    max_content_length bigint NOT NULL CHECK (max_content_length > 0),
    is_default         boolean NOT NULL DEFAULT false
);

CREATE TABLE collections (
    id          uuid PRIMARY KEY,
    api_root    text NOT NULL REFERENCES api_roots(name),
    alias       text,
    title       text NOT NULL,
    description text,
    tier        text NOT NULL,
    created     bigint NOT NULL,
    UNIQUE (api_root, alias)
);

CREATE TABLE members (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    sector       text NOT NULL,
    contact      text,
    identity_ref text,
    clearance    text NOT NULL,
    suspended    boolean NOT NULL DEFAULT false,
    is_operator  boolean NOT NULL DEFAULT false,
    created      bigint NOT NULL
);

CREATE TABLE certificates (
    fingerprint text PRIMARY KEY,
    member_id   bigint NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    serial      text NOT NULL,
    subject     text,
    not_before  bigint NOT NULL,
    not_after   bigint NOT NULL,
    revoked_at  bigint,
    added       bigint NOT NULL
);
CREATE INDEX certificates_member ON certificates(member_id);

CREATE TABLE grants (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection_id uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    member_id     bigint REFERENCES members(id) ON DELETE CASCADE,
    sector        text,
    can_read      boolean NOT NULL,
    can_write     boolean NOT NULL,
    CHECK ((member_id IS NULL) <> (sector IS NULL)),
    UNIQUE (collection_id, member_id),
    UNIQUE (collection_id, sector)
);
CREATE INDEX grants_member ON grants(member_id);

CREATE TABLE tokens (
    id         text PRIMARY KEY,
    member_id  bigint NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    hash       text NOT NULL UNIQUE,
    created    bigint NOT NULL,
    expires    bigint,
    revoked_at bigint
);
CREATE INDEX tokens_member ON tokens(member_id);

CREATE FUNCTION breakwater_auth_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r bigint;
BEGIN
    UPDATE auth_state SET revision = revision + 1 WHERE id = 1 RETURNING revision INTO r;
    PERFORM pg_notify('breakwater_auth', r::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER api_roots_auth AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_roots
    FOR EACH STATEMENT EXECUTE FUNCTION breakwater_auth_changed();
CREATE TRIGGER collections_auth AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON collections
    FOR EACH STATEMENT EXECUTE FUNCTION breakwater_auth_changed();
CREATE TRIGGER members_auth AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON members
    FOR EACH STATEMENT EXECUTE FUNCTION breakwater_auth_changed();
CREATE TRIGGER certificates_auth AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON certificates
    FOR EACH STATEMENT EXECUTE FUNCTION breakwater_auth_changed();
CREATE TRIGGER grants_auth AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON grants
    FOR EACH STATEMENT EXECUTE FUNCTION breakwater_auth_changed();
CREATE TRIGGER tokens_auth AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION breakwater_auth_changed();

-- One row per stored version. date_added comes from the one clock, so it is
-- unique across the database; (collection_id, date_added) is the keyset
-- every page walks.
CREATE TABLE objects (
    collection_id uuid NOT NULL,
    date_added    bigint NOT NULL,
    object_id     text COLLATE "C" NOT NULL,
    object_type   text COLLATE "C" NOT NULL,
    version       bigint NOT NULL,
    version_text  text NOT NULL,
    spec_version  text COLLATE "C" NOT NULL,
    is_first      boolean NOT NULL,
    is_last       boolean NOT NULL,
    body          text NOT NULL,
    PRIMARY KEY (collection_id, date_added)
);
CREATE UNIQUE INDEX objects_version ON objects(collection_id, object_id, version);
CREATE INDEX objects_type ON objects(collection_id, object_type, date_added);

CREATE TABLE statuses (
    id                text PRIMARY KEY,
    api_root          text NOT NULL,
    collection_id     uuid NOT NULL,
    member            text,
    request_timestamp bigint NOT NULL,
    completed         bigint,
    total_count       bigint NOT NULL,
    success_count     bigint NOT NULL,
    failure_count     bigint NOT NULL,
    pending_count     bigint NOT NULL,
    details           text NOT NULL,
    -- the accepted objects of a background ingest, kept until it completes so
    -- a crash after the 202 loses nothing: any node finishes it.
    payload           text
);
CREATE INDEX statuses_completed ON statuses(completed);
CREATE INDEX statuses_pending ON statuses(request_timestamp) WHERE completed IS NULL;

CREATE TABLE audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          bigint NOT NULL,
    member      text,
    fingerprint text,
    action      text NOT NULL,
    collection  text,
    objects     bigint,
    outcome     text NOT NULL,
    detail      text
);
CREATE INDEX audit_at ON audit(at, id);
CREATE INDEX audit_member ON audit(member, at);

CREATE FUNCTION breakwater_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION breakwater_audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION breakwater_audit_append_only();
