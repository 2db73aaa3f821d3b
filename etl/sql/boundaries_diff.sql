-- Classify every staged row against what is stored: insert, update or unchanged.
-- The parent comes from the parent code when the file has one, otherwise from containment:
-- the smallest area of the nearest higher level that holds a point inside the new area.
-- The two booleans are plan-time constants, so the lookup that is not needed is pruned away.
-- Geometries stay in stage_areas; this table only carries the decision.
CREATE TEMP TABLE stage_diff ON COMMIT DROP AS
SELECT s.row_no, s.code, s.name, s.parent_code,
       coalesce(by_code.id, by_place.id) AS parent_id,
       a.id AS area_id,
       CASE
           WHEN a.id IS NULL THEN 'insert'
           WHEN a.name IS DISTINCT FROM s.name
             OR a.name_en IS DISTINCT FROM s.name_en
             OR a.level IS DISTINCT FROM %(level)s::text
             OR a.population IS DISTINCT FROM s.population
             OR a.parent_id IS DISTINCT FROM coalesce(by_code.id, by_place.id)
             OR ST_AsBinary(a.geom) <> ST_AsBinary(s.geom) THEN 'update'
           ELSE 'unchanged'
       END AS change
FROM stage_areas s
LEFT JOIN areas a ON a.code = s.code
-- An area is never its own parent (on a reload that would break CHECK (parent_id <> id)).
LEFT JOIN areas by_code ON %(use_parent_code)s::boolean AND by_code.code = s.parent_code AND s.parent_code <> s.code
LEFT JOIN LATERAL (
    SELECT p.id
    FROM areas p
    WHERE %(find_parent)s::boolean
      AND p.level = ANY (%(parent_levels)s::text[])
      AND ST_Intersects(p.geom, ST_SetSRID(ST_PointOnSurface(s.geom), 4326))
    ORDER BY area_level_rank(p.level) DESC, ST_Area(p.geom::geography)
    LIMIT 1
) by_place ON true
