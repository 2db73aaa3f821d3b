-- One Mapbox vector tile of issues (geodata/tiles.py fills the parameters).
--
-- The point expression and the filters are filled in by geodata/tiles.py from fixed SQL fragments
-- (never from request text), so that each variant's prepared plan has no per-row tests of unused options.
--
-- Layer "issues": one point per issue with only what the map draws (feature id = issue id, status,
-- category). Layer "clusters": counts per grid cell, used below POINT_ZOOM, and at any zoom when the
-- tile would hold more than MAX_POINTS points, so that a tile stays small whatever the data.
-- bounds is computed once (MATERIALIZED): inlined, its expressions were substituted into the per-issue
-- ST_AsMVTGeom call, and in a prepared statement's generic plan, where the tile's parameters cannot be
-- folded into constants, the envelope was transformed again for every issue (1.5 x the time of the bare
-- ST_AsMVT statement, against 1.1-1.3 x now; docs/benchmarks-issues.md). The search then probes the GiST
-- index once, with the box as the nested loop's parameter.
WITH bounds AS MATERIALIZED (
    SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS tile,
           ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4326) AS tile_lonlat,
           -- The tile and its buffer in the stored CRS, so that the GiST index on issues.geom does the
           -- search. A Mercator rectangle is a lon/lat rectangle too, so this box is exact; on a GCJ-02
           -- basemap it is padded by the largest GCJ-02 offset, and clipping happens after the shift.
           ST_Expand(ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s), 4326),
                     %(search_pad)s) AS search
),
points AS MATERIALIZED (
    SELECT i.id, i.status, i.category,
           -- ST_AsMVTGeom of the point (GCJ-02-shifted on request), as geodata/tiles.py chose.
           {point} AS geom
    FROM issues i, bounds b
    WHERE i.geom && b.search {filters}
)
SELECT CASE
    WHEN %(cluster)s OR (SELECT count(*) FROM points WHERE geom IS NOT NULL) > %(max_points)s THEN (
        -- Cells are aligned on the whole world's grid at this zoom and the buffer is one whole cell, so
        -- a cell on a tile's edge holds the same issues, drawn at the same place, in both tiles.
        SELECT ST_AsMVT(c, 'clusters', 4096, 'geom')
        FROM (
            SELECT count(*)::integer AS count,
                   count(*) FILTER (WHERE status NOT IN ('closed', 'rejected', 'duplicate'))::integer AS open,
                   -- A cell of one issue says which: the map draws it like a single issue.
                   CASE WHEN count(*) = 1 THEN min(id) END AS id,
                   CASE WHEN count(*) = 1 THEN min(status) END AS status,
                   CASE WHEN count(*) = 1 THEN min(category) END AS category,
                   ST_MakePoint(round(avg(px)), round(avg(py))) AS geom
            FROM (SELECT id, status, category, ST_X(geom) AS px, ST_Y(geom) AS py
                  FROM points WHERE geom IS NOT NULL) drawn
            -- ST_AsMVTGeom keeps the far edge of the buffer too: that sliver belongs to the next cell.
            WHERE px < 4096 + %(buffer)s AND py < 4096 + %(buffer)s
            GROUP BY floor(px / %(buffer)s), floor(py / %(buffer)s)
        ) c
    )
    ELSE (
        -- ST_AsMVTGeom answers NULL for a point outside the tile and its buffer.
        SELECT ST_AsMVT(p, 'issues', 4096, 'geom', 'id')
        FROM (SELECT id, status, category, geom FROM points WHERE geom IS NOT NULL) p
    )
END
