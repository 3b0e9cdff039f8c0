-- Read models for the web console, kept in the same transaction as the rows
-- they summarise, whichever process writes (server or CLI), and filled here
-- for the rows that already exist. Every console page reads a bounded slice
-- of these instead of scanning objects or the audit log.
--
-- Rollups, is_last changes and deletions are kept by triggers. What a new
-- object version adds (its count, labels and edges) the writer adds as it
-- stores the version (store/sqlite/console.rs, `index_object`): it has the
-- JSON in hand, and the same work done by INSERT triggers on objects, which
-- parse the body again in SQL, made storing an object ~3x as expensive.

-- Objects and versions per collection and type (the overview's counts and
-- the browser's type list). `objects` counts rows that are their object's
-- latest version, so it moves with is_last. The writer counts what it
-- inserts; triggers follow is_last changes and deletions.
CREATE TABLE object_type_counts (
    collection_id TEXT NOT NULL,
    object_type   TEXT NOT NULL,
    versions      INTEGER NOT NULL,
    objects       INTEGER NOT NULL,
    PRIMARY KEY (collection_id, object_type)
) WITHOUT ROWID;
INSERT INTO object_type_counts (collection_id, object_type, versions, objects)
    SELECT collection_id, object_type, COUNT(*), SUM(is_last) FROM objects
    GROUP BY collection_id, object_type;
CREATE TRIGGER objects_counts_u AFTER UPDATE OF is_last ON objects
    WHEN OLD.is_last <> NEW.is_last BEGIN
    UPDATE object_type_counts SET objects = objects + NEW.is_last - OLD.is_last
    WHERE collection_id = NEW.collection_id AND object_type = NEW.object_type;
END;
CREATE TRIGGER objects_counts_d AFTER DELETE ON objects BEGIN
    UPDATE object_type_counts SET versions = versions - 1, objects = objects - OLD.is_last
    WHERE collection_id = OLD.collection_id AND object_type = OLD.object_type;
END;

-- The browser's creator filter, newest first.
CREATE INDEX objects_creator
    ON objects(collection_id, json_extract(body, '$.created_by_ref'), date_added);

-- The browser's label filter: one row per label of each stored version,
-- added by the writer. date_added is unique across the file, so it names
-- the version.
CREATE TABLE object_labels (
    collection_id TEXT NOT NULL,
    label         TEXT NOT NULL,
    date_added    INTEGER NOT NULL,
    PRIMARY KEY (collection_id, label, date_added)
) WITHOUT ROWID;
INSERT OR IGNORE INTO object_labels (collection_id, label, date_added)
    SELECT o.collection_id, l.value, o.date_added
    FROM objects o, json_each(o.body, '$.labels') l
    WHERE json_type(o.body, '$.labels') = 'array' AND l.type = 'text';
CREATE TRIGGER objects_labels_d AFTER DELETE ON objects
    WHEN json_type(OLD.body, '$.labels') = 'array' BEGIN
    DELETE FROM object_labels WHERE collection_id = OLD.collection_id
        AND label IN (SELECT value FROM json_each(OLD.body, '$.labels'))
        AND date_added = OLD.date_added;
END;

-- The relationship graph: the edges each relationship and sighting version
-- states (a sighting points at what was sighted, the observed data and where
-- it was seen), added by the writer. `via_id` is the relationship or
-- sighting that states it.
CREATE TABLE object_edges (
    source_ref    TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    date_added    INTEGER NOT NULL,
    target_ref    TEXT NOT NULL,
    edge_type     TEXT NOT NULL,
    via_id        TEXT NOT NULL,
    PRIMARY KEY (source_ref, collection_id, date_added, target_ref, edge_type)
) WITHOUT ROWID;
CREATE INDEX object_edges_target ON object_edges(target_ref, collection_id);
INSERT OR IGNORE INTO object_edges (date_added, source_ref, target_ref, edge_type, collection_id, via_id)
    SELECT date_added, json_extract(body, '$.source_ref'), json_extract(body, '$.target_ref'),
        coalesce(json_extract(body, '$.relationship_type'), 'related-to'), collection_id, object_id
    FROM objects INDEXED BY objects_type WHERE object_type = 'relationship'
        AND json_type(body, '$.source_ref') = 'text' AND json_type(body, '$.target_ref') = 'text';
INSERT OR IGNORE INTO object_edges (date_added, source_ref, target_ref, edge_type, collection_id, via_id)
    SELECT date_added, object_id, json_extract(body, '$.sighting_of_ref'), 'sighting-of',
        collection_id, object_id
    FROM objects INDEXED BY objects_type WHERE object_type = 'sighting'
        AND json_type(body, '$.sighting_of_ref') = 'text';
INSERT OR IGNORE INTO object_edges (date_added, source_ref, target_ref, edge_type, collection_id, via_id)
    SELECT o.date_added, o.object_id, r.value, 'observed', o.collection_id, o.object_id
    FROM objects o INDEXED BY objects_type, json_each(o.body, '$.observed_data_refs') r
    WHERE o.object_type = 'sighting' AND r.type = 'text';
INSERT OR IGNORE INTO object_edges (date_added, source_ref, target_ref, edge_type, collection_id, via_id)
    SELECT o.date_added, o.object_id, r.value, 'seen-at', o.collection_id, o.object_id
    FROM objects o INDEXED BY objects_type, json_each(o.body, '$.where_sighted_refs') r
    WHERE o.object_type = 'sighting' AND r.type = 'text';
CREATE TRIGGER objects_edges_d AFTER DELETE ON objects
    WHEN OLD.object_type IN ('relationship', 'sighting') BEGIN
    DELETE FROM object_edges
    WHERE source_ref = CASE OLD.object_type WHEN 'sighting' THEN OLD.object_id
            ELSE json_extract(OLD.body, '$.source_ref') END
        AND collection_id = OLD.collection_id AND date_added = OLD.date_added;
END;

-- Activity per hour and per day: objects stored and refused by pushes
-- (from each status as it completes) and objects served by polls (from the
-- audit log), per collection and member, with the member's sector at the time.
CREATE TABLE activity_hourly (
    period        INTEGER NOT NULL, -- hours since the Unix epoch
    action        TEXT NOT NULL,    -- 'push' or 'poll'
    collection_id TEXT NOT NULL,
    member        TEXT NOT NULL,
    sector        TEXT NOT NULL,
    objects       INTEGER NOT NULL,
    refused       INTEGER NOT NULL,
    requests      INTEGER NOT NULL,
    PRIMARY KEY (period, action, collection_id, member)
) WITHOUT ROWID;
CREATE TABLE activity_daily (
    period        INTEGER NOT NULL, -- days since the Unix epoch
    action        TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    member        TEXT NOT NULL,
    sector        TEXT NOT NULL,
    objects       INTEGER NOT NULL,
    refused       INTEGER NOT NULL,
    requests      INTEGER NOT NULL,
    PRIMARY KEY (period, action, collection_id, member)
) WITHOUT ROWID;

-- Refused objects per day and reason. The reason is a stable family read
-- off the status message by the first matching pattern below, or, for
-- validation failures, the path of the first property at fault, so values
-- inside messages do not split groups.
CREATE TABLE refusals_daily (
    period        INTEGER NOT NULL, -- days since the Unix epoch
    collection_id TEXT NOT NULL,
    member        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    objects       INTEGER NOT NULL,
    PRIMARY KEY (period, collection_id, member, reason)
) WITHOUT ROWID;
CREATE TABLE refusal_patterns (
    pattern TEXT PRIMARY KEY, -- LIKE pattern, escape character '\'
    reason  TEXT NOT NULL
);
INSERT INTO refusal_patterns (pattern, reason) VALUES
    ('object is marked %', 'marking stricter than the collection''s tier'),
    ('created\_by\_ref % is the identity of member %', 'published under another member''s identity'),
    ('a different object with this id and version %', 'same id and version, different content'),
    ('not valid JSON%', 'not a STIX object'),
    ('an envelope item %', 'not a STIX object'),
    ('the object has no %', 'not a STIX object'),
    ('`id` %', 'not a STIX object');
-- Pushes recorded before this schema: the audit log has their totals and
-- "status ID: N stored, M refused"; polls are audit events too.
INSERT INTO activity_hourly (period, action, collection_id, member, sector, objects, refused, requests)
    SELECT a.at / 3600000000, 'push', a.collection, coalesce(a.member, ''),
        coalesce((SELECT sector FROM members WHERE name = a.member), ''),
        SUM(CAST(substr(a.detail, instr(a.detail, ': ') + 2) AS INTEGER)),
        SUM(coalesce(a.objects, 0) - CAST(substr(a.detail, instr(a.detail, ': ') + 2) AS INTEGER)),
        COUNT(*)
    FROM audit a
    WHERE a.action = 'push' AND a.collection IS NOT NULL AND a.detail LIKE 'status %: % stored, % refused'
    GROUP BY 1, 3, 4;
INSERT INTO activity_hourly (period, action, collection_id, member, sector, objects, refused, requests)
    SELECT a.at / 3600000000, 'poll', a.collection, coalesce(a.member, ''),
        coalesce((SELECT sector FROM members WHERE name = a.member), ''),
        SUM(coalesce(a.objects, 0)), 0, COUNT(*)
    FROM audit a WHERE a.action LIKE 'poll-%' AND a.outcome = 'ok' AND a.collection IS NOT NULL
    GROUP BY 1, 3, 4;
INSERT INTO activity_daily (period, action, collection_id, member, sector, objects, refused, requests)
    SELECT period / 24, action, collection_id, member, max(sector), SUM(objects), SUM(refused), SUM(requests)
    FROM activity_hourly GROUP BY 1, 2, 3, 4;

-- Refusals still visible in retained statuses.
INSERT INTO refusals_daily (period, collection_id, member, reason, objects)
    SELECT period, collection_id, member,
        coalesce((SELECT reason FROM refusal_patterns WHERE m LIKE pattern ESCAPE '\'),
            CASE WHEN instr(m, ': ') BETWEEN 2 AND 121
                THEN 'invalid ' || substr(m, 1, instr(m, ': ') - 1) ELSE 'other' END) AS reason,
        COUNT(*)
    FROM (SELECT s.completed / 86400000000 AS period, s.collection_id,
            coalesce(s.member, '') AS member, json_extract(f.value, '$.message') AS m
        FROM statuses s, json_each(s.details, '$.failures') f
        WHERE s.completed IS NOT NULL)
    GROUP BY 1, 2, 3, 4;

-- A status completes either when it is written (a foreground ingest) or when
-- a background ingest finishes the pending one: the same summary for both.
CREATE TRIGGER statuses_rollup_i AFTER INSERT ON statuses
    WHEN NEW.completed IS NOT NULL BEGIN
    INSERT INTO activity_hourly (period, action, collection_id, member, sector, objects, refused, requests)
    VALUES (NEW.completed / 3600000000, 'push', NEW.collection_id, coalesce(NEW.member, ''),
        coalesce((SELECT sector FROM members WHERE name = NEW.member), ''),
        NEW.success_count, NEW.failure_count, 1)
    ON CONFLICT (period, action, collection_id, member) DO UPDATE
        SET objects = objects + excluded.objects, refused = refused + excluded.refused,
            requests = requests + 1;
    INSERT INTO activity_daily (period, action, collection_id, member, sector, objects, refused, requests)
    VALUES (NEW.completed / 86400000000, 'push', NEW.collection_id, coalesce(NEW.member, ''),
        coalesce((SELECT sector FROM members WHERE name = NEW.member), ''),
        NEW.success_count, NEW.failure_count, 1)
    ON CONFLICT (period, action, collection_id, member) DO UPDATE
        SET objects = objects + excluded.objects, refused = refused + excluded.refused,
            requests = requests + 1;
    INSERT INTO refusals_daily (period, collection_id, member, reason, objects)
    SELECT NEW.completed / 86400000000, NEW.collection_id, coalesce(NEW.member, ''),
        coalesce((SELECT reason FROM refusal_patterns WHERE m LIKE pattern ESCAPE '\'),
            CASE WHEN instr(m, ': ') BETWEEN 2 AND 121
                THEN 'invalid ' || substr(m, 1, instr(m, ': ') - 1) ELSE 'other' END) AS reason,
        COUNT(*)
    FROM (SELECT json_extract(value, '$.message') AS m FROM json_each(NEW.details, '$.failures'))
    WHERE true
    GROUP BY reason
    ON CONFLICT (period, collection_id, member, reason) DO UPDATE
        SET objects = objects + excluded.objects;
END;
CREATE TRIGGER statuses_rollup_u AFTER UPDATE OF completed ON statuses
    WHEN NEW.completed IS NOT NULL AND OLD.completed IS NULL BEGIN
    INSERT INTO activity_hourly (period, action, collection_id, member, sector, objects, refused, requests)
    VALUES (NEW.completed / 3600000000, 'push', NEW.collection_id, coalesce(NEW.member, ''),
        coalesce((SELECT sector FROM members WHERE name = NEW.member), ''),
        NEW.success_count, NEW.failure_count, 1)
    ON CONFLICT (period, action, collection_id, member) DO UPDATE
        SET objects = objects + excluded.objects, refused = refused + excluded.refused,
            requests = requests + 1;
    INSERT INTO activity_daily (period, action, collection_id, member, sector, objects, refused, requests)
    VALUES (NEW.completed / 86400000000, 'push', NEW.collection_id, coalesce(NEW.member, ''),
        coalesce((SELECT sector FROM members WHERE name = NEW.member), ''),
        NEW.success_count, NEW.failure_count, 1)
    ON CONFLICT (period, action, collection_id, member) DO UPDATE
        SET objects = objects + excluded.objects, refused = refused + excluded.refused,
            requests = requests + 1;
    INSERT INTO refusals_daily (period, collection_id, member, reason, objects)
    SELECT NEW.completed / 86400000000, NEW.collection_id, coalesce(NEW.member, ''),
        coalesce((SELECT reason FROM refusal_patterns WHERE m LIKE pattern ESCAPE '\'),
            CASE WHEN instr(m, ': ') BETWEEN 2 AND 121
                THEN 'invalid ' || substr(m, 1, instr(m, ': ') - 1) ELSE 'other' END) AS reason,
        COUNT(*)
    FROM (SELECT json_extract(value, '$.message') AS m FROM json_each(NEW.details, '$.failures'))
    WHERE true
    GROUP BY reason
    ON CONFLICT (period, collection_id, member, reason) DO UPDATE
        SET objects = objects + excluded.objects;
END;

CREATE TRIGGER audit_rollup AFTER INSERT ON audit
    WHEN NEW.action LIKE 'poll-%' AND NEW.outcome = 'ok' AND NEW.collection IS NOT NULL BEGIN
    INSERT INTO activity_hourly (period, action, collection_id, member, sector, objects, refused, requests)
    VALUES (NEW.at / 3600000000, 'poll', NEW.collection, coalesce(NEW.member, ''),
        coalesce((SELECT sector FROM members WHERE name = NEW.member), ''),
        coalesce(NEW.objects, 0), 0, 1)
    ON CONFLICT (period, action, collection_id, member) DO UPDATE
        SET objects = objects + excluded.objects, requests = requests + 1;
    INSERT INTO activity_daily (period, action, collection_id, member, sector, objects, refused, requests)
    VALUES (NEW.at / 86400000000, 'poll', NEW.collection, coalesce(NEW.member, ''),
        coalesce((SELECT sector FROM members WHERE name = NEW.member), ''),
        coalesce(NEW.objects, 0), 0, 1)
    ON CONFLICT (period, action, collection_id, member) DO UPDATE
        SET objects = objects + excluded.objects, requests = requests + 1;
END;

-- A deleted collection (schema 3) leaves the console at once: its counts go
-- when it is marked deleted, and every query reads only live collections.
-- Its labels and edges go with its objects, chunk by chunk (the DELETE
-- triggers above); its rollups go with the collection's row, last.
CREATE INDEX activity_hourly_collection ON activity_hourly(collection_id);
CREATE INDEX activity_daily_collection ON activity_daily(collection_id);
CREATE INDEX refusals_daily_collection ON refusals_daily(collection_id);
CREATE TRIGGER collections_console_hide AFTER UPDATE OF deleted_at ON collections
    WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL BEGIN
    DELETE FROM object_type_counts WHERE collection_id = NEW.id;
END;
CREATE TRIGGER collections_console_d AFTER DELETE ON collections BEGIN
    DELETE FROM object_type_counts WHERE collection_id = OLD.id;
    DELETE FROM activity_hourly WHERE collection_id = OLD.id;
    DELETE FROM activity_daily WHERE collection_id = OLD.id;
    DELETE FROM refusals_daily WHERE collection_id = OLD.id;
END;

-- A member's submissions, newest first; the operator's, of everyone.
CREATE INDEX statuses_member ON statuses(member, request_timestamp, id);
CREATE INDEX statuses_requested ON statuses(request_timestamp, id);

-- The audit page, newest first, by time or by action (by member: audit_member).
CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_action ON audit(action, at);
