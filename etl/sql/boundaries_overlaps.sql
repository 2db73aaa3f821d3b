-- Pairs of areas of the loaded level whose interiors overlap, where at least one side is in this load.
SELECT code_a, name_a, code_b, name_b, area_m2
FROM (
    SELECT a.code AS code_a, a.name AS name_a, b.code AS code_b, b.name AS name_b,
           ST_Area(ST_Intersection(a.geom, b.geom)::geography) AS area_m2
    FROM areas a
    JOIN areas b ON a.id < b.id AND b.level = a.level AND a.geom && b.geom
    WHERE a.level = %(level)s
      AND (a.code IN (SELECT code FROM stage_diff) OR b.code IN (SELECT code FROM stage_diff))
      AND ST_Relate(a.geom, b.geom, '2********')
) pairs
WHERE area_m2 >= %(min_m2)s
ORDER BY area_m2 DESC, code_a, code_b
