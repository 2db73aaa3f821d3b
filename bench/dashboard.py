"""Benchmarks of the officials' dashboard on the 1,000,000-issue synthetic city (bench/synthetic.py):

- GET /api/hotspots for the whole city at resolution 9 through gunicorn (query, binning, Gi*, FDR,
  GeoJSON response), beside (a) the bare SQL of its binning query, (b) esda.G_Local(star=True) on the
  same cells and weights, and our Gi* core (geodata.hotspots) on them in-process;
- GET /api/heatmap (whole city at zoom 11, one community at zoom 15) and GET /api/choropleth.

    python -m bench.dashboard [--quick]

run(admin_url) returns (title, header, rows) tables; bench/__main__.py prints them with the others.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import psycopg

from geodata import accounts, config, localdb, tokens
from geodata import dashboard as dash
from geodata import hotspots as hs

from bench import synthetic
from bench.common import print_table
from bench.issues import Gunicorn

RUNS = 5
USERNAME = "bench-dashboard-admin"


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def _token(conn) -> str:
    """An admin API token in the city database (the account is made once)."""
    row = conn.execute("SELECT id FROM users WHERE username = %s", (USERNAME,)).fetchone()
    uid = row[0] if row else accounts.create_user(conn, USERNAME, None, "admin", password_hash="!")
    return tokens.create_api_token(conn, uid, "admin", "bench").token


def _get(server, path: str, token: str) -> tuple[float, bytes]:
    client = http.client.HTTPConnection(server.host, server.port, timeout=120)
    t0 = time.perf_counter()
    client.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = client.getresponse()
    body = resp.read()
    elapsed = time.perf_counter() - t0
    client.close()
    if resp.status != 200:
        raise SystemExit(f"GET {path} answered {resp.status}: {body[:300]!r}")
    return elapsed, body


def _median(times: list[float]) -> float:
    return statistics.median(times)


def _esda(result: hs.HotspotResult) -> float:
    """esda.G_Local(star=True, transform='B') on the result's cells with h3.grid_disk neighbour lists; seconds."""
    import esda
    import libpysal

    ids = [int(c, 16) for c in result.cells]
    indptr, indices = hs.neighbour_lists(np.array(ids, dtype=np.uint64), result.k)
    neighbours = {i: [int(j) for j in indices[indptr[i]:indptr[i + 1]] if j != i] for i in range(len(ids))}
    w = libpysal.weights.W(neighbours, id_order=list(range(len(ids))), silence_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        g = esda.G_Local(result.counts, w, transform="B", star=True, permutations=0)
        elapsed = time.perf_counter() - t0
    assert np.allclose(g.Zs, result.z, atol=1e-8), "esda and geodata.hotspots disagree"
    return elapsed


def hotspot_tables(city: str, runs: int = RUNS) -> list[tuple[str, tuple, list[tuple]]]:
    everything = dash.Filters()
    with psycopg.connect(city, autocommit=True) as conn:
        t0 = time.perf_counter()
        filled = dash.fill_cells(conn)
        fill_s = time.perf_counter() - t0
        token = _token(conn)
        issues = conn.execute("SELECT count(*) FROM issues").fetchone()[0]
        sql_times, core_times = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            cells, counts = dash.cell_counts(conn, everything, 9)
            sql_times.append(time.perf_counter() - t0)
        for _ in range(runs):
            t0 = time.perf_counter()
            result = hs.hotspots((cells, counts), resolution=9)
            core_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        hs.to_geojson(result, precision=6)
        geojson_s = time.perf_counter() - t0
        esda_times = [_esda(result) for _ in range(max(1, runs // 2))]
    with tempfile.TemporaryDirectory() as tmp, Gunicorn(city, Path(tmp) / "gunicorn.log") as server:
        _get(server, "/api/hotspots?resolution=9", token)  # warm: imports, pool, first plan
        http_times = []
        for _ in range(runs):
            elapsed, body = _get(server, "/api/hotspots?resolution=9", token)
            http_times.append(elapsed)
        answer = json.loads(body)
        heat_city, heat_one, choro = [], [], []
        x0, y0 = synthetic.CITY_WEST + 0.1, synthetic.CITY_SOUTH + 0.1
        one = f"{x0:.4f},{y0:.4f},{x0 + 0.012:.4f},{y0 + 0.015:.4f}"
        for _ in range(runs):
            heat_city.append(_get(server, "/api/heatmap?zoom=11", token)[0])
            heat_one.append(_get(server, f"/api/heatmap?zoom=15&bbox={one}", token)[0])
            choro.append(_get(server, "/api/choropleth", token)[0])
        describe = server.describe
    sql_med = _median(sql_times)
    http_med = _median(http_times)
    target = 3.0
    rows = [
        ("GET /api/hotspots?resolution=9 (whole city) through gunicorn", runs, http_med, http_med / sql_med,
         "met" if http_med <= target else "MISSED"),
        ("  (a) its binning query alone (GROUP BY h3_9, psycopg)", runs, sql_med, 1.0, "-"),
        ("  geodata.hotspots.hotspots() on those counts (Gi*, FDR)", runs, _median(core_times),
         _median(core_times) / sql_med, "-"),
        ("  (b) esda.G_Local(star=True) on the same cells and weights", len(esda_times), _median(esda_times),
         _median(esda_times) / sql_med, "-"),
        ("  to_geojson() of the result", 1, geojson_s, geojson_s / sql_med, "-"),
    ]
    title = (f"Hot spots of {issues:,} issues, whole city, H3 resolution 9: {len(cells):,} cells with issues, "
             f"{answer['summary']['cells']:,} in the study region, {len(body) / 1e6:.1f} MB answer; median of {runs}; "
             f"target <= {target:.0f} s; {describe}; {_load()} at the end")
    heat_rows = [
        ("GET /api/heatmap?zoom=11 (whole city, H3 res 8)", runs, _median(heat_city) * 1000),
        ("GET /api/heatmap?zoom=15&bbox=<1.3 x 1.7 km> (res 11)", runs, _median(heat_one) * 1000),
        ("GET /api/choropleth (500 communities, quantiles)", runs, _median(choro) * 1000),
    ]
    fill_row = [("fill_cells(): H3 cells 5..11 of issues without them", filled, fill_s)]
    return [
        (title, ("what", "runs", "median s", "ratio vs SQL", "target"), rows),
        (f"Dashboard layers over {issues:,} issues through gunicorn; median of {runs}; {_load()}",
         ("what", "runs", "median ms"), heat_rows),
        ("H3 cells per issue (issue_cells, migration 0011): computed once, then only for new issues",
         ("what", "issues filled", "seconds"), fill_row),
    ]


def run(admin_url: str, quick: bool = False) -> list[tuple[str, tuple, list[tuple]]]:
    """Every dashboard benchmark, on the synthetic city (built once, reused)."""
    city = synthetic.build_city(admin_url, log=lambda m: print(m, file=sys.stderr))
    return hotspot_tables(city, 2 if quick else RUNS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 runs instead of 5")
    args = parser.parse_args(argv)
    if not config.database_url():
        localdb.cluster().start()
    base = config.database_url() or localdb.cluster().url()
    admin = psycopg.conninfo.make_conninfo(base, dbname="postgres")
    for title, header, rows in run(admin, quick=args.quick):
        print_table(title, header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
