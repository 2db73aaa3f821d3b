-- Areas of lower levels loaded earlier, still without a parent, are adopted by the new areas that hold them.
UPDATE areas c
SET parent_id = p.id
FROM stage_diff d
JOIN areas p ON p.code = d.code
WHERE d.change <> 'unchanged'
  AND c.parent_id IS NULL
  AND c.level = ANY (%(child_levels)s::text[])
  AND ST_Intersects(p.geom, ST_PointOnSurface(c.geom))
