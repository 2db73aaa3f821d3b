-- Vector tiles of issues: a data version for cache validation, and the GCJ-02 shift for display.

-- One row whose version changes whenever any statement changes issues. Tile ETags and the in-process
-- tile cache are keyed by it, so a new or changed issue can never hide behind a cached tile.
-- It is bumped inside the writing transaction, so the new version becomes visible together with the
-- change it stands for (a sequence would be seen before the commit, and a tile built in between would
-- be cached under the new version without the new row).
CREATE TABLE issues_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL DEFAULT 1,
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO issues_version DEFAULT VALUES;

CREATE FUNCTION issues_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE issues_version SET version = version + 1, changed_at = now();
    RETURN NULL;
END
$$;

-- Per statement, not per row: a bulk import of a million rows bumps it once. Writers of issues queue
-- on this one row from the statement to their commit; issue writes are short single-statement
-- transactions, so the wait is a fraction of a millisecond.
CREATE TRIGGER issues_version_bump
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON issues
    FOR EACH STATEMENT EXECUTE FUNCTION issues_version_bump();

-- WGS84 -> GCJ-02 for one point, the public formula of geodata/chinacrs.py (tests compare the two).
-- Only for display on GCJ-02 basemaps: stored geometries stay WGS84. Outside the mainland-China box
-- the point is returned unchanged, as in chinacrs.wgs84_to_gcj02.
CREATE FUNCTION gcj02_point(g geometry) RETURNS geometry
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    lon double precision := ST_X(g);
    lat double precision := ST_Y(g);
    a constant double precision := 6378245.0;
    ee constant double precision := 0.00669342162296594323;
    x double precision;
    y double precision;
    wave double precision;
    dlat double precision;
    dlon double precision;
    rad double precision;
    magic double precision;
BEGIN
    IF lon < 72.004 OR lon > 137.8347 OR lat < 0.8293 OR lat > 55.8271 THEN
        RETURN g;
    END IF;
    x := lon - 105.0;
    y := lat - 35.0;
    wave := (20.0 * sin(6.0 * x * pi()) + 20.0 * sin(2.0 * x * pi())) * 2.0 / 3.0;
    dlat := -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt(abs(x))
            + wave
            + (20.0 * sin(y * pi()) + 40.0 * sin(y / 3.0 * pi())) * 2.0 / 3.0
            + (160.0 * sin(y / 12.0 * pi()) + 320.0 * sin(y / 30.0 * pi())) * 2.0 / 3.0;
    dlon := 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt(abs(x))
            + wave
            + (20.0 * sin(x * pi()) + 40.0 * sin(x / 3.0 * pi())) * 2.0 / 3.0
            + (150.0 * sin(x / 12.0 * pi()) + 300.0 * sin(x / 30.0 * pi())) * 2.0 / 3.0;
    rad := radians(lat);
    magic := 1.0 - ee * sin(rad) ^ 2;
    dlat := dlat * 180.0 / ((a * (1.0 - ee)) / (magic * sqrt(magic)) * pi());
    dlon := dlon * 180.0 / (a / sqrt(magic) * cos(rad) * pi());
    RETURN ST_SetSRID(ST_MakePoint(lon + dlon, lat + dlat), ST_SRID(g));
END
$$;
