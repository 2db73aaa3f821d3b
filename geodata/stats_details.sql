-- name: oldest_open
-- The issues waiting longest on the service (no contact or reporter fields: the dashboard is not the place).
SELECT c.id, c.title, c.category, a.code AS area_code, c.status, utc_iso(c.created_at) AS created_at,
       round((extract(epoch FROM now() - c.created_at) / 86400)::numeric, 1)::float8 AS age_days
FROM issues c JOIN areas a ON a.id = c.area_id
WHERE c.status NOT IN ('resolved', 'closed', 'rejected', 'duplicate') AND {issue_filter}
ORDER BY c.created_at, c.id
LIMIT %(limit)s;

-- name: reopened
-- Issues opened in the period that were reopened at least once (reopen events are few: a partial index).
SELECT count(DISTINCT e.issue_id)
FROM issue_events e JOIN issues c ON c.id = e.issue_id
WHERE e.to_status = 'reopened'
  AND c.created_at >= %(start_ts)s AND c.created_at < %(end_ts)s
  AND {issue_filter};

-- name: exact_percentiles
-- Exact median and 90th percentile of hours to resolve (percentile_cont), for selections small enough.
SELECT CASE WHEN GROUPING(c.area_id) = 0 THEN 'area' WHEN GROUPING(c.category) = 0 THEN 'category'
            WHEN GROUPING(COALESCE(c.assigned_party_id, 0)) = 0 THEN 'party' ELSE 'total' END AS grp,
       c.area_id, c.category, COALESCE(c.assigned_party_id, 0) AS party_id,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY f.hours) AS median_hours,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY f.hours) AS p90_hours
FROM issues c
CROSS JOIN LATERAL stats_issue_facts(c.created_at, c.due_at, c.acknowledged_at, c.resolved_at, c.closed_at,
                                     c.status, c.satisfaction, %(tz)s, %(deadline)s) f
WHERE c.created_at >= %(start_ts)s
  AND c.created_at < %(end_ts)s
  AND f.hours IS NOT NULL
  AND {issue_filter}
GROUP BY GROUPING SETS ((c.area_id), (c.category), (COALESCE(c.assigned_party_id, 0)), ());
