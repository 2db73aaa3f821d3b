-- Statistics of the officials' dashboard (geodata/stats.py, docs/statistics.md): a weekly rollup of the
-- issues kept current by statement-level triggers on issues, so that a district-wide year is read from a
-- few tens of thousands of small rows instead of a million issues.
--
-- Every figure is a sum over issues of a per-issue contribution (stats_issue_facts), so the rollup is
-- kept by adding the new rows' contributions and subtracting the old ones'; geodata/stats.py computes
-- the same contributions straight from issues for the days at the edges of a period that only partly
-- cover a week, and for everything when a status filter is given.

-- The local time zone of weeks, and the response deadline. Changing either means rebuilding the rollup:
-- python -m geodata.stats configure (UPDATE stats_settings, then SELECT stats_rebuild()).
CREATE TABLE stats_settings (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    time_zone      text NOT NULL DEFAULT 'Asia/Shanghai',
    response_deadline interval NOT NULL DEFAULT '24 hours' CHECK (response_deadline > '0'::interval)
);
INSERT INTO stats_settings DEFAULT VALUES;

-- Lower edges, in hours, of the buckets of the time-to-resolve histogram (h01 = [0, 1) ... h34 = a year
-- and more). Percentiles of large selections are interpolated within a bucket (docs/statistics.md).
CREATE FUNCTION stats_hour_edges() RETURNS float8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '{0, 1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 30, 36, 42, 48, 60, 72, 84, 96, 120, 144, 168, 216, 264, 336, 432, 528, 720, 1080, 1440, 2160, 4320, 8760}'::float8[];

-- The q-quantile (0..1) of hours to resolve from the bucket counts of a histogram (h01 ..): the bucket
-- holding the rank q * n, linearly within it (the last, open bucket is taken as a year wide).
CREATE FUNCTION stats_hist_percentile(counts bigint[], q float8) RETURNS float8
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    edges float8[] := stats_hour_edges();
    n float8 := 0;
    rank float8;
    below float8 := 0;
    hi float8;
BEGIN
    FOR k IN 1 .. cardinality(counts) LOOP
        n := n + COALESCE(counts[k], 0);
    END LOOP;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    rank := q * n;
    FOR k IN 1 .. cardinality(counts) LOOP
        IF COALESCE(counts[k], 0) > 0 AND below + counts[k] >= rank THEN
            hi := CASE WHEN k < cardinality(edges) THEN edges[k + 1] ELSE edges[k] + 8760 END;
            RETURN edges[k] + (hi - edges[k]) * greatest(rank - below, 0) / counts[k];
        END IF;
        below := below + COALESCE(counts[k], 0);
    END LOOP;
    RETURN edges[cardinality(edges)];
END
$$;

-- What one issue adds to the statistics. A set-returning SQL function of one SELECT, so the planner
-- inlines it into the queries and the trigger that call it (no per-row function call).
--   acked:     acknowledged (issues.acknowledged_at: the first action of a handler) within the deadline
--   resolved:  now resolved or closed (a reopened issue counts once it is resolved again)
--   dropped:   rejected, or closed as a duplicate
--   in_sla:    resolved, the last resolution no later than due_at
--   rated / satisfied: closed with a rating / with a rating of 4 or 5
--   timed / bucket / hours: resolved with a known time: created -> last resolution (bucket 0: none)
--   opened_week / finish_week: local ISO weeks (their Mondays) of the report and of the last
--              resolution or the rejection
CREATE FUNCTION stats_issue_facts(
    created_at timestamptz, due_at timestamptz, acknowledged_at timestamptz, resolved_at timestamptz,
    closed_at timestamptz, status text, satisfaction smallint, time_zone text, response_deadline interval)
RETURNS TABLE (opened_week date, finish_week date, opened integer, acked integer, resolved integer,
               dropped integer, in_sla integer, rated integer, satisfied integer, timed integer,
               bucket integer, hours float8)
LANGUAGE sql STABLE AS $$
    -- Mondays by date arithmetic (1900-01-01 was a Monday): a third of the cost of date_trunc('week').
    SELECT x.created_day - (x.created_day - date '1900-01-01') % 7,
           x.finish_day - (x.finish_day - date '1900-01-01') % 7,
           1,
           COALESCE(acknowledged_at <= created_at + response_deadline, false)::int,
           x.resolved::int,
           (status IN ('rejected', 'duplicate'))::int,
           COALESCE(x.resolved AND COALESCE(resolved_at, closed_at) <= due_at, false)::int,
           (status = 'closed' AND satisfaction IS NOT NULL)::int,
           COALESCE(status = 'closed' AND satisfaction >= 4, false)::int,
           (x.hours IS NOT NULL)::int,
           COALESCE(width_bucket(x.hours, stats_hour_edges()), 0),
           x.hours
    FROM (SELECT (created_at AT TIME ZONE time_zone)::date AS created_day,
                 (CASE WHEN status IN ('resolved', 'closed', 'rejected', 'duplicate')
                       THEN COALESCE(resolved_at, closed_at) END AT TIME ZONE time_zone)::date AS finish_day,
                 status IN ('resolved', 'closed') AS resolved,
                 CASE WHEN status IN ('resolved', 'closed')
                      THEN greatest(date_part('epoch', resolved_at - created_at) / 3600, 0) END AS hours) x
$$;

-- The rollup, at four levels: 1 = per community, 2 = per category, 3 = per community, category and party,
-- 4 = per party (the coarse levels answer unfiltered views from a tenth of the rows). Keys: the local ISO
-- week (Monday), the community (0 at levels 2, 4), the category ('' at levels 1, 4), the assigned party
-- (0 at levels 1, 2, and for no party; for a resolved issue the party that resolved it, as reopening clears
-- the assignment) and whether the issue still waits on the service (pending: not resolved, closed,
-- rejected or a duplicate).
-- opened .. h34 count the issues opened in the week; finished_* those resolved or rejected in it.
CREATE TABLE stats_week (
    level             smallint NOT NULL CHECK (level IN (1, 2, 3, 4)),
    week              date NOT NULL,
    area_id           bigint NOT NULL,
    category          text NOT NULL,
    party_id          bigint NOT NULL,
    pending           boolean NOT NULL,
    opened            integer NOT NULL DEFAULT 0,
    acked             integer NOT NULL DEFAULT 0,
    resolved          integer NOT NULL DEFAULT 0,
    in_sla            integer NOT NULL DEFAULT 0,
    rated             integer NOT NULL DEFAULT 0,
    satisfied         integer NOT NULL DEFAULT 0,
    timed             integer NOT NULL DEFAULT 0,
    h01 integer NOT NULL DEFAULT 0,
    h02 integer NOT NULL DEFAULT 0,
    h03 integer NOT NULL DEFAULT 0,
    h04 integer NOT NULL DEFAULT 0,
    h05 integer NOT NULL DEFAULT 0,
    h06 integer NOT NULL DEFAULT 0,
    h07 integer NOT NULL DEFAULT 0,
    h08 integer NOT NULL DEFAULT 0,
    h09 integer NOT NULL DEFAULT 0,
    h10 integer NOT NULL DEFAULT 0,
    h11 integer NOT NULL DEFAULT 0,
    h12 integer NOT NULL DEFAULT 0,
    h13 integer NOT NULL DEFAULT 0,
    h14 integer NOT NULL DEFAULT 0,
    h15 integer NOT NULL DEFAULT 0,
    h16 integer NOT NULL DEFAULT 0,
    h17 integer NOT NULL DEFAULT 0,
    h18 integer NOT NULL DEFAULT 0,
    h19 integer NOT NULL DEFAULT 0,
    h20 integer NOT NULL DEFAULT 0,
    h21 integer NOT NULL DEFAULT 0,
    h22 integer NOT NULL DEFAULT 0,
    h23 integer NOT NULL DEFAULT 0,
    h24 integer NOT NULL DEFAULT 0,
    h25 integer NOT NULL DEFAULT 0,
    h26 integer NOT NULL DEFAULT 0,
    h27 integer NOT NULL DEFAULT 0,
    h28 integer NOT NULL DEFAULT 0,
    h29 integer NOT NULL DEFAULT 0,
    h30 integer NOT NULL DEFAULT 0,
    h31 integer NOT NULL DEFAULT 0,
    h32 integer NOT NULL DEFAULT 0,
    h33 integer NOT NULL DEFAULT 0,
    h34 integer NOT NULL DEFAULT 0,
    finished_resolved integer NOT NULL DEFAULT 0,
    finished_dropped  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (level, week, area_id, category, party_id, pending)
);
-- The backlog: the pending rows of every week.
CREATE INDEX stats_week_pending_idx ON stats_week (level, area_id) WHERE pending;
-- One category across every community (the community view under a category filter).
CREATE INDEX stats_week_category_idx ON stats_week (category, week) WHERE level = 3;

-- The triggers below hand their rows to one statement, stats_week_apply(added, removed): a PL/pgSQL function,
-- so that its plan is cached per connection. It computes each changed row's facts once (a MATERIALIZED CTE;
-- inlined into the 34 histogram columns, width_bucket would run 34 times a row), counts the row in its
-- opening and finishing weeks, and gets the four levels from one GROUPING SETS aggregate. An update that
-- changes nothing the statistics read (a "me too", a comment counter, a title) passes no rows at all.
--
-- plan_cache_mode: with arrays for parameters PostgreSQL kept planning the statement afresh for every
-- report (2 ms each); the generic plan serves one row and a hundred thousand alike.
CREATE FUNCTION stats_week_apply(added issues[], removed issues[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    tz text;
    deadline interval;
BEGIN
    IF cardinality(added) = 0 AND cardinality(removed) = 0 THEN
        RETURN;
    END IF;
    SELECT time_zone, response_deadline INTO tz, deadline FROM stats_settings;
    WITH changes AS MATERIALIZED (
        SELECT c.sign, c.area_id, c.category, COALESCE(c.assigned_party_id, 0) AS party_id,
               c.status NOT IN ('resolved', 'closed', 'rejected', 'duplicate') AS pending, f.*
        FROM (SELECT 1 AS sign, * FROM unnest(added) UNION ALL SELECT -1, * FROM unnest(removed)) c
            CROSS JOIN LATERAL stats_issue_facts(c.created_at, c.due_at, c.acknowledged_at, c.resolved_at,
                                                 c.closed_at, c.status, c.satisfaction, tz, deadline) f
    ), slots AS (
        -- The week an issue was opened carries its figures; the week it finished, its finishing.
        SELECT sign, area_id, category, party_id, pending, opened_week AS week, opened, acked, resolved,
               in_sla, rated, satisfied, timed, bucket, 0 AS finished_resolved, 0 AS finished_dropped
        FROM changes
        UNION ALL
        SELECT sign, area_id, category, party_id, pending, finish_week, 0, 0, 0, 0, 0, 0, 0, 0, resolved, dropped
        FROM changes
        WHERE finish_week IS NOT NULL
    ), sums AS (
        -- GROUPING() of the three keys tells the level: all kept = 3 (community, category, party),
        -- only the community = 1, only the category = 2, only the party = 4.
        SELECT CASE GROUPING(area_id, category, party_id) WHEN 0 THEN 3 WHEN 3 THEN 1 WHEN 5 THEN 2 ELSE 4
               END::smallint AS level,
               week, COALESCE(area_id, 0) AS area_id, COALESCE(category, '') AS category,
               COALESCE(party_id, 0) AS party_id, pending,
               sum(sign * opened)::int AS opened,
               sum(sign * acked)::int AS acked,
               sum(sign * resolved)::int AS resolved,
               sum(sign * in_sla)::int AS in_sla,
               sum(sign * rated)::int AS rated,
               sum(sign * satisfied)::int AS satisfied,
               sum(sign * timed)::int AS timed,
               COALESCE(sum(sign) FILTER (WHERE bucket = 1), 0)::int AS h01,
               COALESCE(sum(sign) FILTER (WHERE bucket = 2), 0)::int AS h02,
               COALESCE(sum(sign) FILTER (WHERE bucket = 3), 0)::int AS h03,
               COALESCE(sum(sign) FILTER (WHERE bucket = 4), 0)::int AS h04,
               COALESCE(sum(sign) FILTER (WHERE bucket = 5), 0)::int AS h05,
               COALESCE(sum(sign) FILTER (WHERE bucket = 6), 0)::int AS h06,
               COALESCE(sum(sign) FILTER (WHERE bucket = 7), 0)::int AS h07,
               COALESCE(sum(sign) FILTER (WHERE bucket = 8), 0)::int AS h08,
               COALESCE(sum(sign) FILTER (WHERE bucket = 9), 0)::int AS h09,
               COALESCE(sum(sign) FILTER (WHERE bucket = 10), 0)::int AS h10,
               COALESCE(sum(sign) FILTER (WHERE bucket = 11), 0)::int AS h11,
               COALESCE(sum(sign) FILTER (WHERE bucket = 12), 0)::int AS h12,
               COALESCE(sum(sign) FILTER (WHERE bucket = 13), 0)::int AS h13,
               COALESCE(sum(sign) FILTER (WHERE bucket = 14), 0)::int AS h14,
               COALESCE(sum(sign) FILTER (WHERE bucket = 15), 0)::int AS h15,
               COALESCE(sum(sign) FILTER (WHERE bucket = 16), 0)::int AS h16,
               COALESCE(sum(sign) FILTER (WHERE bucket = 17), 0)::int AS h17,
               COALESCE(sum(sign) FILTER (WHERE bucket = 18), 0)::int AS h18,
               COALESCE(sum(sign) FILTER (WHERE bucket = 19), 0)::int AS h19,
               COALESCE(sum(sign) FILTER (WHERE bucket = 20), 0)::int AS h20,
               COALESCE(sum(sign) FILTER (WHERE bucket = 21), 0)::int AS h21,
               COALESCE(sum(sign) FILTER (WHERE bucket = 22), 0)::int AS h22,
               COALESCE(sum(sign) FILTER (WHERE bucket = 23), 0)::int AS h23,
               COALESCE(sum(sign) FILTER (WHERE bucket = 24), 0)::int AS h24,
               COALESCE(sum(sign) FILTER (WHERE bucket = 25), 0)::int AS h25,
               COALESCE(sum(sign) FILTER (WHERE bucket = 26), 0)::int AS h26,
               COALESCE(sum(sign) FILTER (WHERE bucket = 27), 0)::int AS h27,
               COALESCE(sum(sign) FILTER (WHERE bucket = 28), 0)::int AS h28,
               COALESCE(sum(sign) FILTER (WHERE bucket = 29), 0)::int AS h29,
               COALESCE(sum(sign) FILTER (WHERE bucket = 30), 0)::int AS h30,
               COALESCE(sum(sign) FILTER (WHERE bucket = 31), 0)::int AS h31,
               COALESCE(sum(sign) FILTER (WHERE bucket = 32), 0)::int AS h32,
               COALESCE(sum(sign) FILTER (WHERE bucket = 33), 0)::int AS h33,
               COALESCE(sum(sign) FILTER (WHERE bucket = 34), 0)::int AS h34,
               sum(sign * finished_resolved)::int AS finished_resolved,
               sum(sign * finished_dropped)::int AS finished_dropped
        FROM slots
        GROUP BY week, pending, GROUPING SETS ((area_id, category, party_id), (area_id), (category), (party_id))
    )
    INSERT INTO stats_week AS r (level, week, area_id, category, party_id, pending,
                                 opened, acked, resolved, in_sla, rated, satisfied, timed, h01, h02, h03, h04,
                                 h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19, h20,
                                 h21, h22, h23, h24, h25, h26, h27, h28, h29, h30, h31, h32, h33, h34,
                                 finished_resolved, finished_dropped)
    SELECT level, week, area_id, category, party_id, pending,
           opened, acked, resolved, in_sla, rated, satisfied, timed, h01, h02, h03, h04, h05, h06, h07, h08,
           h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19, h20, h21, h22, h23, h24, h25, h26, h27, h28,
           h29, h30, h31, h32, h33, h34, finished_resolved, finished_dropped
    FROM sums
    WHERE opened <> 0 OR acked <> 0 OR resolved <> 0 OR in_sla <> 0 OR rated <> 0 OR satisfied <> 0 OR
          timed <> 0 OR h01 <> 0 OR h02 <> 0 OR h03 <> 0 OR h04 <> 0 OR h05 <> 0 OR h06 <> 0 OR h07 <> 0 OR
          h08 <> 0 OR h09 <> 0 OR h10 <> 0 OR h11 <> 0 OR h12 <> 0 OR h13 <> 0 OR h14 <> 0 OR h15 <> 0 OR
          h16 <> 0 OR h17 <> 0 OR h18 <> 0 OR h19 <> 0 OR h20 <> 0 OR h21 <> 0 OR h22 <> 0 OR h23 <> 0 OR
          h24 <> 0 OR h25 <> 0 OR h26 <> 0 OR h27 <> 0 OR h28 <> 0 OR h29 <> 0 OR h30 <> 0 OR h31 <> 0 OR
          h32 <> 0 OR h33 <> 0 OR h34 <> 0 OR finished_resolved <> 0 OR finished_dropped <> 0
    -- One order for every writer: two statements never wait on each other's rows crosswise.
    ORDER BY level, week, area_id, category, party_id, pending
    ON CONFLICT (level, week, area_id, category, party_id, pending) DO UPDATE SET
        opened = r.opened + EXCLUDED.opened, acked = r.acked + EXCLUDED.acked,
        resolved = r.resolved + EXCLUDED.resolved, in_sla = r.in_sla + EXCLUDED.in_sla,
        rated = r.rated + EXCLUDED.rated, satisfied = r.satisfied + EXCLUDED.satisfied,
        timed = r.timed + EXCLUDED.timed, h01 = r.h01 + EXCLUDED.h01, h02 = r.h02 + EXCLUDED.h02,
        h03 = r.h03 + EXCLUDED.h03, h04 = r.h04 + EXCLUDED.h04, h05 = r.h05 + EXCLUDED.h05,
        h06 = r.h06 + EXCLUDED.h06, h07 = r.h07 + EXCLUDED.h07, h08 = r.h08 + EXCLUDED.h08,
        h09 = r.h09 + EXCLUDED.h09, h10 = r.h10 + EXCLUDED.h10, h11 = r.h11 + EXCLUDED.h11,
        h12 = r.h12 + EXCLUDED.h12, h13 = r.h13 + EXCLUDED.h13, h14 = r.h14 + EXCLUDED.h14,
        h15 = r.h15 + EXCLUDED.h15, h16 = r.h16 + EXCLUDED.h16, h17 = r.h17 + EXCLUDED.h17,
        h18 = r.h18 + EXCLUDED.h18, h19 = r.h19 + EXCLUDED.h19, h20 = r.h20 + EXCLUDED.h20,
        h21 = r.h21 + EXCLUDED.h21, h22 = r.h22 + EXCLUDED.h22, h23 = r.h23 + EXCLUDED.h23,
        h24 = r.h24 + EXCLUDED.h24, h25 = r.h25 + EXCLUDED.h25, h26 = r.h26 + EXCLUDED.h26,
        h27 = r.h27 + EXCLUDED.h27, h28 = r.h28 + EXCLUDED.h28, h29 = r.h29 + EXCLUDED.h29,
        h30 = r.h30 + EXCLUDED.h30, h31 = r.h31 + EXCLUDED.h31, h32 = r.h32 + EXCLUDED.h32,
        h33 = r.h33 + EXCLUDED.h33, h34 = r.h34 + EXCLUDED.h34,
        finished_resolved = r.finished_resolved + EXCLUDED.finished_resolved,
        finished_dropped = r.finished_dropped + EXCLUDED.finished_dropped;
END
$$;

CREATE FUNCTION stats_issues_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM stats_week_apply(ARRAY(SELECT n::issues FROM new_rows n), '{}');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM stats_week_apply('{}', ARRAY(SELECT o::issues FROM old_rows o));
    ELSIF TG_OP = 'UPDATE' THEN
        -- Only rows whose figures can have changed: the columns stats_issue_facts and the keys read.
        PERFORM stats_week_apply(
            ARRAY(SELECT n::issues FROM new_rows n JOIN old_rows o ON o.id = n.id
                  WHERE (n.created_at, n.due_at, n.acknowledged_at, n.resolved_at, n.closed_at, n.status, n.satisfaction, n.area_id, n.category, n.assigned_party_id)
                        IS DISTINCT FROM (o.created_at, o.due_at, o.acknowledged_at, o.resolved_at, o.closed_at, o.status, o.satisfaction, o.area_id, o.category, o.assigned_party_id)),
            ARRAY(SELECT o::issues FROM old_rows o JOIN new_rows n ON n.id = o.id
                  WHERE (n.created_at, n.due_at, n.acknowledged_at, n.resolved_at, n.closed_at, n.status, n.satisfaction, n.area_id, n.category, n.assigned_party_id)
                        IS DISTINCT FROM (o.created_at, o.due_at, o.acknowledged_at, o.resolved_at, o.closed_at, o.status, o.satisfaction, o.area_id, o.category, o.assigned_party_id)));
    ELSE
        -- TRUNCATE (the test fixtures start empty this way).
        DELETE FROM stats_week;
    END IF;
    RETURN NULL;
END
$$;


-- Per statement, with transition tables: a report adds four small upserts; a bulk import folds its rows
-- into a few thousand; an update that changes no figure (a "me too", a comment) writes nothing.
CREATE TRIGGER stats_issues_insert AFTER INSERT ON issues
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_issues_changed();
CREATE TRIGGER stats_issues_update AFTER UPDATE ON issues
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_issues_changed();
CREATE TRIGGER stats_issues_delete AFTER DELETE ON issues
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_issues_changed();
CREATE TRIGGER stats_issues_truncate AFTER TRUNCATE ON issues
    FOR EACH STATEMENT EXECUTE FUNCTION stats_issues_changed();

-- The rollup again from the issues, set-based (after a change of stats_settings; the backfill below).
CREATE FUNCTION stats_rebuild() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tz text;
    deadline interval;
BEGIN
    SELECT time_zone, response_deadline INTO tz, deadline FROM stats_settings;
    LOCK TABLE issues IN SHARE MODE;
    DELETE FROM stats_week;
    PERFORM set_config('work_mem', '256MB', true);
    INSERT INTO stats_week (level, week, area_id, category, party_id, pending, opened, acked, resolved, in_sla, rated, satisfied, timed, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19, h20, h21, h22, h23, h24, h25, h26, h27, h28, h29, h30, h31, h32, h33, h34)
    SELECT 3::smallint, f.opened_week, c.area_id, c.category, COALESCE(c.assigned_party_id, 0),
           c.status NOT IN ('resolved', 'closed', 'rejected', 'duplicate'),
           sum(f.opened),
           sum(f.acked),
           sum(f.resolved),
           sum(f.in_sla),
           sum(f.rated),
           sum(f.satisfied),
           sum(f.timed),
           count(*) FILTER (WHERE f.bucket = 1),
           count(*) FILTER (WHERE f.bucket = 2),
           count(*) FILTER (WHERE f.bucket = 3),
           count(*) FILTER (WHERE f.bucket = 4),
           count(*) FILTER (WHERE f.bucket = 5),
           count(*) FILTER (WHERE f.bucket = 6),
           count(*) FILTER (WHERE f.bucket = 7),
           count(*) FILTER (WHERE f.bucket = 8),
           count(*) FILTER (WHERE f.bucket = 9),
           count(*) FILTER (WHERE f.bucket = 10),
           count(*) FILTER (WHERE f.bucket = 11),
           count(*) FILTER (WHERE f.bucket = 12),
           count(*) FILTER (WHERE f.bucket = 13),
           count(*) FILTER (WHERE f.bucket = 14),
           count(*) FILTER (WHERE f.bucket = 15),
           count(*) FILTER (WHERE f.bucket = 16),
           count(*) FILTER (WHERE f.bucket = 17),
           count(*) FILTER (WHERE f.bucket = 18),
           count(*) FILTER (WHERE f.bucket = 19),
           count(*) FILTER (WHERE f.bucket = 20),
           count(*) FILTER (WHERE f.bucket = 21),
           count(*) FILTER (WHERE f.bucket = 22),
           count(*) FILTER (WHERE f.bucket = 23),
           count(*) FILTER (WHERE f.bucket = 24),
           count(*) FILTER (WHERE f.bucket = 25),
           count(*) FILTER (WHERE f.bucket = 26),
           count(*) FILTER (WHERE f.bucket = 27),
           count(*) FILTER (WHERE f.bucket = 28),
           count(*) FILTER (WHERE f.bucket = 29),
           count(*) FILTER (WHERE f.bucket = 30),
           count(*) FILTER (WHERE f.bucket = 31),
           count(*) FILTER (WHERE f.bucket = 32),
           count(*) FILTER (WHERE f.bucket = 33),
           count(*) FILTER (WHERE f.bucket = 34)
    FROM issues c
        CROSS JOIN LATERAL stats_issue_facts(c.created_at, c.due_at, c.acknowledged_at, c.resolved_at,
                                             c.closed_at, c.status, c.satisfaction, tz, deadline) f
    GROUP BY 2, 3, 4, 5, 6;
    INSERT INTO stats_week AS r (level, week, area_id, category, party_id, pending, finished_resolved, finished_dropped)
    SELECT 3::smallint, f.finish_week, c.area_id, c.category, COALESCE(c.assigned_party_id, 0),
           c.status NOT IN ('resolved', 'closed', 'rejected', 'duplicate'), sum(f.resolved), sum(f.dropped)
    FROM issues c
        CROSS JOIN LATERAL stats_issue_facts(c.created_at, c.due_at, c.acknowledged_at, c.resolved_at,
                                             c.closed_at, c.status, c.satisfaction, tz, deadline) f
    WHERE f.finish_week IS NOT NULL
    GROUP BY 2, 3, 4, 5, 6
    ON CONFLICT (level, week, area_id, category, party_id, pending) DO UPDATE SET finished_resolved = EXCLUDED.finished_resolved,
                                      finished_dropped = EXCLUDED.finished_dropped;
    INSERT INTO stats_week (level, week, area_id, category, party_id, pending, opened, acked, resolved, in_sla, rated, satisfied, timed, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19, h20, h21, h22, h23, h24, h25, h26, h27, h28, h29, h30, h31, h32, h33, h34, finished_resolved, finished_dropped)
    SELECT l.level, w.week, l.area_id, l.category, l.party_id, w.pending,
           sum(w.opened),
           sum(w.acked),
           sum(w.resolved),
           sum(w.in_sla),
           sum(w.rated),
           sum(w.satisfied),
           sum(w.timed),
           sum(w.h01),
           sum(w.h02),
           sum(w.h03),
           sum(w.h04),
           sum(w.h05),
           sum(w.h06),
           sum(w.h07),
           sum(w.h08),
           sum(w.h09),
           sum(w.h10),
           sum(w.h11),
           sum(w.h12),
           sum(w.h13),
           sum(w.h14),
           sum(w.h15),
           sum(w.h16),
           sum(w.h17),
           sum(w.h18),
           sum(w.h19),
           sum(w.h20),
           sum(w.h21),
           sum(w.h22),
           sum(w.h23),
           sum(w.h24),
           sum(w.h25),
           sum(w.h26),
           sum(w.h27),
           sum(w.h28),
           sum(w.h29),
           sum(w.h30),
           sum(w.h31),
           sum(w.h32),
           sum(w.h33),
           sum(w.h34),
           sum(w.finished_resolved),
           sum(w.finished_dropped)
    FROM stats_week w
    CROSS JOIN LATERAL (VALUES (1::smallint, w.area_id, '', 0::bigint), (2::smallint, 0::bigint, w.category, 0::bigint),
                               (4::smallint, 0::bigint, '', w.party_id)) l (level, area_id, category, party_id)
    WHERE w.level = 3
    GROUP BY l.level, w.week, l.area_id, l.category, l.party_id, w.pending;
END
$$;

SELECT stats_rebuild();

-- Resolutions and rejections in the partial weeks at the edges of a period, and the reopened issues.
-- (The finish time: the last resolution, or the rejection; written as stats.sql writes it.)
CREATE INDEX issues_finished_idx ON issues ((COALESCE(resolved_at, closed_at)))
    WHERE status IN ('resolved', 'closed', 'rejected', 'duplicate');
CREATE INDEX issue_events_reopened_idx ON issue_events (issue_id) WHERE to_status = 'reopened';
