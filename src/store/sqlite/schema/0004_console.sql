-- Read models for the web console, kept by triggers in the same transaction
-- as the rows they summarise, whichever process writes (server or CLI), and
-- filled here for the rows that already exist. Every console page reads a
-- bounded slice of these instead of scanning objects or the audit log.

-- Objects and versions per collection and type (the overview's counts and
-- the browser's type list). `objects` counts rows that are their object's
-- latest version, so it moves with is_last.
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
CREATE TRIGGER objects_counts_i AFTER INSERT ON objects BEGIN
    INSERT INTO object_type_counts (collection_id, object_type, versions, objects)
    VALUES (NEW.collection_id, NEW.object_type, 1, NEW.is_last)
    ON CONFLICT (collection_id, object_type) DO UPDATE
        SET versions = versions + 1, objects = objects + excluded.objects;
END;
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

-- The browser's label filter: one row per label of each stored version.
-- date_added is unique across the file, so it names the version.
CREATE TABLE object_labels (
    date_added    INTEGER NOT NULL,
    label         TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    PRIMARY KEY (date_added, label)
) WITHOUT ROWID;
CREATE INDEX object_labels_browse ON object_labels(collection_id, label, date_added);
INSERT OR IGNORE INTO object_labels (date_added, label, collection_id)
    SELECT o.date_added, l.value, o.collection_id
    FROM objects o, json_each(o.body, '$.labels') l
    WHERE json_type(o.body, '$.labels') = 'array' AND l.type = 'text';
CREATE TRIGGER objects_labels_i AFTER INSERT ON objects
    WHEN json_type(NEW.body, '$.labels') = 'array' BEGIN
    INSERT OR IGNORE INTO object_labels (date_added, label, collection_id)
    SELECT NEW.date_added, value, NEW.collection_id FROM json_each(NEW.body, '$.labels')
    WHERE type = 'text';
END;
CREATE TRIGGER objects_labels_d AFTER DELETE ON objects BEGIN
    DELETE FROM object_labels WHERE date_added = OLD.date_added;
END;

-- The relationship graph: the edges each relationship and sighting version
-- states (a sighting points at what was sighted, the observed data and where
-- it was seen). `via_id` is the relationship or sighting that states it.
CREATE TABLE object_edges (
    date_added    INTEGER NOT NULL,
    source_ref    TEXT NOT NULL,
    target_ref    TEXT NOT NULL,
    edge_type     TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    via_id        TEXT NOT NULL,
    PRIMARY KEY (date_added, source_ref, target_ref, edge_type)
) WITHOUT ROWID;
CREATE INDEX object_edges_source ON object_edges(source_ref, collection_id);
CREATE INDEX object_edges_target ON object_edges(target_ref, collection_id);
INSERT OR IGNORE INTO object_edges
    SELECT date_added, json_extract(body, '$.source_ref'), json_extract(body, '$.target_ref'),
        coalesce(json_extract(body, '$.relationship_type'), 'related-to'), collection_id, object_id
    FROM objects INDEXED BY objects_type WHERE object_type = 'relationship'
        AND json_type(body, '$.source_ref') = 'text' AND json_type(body, '$.target_ref') = 'text';
INSERT OR IGNORE INTO object_edges
    SELECT date_added, object_id, json_extract(body, '$.sighting_of_ref'), 'sighting-of',
        collection_id, object_id
    FROM objects INDEXED BY objects_type WHERE object_type = 'sighting'
        AND json_type(body, '$.sighting_of_ref') = 'text';
INSERT OR IGNORE INTO object_edges
    SELECT o.date_added, o.object_id, r.value, 'observed', o.collection_id, o.object_id
    FROM objects o INDEXED BY objects_type, json_each(o.body, '$.observed_data_refs') r
    WHERE o.object_type = 'sighting' AND r.type = 'text';
INSERT OR IGNORE INTO object_edges
    SELECT o.date_added, o.object_id, r.value, 'seen-at', o.collection_id, o.object_id
    FROM objects o INDEXED BY objects_type, json_each(o.body, '$.where_sighted_refs') r
    WHERE o.object_type = 'sighting' AND r.type = 'text';
CREATE TRIGGER objects_edges_relationship AFTER INSERT ON objects
    WHEN NEW.object_type = 'relationship' BEGIN
    INSERT OR IGNORE INTO object_edges
    SELECT NEW.date_added, json_extract(NEW.body, '$.source_ref'),
        json_extract(NEW.body, '$.target_ref'),
        coalesce(json_extract(NEW.body, '$.relationship_type'), 'related-to'),
        NEW.collection_id, NEW.object_id
    WHERE json_type(NEW.body, '$.source_ref') = 'text'
        AND json_type(NEW.body, '$.target_ref') = 'text';
END;
CREATE TRIGGER objects_edges_sighting AFTER INSERT ON objects
    WHEN NEW.object_type = 'sighting' BEGIN
    INSERT OR IGNORE INTO object_edges
    SELECT NEW.date_added, NEW.object_id, json_extract(NEW.body, '$.sighting_of_ref'),
        'sighting-of', NEW.collection_id, NEW.object_id
    WHERE json_type(NEW.body, '$.sighting_of_ref') = 'text';
    INSERT OR IGNORE INTO object_edges
    SELECT NEW.date_added, NEW.object_id, value, 'observed', NEW.collection_id, NEW.object_id
    FROM json_each(NEW.body, '$.observed_data_refs') WHERE type = 'text';
    INSERT OR IGNORE INTO object_edges
    SELECT NEW.date_added, NEW.object_id, value, 'seen-at', NEW.collection_id, NEW.object_id
    FROM json_each(NEW.body, '$.where_sighted_refs') WHERE type = 'text';
END;
CREATE TRIGGER objects_edges_d AFTER DELETE ON objects
    WHEN OLD.object_type IN ('relationship', 'sighting') BEGIN
    DELETE FROM object_edges WHERE date_added = OLD.date_added;
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

-- A member's submissions, newest first; the operator's, of everyone.
CREATE INDEX statuses_member ON statuses(member, request_timestamp, id);
CREATE INDEX statuses_requested ON statuses(request_timestamp, id);

-- The audit page, newest first, by time or by action (by member: audit_member).
CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_action ON audit(action, at);
