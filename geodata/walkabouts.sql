-- Walkabout queries (geodata/walkabouts.py). Each section starts with "-- name: <key>".
-- Only public issue columns are named here: never reporter_contact, reporter_token_hash or reporter_id.

-- name: area
-- The chosen community (or street) by id or code, with the point the "office" start stands for.
SELECT a.id, a.code, a.name, a.name_en, a.level, ST_X(p.g) AS lon, ST_Y(p.g) AS lat
FROM areas a, LATERAL (SELECT ST_PointOnSurface(a.geom) AS g) p
WHERE a.id = %(id)s OR a.code = %(code)s
ORDER BY a.id = %(id)s DESC
LIMIT 1;

-- name: polygon
-- Validity and geodesic area of a drawn polygon; its point on surface only once it is known to be valid.
WITH p AS (SELECT ST_SetSRID(ST_GeomFromGeoJSON(%(geojson)s), 4326) AS g)
SELECT ST_IsValid(g) AS valid, ST_IsValidReason(g) AS reason, ST_Area(g::geography) / 1e6 AS km2,
       CASE WHEN ST_IsValid(g) THEN ST_X(ST_PointOnSurface(g)) END AS lon,
       CASE WHEN ST_IsValid(g) THEN ST_Y(ST_PointOnSurface(g)) END AS lat
FROM p;

-- name: polygon_home
-- The community a polygon overlaps most among those the planner serves (all, for an admin), with the
-- point of its "office".
WITH p AS (SELECT ST_SetSRID(ST_GeomFromGeoJSON(%(geojson)s), 4326) AS g)
SELECT a.id, a.code, a.name, a.name_en, a.level, ST_X(o.g) AS lon, ST_Y(o.g) AS lat
FROM areas a CROSS JOIN p, LATERAL (SELECT ST_PointOnSurface(a.geom) AS g) o
WHERE a.level = 'community' AND ST_Intersects(a.geom, p.g)
  AND (%(all_areas)s OR a.id = ANY(%(area_ids)s))
ORDER BY ST_Area(ST_Intersection(a.geom, p.g)) DESC, a.id
LIMIT 1;

-- name: select_issues
-- The issues to visit inside an area (area_id) or a drawn polygon (geojson), in priority order: overdue
-- first (when asked), then the most supported, then the oldest. The GiST index on issues.geom finds the candidates; the planner serves
-- only issues of the communities the actor serves.
SELECT i.id, i.title, i.category, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, i.status, i.version,
       (i.status IN ('reported', 'confirmed', 'assigned', 'in_progress', 'reopened') AND i.due_at < now()) AS overdue,
       count(*) OVER () AS matched
FROM issues i,
     (SELECT COALESCE((SELECT geom FROM areas WHERE id = %(area_id)s),
                      ST_SetSRID(ST_GeomFromGeoJSON(%(geojson)s::text), 4326)) AS g) r
WHERE ST_Intersects(i.geom, r.g)
  AND i.status = ANY(%(statuses)s)
  AND (cardinality(%(categories)s::text[]) = 0 OR i.category = ANY(%(categories)s::text[]))
  AND i.created_at <= now() - make_interval(days => %(min_age_days)s)
  AND (%(all_areas)s OR i.area_id = ANY(%(area_ids)s))
ORDER BY (%(overdue_first)s AND i.status IN ('reported', 'confirmed', 'assigned', 'in_progress', 'reopened')
          AND i.due_at < now()) DESC,
         i.supports_count DESC, i.created_at, i.id
LIMIT %(cap)s;

-- name: insert_walkabout
INSERT INTO walkabouts (share_token, selection, area_id, polygon, filters, start_kind, start_geom, return_to_start,
                        max_stops, max_minutes, speed_kmh, detour, dwell_min, planned_by, planned_by_label,
                        distance_m, walk_minutes, total_minutes, return_distance_m, return_minutes, left_out,
                        cut_by, route)
VALUES (%(share_token)s, %(selection)s, %(area_id)s,
        CASE WHEN %(polygon)s::text IS NOT NULL THEN ST_SetSRID(ST_GeomFromGeoJSON(%(polygon)s::text), 4326) END,
        %(filters)s, %(start_kind)s, ST_SetSRID(ST_MakePoint(%(start_lon)s, %(start_lat)s), 4326),
        %(return_to_start)s, %(max_stops)s, %(max_minutes)s, %(speed_kmh)s, %(detour)s, %(dwell_min)s,
        %(planned_by)s, %(planned_by_label)s, %(distance_m)s, %(walk_minutes)s, %(total_minutes)s,
        %(return_distance_m)s, %(return_minutes)s, %(left_out)s, %(cut_by)s,
        ST_SetSRID(ST_GeomFromGeoJSON(%(route)s), 4326))
RETURNING id;

-- name: insert_stops
INSERT INTO walkabout_stops (walkabout_id, seq, issue_id, leg_distance_m, leg_walk_minutes)
SELECT %(walkabout_id)s, s.seq, s.issue_id, s.distance_m, s.minutes
FROM unnest(%(seqs)s::int[], %(issue_ids)s::bigint[], %(distances)s::float8[], %(minutes)s::float8[])
     AS s(seq, issue_id, distance_m, minutes);

-- name: walkabout
SELECT w.id, w.share_token, w.selection, w.area_id, a.code AS area_code, a.name AS area_name,
       a.name_en AS area_name_en, ST_AsGeoJSON(w.polygon, 7)::json AS polygon, w.filters, w.start_kind,
       ST_X(w.start_geom) AS start_lon, ST_Y(w.start_geom) AS start_lat, w.return_to_start, w.max_stops,
       w.max_minutes, w.speed_kmh, w.detour, w.dwell_min, w.planned_by, w.planned_by_label,
       utc_iso(w.created_at) AS created_at, w.distance_m, w.walk_minutes, w.total_minutes, w.return_distance_m,
       w.return_minutes, w.left_out, w.cut_by, ST_AsGeoJSON(w.route, 7)::json AS route
FROM walkabouts w LEFT JOIN areas a ON a.id = w.area_id
WHERE w.id = %(id)s OR w.share_token = %(token)s;

-- name: stops
SELECT s.seq, s.issue_id, i.title, i.category, i.status, i.version, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
       (i.status IN ('reported', 'confirmed', 'assigned', 'in_progress', 'reopened') AND i.due_at < now()) AS overdue,
       s.leg_distance_m, s.leg_walk_minutes, utc_iso(s.visited_at) AS visited_at, s.outcome, s.note,
       s.from_status, s.to_status
FROM walkabout_stops s JOIN issues i ON i.id = s.issue_id
WHERE s.walkabout_id = %(id)s
ORDER BY s.seq;

-- name: stop_for_update
SELECT s.issue_id FROM walkabout_stops s WHERE s.walkabout_id = %(id)s AND s.seq = %(seq)s FOR UPDATE;

-- name: mark_stop
UPDATE walkabout_stops
SET visited_at = now(), outcome = %(outcome)s, note = %(note)s, visited_by = %(user_id)s, event_id = %(event_id)s,
    from_status = %(from_status)s, to_status = %(to_status)s
WHERE walkabout_id = %(id)s AND seq = %(seq)s;

-- name: communities
-- The communities a planner may choose: those they serve (every one, for an admin), by name.
SELECT a.id, a.code, a.name, a.name_en
FROM areas a
WHERE a.level = 'community' AND (%(all_areas)s OR a.id = ANY(%(area_ids)s))
ORDER BY a.name, a.code
LIMIT 1000;
