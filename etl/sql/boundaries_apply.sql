UPDATE areas a
SET name = s.name, name_en = s.name_en, level = %(level)s, population = s.population,
    parent_id = d.parent_id, geom = ST_SetSRID(s.geom, 4326), source = %(source)s, loaded_at = now()
FROM stage_diff d
JOIN stage_areas s ON s.row_no = d.row_no
WHERE d.change = 'update' AND a.id = d.area_id;

INSERT INTO areas (code, name, name_en, level, population, parent_id, geom, source)
SELECT s.code, s.name, s.name_en, %(level)s, s.population, d.parent_id, ST_SetSRID(s.geom, 4326), %(source)s
FROM stage_diff d
JOIN stage_areas s ON s.row_no = d.row_no
WHERE d.change = 'insert'
ORDER BY d.row_no
