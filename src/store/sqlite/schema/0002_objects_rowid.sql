-- Schema version 2: objects become a rowid table keyed by date_added.
--
-- In version 1 objects was WITHOUT ROWID, an index b-tree whose rows may
-- hold at most about 1000 bytes in a 4 KiB page: every ~1 KiB STIX object
-- spilled into an overflow page, so each stored object cost a page and a
-- half of writes and ~4.7 KiB on disk. A table b-tree keeps rows of up to
-- ~4 KiB inline. date_added comes from the one clock all collections share,
-- so it is unique across the file and can be the rowid: new rows append at
-- the end of the table.
CREATE TABLE objects_v2 (
    date_added    INTEGER PRIMARY KEY,
    collection_id TEXT NOT NULL,
    object_id     TEXT NOT NULL,
    object_type   TEXT NOT NULL,
    version       INTEGER NOT NULL,
    version_text  TEXT NOT NULL,
    spec_version  TEXT NOT NULL,
    is_first      INTEGER NOT NULL,
    is_last       INTEGER NOT NULL,
    body          TEXT NOT NULL
);
INSERT INTO objects_v2 (date_added, collection_id, object_id, object_type, version, version_text,
        spec_version, is_first, is_last, body)
    SELECT date_added, collection_id, object_id, object_type, version, version_text,
        spec_version, is_first, is_last, body
    FROM objects ORDER BY date_added;
DROP TABLE objects;
ALTER TABLE objects_v2 RENAME TO objects;
CREATE INDEX objects_page ON objects(collection_id, date_added);
CREATE UNIQUE INDEX objects_version ON objects(collection_id, object_id, version);
CREATE INDEX objects_type ON objects(collection_id, object_type, date_added);

-- API roots are served from the cached registry snapshot too.
CREATE TRIGGER api_roots_rev_i AFTER INSERT ON api_roots BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER api_roots_rev_u AFTER UPDATE ON api_roots BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
CREATE TRIGGER api_roots_rev_d AFTER DELETE ON api_roots BEGIN UPDATE clock SET auth_revision = auth_revision + 1; END;
