-- The dashboard's figures per community, per category, per party and in all (geodata/stats.py).
--
-- Every figure is a sum of per-issue contributions (stats_issue_facts, migration 0007): the whole weeks of
-- the period are read from the rollup stats_week, the days at its edges from the issues themselves. A
-- status filter, or a forced plain run, reads everything from the issues (full_from = full_to = the end,
-- after_to = NULL).
--
-- Parameters: full_from, full_to, after_to (local dates: the period's whole weeks [full_from, full_to), and
-- the first week after it whose rollup rows are read), the same as instants (start_ts = the period's
-- start, full_from_ts, full_to_ts, end_ts = its end, after_to_ts; infinity in a plain run), tz and
-- deadline (stats_settings), rollup (boolean), level_a / level_c / level_p (the rollup level of the
-- community, category and party views), and the filters composed by stats.py into {issue_filter} (on issues c) and
-- {rollup_filter} (on stats_week w).
WITH
-- Issues opened in the days of the period outside its whole weeks (all of it in a plain run).
raw_cohort AS (
    SELECT c.area_id, c.category, COALESCE(c.assigned_party_id, 0) AS party_id,
           f.opened, f.acked, f.resolved, f.in_sla, f.rated, f.satisfied, f.timed,
           {raw_hist}
    FROM issues c
    CROSS JOIN LATERAL stats_issue_facts(c.created_at, c.due_at, c.acknowledged_at, c.resolved_at, c.closed_at,
                                         c.status, c.satisfaction, %(tz)s, %(deadline)s) f
    WHERE ((c.created_at >= %(start_ts)s AND c.created_at < %(full_from_ts)s)
           OR (c.created_at >= %(full_to_ts)s AND c.created_at < %(end_ts)s))
      AND {issue_filter}
),
-- The counts behind the backlog (kept apart from the cohort's many sums: a third of the rows, one sum).
-- Waiting on the service now: from the issues in a plain run (the rollup has them as pending rows).
-- Opened, and resolved or rejected, between the period's end and the first rollup week read after it:
-- the backlog at the end is the backlog now, less what was opened since, plus what was finished since.
raw_counts AS (
    SELECT c.area_id, c.category, COALESCE(c.assigned_party_id, 0) AS party_id, 1 AS backlog,
           0 AS opened_after, 0 AS finished_after
    FROM issues c
    WHERE NOT %(rollup)s
      -- The predicate of issues_overdue_idx, so that index finds them.
      AND c.status NOT IN ('resolved', 'closed', 'rejected', 'duplicate')
      AND {issue_filter}
    UNION ALL
    SELECT c.area_id, c.category, COALESCE(c.assigned_party_id, 0), 0, 1, 0
    FROM issues c
    WHERE c.created_at >= %(end_ts)s AND c.created_at < %(after_to_ts)s AND {issue_filter}
    UNION ALL
    SELECT c.area_id, c.category, COALESCE(c.assigned_party_id, 0), 0, 0, 1
    FROM issues c
    -- The expression and predicate of issues_finished_idx.
    WHERE c.status IN ('resolved', 'closed', 'rejected', 'duplicate')
      AND COALESCE(c.resolved_at, c.closed_at) >= %(end_ts)s AND COALESCE(c.resolved_at, c.closed_at) < %(after_to_ts)s
      AND {issue_filter}
),
-- The community view (rollup level level_a), the category view (level_c) and the party view (level_p).
cohort_a AS (
    SELECT * FROM raw_cohort
    UNION ALL
    SELECT w.area_id, w.category, w.party_id, w.opened, w.acked, w.resolved, w.in_sla, w.rated, w.satisfied,
           w.timed, {roll_hist}
    FROM stats_week w
    WHERE %(rollup)s AND w.level = %(level_a)s AND w.week >= %(full_from)s AND w.week < %(full_to)s
      AND {rollup_filter}
),
counts_a AS (
    SELECT * FROM raw_counts
    UNION ALL
    SELECT w.area_id, w.category, w.party_id, w.opened, 0, 0
    FROM stats_week w
    WHERE %(rollup)s AND w.level = %(level_a)s AND w.pending AND {rollup_filter}
    UNION ALL
    SELECT w.area_id, w.category, w.party_id, 0, w.opened, w.finished_resolved + w.finished_dropped
    FROM stats_week w
    WHERE %(rollup)s AND w.level = %(level_a)s AND w.week >= %(after_to)s AND {rollup_filter}
),

cohort_c AS (
    SELECT * FROM raw_cohort
    UNION ALL
    SELECT w.area_id, w.category, w.party_id, w.opened, w.acked, w.resolved, w.in_sla, w.rated, w.satisfied,
           w.timed, {roll_hist}
    FROM stats_week w
    WHERE %(rollup)s AND w.level = %(level_c)s AND w.week >= %(full_from)s AND w.week < %(full_to)s
      AND {rollup_filter}
),
counts_c AS (
    SELECT * FROM raw_counts
    UNION ALL
    SELECT w.area_id, w.category, w.party_id, w.opened, 0, 0
    FROM stats_week w
    WHERE %(rollup)s AND w.level = %(level_c)s AND w.pending AND {rollup_filter}
    UNION ALL
    SELECT w.area_id, w.category, w.party_id, 0, w.opened, w.finished_resolved + w.finished_dropped
    FROM stats_week w
    WHERE %(rollup)s AND w.level = %(level_c)s AND w.week >= %(after_to)s AND {rollup_filter}
),
cohort_p AS (
    SELECT * FROM raw_cohort
    UNION ALL
    SELECT w.area_id, w.category, w.party_id, w.opened, w.acked, w.resolved, w.in_sla, w.rated, w.satisfied,
           w.timed, {roll_hist}
    FROM stats_week w
    WHERE %(rollup)s AND w.level = %(level_p)s AND w.week >= %(full_from)s AND w.week < %(full_to)s
      AND {rollup_filter}
),
counts_p AS (
    SELECT * FROM raw_counts
    UNION ALL
    SELECT w.area_id, w.category, w.party_id, w.opened, 0, 0
    FROM stats_week w
    WHERE %(rollup)s AND w.level = %(level_p)s AND w.pending AND {rollup_filter}
    UNION ALL
    SELECT w.area_id, w.category, w.party_id, 0, w.opened, w.finished_resolved + w.finished_dropped
    FROM stats_week w
    WHERE %(rollup)s AND w.level = %(level_p)s AND w.week >= %(after_to)s AND {rollup_filter}
),
groups AS (
    SELECT 'area' AS grp, area_id AS id, NULL::text AS category, {resums}
    FROM (SELECT area_id, {cohort_sums}, 0 AS backlog, 0 AS opened_after, 0 AS finished_after
          FROM cohort_a GROUP BY area_id
          UNION ALL
          SELECT area_id, {zero_sums}, sum(backlog), sum(opened_after), sum(finished_after)
          FROM counts_a GROUP BY area_id) x
    GROUP BY area_id
    UNION ALL
    SELECT 'category', NULL, category, {resums}
    FROM (SELECT category, {cohort_sums}, 0 AS backlog, 0 AS opened_after, 0 AS finished_after
          FROM cohort_c GROUP BY category
          UNION ALL
          SELECT category, {zero_sums}, sum(backlog), sum(opened_after), sum(finished_after)
          FROM counts_c GROUP BY category) x
    GROUP BY category
    UNION ALL
    SELECT 'party', party_id, NULL, {resums}
    FROM (SELECT party_id, {cohort_sums}, 0 AS backlog, 0 AS opened_after, 0 AS finished_after
          FROM cohort_p GROUP BY party_id
          UNION ALL
          SELECT party_id, {zero_sums}, sum(backlog), sum(opened_after), sum(finished_after)
          FROM counts_p GROUP BY party_id) x
    GROUP BY party_id
    UNION ALL
    SELECT 'total', NULL, NULL, {resums}
    FROM (SELECT {cohort_sums}, 0 AS backlog, 0 AS opened_after, 0 AS finished_after FROM cohort_c
          UNION ALL
          SELECT {zero_sums}, sum(backlog), sum(opened_after), sum(finished_after) FROM counts_c) x
)
SELECT g.grp, g.id, g.category, g.opened, g.acked, g.resolved, g.in_sla, g.rated, g.satisfied, g.timed,
       g.backlog, g.backlog - g.opened_after + g.finished_after AS backlog_at_end,
       stats_hist_percentile(ARRAY[{hist_cols}], 0.5) AS median_hours,
       stats_hist_percentile(ARRAY[{hist_cols}], 0.9) AS p90_hours
FROM groups g
WHERE g.grp = 'total' OR g.opened > 0 OR g.backlog > 0 OR g.backlog - g.opened_after + g.finished_after > 0
