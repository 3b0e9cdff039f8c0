-- Schema version 3: the web console's read models, as SQLite's schema 4
-- keeps them, in the same transaction as the rows they summarise, on every
-- node. Every console page reads a bounded slice of these instead of
-- scanning objects or the audit log.
--
-- What a new object version adds (its count, labels, edges and creator)
-- the writer adds as it inserts the version (store/postgres/console.rs): it
-- has the JSON in hand, and PostgreSQL refuses to take apart a body holding
-- the escape \u0000, which a member may send. Changes of is_last,
-- deletions, completed statuses and poll audits are followed by triggers.
-- Objects stored before this schema are indexed here, skipping what cannot
-- be taken apart.

-- A JSON body, or NULL where PostgreSQL cannot represent it.
CREATE FUNCTION breakwater_try_jsonb(t text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN t::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- The browser's creator filter, newest first: `created_by_ref` when it is a
-- string.
ALTER TABLE objects ADD COLUMN created_by text COLLATE "C";
UPDATE objects o SET created_by = j.body->>'created_by_ref'
FROM (SELECT collection_id, date_added, breakwater_try_jsonb(body) AS body
      FROM objects WHERE strpos(body, '"created_by_ref"') > 0) j
WHERE o.collection_id = j.collection_id AND o.date_added = j.date_added
  AND jsonb_typeof(j.body->'created_by_ref') = 'string';
CREATE INDEX objects_creator ON objects(collection_id, created_by, date_added)
    WHERE created_by IS NOT NULL;

-- Objects and versions per collection and type. `objects` counts rows that
-- are their object's latest version, so it moves with is_last.
CREATE TABLE object_type_counts (
    collection_id uuid NOT NULL,
    object_type   text COLLATE "C" NOT NULL,
    versions      bigint NOT NULL,
    objects       bigint NOT NULL,
    PRIMARY KEY (collection_id, object_type)
);
INSERT INTO object_type_counts (collection_id, object_type, versions, objects)
    SELECT collection_id, object_type, count(*), count(*) FILTER (WHERE is_last)
    FROM objects GROUP BY collection_id, object_type;

-- The browser's label filter: one row per label (a string) of each stored
-- version. date_added is unique across the database, so it names the version.
CREATE TABLE object_labels (
    collection_id uuid NOT NULL,
    label         text COLLATE "C" NOT NULL,
    date_added    bigint NOT NULL,
    PRIMARY KEY (collection_id, label, date_added)
);
CREATE INDEX object_labels_added ON object_labels(collection_id, date_added);
INSERT INTO object_labels (collection_id, label, date_added)
    SELECT o.collection_id, l.value #>> '{}', o.date_added
    FROM (SELECT collection_id, date_added, breakwater_try_jsonb(body) -> 'labels' AS labels
          FROM objects WHERE strpos(body, '"labels"') > 0) o,
        jsonb_array_elements(CASE jsonb_typeof(o.labels) WHEN 'array' THEN o.labels
            ELSE '[]'::jsonb END) l
    WHERE jsonb_typeof(l.value) = 'string'
    ON CONFLICT DO NOTHING;

-- The relationship graph: the edges each relationship and sighting version
-- states (a sighting points at what was sighted, the observed data and
-- where it was seen). `via_id` is the relationship or sighting stating it.
CREATE TABLE object_edges (
    source_ref    text COLLATE "C" NOT NULL,
    collection_id uuid NOT NULL,
    date_added    bigint NOT NULL,
    target_ref    text COLLATE "C" NOT NULL,
    edge_type     text COLLATE "C" NOT NULL,
    via_id        text COLLATE "C" NOT NULL,
    PRIMARY KEY (source_ref, collection_id, date_added, target_ref, edge_type)
);
CREATE INDEX object_edges_target ON object_edges(target_ref, collection_id);
CREATE INDEX object_edges_added ON object_edges(collection_id, date_added);
CREATE TEMPORARY TABLE console_stated ON COMMIT DROP AS
    SELECT collection_id, date_added, object_id, object_type, breakwater_try_jsonb(body) AS body
    FROM objects WHERE object_type IN ('relationship', 'sighting');
INSERT INTO object_edges (date_added, source_ref, target_ref, edge_type, collection_id, via_id)
    SELECT date_added, body->>'source_ref', body->>'target_ref',
        CASE jsonb_typeof(body->'relationship_type') WHEN 'string'
            THEN body->>'relationship_type' ELSE 'related-to' END,
        collection_id, object_id
    FROM console_stated WHERE object_type = 'relationship'
        AND jsonb_typeof(body->'source_ref') = 'string'
        AND jsonb_typeof(body->'target_ref') = 'string'
    ON CONFLICT DO NOTHING;
INSERT INTO object_edges (date_added, source_ref, target_ref, edge_type, collection_id, via_id)
    SELECT date_added, object_id, body->>'sighting_of_ref', 'sighting-of', collection_id, object_id
    FROM console_stated WHERE object_type = 'sighting'
        AND jsonb_typeof(body->'sighting_of_ref') = 'string'
    ON CONFLICT DO NOTHING;
INSERT INTO object_edges (date_added, source_ref, target_ref, edge_type, collection_id, via_id)
    SELECT s.date_added, s.object_id, r.value #>> '{}', k.edge_type, s.collection_id, s.object_id
    FROM console_stated s,
        (VALUES ('observed_data_refs', 'observed'), ('where_sighted_refs', 'seen-at'))
            AS k(property, edge_type),
        jsonb_array_elements(CASE jsonb_typeof(s.body->k.property) WHEN 'array'
            THEN s.body->k.property ELSE '[]'::jsonb END) r
    WHERE s.object_type = 'sighting' AND jsonb_typeof(r.value) = 'string'
    ON CONFLICT DO NOTHING;

-- is_last changes and deletions, whoever makes them.
CREATE FUNCTION breakwater_console_last() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE object_type_counts
    SET objects = objects + CASE WHEN NEW.is_last THEN 1 ELSE -1 END
    WHERE collection_id = NEW.collection_id AND object_type = NEW.object_type;
    RETURN NULL;
END
$$;
CREATE TRIGGER objects_console_last AFTER UPDATE OF is_last ON objects
    FOR EACH ROW WHEN (OLD.is_last IS DISTINCT FROM NEW.is_last)
    EXECUTE FUNCTION breakwater_console_last();

CREATE FUNCTION breakwater_console_gone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE object_type_counts c
    SET versions = c.versions - g.versions, objects = c.objects - g.objects
    FROM (SELECT collection_id, object_type, count(*) AS versions,
                 count(*) FILTER (WHERE is_last) AS objects
          FROM gone GROUP BY collection_id, object_type) g
    WHERE c.collection_id = g.collection_id AND c.object_type = g.object_type;
    DELETE FROM object_labels l USING gone g
    WHERE l.collection_id = g.collection_id AND l.date_added = g.date_added;
    DELETE FROM object_edges e USING gone g
    WHERE g.object_type IN ('relationship', 'sighting')
      AND e.collection_id = g.collection_id AND e.date_added = g.date_added;
    RETURN NULL;
END
$$;
CREATE TRIGGER objects_console_gone AFTER DELETE ON objects
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION breakwater_console_gone();

-- Activity per hour and per day: objects stored and refused by pushes
-- (from each status as it completes) and objects served by polls (from the
-- audit log), per collection and member, with the member's sector at the time.
CREATE TABLE activity_hourly (
    period        bigint NOT NULL, -- hours since the Unix epoch
    action        text COLLATE "C" NOT NULL, -- 'push' or 'poll'
    collection_id text COLLATE "C" NOT NULL,
    member        text COLLATE "C" NOT NULL,
    sector        text COLLATE "C" NOT NULL,
    objects       bigint NOT NULL,
    refused       bigint NOT NULL,
    requests      bigint NOT NULL,
    PRIMARY KEY (period, action, collection_id, member)
);
CREATE TABLE activity_daily (
    period        bigint NOT NULL, -- days since the Unix epoch
    action        text COLLATE "C" NOT NULL,
    collection_id text COLLATE "C" NOT NULL,
    member        text COLLATE "C" NOT NULL,
    sector        text COLLATE "C" NOT NULL,
    objects       bigint NOT NULL,
    refused       bigint NOT NULL,
    requests      bigint NOT NULL,
    PRIMARY KEY (period, action, collection_id, member)
);
CREATE INDEX activity_hourly_collection ON activity_hourly(collection_id);
CREATE INDEX activity_daily_collection ON activity_daily(collection_id);

-- Refused objects per day and reason. The reason is a stable family read
-- off the status message by the first matching pattern below (in
-- `position` order), or, for validation failures, the path of the first
-- property at fault, so values inside messages do not split groups.
CREATE TABLE refusals_daily (
    period        bigint NOT NULL, -- days since the Unix epoch
    collection_id text COLLATE "C" NOT NULL,
    member        text COLLATE "C" NOT NULL,
    reason        text COLLATE "C" NOT NULL,
    objects       bigint NOT NULL,
    PRIMARY KEY (period, collection_id, member, reason)
);
CREATE INDEX refusals_daily_collection ON refusals_daily(collection_id);
CREATE TABLE refusal_patterns (
    position integer PRIMARY KEY,
    pattern  text NOT NULL, -- ILIKE pattern, escape character '\'
    reason   text NOT NULL
);
INSERT INTO refusal_patterns (position, pattern, reason) VALUES
    (1, 'object is marked %', 'marking stricter than the collection''s tier'),
    (2, 'created\_by\_ref % is the identity of member %', 'published under another member''s identity'),
    (3, 'a different object with this id and version %', 'same id and version, different content'),
    (4, 'not valid JSON%', 'not a STIX object'),
    (5, 'an envelope item %', 'not a STIX object'),
    (6, 'the object has no %', 'not a STIX object'),
    (7, '`id` %', 'not a STIX object');
CREATE FUNCTION breakwater_refusal_reason(m text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT reason FROM refusal_patterns WHERE m ILIKE pattern ESCAPE '\'
         ORDER BY position LIMIT 1),
        CASE WHEN strpos(m, ': ') BETWEEN 2 AND 121
            THEN 'invalid ' || substr(m, 1, strpos(m, ': ') - 1) ELSE 'other' END)
$$;

-- Pushes recorded before this schema: the audit log has their totals and
-- "status ID: N stored, M refused"; polls are audit events too.
INSERT INTO activity_hourly (period, action, collection_id, member, sector, objects, refused, requests)
    SELECT a.at / 3600000000, 'push', a.collection, coalesce(a.member, ''),
        max(coalesce(m.sector, '')),
        sum(substring(a.detail FROM ': ([0-9]+) stored')::bigint),
        sum(coalesce(a.objects, 0) - substring(a.detail FROM ': ([0-9]+) stored')::bigint),
        count(*)
    FROM audit a LEFT JOIN members m ON m.name = a.member
    WHERE a.action = 'push' AND a.collection IS NOT NULL
      AND a.detail ~ '^status .*: [0-9]+ stored, .* refused$'
    GROUP BY 1, 3, 4;
INSERT INTO activity_hourly (period, action, collection_id, member, sector, objects, refused, requests)
    SELECT a.at / 3600000000, 'poll', a.collection, coalesce(a.member, ''),
        max(coalesce(m.sector, '')), sum(coalesce(a.objects, 0)), 0, count(*)
    FROM audit a LEFT JOIN members m ON m.name = a.member
    WHERE a.action LIKE 'poll-%' AND a.outcome = 'ok' AND a.collection IS NOT NULL
    GROUP BY 1, 3, 4;
INSERT INTO activity_daily (period, action, collection_id, member, sector, objects, refused, requests)
    SELECT period / 24, action, collection_id, member, max(sector), sum(objects), sum(refused),
        sum(requests)
    FROM activity_hourly GROUP BY 1, 2, 3, 4;

-- Refusals still visible in retained statuses.
INSERT INTO refusals_daily (period, collection_id, member, reason, objects)
    SELECT s.completed / 86400000000, s.collection_id::text, coalesce(s.member, ''),
        breakwater_refusal_reason(f.value->>'message'), count(*)
    FROM (SELECT completed, collection_id, member,
              breakwater_try_jsonb(details) -> 'failures' AS failures
          FROM statuses WHERE completed IS NOT NULL AND failure_count > 0) s,
        jsonb_array_elements(CASE jsonb_typeof(s.failures) WHEN 'array' THEN s.failures
            ELSE '[]'::jsonb END) f
    GROUP BY 1, 2, 3, 4;

-- A status completes either when it is written (a foreground ingest) or
-- when a background ingest finishes the pending one: the same summary for
-- both. Failures whose details PostgreSQL cannot take apart count as 'other'.
CREATE FUNCTION breakwater_console_status() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    who text := coalesce(NEW.member, '');
    sector text := coalesce((SELECT m.sector FROM members m WHERE m.name = NEW.member), '');
    failures jsonb;
BEGIN
    IF NEW.completed IS NULL OR (TG_OP = 'UPDATE' AND OLD.completed IS NOT NULL) THEN
        RETURN NULL;
    END IF;
    INSERT INTO activity_hourly AS a (period, action, collection_id, member, sector, objects, refused, requests)
    VALUES (NEW.completed / 3600000000, 'push', NEW.collection_id::text, who, sector,
        NEW.success_count, NEW.failure_count, 1)
    ON CONFLICT (period, action, collection_id, member) DO UPDATE
        SET objects = a.objects + excluded.objects, refused = a.refused + excluded.refused,
            requests = a.requests + 1;
    INSERT INTO activity_daily AS a (period, action, collection_id, member, sector, objects, refused, requests)
    VALUES (NEW.completed / 86400000000, 'push', NEW.collection_id::text, who, sector,
        NEW.success_count, NEW.failure_count, 1)
    ON CONFLICT (period, action, collection_id, member) DO UPDATE
        SET objects = a.objects + excluded.objects, refused = a.refused + excluded.refused,
            requests = a.requests + 1;
    IF NEW.failure_count = 0 THEN
        RETURN NULL;
    END IF;
    failures := breakwater_try_jsonb(NEW.details) -> 'failures';
    IF failures IS NULL THEN
        INSERT INTO refusals_daily AS r (period, collection_id, member, reason, objects)
        VALUES (NEW.completed / 86400000000, NEW.collection_id::text, who, 'other',
            NEW.failure_count)
        ON CONFLICT (period, collection_id, member, reason) DO UPDATE
            SET objects = r.objects + excluded.objects;
        RETURN NULL;
    END IF;
    INSERT INTO refusals_daily AS r (period, collection_id, member, reason, objects)
    SELECT NEW.completed / 86400000000, NEW.collection_id::text, who,
        breakwater_refusal_reason(f.value->>'message') AS reason, count(*)
    FROM jsonb_array_elements(CASE jsonb_typeof(failures) WHEN 'array' THEN failures
        ELSE '[]'::jsonb END) f
    GROUP BY reason ORDER BY reason
    ON CONFLICT (period, collection_id, member, reason) DO UPDATE
        SET objects = r.objects + excluded.objects;
    RETURN NULL;
END
$$;
CREATE TRIGGER statuses_console AFTER INSERT OR UPDATE OF completed ON statuses
    FOR EACH ROW EXECUTE FUNCTION breakwater_console_status();

-- Polls served, from each batch of audit events as it is appended.
CREATE FUNCTION breakwater_console_polls() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_hourly AS a (period, action, collection_id, member, sector, objects, refused, requests)
    SELECT n.at / 3600000000, 'poll', n.collection, coalesce(n.member, ''),
        max(coalesce(m.sector, '')), sum(coalesce(n.objects, 0)), 0, count(*)
    FROM added n LEFT JOIN members m ON m.name = n.member
    WHERE n.action LIKE 'poll-%' AND n.outcome = 'ok' AND n.collection IS NOT NULL
    GROUP BY 1, 3, 4 ORDER BY 1, 3, 4
    ON CONFLICT (period, action, collection_id, member) DO UPDATE
        SET objects = a.objects + excluded.objects, requests = a.requests + excluded.requests;
    INSERT INTO activity_daily AS a (period, action, collection_id, member, sector, objects, refused, requests)
    SELECT n.at / 86400000000, 'poll', n.collection, coalesce(n.member, ''),
        max(coalesce(m.sector, '')), sum(coalesce(n.objects, 0)), 0, count(*)
    FROM added n LEFT JOIN members m ON m.name = n.member
    WHERE n.action LIKE 'poll-%' AND n.outcome = 'ok' AND n.collection IS NOT NULL
    GROUP BY 1, 3, 4 ORDER BY 1, 3, 4
    ON CONFLICT (period, action, collection_id, member) DO UPDATE
        SET objects = a.objects + excluded.objects, requests = a.requests + excluded.requests;
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_console AFTER INSERT ON audit
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION breakwater_console_polls();

-- A deleted collection leaves the console at once: its counts go when it
-- is marked deleted, and every query reads only live collections. Its
-- labels and edges go with its objects, chunk by chunk (the DELETE trigger
-- above); its rollups go with the collection's row, last.
CREATE FUNCTION breakwater_console_hide() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM object_type_counts WHERE collection_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER collections_console_hide AFTER UPDATE OF deleted_at ON collections
    FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
    EXECUTE FUNCTION breakwater_console_hide();
CREATE FUNCTION breakwater_console_drop() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM object_type_counts WHERE collection_id = OLD.id;
    DELETE FROM activity_hourly WHERE collection_id = OLD.id::text;
    DELETE FROM activity_daily WHERE collection_id = OLD.id::text;
    DELETE FROM refusals_daily WHERE collection_id = OLD.id::text;
    RETURN NULL;
END
$$;
CREATE TRIGGER collections_console_drop AFTER DELETE ON collections
    FOR EACH ROW EXECUTE FUNCTION breakwater_console_drop();

-- A member's submissions, newest first; the operator's, of everyone. Ids
-- compare by byte, as in SQLite, so a cursor means the same on both.
ALTER TABLE statuses ALTER COLUMN id TYPE text COLLATE "C";
CREATE INDEX statuses_member ON statuses(member, request_timestamp, id);
CREATE INDEX statuses_requested ON statuses(request_timestamp, id);

-- The audit page, newest first, by time (audit_at), member or action.
DROP INDEX audit_member;
CREATE INDEX audit_member ON audit(member, at, id);
CREATE INDEX audit_action ON audit(action, at, id);
