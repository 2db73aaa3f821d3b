-- Every staged report parsed and checked, in four set-based steps: parse, index the points, find each
-- point's community, then the checks. Statements are separated by blank lines.

-- 1. Values parsed once per row (text kept for the messages), with the point when the numbers allow one.
CREATE TEMP TABLE stage_parsed ON COMMIT DROP AS
WITH category_keys AS (
    -- A category may be named by its code, its name or its English name (old files carry names).
    SELECT DISTINCT ON (key) key, code
    FROM (SELECT lower(code) AS key, code, 1 AS rank FROM categories
          UNION ALL SELECT lower(name), code, 2 FROM categories
          UNION ALL SELECT lower(name_en), code, 3 FROM categories) k
    ORDER BY key, rank
),
parsed AS (
    SELECT s.row_no,
           NULLIF(btrim(s.external_id), '') AS external_id,
           NULLIF(btrim(s.category), '') AS category_text,
           c.code AS category,
           c.name AS category_name,
           c.sla_days,
           NULLIF(btrim(s.description), '') AS description,
           NULLIF(btrim(s.title), '') AS title,
           NULLIF(btrim(s.contact), '') AS contact,
           NULLIF(btrim(s.note), '') AS note,
           NULLIF(btrim(s.lat), '') AS lat_text,
           NULLIF(btrim(s.lon), '') AS lon_text,
           pg_temp.import_number(s.lat) AS lat,
           pg_temp.import_number(s.lon) AS lon,
           NULLIF(btrim(s.created_at), '') AS created_text,
           NULLIF(btrim(s.resolved_at), '') AS resolved_text,
           NULLIF(btrim(s.closed_at), '') AS closed_text,
           pg_temp.import_datetime(s.created_at) AS created_at,
           pg_temp.import_datetime(s.resolved_at) AS resolved_at,
           pg_temp.import_datetime(s.closed_at) AS closed_at,
           -- A status mapped to nothing is left to the dates, as an empty one.
           lower(NULLIF(btrim(CASE WHEN ms.theirs IS NULL THEN s.status ELSE ms.ours END), '')) AS status_text
    FROM stage_reports s
    -- Another system's names, where the import has a mapping file; ours are taken as they are.
    LEFT JOIN import_mapping mc ON mc.field = 'category' AND mc.theirs = lower(btrim(s.category))
    LEFT JOIN import_mapping ms ON ms.field = 'status' AND ms.theirs = lower(btrim(s.status))
    LEFT JOIN category_keys k ON k.key = lower(COALESCE(mc.ours, btrim(s.category)))
    LEFT JOIN categories c ON c.code = k.code
    -- A fence: every value above is computed once per row, not again wherever the checks below use it.
    OFFSET 0
)
SELECT p.*,
       CASE WHEN p.lat BETWEEN -90 AND 90 AND p.lon BETWEEN -180 AND 180
            THEN ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) END AS pt
FROM parsed p;

-- 2. The points get an index, so that the communities can be the outer side of the join below. (No
-- ANALYZE: it cost more than the join, and the plan is the same without it.)
CREATE INDEX ON stage_parsed USING gist (pt);

-- 3. The smallest community holding each point (boundaries may overlap), as geodata.issues.report does.
-- Communities outside, points inside: each polygon is tested against its candidate points one after
-- the other, so PostGIS prepares it once, instead of one index probe of the areas per report.
CREATE TEMP TABLE stage_areas ON COMMIT DROP AS
SELECT DISTINCT ON (p.row_no) p.row_no, a.id AS area_id
FROM import_communities a
JOIN stage_parsed p ON ST_Intersects(a.geom, p.pt)
ORDER BY p.row_no, a.m2, a.id;

-- 4. The checks: why a row cannot be imported (an empty array when it can), and earlier imports.
CREATE TEMP TABLE stage_checked ON COMMIT DROP AS
WITH located AS (
    SELECT p.*,
           sa.area_id,
           swapped.hit AS swapped,
           -- No status: what the dates say. Open311's "open" is our "reported".
           CASE
               WHEN p.status_text IS NULL THEN CASE WHEN p.closed_text IS NOT NULL THEN 'closed'
                                                    WHEN p.resolved_text IS NOT NULL THEN 'resolved'
                                                    ELSE 'reported' END
               WHEN p.status_text = 'open' THEN 'reported'
               ELSE p.status_text
           END AS status,
           min(p.row_no) OVER (PARTITION BY p.external_id) AS first_row
    FROM stage_parsed p
    LEFT JOIN stage_areas sa ON sa.row_no = p.row_no
    -- Files with lat and lon the wrong way round are common enough to say so rather than only "outside".
    LEFT JOIN LATERAL (
        SELECT true AS hit FROM import_communities a
        WHERE sa.area_id IS NULL AND p.lon BETWEEN -90 AND 90 AND p.lat BETWEEN -180 AND 180
          AND ST_Intersects(a.geom, ST_SetSRID(ST_MakePoint(p.lat, p.lon), 4326))
        LIMIT 1
    ) swapped ON true
)
SELECT l.row_no,
       l.external_id,
       l.category,
       l.sla_days,
       l.description,
       COALESCE(l.title, left(l.category_name || ': ' || CASE
           WHEN char_length(btrim(split_part(l.description, E'\n', 1))) > 40
               THEN left(btrim(split_part(l.description, E'\n', 1)), 40) || '…'
           ELSE btrim(split_part(l.description, E'\n', 1)) END, 120)) AS title,
       l.contact,
       l.note,
       l.pt,
       l.area_id,
       l.status,
       l.created_at,
       -- A closed report was resolved, at the latest when it was closed; a rejected one never was.
       CASE l.status WHEN 'closed' THEN COALESCE(l.resolved_at, l.closed_at) WHEN 'resolved' THEN l.resolved_at END
           AS resolved_at,
       CASE WHEN l.status IN ('closed', 'rejected') THEN l.closed_at END AS closed_at,
       i.id IS NOT NULL AS already,
       array_remove(ARRAY[
           CASE WHEN l.external_id IS NULL THEN 'external_id: is empty'
                WHEN char_length(l.external_id) > 200 THEN 'external_id: longer than 200 characters'
                WHEN l.first_row <> l.row_no THEN format('external_id: %s repeats row %s', l.external_id, l.first_row)
           END,
           CASE WHEN l.category_text IS NULL THEN 'unknown category: (empty)'
                WHEN l.category IS NULL THEN format('unknown category: %s', l.category_text)
           END,
           CASE WHEN l.description IS NULL THEN 'description: is empty'
                WHEN char_length(l.description) > 4000 THEN 'description: longer than 4000 characters'
                WHEN l.description ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]' THEN 'description: contains control characters'
           END,
           CASE WHEN char_length(l.title) > 120 THEN 'title: longer than 120 characters'
                WHEN l.title ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]' THEN 'title: contains control characters'
           END,
           CASE WHEN char_length(l.contact) > 200 THEN 'contact: longer than 200 characters' END,
           CASE WHEN l.lat_text IS NULL OR l.lon_text IS NULL THEN 'bad coordinates: lat and lon are required'
                WHEN l.lat IS NULL THEN format('bad coordinates: lat %s is not a number', l.lat_text)
                WHEN l.lon IS NULL THEN format('bad coordinates: lon %s is not a number', l.lon_text)
                WHEN l.lat NOT BETWEEN -90 AND 90 OR l.lon NOT BETWEEN -180 AND 180
                    THEN format('bad coordinates: lat %s, lon %s out of range', l.lat_text, l.lon_text)
                         || CASE WHEN l.swapped THEN ' (lat and lon swapped?)' ELSE '' END
                WHEN l.area_id IS NULL AND l.swapped
                    THEN format('outside every community: lat %s, lon %s (lat and lon swapped?)', l.lat_text, l.lon_text)
                WHEN l.area_id IS NULL THEN format('outside every community: lat %s, lon %s', l.lat_text, l.lon_text)
           END,
           CASE WHEN l.created_text IS NULL THEN 'bad date: created_at is empty'
                WHEN l.created_at IS NULL THEN format('bad date: created_at %s is not a date-time', l.created_text)
                WHEN l.created_at > now() + interval '5 minutes' THEN 'bad date: created_at is in the future'
           END,
           CASE WHEN l.resolved_text IS NOT NULL AND l.resolved_at IS NULL
                    THEN format('bad date: resolved_at %s is not a date-time', l.resolved_text)
                WHEN l.resolved_at < l.created_at THEN 'bad date: resolved_at is before created_at'
                WHEN l.resolved_at > now() + interval '5 minutes' THEN 'bad date: resolved_at is in the future'
           END,
           CASE WHEN l.closed_text IS NOT NULL AND l.closed_at IS NULL
                    THEN format('bad date: closed_at %s is not a date-time', l.closed_text)
                WHEN l.closed_at < l.created_at THEN 'bad date: closed_at is before created_at'
                WHEN l.closed_at < l.resolved_at THEN 'bad date: closed_at is before resolved_at'
                WHEN l.closed_at > now() + interval '5 minutes' THEN 'bad date: closed_at is in the future'
           END,
           CASE WHEN l.status NOT IN ('reported', 'confirmed', 'resolved', 'closed', 'rejected')
                    THEN format('status: %s cannot be imported (use reported, confirmed, resolved, closed or rejected; '
                                'open is read as reported; another system''s statuses go in a --mapping file)', l.status)
                WHEN l.status IN ('closed', 'rejected') AND l.closed_text IS NULL
                    THEN format('status: a %s report needs closed_at (in Open311: updated_datetime)', l.status)
                WHEN l.status = 'resolved' AND l.resolved_text IS NULL THEN 'status: a resolved report needs resolved_at'
                WHEN l.status IN ('reported', 'confirmed', 'resolved') AND l.closed_text IS NOT NULL
                    THEN format('status: a %s report cannot have closed_at', l.status)
                WHEN l.status IN ('reported', 'confirmed') AND l.resolved_text IS NOT NULL
                    THEN format('status: a %s report cannot have resolved_at', l.status)
           END
       ], NULL) AS reasons
FROM located l
LEFT JOIN issues i ON i.source = 'import' AND i.external_id = l.external_id AND i.external_id IS NOT NULL
