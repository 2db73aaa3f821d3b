-- Reports no longer wait on the statistics rollup (docs/decisions.md, "Statistics queue").
--
-- Until now each statement on issues folded its rows into stats_week itself: four upserts per report,
-- about 0.8 ms of the database's CPU for every report, more than the report's own insert. Now the
-- triggers only append each changed row's keys and dates to stats_queue (0.05 ms), and stats_fold()
-- moves the queue into the rollup: the statistics fold before they read (geodata/stats.py), an import at
-- its end, and the web workers now and then in the background (webmap/background.py), so the queue stays
-- short even when nobody reads. Folding thousands of rows at once costs a third of folding them one by one.

-- The rows a statement added (sign 1) or took away (sign -1): just what stats_issue_facts and the rollup's
-- keys read. No index: it is only ever read whole, and emptied as it is read.
CREATE TABLE stats_queue (
    sign              smallint NOT NULL CHECK (sign IN (-1, 1)),
    area_id           bigint NOT NULL,
    category          text NOT NULL,
    assigned_party_id bigint,
    status            text NOT NULL,
    created_at        timestamptz NOT NULL,
    due_at            timestamptz NOT NULL,
    acknowledged_at   timestamptz,
    resolved_at       timestamptz,
    closed_at         timestamptz,
    satisfaction      smallint
);

-- One number for every folder, so two folds never take the same rows or wait on each other's rollup rows.
CREATE FUNCTION stats_fold_lock_key() RETURNS bigint
LANGUAGE sql IMMUTABLE RETURN 5727361503250677;  -- "STATSQ"

-- Move every committed queued row into the rollup; returns how many. wait = false gives up at once (0)
-- when another fold is running (the background folder: another worker is doing its work already).
CREATE FUNCTION stats_fold(wait boolean DEFAULT true) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    added issues[];
    removed issues[];
    taken bigint;
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(stats_fold_lock_key());
    ELSIF NOT pg_try_advisory_xact_lock(stats_fold_lock_key()) THEN
        RETURN 0;
    END IF;
    -- Rows of statements not yet committed are not seen here, so they stay for the next fold. Each queued
    -- row becomes the issues row stats_week_apply (0007) reads, its other columns NULL (it reads no others).
    WITH gone AS (DELETE FROM stats_queue RETURNING *)
    SELECT COALESCE(array_agg(jsonb_populate_record(NULL::issues, to_jsonb(g))) FILTER (WHERE g.sign = 1), '{}'),
           COALESCE(array_agg(jsonb_populate_record(NULL::issues, to_jsonb(g))) FILTER (WHERE g.sign = -1), '{}'),
           count(*)
    INTO added, removed, taken
    FROM gone g;
    PERFORM stats_week_apply(added, removed);
    RETURN taken;
END
$$;

CREATE OR REPLACE FUNCTION stats_issues_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_queue
        SELECT 1, area_id, category, assigned_party_id, status, created_at, due_at, acknowledged_at, resolved_at,
               closed_at, satisfaction
        FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stats_queue
        SELECT -1, area_id, category, assigned_party_id, status, created_at, due_at, acknowledged_at, resolved_at,
               closed_at, satisfaction
        FROM old_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        -- Only rows whose figures can have changed: the columns stats_issue_facts and the keys read. A "me
        -- too", a comment counter or a title queues nothing.
        INSERT INTO stats_queue
        SELECT s.*
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        CROSS JOIN LATERAL (VALUES
            (1::smallint, n.area_id, n.category, n.assigned_party_id, n.status, n.created_at, n.due_at,
             n.acknowledged_at, n.resolved_at, n.closed_at, n.satisfaction),
            (-1::smallint, o.area_id, o.category, o.assigned_party_id, o.status, o.created_at, o.due_at,
             o.acknowledged_at, o.resolved_at, o.closed_at, o.satisfaction)) s
        WHERE (n.created_at, n.due_at, n.acknowledged_at, n.resolved_at, n.closed_at, n.status, n.satisfaction, n.area_id, n.category, n.assigned_party_id)
              IS DISTINCT FROM (o.created_at, o.due_at, o.acknowledged_at, o.resolved_at, o.closed_at, o.status, o.satisfaction, o.area_id, o.category, o.assigned_party_id);
    ELSE
        -- TRUNCATE (the test fixtures start empty this way).
        DELETE FROM stats_week;
        DELETE FROM stats_queue;
    END IF;
    RETURN NULL;
END
$$;

-- A rebuild counts the issues themselves, which hold whatever was queued: the queue is emptied under the
-- same locks (no fold running, no statement on issues in flight), or those rows would count twice.
ALTER FUNCTION stats_rebuild() RENAME TO stats_rebuild_from_issues;
CREATE FUNCTION stats_rebuild() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(stats_fold_lock_key());
    LOCK TABLE issues IN SHARE MODE;
    DELETE FROM stats_queue;
    PERFORM stats_rebuild_from_issues();
END
$$;

-- What the old triggers folded is in stats_week already: the queue starts empty.
