-- The issues data version (migration 0006) kept in sixteen rows instead of one.
--
-- Every statement on issues bumped the one row of issues_version and held its lock until commit, so the
-- writers of concurrent reports queued on it, each behind the other's commit, and the row's versions piled
-- up faster than they could be pruned. With four writers reporting at once into the bench city, the slots
-- below took 0.17-0.3 ms off the database's CPU per report and let 13-28 % more reports through
-- (docs/benchmarks-issues.md). Now a statement bumps the slot of its own backend (pg_backend_pid() % 16):
-- one connection's writes follow each other and never wait on another's. The version is the sum of the
-- slots: still bumped inside the writing transaction, so it still becomes visible together with the change
-- it stands for, and still only grows.
CREATE TABLE issues_version_slots (
    slot    smallint PRIMARY KEY CHECK (slot BETWEEN 0 AND 15),
    version bigint NOT NULL DEFAULT 0
);
-- Continue from the old version, so no ETag handed out before is ever given again for other data.
INSERT INTO issues_version_slots (slot, version)
SELECT s, CASE WHEN s = 0 THEN (SELECT version FROM issues_version) ELSE 0 END
FROM generate_series(0, 15) s;

CREATE OR REPLACE FUNCTION issues_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE issues_version_slots SET version = version + 1 WHERE slot = pg_backend_pid() % 16;
    RETURN NULL;
END
$$;

CREATE FUNCTION issues_data_version() RETURNS bigint
LANGUAGE sql STABLE
RETURN (SELECT sum(version)::bigint FROM issues_version_slots);

DROP TABLE issues_version;
