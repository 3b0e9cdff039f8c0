-- Breakwater schema, version 1.
-- Timestamps are microseconds since the Unix epoch (INTEGER) unless named *_text.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- The date_added clock and the revision of everything authentication depends on.
-- One row; every writer (server or CLI process) reads and advances it inside its
-- write transaction, so the clock stays strictly increasing across processes.
CREATE TABLE clock (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_added    INTEGER NOT NULL,
    auth_revision INTEGER NOT NULL
);
INSERT INTO clock (id, last_added, auth_revision) VALUES (1, 0, 1);

CREATE TABLE api_roots (
    name               TEXT PRIMARY KEY,
    title              TEXT NOT NULL,
    description        TEXT,
    max_content_length INTEGER NOT NULL CHECK (max_content_length > 0),
    is_default         INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE collections (
    id          TEXT PRIMARY KEY,
    api_root    TEXT NOT NULL REFERENCES api_roots(name),
    alias       TEXT,
    title       TEXT NOT NULL,
    description TEXT,
    tier        TEXT NOT NULL,
    created     INTEGER NOT NULL,
    UNIQUE (api_root, alias)
);

CREATE TABLE members (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    sector       TEXT NOT NULL,
    contact      TEXT,
    identity_ref TEXT,
    clearance    TEXT NOT NULL,
    suspended    INTEGER NOT NULL DEFAULT 0,
    is_operator  INTEGER NOT NULL DEFAULT 0,
    created      INTEGER NOT NULL
);

CREATE TABLE certificates (
    fingerprint TEXT PRIMARY KEY,
    member_id   INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    serial      TEXT NOT NULL,
    subject     TEXT,
    not_before  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    revoked_at  INTEGER,
    added       INTEGER NOT NULL
);
CREATE INDEX certificates_member ON certificates(member_id);

CREATE TABLE grants (
    id            INTEGER PRIMARY KEY,
    collection_id TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    member_id     INTEGER REFERENCES members(id) ON DELETE CASCADE,
    sector        TEXT,
    can_read      INTEGER NOT NULL,
    can_write     INTEGER NOT NULL,
    CHECK ((member_id IS NULL) <> (sector IS NULL)),
    UNIQUE (collection_id, member_id),
    UNIQUE (collection_id, sector)
);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    hash       TEXT NOT NULL UNIQUE,
    created    INTEGER NOT NULL,
    expires    INTEGER,
    revoked_at INTEGER
);

-- Any change to who may do what bumps auth_revision, whichever process made it;
-- the server compares the revision on every request and reloads on change.
CREATE TRIGGER members_rev_i AFTER INSERT ON members BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER members_rev_u AFTER UPDATE ON members BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER members_rev_d AFTER DELETE ON members BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER certs_rev_i AFTER INSERT ON certificates BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER certs_rev_u AFTER UPDATE ON certificates BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER certs_rev_d AFTER DELETE ON certificates BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER grants_rev_i AFTER INSERT ON grants BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER grants_rev_u AFTER UPDATE ON grants BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER grants_rev_d AFTER DELETE ON grants BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER tokens_rev_i AFTER INSERT ON tokens BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER tokens_rev_u AFTER UPDATE ON tokens BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER tokens_rev_d AFTER DELETE ON tokens BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER collections_rev_i AFTER INSERT ON collections BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER collections_rev_u AFTER UPDATE ON collections BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER collections_rev_d AFTER DELETE ON collections BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;

-- One row per stored version. date_added is unique per collection (the
-- writer's clock is strictly increasing), so it alone is the keyset.
CREATE TABLE objects (
    collection_id TEXT NOT NULL,
    date_added    INTEGER NOT NULL,
    object_id     TEXT NOT NULL,
    object_type   TEXT NOT NULL,
    version       INTEGER NOT NULL,
    version_text  TEXT NOT NULL,
    spec_version  TEXT NOT NULL,
    is_first      INTEGER NOT NULL,
    is_last       INTEGER NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (collection_id, date_added)
) WITHOUT ROWID;
CREATE UNIQUE INDEX objects_version ON objects(collection_id, object_id, version);
CREATE INDEX objects_type ON objects(collection_id, object_type, date_added);

CREATE TABLE statuses (
    id                TEXT PRIMARY KEY,
    api_root          TEXT NOT NULL,
    collection_id     TEXT NOT NULL,
    member            TEXT,
    request_timestamp INTEGER NOT NULL,
    completed         INTEGER,
    total_count       INTEGER NOT NULL,
    success_count     INTEGER NOT NULL,
    failure_count     INTEGER NOT NULL,
    pending_count     INTEGER NOT NULL,
    details           TEXT NOT NULL,
    -- the accepted objects of a background ingest, kept until it completes so a
    -- crash after the 202 loses nothing: the server resumes it at start.
    payload           TEXT
);
CREATE INDEX statuses_completed ON statuses(completed);

CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    member      TEXT,
    fingerprint TEXT,
    action      TEXT NOT NULL,
    collection  TEXT,
    objects     INTEGER,
    outcome     TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX audit_member ON audit(member, at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
