-- The categories a mapping file maps to that are none of ours (by code, name or English name).
SELECT DISTINCT m.ours
FROM import_mapping m
WHERE m.field = 'category'
  AND NOT EXISTS (SELECT 1 FROM categories c
                  WHERE lower(m.ours) IN (lower(c.code), lower(c.name), lower(c.name_en)))
ORDER BY m.ours
