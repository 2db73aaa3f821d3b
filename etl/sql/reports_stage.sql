-- Reports arrive as text, exactly as the file has them (COPY does no conversion), so that every bad
-- value becomes a reported row instead of an error that aborts the load. row_no follows the file's order
-- (1 = the first data row): COPY draws the identity once per row, in order.
CREATE TEMP TABLE stage_reports (
    row_no      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id text,
    category    text,
    description text,
    title       text,
    lat         text,
    lon         text,
    created_at  text,
    status      text,
    resolved_at text,
    closed_at   text,
    contact     text,
    -- Open311 status_notes: the note of the imported state's transition.
    note        text
) ON COMMIT DROP;

-- The import's readers (session functions: OR REPLACE on the next import). A value either has the shape
-- the pattern allows, with every field in range, or it is NULL: the cast after the test cannot fail, so no
-- per-row exception handler (a subtransaction each) is needed. Boolean matches without capture groups
-- run on the regex engine's fast path. Both are plain SQL over their argument and are inlined.
--
-- Date-times: ISO 8601 date, or date and time (T or space) with optional seconds, fraction and offset
-- (Z, +08, +0800, +08:00). Without an offset the session's TimeZone applies. The one thing a pattern
-- cannot see is a day past the end of its month (2024-02-30); that is checked from the fixed positions.
CREATE OR REPLACE FUNCTION pg_temp.import_timestamp(t text) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
SELECT CASE
    WHEN btrim(t) !~ '^(?:19|2\d)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?\s*(?:[Zz]|[+-](?:0\d|1[0-4])(?::?[0-5]\d)?)?)?$'
        THEN NULL
    WHEN substr(btrim(t), 9, 2)::int > 28
         AND substr(btrim(t), 9, 2)::int > extract(day FROM make_date(substr(btrim(t), 1, 4)::int,
                                                                     substr(btrim(t), 6, 2)::int, 1)
                                                          + interval '1 month - 1 day')
        THEN NULL
    ELSE btrim(t)::timestamptz
END
$$;

-- A date-time in one of another system's formats (etl/dialect.py): the format's anchored pattern, and the
-- capture group of each part (year, two-digit year, month, day, hour, 12-hour hour, AM/PM, minute,
-- second, fraction, offset; 0 where the format has none). The parts are written back as ISO 8601 and read
-- by import_timestamp, so every range (day of that month included) is checked in one place. Two-digit
-- years are 1969-2068, as strftime reads them.
CREATE OR REPLACE FUNCTION pg_temp.import_formatted(t text, pattern text, g int[]) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    -- PL/pgSQL rather than SQL: a SQL function with a FROM clause is not inlined, and running it as a
    -- query for every value cost about 50 us; here the match is made once and the rest are simple
    -- expressions. The ISO text goes through a variable so that import_timestamp is inlined.
    m text[] := regexp_match(btrim(t), pattern);
    iso text;
BEGIN
    IF m IS NULL THEN
        RETURN NULL;
    END IF;
    iso := COALESCE(m[g[1]], (CASE WHEN m[g[2]]::int < 69 THEN 2000 ELSE 1900 END + m[g[2]]::int)::text)
        || '-' || lpad(m[g[3]], 2, '0') || '-' || lpad(m[g[4]], 2, '0')
        || ' ' || lpad(COALESCE(m[g[5]],
                                (m[g[6]]::int % 12 + CASE WHEN m[g[7]] ~* '^(p|下午)' THEN 12 ELSE 0 END)::text,
                                '0'), 2, '0')
        || ':' || lpad(COALESCE(m[g[8]], '0'), 2, '0')
        || ':' || lpad(COALESCE(m[g[9]], '0'), 2, '0')
        || COALESCE('.' || m[g[10]], '')
        || COALESCE(m[g[11]], '');
    RETURN pg_temp.import_timestamp(iso);
END
$$;

-- The date-time reader of this import: ISO 8601; with --date-format, the given formats and then ISO 8601
-- (etl/reports.py replaces this function then).
CREATE OR REPLACE FUNCTION pg_temp.import_datetime(t text) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
SELECT pg_temp.import_timestamp(t)
$$;

-- Their category and status names to ours (--mapping); theirs in lower case. Empty without a mapping file.
CREATE TEMP TABLE import_mapping (
    field text NOT NULL CHECK (field IN ('category', 'status')),
    theirs text NOT NULL,
    ours text NOT NULL,
    PRIMARY KEY (field, theirs)
) ON COMMIT DROP;

-- Plain decimals only (no NaN, Infinity, hex), and exponents too small to overflow float8.
CREATE OR REPLACE FUNCTION pg_temp.import_number(t text) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN btrim(t) ~ '^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,2})?$' THEN btrim(t)::float8 END
$$;

-- The communities with their areas on the spheroid measured once, for "the smallest community holding
-- the point" of every row (a few hundred to a few thousand rows, whatever the size of the file).
CREATE TEMP TABLE import_communities ON COMMIT DROP AS
SELECT id, geom, ST_Area(geom::geography) AS m2 FROM areas WHERE level = 'community';

CREATE INDEX ON import_communities USING gist (geom);

ANALYZE import_communities
