UPDATE areas a
SET name = d.name, name_en = d.name_en, level = %(level)s, population = d.population,
    parent_id = d.parent_id, geom = d.geom, source = %(source)s, loaded_at = now()
FROM stage_diff d
WHERE d.change = 'update' AND a.id = d.area_id;

INSERT INTO areas (code, name, name_en, level, population, parent_id, geom, source)
SELECT code, name, name_en, %(level)s, population, parent_id, geom, %(source)s
FROM stage_diff
WHERE change = 'insert'
ORDER BY row_no;

-- Areas of lower levels loaded earlier, still without a parent, are adopted by the new areas that hold them.
UPDATE areas c
SET parent_id = p.id
FROM areas p
WHERE c.parent_id IS NULL
  AND p.code IN (SELECT code FROM stage_diff WHERE change <> 'unchanged')
  AND area_level_rank(c.level) > area_level_rank(p.level)
  AND ST_Intersects(p.geom, ST_PointOnSurface(c.geom));
