-- Administrative and service areas (district > street > community > grid) and a ledger of boundary loads.
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE FUNCTION area_level_rank(level text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE level WHEN 'district' THEN 1 WHEN 'street' THEN 2 WHEN 'community' THEN 3 WHEN 'grid' THEN 4 END;

CREATE TABLE areas (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code       text NOT NULL UNIQUE CHECK (btrim(code) <> ''),
    name       text NOT NULL CHECK (btrim(name) <> ''),
    name_en    text,
    level      text NOT NULL CHECK (area_level_rank(level) IS NOT NULL),
    parent_id  bigint REFERENCES areas (id) ON DELETE SET NULL,
    population integer CHECK (population >= 0),
    geom       geometry(MultiPolygon, 4326) NOT NULL CHECK (NOT ST_IsEmpty(geom)),
    source     text NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS DISTINCT FROM id)
);
-- Boundaries run to kilobytes; lz4 (de)compresses them several times faster than the default pglz.
ALTER TABLE areas ALTER COLUMN geom SET COMPRESSION lz4;
CREATE INDEX areas_geom_gist ON areas USING gist (geom);
CREATE INDEX areas_level_idx ON areas (level);
CREATE INDEX areas_parent_idx ON areas (parent_id);

CREATE TABLE area_loads (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text NOT NULL,
    sha256      text NOT NULL,
    level       text NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    inserted    integer NOT NULL,
    updated     integer NOT NULL,
    unchanged   integer NOT NULL,
    repaired    integer NOT NULL,
    rejected    integer NOT NULL,
    report      jsonb NOT NULL DEFAULT '{}'::jsonb
);
