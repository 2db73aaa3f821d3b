"""make bench: build the synthetic data sets and print the benchmark tables."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import psycopg

from geodata import config, localdb

from bench import issues as issue_bench
from bench.common import fresh_database, print_table
from bench import maps, synthetic
from bench import tour as tour_bench
from bench import dashboard as dashboard_bench
from bench import stats as stats_bench

REPEATS = 3
BENCH_DB = "webmap_bench"


def _timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{res.stderr[-2000:]}")
    return elapsed


def _ogr_conn(url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return "PG:" + " ".join(f"{k}={v}" for k, v in info.items() if k in ("host", "port", "dbname", "user", "password"))


def boundary_load(url: str, vertices: int) -> list[tuple]:
    """ETL vs ogr2ogr on a 10,000-polygon GeoPackage, into the same database, empty table each time."""
    from pathlib import Path

    from etl import boundaries

    path = synthetic.boundary_gpkg(10_000, vertices)
    env = {**os.environ, "DATABASE_URL": url}
    etl_cmd = [sys.executable, "-m", "etl", "boundaries", str(path), "--level", "grid", "--quiet"]
    ogr_cmd = ["ogr2ogr", "-f", "PostgreSQL", _ogr_conn(url), str(path), "-nln", "ogr_areas", "-overwrite",
               "-nlt", "PROMOTE_TO_MULTI", "-t_srs", "EPSG:4326", "-lco", "GEOMETRY_NAME=geom"]
    times: dict[str, list[float]] = {"ogr": [], "etl": [], "reload": [], "library": []}
    with psycopg.connect(url, autocommit=True) as conn:
        boundaries.load(conn, boundaries.Options(path=path, level="grid", dry_run=True))  # warm the imports
        for _ in range(REPEATS):
            conn.execute("TRUNCATE areas, area_loads RESTART IDENTITY CASCADE")
            conn.execute("DROP TABLE IF EXISTS ogr_areas")
            # Interleaved so that drift on a noisy machine hits every loader alike.
            times["ogr"].append(_timed(ogr_cmd, env))
            times["etl"].append(_timed(etl_cmd, env))
            times["reload"].append(_timed(etl_cmd, env))
            conn.execute("TRUNCATE areas, area_loads RESTART IDENTITY CASCADE")
            start = time.perf_counter()
            boundaries.load(conn, boundaries.Options(path=Path(path), level="grid"))
            times["library"].append(time.perf_counter() - start)
        loaded = conn.execute("SELECT count(*) FROM areas").fetchone()[0]
        copied = conn.execute("SELECT count(*) FROM ogr_areas").fetchone()[0]
    ogr = statistics.median(times["ogr"])

    def row(label: str, key: str, count: int) -> tuple:
        median = statistics.median(times[key])
        return (label, count, median, median / ogr)

    return [
        row("ogr2ogr -f PostgreSQL (COPY, no checks)", "ogr", copied),
        row("python -m etl boundaries (validate, repair, upsert)", "etl", loaded),
        row("  same file again (all unchanged)", "reload", loaded),
        row("  etl.boundaries.load() in a warm process", "library", loaded),
    ]


def main() -> int:
    """Run every benchmark and print its table."""
    if not config.database_url():
        localdb.cluster().start()
    url = fresh_database(BENCH_DB)
    for vertices in (12, 200):
        print_table(
            f"Boundary load: 10,000 polygons of {vertices} vertices (1% bow-ties) from GeoPackage, median of {REPEATS}",
            ("loader", "rows", "median s", "ratio vs ogr2ogr"),
            boundary_load(url, vertices),
        )
    # The live map (bench/maps.py): page bytes and first draw, tile latency and sizes, cached tile throughput.
    for title, header, rows in maps.run():
        print_table(title, header, rows)
    # Issues (bench/issues.py): bbox list vs its SQL, concurrent POSTs, the report import vs COPY.
    for title, header, rows in issue_bench.run(url):
        print_table(title, header, rows)
    # Walkabouts (bench/tour.py): gap to OR-Tools GLS 10 s on 50 instances (~9 min), planning time for 150 stops.
    for title, header, rows in tour_bench.tables(url):
        print_table(title, header, rows)
    # Dashboard (bench/dashboard.py): hot spots through gunicorn vs their SQL and esda, heatmap, choropleth.
    for title, header, rows in dashboard_bench.run(psycopg.conninfo.make_conninfo(url, dbname="postgres")):
        print_table(title, header, rows)
    # Dashboard statistics (bench/stats.py): GET /api/stats vs its bare SQL, what the rollup trigger adds per write.
    for title, header, rows in stats_bench.run(psycopg.conninfo.make_conninfo(url, dbname="postgres")):
        print_table(title, header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
