-- Issues opened and resolved per local ISO week of the period (weeks start on Monday; the first and the
-- last week count only the days inside the period). Whole weeks come from the rollup stats_week, the days
-- at the edges from the issues; "resolved" counts the last resolution of issues now resolved or closed.
-- Parameters as in stats_cells.sql, plus level_w, the rollup level that fits the filters.
WITH counts AS (
    SELECT w.week, w.opened, w.finished_resolved AS resolved
    FROM stats_week w
    WHERE %(rollup)s AND w.level = %(level_w)s AND w.week >= %(full_from)s AND w.week < %(full_to)s
      AND {rollup_filter}
    UNION ALL
    SELECT d.day - (d.day - date '1900-01-01') %% 7, 1, 0
    FROM issues c
    CROSS JOIN LATERAL (SELECT (c.created_at AT TIME ZONE %(tz)s)::date AS day) d
    WHERE ((c.created_at >= %(start_ts)s AND c.created_at < %(full_from_ts)s)
           OR (c.created_at >= %(full_to_ts)s AND c.created_at < %(end_ts)s))
      AND {issue_filter}
    UNION ALL
    SELECT d.day - (d.day - date '1900-01-01') %% 7, 0, 1
    FROM issues c
    CROSS JOIN LATERAL (SELECT (COALESCE(c.resolved_at, c.closed_at) AT TIME ZONE %(tz)s)::date AS day) d
    -- The expression and predicate of issues_finished_idx.
    WHERE c.status IN ('resolved', 'closed', 'rejected', 'duplicate')
      AND ((COALESCE(c.resolved_at, c.closed_at) >= %(start_ts)s AND COALESCE(c.resolved_at, c.closed_at) < %(full_from_ts)s)
           OR (COALESCE(c.resolved_at, c.closed_at) >= %(full_to_ts)s AND COALESCE(c.resolved_at, c.closed_at) < %(end_ts)s))
      AND c.status IN ('resolved', 'closed')
      AND {issue_filter}
), weeks AS (
    SELECT generate_series(%(first_week)s::date, %(last_week)s::date, interval '7 days')::date AS week
)
SELECT to_char(weeks.week, 'YYYY-MM-DD') AS week, COALESCE(sum(counts.opened), 0)::bigint AS opened,
       COALESCE(sum(counts.resolved), 0)::bigint AS resolved
FROM weeks LEFT JOIN counts ON counts.week = weeks.week
GROUP BY weeks.week
ORDER BY weeks.week
