-- Overlapping pairs of the loaded level, with the overlap measured on the spheroid.
-- In-file pairs come from the loader (found in memory); pairs with stored areas outside the file are found here.
WITH pairs AS (
    SELECT p.code_a, p.code_b
    FROM unnest(%(codes_a)s::text[], %(codes_b)s::text[]) AS p (code_a, code_b)
    UNION
    SELECT least(s.code, o.code), greatest(s.code, o.code)
    FROM stage_areas s
    JOIN areas o ON %(check_stored)s::boolean
        AND o.geom && ST_SetSRID(s.geom, 4326)
        AND o.level = %(level)s
        AND NOT EXISTS (SELECT 1 FROM stage_areas t WHERE t.code = o.code)
    WHERE ST_Relate(ST_SetSRID(s.geom, 4326), o.geom, '2********')
)
SELECT a.code, a.name, b.code, b.name, ST_Area(ST_Intersection(a.geom, b.geom)::geography) AS area_m2
FROM pairs
JOIN areas a ON a.code = pairs.code_a
JOIN areas b ON b.code = pairs.code_b
WHERE ST_Area(ST_Intersection(a.geom, b.geom)::geography) >= %(min_m2)s
ORDER BY area_m2 DESC, a.code, b.code
