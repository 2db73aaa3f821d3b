-- Classify every staged row against what is stored: insert, update or unchanged.
-- The parent comes from the parent code when the file has one, otherwise from containment:
-- the smallest area of the nearest higher level that holds a point inside the new area.
CREATE TEMP TABLE stage_diff ON COMMIT DROP AS
SELECT s.row_no, s.code, s.name, s.name_en, s.population, s.parent_code, s.geom,
       coalesce(by_code.id, by_place.id) AS parent_id,
       a.id AS area_id,
       CASE
           WHEN a.id IS NULL THEN 'insert'
           WHEN a.name IS DISTINCT FROM s.name
             OR a.name_en IS DISTINCT FROM s.name_en
             OR a.level IS DISTINCT FROM lvl.level
             OR a.population IS DISTINCT FROM s.population
             OR a.parent_id IS DISTINCT FROM coalesce(by_code.id, by_place.id)
             OR ST_AsBinary(a.geom) <> ST_AsBinary(s.geom) THEN 'update'
           ELSE 'unchanged'
       END AS change
FROM stage_areas s
CROSS JOIN (SELECT %(level)s::text AS level, %(use_parent_code)s::boolean AS by_code) lvl
LEFT JOIN areas a ON a.code = s.code
LEFT JOIN areas by_code ON lvl.by_code AND by_code.code = s.parent_code
LEFT JOIN LATERAL (
    SELECT p.id
    FROM areas p
    WHERE NOT lvl.by_code
      AND area_level_rank(p.level) < area_level_rank(lvl.level)
      AND ST_Intersects(p.geom, ST_PointOnSurface(s.geom))
    ORDER BY area_level_rank(p.level) DESC, p.area_m2
    LIMIT 1
) by_place ON true
