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

CREATE FUNCTION stats_issues_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tz text;
    deadline interval;
BEGIN
    -- Read once, then passed as parameters: the statements below are planned for a single settings row.
    SELECT time_zone, response_deadline INTO tz, deadline FROM stats_settings;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_week AS r (level, week, area_id, category, party_id, pending, opened, acked, resolved, in_sla, rated, satisfied, timed, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19, h20, h21, h22, h23, h24, h25, h26, h27, h28, h29, h30, h31, h32, h33, h34, finished_resolved, finished_dropped)
        SELECT level, week, area_id, category, party_id, pending,
                   sum(sign * opened),
                   sum(sign * acked),
                   sum(sign * resolved),
                   sum(sign * in_sla),
                   sum(sign * rated),
                   sum(sign * satisfied),
                   sum(sign * timed),
                   sum(sign * h01),
                   sum(sign * h02),
                   sum(sign * h03),
                   sum(sign * h04),
                   sum(sign * h05),
                   sum(sign * h06),
                   sum(sign * h07),
                   sum(sign * h08),
                   sum(sign * h09),
                   sum(sign * h10),
                   sum(sign * h11),
                   sum(sign * h12),
                   sum(sign * h13),
                   sum(sign * h14),
                   sum(sign * h15),
                   sum(sign * h16),
                   sum(sign * h17),
                   sum(sign * h18),
                   sum(sign * h19),
                   sum(sign * h20),
                   sum(sign * h21),
                   sum(sign * h22),
                   sum(sign * h23),
                   sum(sign * h24),
                   sum(sign * h25),
                   sum(sign * h26),
                   sum(sign * h27),
                   sum(sign * h28),
                   sum(sign * h29),
                   sum(sign * h30),
                   sum(sign * h31),
                   sum(sign * h32),
                   sum(sign * h33),
                   sum(sign * h34),
                   sum(sign * finished_resolved),
                   sum(sign * finished_dropped)
        FROM (
            SELECT c.sign, l.level, t.week, l.area_id, l.category, l.party_id,
                   c.status NOT IN ('resolved', 'closed', 'rejected', 'duplicate') AS pending,
                   CASE WHEN t.slot = 1 THEN f.opened ELSE 0 END AS opened,
                   CASE WHEN t.slot = 1 THEN f.acked ELSE 0 END AS acked,
                   CASE WHEN t.slot = 1 THEN f.resolved ELSE 0 END AS resolved,
                   CASE WHEN t.slot = 1 THEN f.in_sla ELSE 0 END AS in_sla,
                   CASE WHEN t.slot = 1 THEN f.rated ELSE 0 END AS rated,
                   CASE WHEN t.slot = 1 THEN f.satisfied ELSE 0 END AS satisfied,
                   CASE WHEN t.slot = 1 THEN f.timed ELSE 0 END AS timed,
                   CASE WHEN t.slot = 1 AND f.bucket = 1 THEN 1 ELSE 0 END AS h01,
                   CASE WHEN t.slot = 1 AND f.bucket = 2 THEN 1 ELSE 0 END AS h02,
                   CASE WHEN t.slot = 1 AND f.bucket = 3 THEN 1 ELSE 0 END AS h03,
                   CASE WHEN t.slot = 1 AND f.bucket = 4 THEN 1 ELSE 0 END AS h04,
                   CASE WHEN t.slot = 1 AND f.bucket = 5 THEN 1 ELSE 0 END AS h05,
                   CASE WHEN t.slot = 1 AND f.bucket = 6 THEN 1 ELSE 0 END AS h06,
                   CASE WHEN t.slot = 1 AND f.bucket = 7 THEN 1 ELSE 0 END AS h07,
                   CASE WHEN t.slot = 1 AND f.bucket = 8 THEN 1 ELSE 0 END AS h08,
                   CASE WHEN t.slot = 1 AND f.bucket = 9 THEN 1 ELSE 0 END AS h09,
                   CASE WHEN t.slot = 1 AND f.bucket = 10 THEN 1 ELSE 0 END AS h10,
                   CASE WHEN t.slot = 1 AND f.bucket = 11 THEN 1 ELSE 0 END AS h11,
                   CASE WHEN t.slot = 1 AND f.bucket = 12 THEN 1 ELSE 0 END AS h12,
                   CASE WHEN t.slot = 1 AND f.bucket = 13 THEN 1 ELSE 0 END AS h13,
                   CASE WHEN t.slot = 1 AND f.bucket = 14 THEN 1 ELSE 0 END AS h14,
                   CASE WHEN t.slot = 1 AND f.bucket = 15 THEN 1 ELSE 0 END AS h15,
                   CASE WHEN t.slot = 1 AND f.bucket = 16 THEN 1 ELSE 0 END AS h16,
                   CASE WHEN t.slot = 1 AND f.bucket = 17 THEN 1 ELSE 0 END AS h17,
                   CASE WHEN t.slot = 1 AND f.bucket = 18 THEN 1 ELSE 0 END AS h18,
                   CASE WHEN t.slot = 1 AND f.bucket = 19 THEN 1 ELSE 0 END AS h19,
                   CASE WHEN t.slot = 1 AND f.bucket = 20 THEN 1 ELSE 0 END AS h20,
                   CASE WHEN t.slot = 1 AND f.bucket = 21 THEN 1 ELSE 0 END AS h21,
                   CASE WHEN t.slot = 1 AND f.bucket = 22 THEN 1 ELSE 0 END AS h22,
                   CASE WHEN t.slot = 1 AND f.bucket = 23 THEN 1 ELSE 0 END AS h23,
                   CASE WHEN t.slot = 1 AND f.bucket = 24 THEN 1 ELSE 0 END AS h24,
                   CASE WHEN t.slot = 1 AND f.bucket = 25 THEN 1 ELSE 0 END AS h25,
                   CASE WHEN t.slot = 1 AND f.bucket = 26 THEN 1 ELSE 0 END AS h26,
                   CASE WHEN t.slot = 1 AND f.bucket = 27 THEN 1 ELSE 0 END AS h27,
                   CASE WHEN t.slot = 1 AND f.bucket = 28 THEN 1 ELSE 0 END AS h28,
                   CASE WHEN t.slot = 1 AND f.bucket = 29 THEN 1 ELSE 0 END AS h29,
                   CASE WHEN t.slot = 1 AND f.bucket = 30 THEN 1 ELSE 0 END AS h30,
                   CASE WHEN t.slot = 1 AND f.bucket = 31 THEN 1 ELSE 0 END AS h31,
                   CASE WHEN t.slot = 1 AND f.bucket = 32 THEN 1 ELSE 0 END AS h32,
                   CASE WHEN t.slot = 1 AND f.bucket = 33 THEN 1 ELSE 0 END AS h33,
                   CASE WHEN t.slot = 1 AND f.bucket = 34 THEN 1 ELSE 0 END AS h34,
                   CASE WHEN t.slot = 2 THEN f.resolved ELSE 0 END AS finished_resolved,
                   CASE WHEN t.slot = 2 THEN f.dropped ELSE 0 END AS finished_dropped
            FROM (SELECT 1 AS sign, * FROM new_rows) c
            CROSS JOIN LATERAL stats_issue_facts(c.created_at, c.due_at, c.acknowledged_at, c.resolved_at,
                                                 c.closed_at, c.status, c.satisfaction, tz, deadline) f
            CROSS JOIN LATERAL (VALUES (1, f.opened_week), (2, f.finish_week)) t (slot, week)
            CROSS JOIN LATERAL (VALUES (1::smallint, c.area_id, '', 0::bigint),
                                       (2::smallint, 0::bigint, c.category, 0::bigint),
                                       (3::smallint, c.area_id, c.category, COALESCE(c.assigned_party_id, 0)),
                                       (4::smallint, 0::bigint, '', COALESCE(c.assigned_party_id, 0)))
                l (level, area_id, category, party_id)
            WHERE t.week IS NOT NULL
        ) x
        GROUP BY level, week, area_id, category, party_id, pending
        HAVING sum(sign * opened) <> 0 OR sum(sign * acked) <> 0 OR sum(sign * resolved) <> 0 OR sum(sign * in_sla) <> 0 OR sum(sign * rated) <> 0 OR sum(sign * satisfied) <> 0 OR sum(sign * timed) <> 0 OR sum(sign * h01) <> 0 OR sum(sign * h02) <> 0 OR sum(sign * h03) <> 0 OR sum(sign * h04) <> 0 OR sum(sign * h05) <> 0 OR sum(sign * h06) <> 0 OR sum(sign * h07) <> 0 OR sum(sign * h08) <> 0 OR sum(sign * h09) <> 0 OR sum(sign * h10) <> 0 OR sum(sign * h11) <> 0 OR sum(sign * h12) <> 0 OR sum(sign * h13) <> 0 OR sum(sign * h14) <> 0 OR sum(sign * h15) <> 0 OR sum(sign * h16) <> 0 OR sum(sign * h17) <> 0 OR sum(sign * h18) <> 0 OR sum(sign * h19) <> 0 OR sum(sign * h20) <> 0 OR sum(sign * h21) <> 0 OR sum(sign * h22) <> 0 OR sum(sign * h23) <> 0 OR sum(sign * h24) <> 0 OR sum(sign * h25) <> 0 OR sum(sign * h26) <> 0 OR sum(sign * h27) <> 0 OR sum(sign * h28) <> 0 OR sum(sign * h29) <> 0 OR sum(sign * h30) <> 0 OR sum(sign * h31) <> 0 OR sum(sign * h32) <> 0 OR sum(sign * h33) <> 0 OR sum(sign * h34) <> 0 OR sum(sign * finished_resolved) <> 0 OR sum(sign * finished_dropped) <> 0
        -- One order for every writer: two statements never wait on each other's rows crosswise.
        ORDER BY level, week, area_id, category, party_id, pending
        ON CONFLICT (level, week, area_id, category, party_id, pending) DO UPDATE SET
                opened = r.opened + EXCLUDED.opened,
                acked = r.acked + EXCLUDED.acked,
                resolved = r.resolved + EXCLUDED.resolved,
                in_sla = r.in_sla + EXCLUDED.in_sla,
                rated = r.rated + EXCLUDED.rated,
                satisfied = r.satisfied + EXCLUDED.satisfied,
                timed = r.timed + EXCLUDED.timed,
                h01 = r.h01 + EXCLUDED.h01,
                h02 = r.h02 + EXCLUDED.h02,
                h03 = r.h03 + EXCLUDED.h03,
                h04 = r.h04 + EXCLUDED.h04,
                h05 = r.h05 + EXCLUDED.h05,
                h06 = r.h06 + EXCLUDED.h06,
                h07 = r.h07 + EXCLUDED.h07,
                h08 = r.h08 + EXCLUDED.h08,
                h09 = r.h09 + EXCLUDED.h09,
                h10 = r.h10 + EXCLUDED.h10,
                h11 = r.h11 + EXCLUDED.h11,
                h12 = r.h12 + EXCLUDED.h12,
                h13 = r.h13 + EXCLUDED.h13,
                h14 = r.h14 + EXCLUDED.h14,
                h15 = r.h15 + EXCLUDED.h15,
                h16 = r.h16 + EXCLUDED.h16,
                h17 = r.h17 + EXCLUDED.h17,
                h18 = r.h18 + EXCLUDED.h18,
                h19 = r.h19 + EXCLUDED.h19,
                h20 = r.h20 + EXCLUDED.h20,
                h21 = r.h21 + EXCLUDED.h21,
                h22 = r.h22 + EXCLUDED.h22,
                h23 = r.h23 + EXCLUDED.h23,
                h24 = r.h24 + EXCLUDED.h24,
                h25 = r.h25 + EXCLUDED.h25,
                h26 = r.h26 + EXCLUDED.h26,
                h27 = r.h27 + EXCLUDED.h27,
                h28 = r.h28 + EXCLUDED.h28,
                h29 = r.h29 + EXCLUDED.h29,
                h30 = r.h30 + EXCLUDED.h30,
                h31 = r.h31 + EXCLUDED.h31,
                h32 = r.h32 + EXCLUDED.h32,
                h33 = r.h33 + EXCLUDED.h33,
                h34 = r.h34 + EXCLUDED.h34,
                finished_resolved = r.finished_resolved + EXCLUDED.finished_resolved,
                finished_dropped = r.finished_dropped + EXCLUDED.finished_dropped;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO stats_week AS r (level, week, area_id, category, party_id, pending, opened, acked, resolved, in_sla, rated, satisfied, timed, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19, h20, h21, h22, h23, h24, h25, h26, h27, h28, h29, h30, h31, h32, h33, h34, finished_resolved, finished_dropped)
        SELECT level, week, area_id, category, party_id, pending,
                   sum(sign * opened),
                   sum(sign * acked),
                   sum(sign * resolved),
                   sum(sign * in_sla),
                   sum(sign * rated),
                   sum(sign * satisfied),
                   sum(sign * timed),
                   sum(sign * h01),
                   sum(sign * h02),
                   sum(sign * h03),
                   sum(sign * h04),
                   sum(sign * h05),
                   sum(sign * h06),
                   sum(sign * h07),
                   sum(sign * h08),
                   sum(sign * h09),
                   sum(sign * h10),
                   sum(sign * h11),
                   sum(sign * h12),
                   sum(sign * h13),
                   sum(sign * h14),
                   sum(sign * h15),
                   sum(sign * h16),
                   sum(sign * h17),
                   sum(sign * h18),
                   sum(sign * h19),
                   sum(sign * h20),
                   sum(sign * h21),
                   sum(sign * h22),
                   sum(sign * h23),
                   sum(sign * h24),
                   sum(sign * h25),
                   sum(sign * h26),
                   sum(sign * h27),
                   sum(sign * h28),
                   sum(sign * h29),
                   sum(sign * h30),
                   sum(sign * h31),
                   sum(sign * h32),
                   sum(sign * h33),
                   sum(sign * h34),
                   sum(sign * finished_resolved),
                   sum(sign * finished_dropped)
        FROM (
            SELECT c.sign, l.level, t.week, l.area_id, l.category, l.party_id,
                   c.status NOT IN ('resolved', 'closed', 'rejected', 'duplicate') AS pending,
                   CASE WHEN t.slot = 1 THEN f.opened ELSE 0 END AS opened,
                   CASE WHEN t.slot = 1 THEN f.acked ELSE 0 END AS acked,
                   CASE WHEN t.slot = 1 THEN f.resolved ELSE 0 END AS resolved,
                   CASE WHEN t.slot = 1 THEN f.in_sla ELSE 0 END AS in_sla,
                   CASE WHEN t.slot = 1 THEN f.rated ELSE 0 END AS rated,
                   CASE WHEN t.slot = 1 THEN f.satisfied ELSE 0 END AS satisfied,
                   CASE WHEN t.slot = 1 THEN f.timed ELSE 0 END AS timed,
                   CASE WHEN t.slot = 1 AND f.bucket = 1 THEN 1 ELSE 0 END AS h01,
                   CASE WHEN t.slot = 1 AND f.bucket = 2 THEN 1 ELSE 0 END AS h02,
                   CASE WHEN t.slot = 1 AND f.bucket = 3 THEN 1 ELSE 0 END AS h03,
                   CASE WHEN t.slot = 1 AND f.bucket = 4 THEN 1 ELSE 0 END AS h04,
                   CASE WHEN t.slot = 1 AND f.bucket = 5 THEN 1 ELSE 0 END AS h05,
                   CASE WHEN t.slot = 1 AND f.bucket = 6 THEN 1 ELSE 0 END AS h06,
                   CASE WHEN t.slot = 1 AND f.bucket = 7 THEN 1 ELSE 0 END AS h07,
                   CASE WHEN t.slot = 1 AND f.bucket = 8 THEN 1 ELSE 0 END AS h08,
                   CASE WHEN t.slot = 1 AND f.bucket = 9 THEN 1 ELSE 0 END AS h09,
                   CASE WHEN t.slot = 1 AND f.bucket = 10 THEN 1 ELSE 0 END AS h10,
                   CASE WHEN t.slot = 1 AND f.bucket = 11 THEN 1 ELSE 0 END AS h11,
                   CASE WHEN t.slot = 1 AND f.bucket = 12 THEN 1 ELSE 0 END AS h12,
                   CASE WHEN t.slot = 1 AND f.bucket = 13 THEN 1 ELSE 0 END AS h13,
                   CASE WHEN t.slot = 1 AND f.bucket = 14 THEN 1 ELSE 0 END AS h14,
                   CASE WHEN t.slot = 1 AND f.bucket = 15 THEN 1 ELSE 0 END AS h15,
                   CASE WHEN t.slot = 1 AND f.bucket = 16 THEN 1 ELSE 0 END AS h16,
                   CASE WHEN t.slot = 1 AND f.bucket = 17 THEN 1 ELSE 0 END AS h17,
                   CASE WHEN t.slot = 1 AND f.bucket = 18 THEN 1 ELSE 0 END AS h18,
                   CASE WHEN t.slot = 1 AND f.bucket = 19 THEN 1 ELSE 0 END AS h19,
                   CASE WHEN t.slot = 1 AND f.bucket = 20 THEN 1 ELSE 0 END AS h20,
                   CASE WHEN t.slot = 1 AND f.bucket = 21 THEN 1 ELSE 0 END AS h21,
                   CASE WHEN t.slot = 1 AND f.bucket = 22 THEN 1 ELSE 0 END AS h22,
                   CASE WHEN t.slot = 1 AND f.bucket = 23 THEN 1 ELSE 0 END AS h23,
                   CASE WHEN t.slot = 1 AND f.bucket = 24 THEN 1 ELSE 0 END AS h24,
                   CASE WHEN t.slot = 1 AND f.bucket = 25 THEN 1 ELSE 0 END AS h25,
                   CASE WHEN t.slot = 1 AND f.bucket = 26 THEN 1 ELSE 0 END AS h26,
                   CASE WHEN t.slot = 1 AND f.bucket = 27 THEN 1 ELSE 0 END AS h27,
                   CASE WHEN t.slot = 1 AND f.bucket = 28 THEN 1 ELSE 0 END AS h28,
                   CASE WHEN t.slot = 1 AND f.bucket = 29 THEN 1 ELSE 0 END AS h29,
                   CASE WHEN t.slot = 1 AND f.bucket = 30 THEN 1 ELSE 0 END AS h30,
                   CASE WHEN t.slot = 1 AND f.bucket = 31 THEN 1 ELSE 0 END AS h31,
                   CASE WHEN t.slot = 1 AND f.bucket = 32 THEN 1 ELSE 0 END AS h32,
                   CASE WHEN t.slot = 1 AND f.bucket = 33 THEN 1 ELSE 0 END AS h33,
                   CASE WHEN t.slot = 1 AND f.bucket = 34 THEN 1 ELSE 0 END AS h34,
                   CASE WHEN t.slot = 2 THEN f.resolved ELSE 0 END AS finished_resolved,
                   CASE WHEN t.slot = 2 THEN f.dropped ELSE 0 END AS finished_dropped
            FROM (SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1, * FROM old_rows) c
            CROSS JOIN LATERAL stats_issue_facts(c.created_at, c.due_at, c.acknowledged_at, c.resolved_at,
                                                 c.closed_at, c.status, c.satisfaction, tz, deadline) f
            CROSS JOIN LATERAL (VALUES (1, f.opened_week), (2, f.finish_week)) t (slot, week)
            CROSS JOIN LATERAL (VALUES (1::smallint, c.area_id, '', 0::bigint),
                                       (2::smallint, 0::bigint, c.category, 0::bigint),
                                       (3::smallint, c.area_id, c.category, COALESCE(c.assigned_party_id, 0)),
                                       (4::smallint, 0::bigint, '', COALESCE(c.assigned_party_id, 0)))
                l (level, area_id, category, party_id)
            WHERE t.week IS NOT NULL
        ) x
        GROUP BY level, week, area_id, category, party_id, pending
        HAVING sum(sign * opened) <> 0 OR sum(sign * acked) <> 0 OR sum(sign * resolved) <> 0 OR sum(sign * in_sla) <> 0 OR sum(sign * rated) <> 0 OR sum(sign * satisfied) <> 0 OR sum(sign * timed) <> 0 OR sum(sign * h01) <> 0 OR sum(sign * h02) <> 0 OR sum(sign * h03) <> 0 OR sum(sign * h04) <> 0 OR sum(sign * h05) <> 0 OR sum(sign * h06) <> 0 OR sum(sign * h07) <> 0 OR sum(sign * h08) <> 0 OR sum(sign * h09) <> 0 OR sum(sign * h10) <> 0 OR sum(sign * h11) <> 0 OR sum(sign * h12) <> 0 OR sum(sign * h13) <> 0 OR sum(sign * h14) <> 0 OR sum(sign * h15) <> 0 OR sum(sign * h16) <> 0 OR sum(sign * h17) <> 0 OR sum(sign * h18) <> 0 OR sum(sign * h19) <> 0 OR sum(sign * h20) <> 0 OR sum(sign * h21) <> 0 OR sum(sign * h22) <> 0 OR sum(sign * h23) <> 0 OR sum(sign * h24) <> 0 OR sum(sign * h25) <> 0 OR sum(sign * h26) <> 0 OR sum(sign * h27) <> 0 OR sum(sign * h28) <> 0 OR sum(sign * h29) <> 0 OR sum(sign * h30) <> 0 OR sum(sign * h31) <> 0 OR sum(sign * h32) <> 0 OR sum(sign * h33) <> 0 OR sum(sign * h34) <> 0 OR sum(sign * finished_resolved) <> 0 OR sum(sign * finished_dropped) <> 0
        -- One order for every writer: two statements never wait on each other's rows crosswise.
        ORDER BY level, week, area_id, category, party_id, pending
        ON CONFLICT (level, week, area_id, category, party_id, pending) DO UPDATE SET
                opened = r.opened + EXCLUDED.opened,
                acked = r.acked + EXCLUDED.acked,
                resolved = r.resolved + EXCLUDED.resolved,
                in_sla = r.in_sla + EXCLUDED.in_sla,
                rated = r.rated + EXCLUDED.rated,
                satisfied = r.satisfied + EXCLUDED.satisfied,
                timed = r.timed + EXCLUDED.timed,
                h01 = r.h01 + EXCLUDED.h01,
                h02 = r.h02 + EXCLUDED.h02,
                h03 = r.h03 + EXCLUDED.h03,
                h04 = r.h04 + EXCLUDED.h04,
                h05 = r.h05 + EXCLUDED.h05,
                h06 = r.h06 + EXCLUDED.h06,
                h07 = r.h07 + EXCLUDED.h07,
                h08 = r.h08 + EXCLUDED.h08,
                h09 = r.h09 + EXCLUDED.h09,
                h10 = r.h10 + EXCLUDED.h10,
                h11 = r.h11 + EXCLUDED.h11,
                h12 = r.h12 + EXCLUDED.h12,
                h13 = r.h13 + EXCLUDED.h13,
                h14 = r.h14 + EXCLUDED.h14,
                h15 = r.h15 + EXCLUDED.h15,
                h16 = r.h16 + EXCLUDED.h16,
                h17 = r.h17 + EXCLUDED.h17,
                h18 = r.h18 + EXCLUDED.h18,
                h19 = r.h19 + EXCLUDED.h19,
                h20 = r.h20 + EXCLUDED.h20,
                h21 = r.h21 + EXCLUDED.h21,
                h22 = r.h22 + EXCLUDED.h22,
                h23 = r.h23 + EXCLUDED.h23,
                h24 = r.h24 + EXCLUDED.h24,
                h25 = r.h25 + EXCLUDED.h25,
                h26 = r.h26 + EXCLUDED.h26,
                h27 = r.h27 + EXCLUDED.h27,
                h28 = r.h28 + EXCLUDED.h28,
                h29 = r.h29 + EXCLUDED.h29,
                h30 = r.h30 + EXCLUDED.h30,
                h31 = r.h31 + EXCLUDED.h31,
                h32 = r.h32 + EXCLUDED.h32,
                h33 = r.h33 + EXCLUDED.h33,
                h34 = r.h34 + EXCLUDED.h34,
                finished_resolved = r.finished_resolved + EXCLUDED.finished_resolved,
                finished_dropped = r.finished_dropped + EXCLUDED.finished_dropped;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stats_week AS r (level, week, area_id, category, party_id, pending, opened, acked, resolved, in_sla, rated, satisfied, timed, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19, h20, h21, h22, h23, h24, h25, h26, h27, h28, h29, h30, h31, h32, h33, h34, finished_resolved, finished_dropped)
        SELECT level, week, area_id, category, party_id, pending,
                   sum(sign * opened),
                   sum(sign * acked),
                   sum(sign * resolved),
                   sum(sign * in_sla),
                   sum(sign * rated),
                   sum(sign * satisfied),
                   sum(sign * timed),
                   sum(sign * h01),
                   sum(sign * h02),
                   sum(sign * h03),
                   sum(sign * h04),
                   sum(sign * h05),
                   sum(sign * h06),
                   sum(sign * h07),
                   sum(sign * h08),
                   sum(sign * h09),
                   sum(sign * h10),
                   sum(sign * h11),
                   sum(sign * h12),
                   sum(sign * h13),
                   sum(sign * h14),
                   sum(sign * h15),
                   sum(sign * h16),
                   sum(sign * h17),
                   sum(sign * h18),
                   sum(sign * h19),
                   sum(sign * h20),
                   sum(sign * h21),
                   sum(sign * h22),
                   sum(sign * h23),
                   sum(sign * h24),
                   sum(sign * h25),
                   sum(sign * h26),
                   sum(sign * h27),
                   sum(sign * h28),
                   sum(sign * h29),
                   sum(sign * h30),
                   sum(sign * h31),
                   sum(sign * h32),
                   sum(sign * h33),
                   sum(sign * h34),
                   sum(sign * finished_resolved),
                   sum(sign * finished_dropped)
        FROM (
            SELECT c.sign, l.level, t.week, l.area_id, l.category, l.party_id,
                   c.status NOT IN ('resolved', 'closed', 'rejected', 'duplicate') AS pending,
                   CASE WHEN t.slot = 1 THEN f.opened ELSE 0 END AS opened,
                   CASE WHEN t.slot = 1 THEN f.acked ELSE 0 END AS acked,
                   CASE WHEN t.slot = 1 THEN f.resolved ELSE 0 END AS resolved,
                   CASE WHEN t.slot = 1 THEN f.in_sla ELSE 0 END AS in_sla,
                   CASE WHEN t.slot = 1 THEN f.rated ELSE 0 END AS rated,
                   CASE WHEN t.slot = 1 THEN f.satisfied ELSE 0 END AS satisfied,
                   CASE WHEN t.slot = 1 THEN f.timed ELSE 0 END AS timed,
                   CASE WHEN t.slot = 1 AND f.bucket = 1 THEN 1 ELSE 0 END AS h01,
                   CASE WHEN t.slot = 1 AND f.bucket = 2 THEN 1 ELSE 0 END AS h02,
                   CASE WHEN t.slot = 1 AND f.bucket = 3 THEN 1 ELSE 0 END AS h03,
                   CASE WHEN t.slot = 1 AND f.bucket = 4 THEN 1 ELSE 0 END AS h04,
                   CASE WHEN t.slot = 1 AND f.bucket = 5 THEN 1 ELSE 0 END AS h05,
                   CASE WHEN t.slot = 1 AND f.bucket = 6 THEN 1 ELSE 0 END AS h06,
                   CASE WHEN t.slot = 1 AND f.bucket = 7 THEN 1 ELSE 0 END AS h07,
                   CASE WHEN t.slot = 1 AND f.bucket = 8 THEN 1 ELSE 0 END AS h08,
                   CASE WHEN t.slot = 1 AND f.bucket = 9 THEN 1 ELSE 0 END AS h09,
                   CASE WHEN t.slot = 1 AND f.bucket = 10 THEN 1 ELSE 0 END AS h10,
                   CASE WHEN t.slot = 1 AND f.bucket = 11 THEN 1 ELSE 0 END AS h11,
                   CASE WHEN t.slot = 1 AND f.bucket = 12 THEN 1 ELSE 0 END AS h12,
                   CASE WHEN t.slot = 1 AND f.bucket = 13 THEN 1 ELSE 0 END AS h13,
                   CASE WHEN t.slot = 1 AND f.bucket = 14 THEN 1 ELSE 0 END AS h14,
                   CASE WHEN t.slot = 1 AND f.bucket = 15 THEN 1 ELSE 0 END AS h15,
                   CASE WHEN t.slot = 1 AND f.bucket = 16 THEN 1 ELSE 0 END AS h16,
                   CASE WHEN t.slot = 1 AND f.bucket = 17 THEN 1 ELSE 0 END AS h17,
                   CASE WHEN t.slot = 1 AND f.bucket = 18 THEN 1 ELSE 0 END AS h18,
                   CASE WHEN t.slot = 1 AND f.bucket = 19 THEN 1 ELSE 0 END AS h19,
                   CASE WHEN t.slot = 1 AND f.bucket = 20 THEN 1 ELSE 0 END AS h20,
                   CASE WHEN t.slot = 1 AND f.bucket = 21 THEN 1 ELSE 0 END AS h21,
                   CASE WHEN t.slot = 1 AND f.bucket = 22 THEN 1 ELSE 0 END AS h22,
                   CASE WHEN t.slot = 1 AND f.bucket = 23 THEN 1 ELSE 0 END AS h23,
                   CASE WHEN t.slot = 1 AND f.bucket = 24 THEN 1 ELSE 0 END AS h24,
                   CASE WHEN t.slot = 1 AND f.bucket = 25 THEN 1 ELSE 0 END AS h25,
                   CASE WHEN t.slot = 1 AND f.bucket = 26 THEN 1 ELSE 0 END AS h26,
                   CASE WHEN t.slot = 1 AND f.bucket = 27 THEN 1 ELSE 0 END AS h27,
                   CASE WHEN t.slot = 1 AND f.bucket = 28 THEN 1 ELSE 0 END AS h28,
                   CASE WHEN t.slot = 1 AND f.bucket = 29 THEN 1 ELSE 0 END AS h29,
                   CASE WHEN t.slot = 1 AND f.bucket = 30 THEN 1 ELSE 0 END AS h30,
                   CASE WHEN t.slot = 1 AND f.bucket = 31 THEN 1 ELSE 0 END AS h31,
                   CASE WHEN t.slot = 1 AND f.bucket = 32 THEN 1 ELSE 0 END AS h32,
                   CASE WHEN t.slot = 1 AND f.bucket = 33 THEN 1 ELSE 0 END AS h33,
                   CASE WHEN t.slot = 1 AND f.bucket = 34 THEN 1 ELSE 0 END AS h34,
                   CASE WHEN t.slot = 2 THEN f.resolved ELSE 0 END AS finished_resolved,
                   CASE WHEN t.slot = 2 THEN f.dropped ELSE 0 END AS finished_dropped
            FROM (SELECT -1 AS sign, * FROM old_rows) c
            CROSS JOIN LATERAL stats_issue_facts(c.created_at, c.due_at, c.acknowledged_at, c.resolved_at,
                                                 c.closed_at, c.status, c.satisfaction, tz, deadline) f
            CROSS JOIN LATERAL (VALUES (1, f.opened_week), (2, f.finish_week)) t (slot, week)
            CROSS JOIN LATERAL (VALUES (1::smallint, c.area_id, '', 0::bigint),
                                       (2::smallint, 0::bigint, c.category, 0::bigint),
                                       (3::smallint, c.area_id, c.category, COALESCE(c.assigned_party_id, 0)),
                                       (4::smallint, 0::bigint, '', COALESCE(c.assigned_party_id, 0)))
                l (level, area_id, category, party_id)
            WHERE t.week IS NOT NULL
        ) x
        GROUP BY level, week, area_id, category, party_id, pending
        HAVING sum(sign * opened) <> 0 OR sum(sign * acked) <> 0 OR sum(sign * resolved) <> 0 OR sum(sign * in_sla) <> 0 OR sum(sign * rated) <> 0 OR sum(sign * satisfied) <> 0 OR sum(sign * timed) <> 0 OR sum(sign * h01) <> 0 OR sum(sign * h02) <> 0 OR sum(sign * h03) <> 0 OR sum(sign * h04) <> 0 OR sum(sign * h05) <> 0 OR sum(sign * h06) <> 0 OR sum(sign * h07) <> 0 OR sum(sign * h08) <> 0 OR sum(sign * h09) <> 0 OR sum(sign * h10) <> 0 OR sum(sign * h11) <> 0 OR sum(sign * h12) <> 0 OR sum(sign * h13) <> 0 OR sum(sign * h14) <> 0 OR sum(sign * h15) <> 0 OR sum(sign * h16) <> 0 OR sum(sign * h17) <> 0 OR sum(sign * h18) <> 0 OR sum(sign * h19) <> 0 OR sum(sign * h20) <> 0 OR sum(sign * h21) <> 0 OR sum(sign * h22) <> 0 OR sum(sign * h23) <> 0 OR sum(sign * h24) <> 0 OR sum(sign * h25) <> 0 OR sum(sign * h26) <> 0 OR sum(sign * h27) <> 0 OR sum(sign * h28) <> 0 OR sum(sign * h29) <> 0 OR sum(sign * h30) <> 0 OR sum(sign * h31) <> 0 OR sum(sign * h32) <> 0 OR sum(sign * h33) <> 0 OR sum(sign * h34) <> 0 OR sum(sign * finished_resolved) <> 0 OR sum(sign * finished_dropped) <> 0
        -- One order for every writer: two statements never wait on each other's rows crosswise.
        ORDER BY level, week, area_id, category, party_id, pending
        ON CONFLICT (level, week, area_id, category, party_id, pending) DO UPDATE SET
                opened = r.opened + EXCLUDED.opened,
                acked = r.acked + EXCLUDED.acked,
                resolved = r.resolved + EXCLUDED.resolved,
                in_sla = r.in_sla + EXCLUDED.in_sla,
                rated = r.rated + EXCLUDED.rated,
                satisfied = r.satisfied + EXCLUDED.satisfied,
                timed = r.timed + EXCLUDED.timed,
                h01 = r.h01 + EXCLUDED.h01,
                h02 = r.h02 + EXCLUDED.h02,
                h03 = r.h03 + EXCLUDED.h03,
                h04 = r.h04 + EXCLUDED.h04,
                h05 = r.h05 + EXCLUDED.h05,
                h06 = r.h06 + EXCLUDED.h06,
                h07 = r.h07 + EXCLUDED.h07,
                h08 = r.h08 + EXCLUDED.h08,
                h09 = r.h09 + EXCLUDED.h09,
                h10 = r.h10 + EXCLUDED.h10,
                h11 = r.h11 + EXCLUDED.h11,
                h12 = r.h12 + EXCLUDED.h12,
                h13 = r.h13 + EXCLUDED.h13,
                h14 = r.h14 + EXCLUDED.h14,
                h15 = r.h15 + EXCLUDED.h15,
                h16 = r.h16 + EXCLUDED.h16,
                h17 = r.h17 + EXCLUDED.h17,
                h18 = r.h18 + EXCLUDED.h18,
                h19 = r.h19 + EXCLUDED.h19,
                h20 = r.h20 + EXCLUDED.h20,
                h21 = r.h21 + EXCLUDED.h21,
                h22 = r.h22 + EXCLUDED.h22,
                h23 = r.h23 + EXCLUDED.h23,
                h24 = r.h24 + EXCLUDED.h24,
                h25 = r.h25 + EXCLUDED.h25,
                h26 = r.h26 + EXCLUDED.h26,
                h27 = r.h27 + EXCLUDED.h27,
                h28 = r.h28 + EXCLUDED.h28,
                h29 = r.h29 + EXCLUDED.h29,
                h30 = r.h30 + EXCLUDED.h30,
                h31 = r.h31 + EXCLUDED.h31,
                h32 = r.h32 + EXCLUDED.h32,
                h33 = r.h33 + EXCLUDED.h33,
                h34 = r.h34 + EXCLUDED.h34,
                finished_resolved = r.finished_resolved + EXCLUDED.finished_resolved,
                finished_dropped = r.finished_dropped + EXCLUDED.finished_dropped;
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
