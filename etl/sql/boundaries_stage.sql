CREATE TEMP TABLE stage_areas (
    row_no      integer PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    name_en     text,
    population  integer,
    parent_code text,
    geom        geometry(MultiPolygon, 4326) NOT NULL
) ON COMMIT DROP
