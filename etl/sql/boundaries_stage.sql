-- Geometries arrive as plain WKB in binary COPY; stored uncompressed because they live for one transaction.
CREATE TEMP TABLE stage_areas (
    row_no      integer PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    name_en     text,
    population  integer,
    parent_code text,
    geom        geometry NOT NULL
) ON COMMIT DROP;
ALTER TABLE stage_areas ALTER COLUMN geom SET STORAGE EXTERNAL
