"""Benchmark of the dashboard statistics (geodata/stats.py) in the 1,000,000-issue city.

    python -m bench.stats [--quick]

Prints (1) GET /api/stats for the whole city and the last 365 days through gunicorn beside the bare SQL of
the same statements (median of several runs; target <= 500 ms end to end), with a category and a
community filter, and the same figures read from the issues alone (no rollup) once; (2) what the statistics
trigger (it queues the change) adds to one INSERT (a report) and to one status UPDATE (a transition), and
what folding the queue into the rollup costs later, per change.

The synthetic city's issues have no parties, acknowledgements or ratings; a bench-only step gives a share
of them those (set-based, once, marked in bench_stats) so the figures do realistic work.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from geodata import config, localdb, stats, tokens
from geodata.config import PROJECT_ROOT

from bench import synthetic
from bench.common import print_table
from bench.issues import Gunicorn, _load

RUNS = 9
WARMUP = 2
INSERTS = 300
# Bumped when the realism step below changes.
STATS_VERSION = "stats-v1"
# The rollup (0007) and its queue (0013): re-applied together to a city that has older drafts of them.
MIGRATIONS = {7: PROJECT_ROOT / "geodata" / "migrations" / "0007_stats.sql",
              13: PROJECT_ROOT / "geodata" / "migrations" / "0013_stats_queue.sql"}
STATS_OBJECTS = """
DROP TRIGGER IF EXISTS stats_issues_insert ON issues;
DROP TRIGGER IF EXISTS stats_issues_update ON issues;
DROP TRIGGER IF EXISTS stats_issues_delete ON issues;
DROP TRIGGER IF EXISTS stats_issues_truncate ON issues;
DROP FUNCTION IF EXISTS stats_issues_changed(), stats_rebuild(), stats_rebuild_from_issues(),
    stats_hist_percentile(bigint[], float8), stats_issue_facts, stats_hour_edges(), stats_fold(boolean),
    stats_fold_lock_key(), stats_week_apply(issues[], issues[]);
DROP TABLE IF EXISTS stats_week, stats_settings, stats_queue;
DROP INDEX IF EXISTS issues_finished_idx, issue_events_reopened_idx;
"""

# Parties of the city: a volunteer group per community, a social work organisation per 25 communities,
# a government department per 50; issues that left "reported" were answered within hours (a tenth late),
# handed to one of them (by a hash of the id), and closed issues rated (mostly 4-5).
_REALISM = """
INSERT INTO parties (kind, name, area_id)
SELECT 'volunteer_group', '志愿队 ' || a.code, a.id FROM areas a WHERE a.level = 'community'
UNION ALL
SELECT 'social_work', '社工机构 ' || n, NULL FROM generate_series(1, 20) n
UNION ALL
SELECT 'government', '街道科室 ' || n, NULL FROM generate_series(1, 10) n;

CREATE TEMP TABLE vol AS SELECT id, area_id FROM parties WHERE kind = 'volunteer_group';
CREATE TEMP TABLE sw AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, id FROM parties WHERE kind = 'social_work';
CREATE TEMP TABLE gov AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, id FROM parties WHERE kind = 'government';

UPDATE issues i SET
    acknowledged_at = i.created_at + make_interval(secs => CASE WHEN i.id % 10 = 0 THEN 30 ELSE (i.id % 20) END * 3600.0),
    assigned_party_id = CASE WHEN i.status IN ('confirmed', 'rejected') THEN NULL
                             WHEN i.id % 10 < 4 THEN v.id WHEN i.id % 10 < 7 THEN s.id ELSE g.id END,
    satisfaction = CASE WHEN i.status = 'closed' AND i.id % 5 <> 0
                        THEN (ARRAY[5, 5, 4, 4, 4, 3, 2, 5, 4, 1])[1 + i.id % 10] END
FROM vol v, sw s, gov g
WHERE i.status <> 'reported' AND v.area_id = i.area_id AND s.k = i.area_id % 20 AND g.k = i.area_id % 10;
"""


def _ensure_current(conn: psycopg.Connection, log) -> None:
    """Migrations 0007 and 0013 as they are now (the city may have earlier drafts), then the realism step once."""
    texts = {v: path.read_text(encoding="utf-8") for v, path in MIGRATIONS.items()}
    checksums = {v: hashlib.sha256(t.encode()).hexdigest() for v, t in texts.items()}
    applied = dict(conn.execute("SELECT version, checksum FROM schema_migrations WHERE version = ANY (%s)",
                                (list(MIGRATIONS),)).fetchall())
    if applied != checksums:
        log("re-applying the statistics migrations (0007, 0013) to the city (they changed since they were applied)")
        with conn.transaction():
            conn.execute(STATS_OBJECTS)
            conn.execute("SET LOCAL jit = off")
            for version, text in texts.items():
                conn.execute(text)
                conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"
                             " ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum",
                             (version, MIGRATIONS[version].stem[5:], checksums[version]))
        conn.execute("VACUUM ANALYZE stats_week")
    conn.execute("CREATE TABLE IF NOT EXISTS bench_stats (version text NOT NULL)")
    if conn.execute("SELECT 1 FROM bench_stats WHERE version = %s", (STATS_VERSION,)).fetchone():
        return
    log("giving the city's issues parties, acknowledgements and ratings (once)")
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("SET LOCAL jit = off")
        # One UPDATE of a million rows, then one rebuild: the row-level history of this fiction is not wanted,
        # and the other statement triggers (tile version, H3 cells) have nothing to do for it.
        conn.execute("ALTER TABLE issues DISABLE TRIGGER USER")
        conn.execute(_REALISM)
        conn.execute("ALTER TABLE issues ENABLE TRIGGER USER")
        conn.execute("SELECT stats_rebuild()")
        conn.execute("DELETE FROM bench_stats")
        conn.execute("INSERT INTO bench_stats VALUES (%s)", (STATS_VERSION,))
    conn.execute("VACUUM ANALYZE issues")
    conn.execute("VACUUM ANALYZE stats_week")
    log(f"done in {time.perf_counter() - started:.0f} s")


def _admin_token(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT id FROM users WHERE username = 'bench-stats-admin'").fetchone()
    if row is None:
        row = conn.execute("INSERT INTO users (username, role, password_hash) VALUES ('bench-stats-admin', 'admin',"
                           " 'not-a-password') RETURNING id").fetchone()
    return tokens.create_api_token(conn, row[0], "admin", "bench stats").token


def _bare_sql(conn: psycopg.Connection, args: dict) -> float:
    """The statements dashboard() runs for these filters, run bare (no Python around them); seconds."""
    filters = stats.StatsFilter.from_query(args)
    area_ids = None
    if filters.area is not None:
        area_ids = [r[0] for r in conn.execute("SELECT id FROM areas WHERE code = %s", (filters.area,))]
    tz, deadline, today = stats._settings(conn)
    plan = stats._plan(filters, area_ids, tz, deadline, today, False)
    fmt = {"issue_filter": plan.issue_filter, "rollup_filter": plan.rollup_filter, **stats._hist_parts()}
    queries = [sql.SQL(stats._sql_text(name)).format(**fmt) for name in ("stats_cells.sql", "stats_weekly.sql")]
    queries += [sql.SQL(stats._details(name)).format(**fmt) for name in ("oldest_open", "reopened")]
    params = {**plan.params, "limit": stats.OLDEST_LIMIT}
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("SET LOCAL jit = off")
        for query in queries:
            conn.execute(query, params).fetchall()
    return time.perf_counter() - started


def stats_table(city: str, server: Gunicorn, token: str, runs: int, with_plain: bool) -> tuple[str, tuple, list[tuple]]:
    today = date.today()
    year = {"since": str(today - timedelta(days=364)), "until": str(today)}
    cases = [("whole city, last 365 days", year), ("  one category (litter)", {**year, "category": "litter"}),
             ("  one community", {**year, "area": "BC1012"})]
    rows = []
    client = http.client.HTTPConnection(server.host, server.port, timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    with psycopg.connect(city, autocommit=True) as conn:
        for label, args in cases:
            query = "&".join(f"{k}={v}" for k, v in args.items())
            http_s, sql_s, size = [], [], 0
            for k in range(runs + WARMUP):
                t0 = time.perf_counter()
                client.request("GET", f"/api/stats?{query}", headers=headers)
                resp = client.getresponse()
                body = resp.read()
                t1 = time.perf_counter()
                if resp.status != 200:
                    raise SystemExit(f"GET /api/stats?{query} answered {resp.status}: {body[:300]!r}")
                bare = _bare_sql(conn, args)
                if k >= WARMUP:
                    http_s.append(t1 - t0)
                    sql_s.append(bare)
                    size = len(body)
            h, s = statistics.median(http_s) * 1000, statistics.median(sql_s) * 1000
            rows.append((label, runs, h, s, h / s, size, "met" if h <= 500 else "MISSED"))
        if with_plain:
            # The same figures from the issues alone: what the rollup saves.
            t0 = time.perf_counter()
            stats.dashboard(conn, year, allowed_area_ids=None, plain=True)
            rows.append(("  the same without the rollup (dashboard(plain=True), 1 run)", 1,
                         (time.perf_counter() - t0) * 1000, "-", "-", "-", "-"))
        count = conn.execute("SELECT count(*) FROM issues").fetchone()[0]
    client.close()
    title = (f"GET /api/stats over the {count:,}-issue city through gunicorn (admin token, keep-alive), median of "
             f"{runs}, beside the bare SQL of the same statements; target <= 500 ms end to end; {_load()} at the end")
    return title, ("selection", "runs", "HTTP ms", "bare SQL ms", "HTTP / SQL", "bytes", "target"), rows


_INSERT = """
INSERT INTO issues (category, title, description, geom, area_id, due_at)
SELECT %(category)s, 'bench', 'bench trigger overhead', ST_SetSRID(ST_MakePoint(116.3, 39.95), 4326), %(area)s,
       now() + interval '2 days'
RETURNING id
"""


def trigger_table(city: str, n: int) -> tuple[str, tuple, list[tuple]]:
    """Single-row INSERTs and status UPDATEs with and without the rollup trigger, in a transaction rolled back."""
    times: dict[str, list[float]] = {"insert on": [], "insert off": [], "update on": [], "update off": []}
    folds: list[float] = []
    with psycopg.connect(city) as conn:
        conn.execute("SET jit = off")
        areas = [r[0] for r in conn.execute("SELECT id FROM areas WHERE level = 'community' ORDER BY id LIMIT 50")]
        cats = list(synthetic.CITY_CATEGORIES)
        # Interleaved rounds so that drift on a busy machine hits both alike.
        for rnd in range(6):
            for on in (rnd % 2 == 0, rnd % 2 == 1):
                state = "ENABLE" if on else "DISABLE"
                conn.execute(f"ALTER TABLE issues {state} TRIGGER stats_issues_insert")
                conn.execute(f"ALTER TABLE issues {state} TRIGGER stats_issues_update")
                ids = []
                for k in range(n // 6):
                    t0 = time.perf_counter()
                    ids.append(conn.execute(_INSERT, {"category": cats[k % len(cats)],
                                                      "area": areas[k % len(areas)]}).fetchone()[0])
                    times[f"insert {'on' if on else 'off'}"].append(time.perf_counter() - t0)
                for issue_id in ids:
                    t0 = time.perf_counter()
                    conn.execute("UPDATE issues SET status = 'confirmed', acknowledged_at = now(), version = version + 1"
                                 " WHERE id = %s", (issue_id,))
                    times[f"update {'on' if on else 'off'}"].append(time.perf_counter() - t0)
                if on:
                    # What the queue costs later, when it is folded into the rollup: per queued change.
                    queued = conn.execute("SELECT count(*) FROM stats_queue").fetchone()[0]
                    t0 = time.perf_counter()
                    conn.execute("SELECT stats_fold()")
                    if queued:
                        folds.append((time.perf_counter() - t0) / queued)
        conn.rollback()
    rows = []
    for what in ("insert", "update"):
        on, off = statistics.median(times[f"{what} on"]) * 1000, statistics.median(times[f"{what} off"]) * 1000
        label = "INSERT of one issue (a report)" if what == "insert" else "UPDATE of its status (a transition)"
        rows.append((label, len(times[f"{what} on"]), off, on, on - off))
    rows.append((f"  later: stats_fold() of the queued changes ({n // 6} INSERTs and UPDATEs at a time), per change",
                 len(folds), "-", "-", statistics.median(folds) * 1000))
    title = (f"What the statistics trigger (it queues the change, migration 0013) adds to one statement, in the "
             f"city (single-row statements, one client, rolled back; median); {_load()} at the end")
    return title, ("statement", "each", "without ms", "with ms", "added ms"), rows


def run(admin_url: str, quick: bool = False, log=lambda m: print(m, file=sys.stderr)) -> list[tuple[str, tuple, list[tuple]]]:
    """The statistics benchmarks. admin_url: a URL of the server's maintenance database."""
    city = synthetic.build_city(admin_url, log=log)
    with psycopg.connect(city, autocommit=True) as conn:
        _ensure_current(conn, log)
        token = _admin_token(conn)
    tables = []
    with tempfile.TemporaryDirectory() as tmp, Gunicorn(city, Path(tmp) / "gunicorn.log") as server:
        tables.append(stats_table(city, server, token, 3 if quick else RUNS, with_plain=not quick))
    tables.append(trigger_table(city, 60 if quick else INSERTS))
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stats", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs, no plain run, fewer inserts")
    args = parser.parse_args(argv)
    if not config.database_url():
        localdb.cluster().start()
    base = config.database_url() or localdb.cluster().url()
    for title, header, rows in run(psycopg.conninfo.make_conninfo(base, dbname="postgres"), quick=args.quick):
        print_table(title, header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
