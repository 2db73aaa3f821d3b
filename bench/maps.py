"""Benchmarks of the live map: page size and time to first issues, vector tile latency, cached tile throughput.

    python -m bench.maps [--sizes 1000,100000,1000000] [--quick]

run() returns (title, header, rows) tables; bench/__main__.py prints them with the other benchmarks.
The data sets are synthetic cities made from a fixed seed: 400 communities on a 20 x 20 grid over
about 25 x 33 km around Haidian, issues clustered around "compounds" the way reports cluster around
housing estates, plus a uniform background. The 1,000,000-issue city of bench/synthetic.py (database
webmap_bench_city) is reused when it exists.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import psycopg

from geodata import config, localdb, migrate
from geodata.config import PROJECT_ROOT

from bench.common import fresh_database, print_table

SEED = 20261129
CITY_DB = "webmap_bench_city"
WEST, SOUTH, EAST, NORTH = 116.15, 39.80, 116.45, 40.10
GRID = 20  # communities per side
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
BASEMAP = "http://basemap.invalid/{z}/{x}/{y}.png"
BLANK_TILE = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea73581e40000000049454e44ae426082"
)
STATUSES = ["reported"] * 4 + ["confirmed", "assigned", "in_progress", "resolved"] + ["closed"] * 6 + ["rejected"]

# The bare tile query the brief compares against: no filters, no clusters, no buffer choice.
BARE_SQL = """
SELECT ST_AsMVT(t, 'issues', 4096, 'geom', 'id') FROM (
    SELECT id, status, category,
           ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom
    FROM issues
    WHERE geom && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4326)
) t
"""


# ---------------------------------------------------------------- data


def _admin_url() -> str:
    base = config.database_url() or localdb.cluster().url()
    return psycopg.conninfo.make_conninfo(base, dbname="postgres")


def _db_url(name: str) -> str:
    return psycopg.conninfo.make_conninfo(_admin_url(), dbname=name)


def _exists(name: str) -> bool:
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _issue_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM issues").fetchone()[0]


def city(n: int) -> str:
    """URL of a migrated database holding a synthetic city with n issues (built once, then reused)."""
    if n >= 1_000_000 and _exists(CITY_DB):
        url = _db_url(CITY_DB)
        with psycopg.connect(url, autocommit=True) as conn:
            migrate.apply_all(conn)
        if _issue_count(url) >= 900_000:
            return url
    name = f"webmap_bench_maps_{n}"
    url = _db_url(name)
    if _exists(name):
        with psycopg.connect(url, autocommit=True) as conn:
            migrate.apply_all(conn)
        if _issue_count(url) == n:
            return url
    url = fresh_database(name)
    with psycopg.connect(url, autocommit=True) as conn:
        _fill(conn, n)
    return url


def _fill(conn: psycopg.Connection, n: int) -> None:
    rng = np.random.default_rng(SEED)
    dx, dy = (EAST - WEST) / GRID, (NORTH - SOUTH) / GRID
    conn.execute("""
        INSERT INTO areas (code, name, name_en, level, geom, source)
        SELECT format('B%%s-%%s', i, j), format('合成社区%%s-%%s', i, j), format('Bench community %%s-%%s', i, j),
               'community',
               ST_Multi(ST_MakeEnvelope(%(w)s + j * %(dx)s, %(s)s + i * %(dy)s,
                                        %(w)s + (j + 1) * %(dx)s, %(s)s + (i + 1) * %(dy)s, 4326)), 'bench'
        FROM generate_series(0, %(g)s - 1) i, generate_series(0, %(g)s - 1) j
        ORDER BY i, j""", {"w": WEST, "s": SOUTH, "dx": dx, "dy": dy, "g": GRID})
    ids = {code: aid for aid, code in conn.execute("SELECT id, code FROM areas")}
    # 70 % around 2,000 compounds (150 m spread), 30 % anywhere.
    centres = np.column_stack([rng.uniform(WEST, EAST, 2000), rng.uniform(SOUTH, NORTH, 2000)])
    k = int(n * 0.7)
    pick = rng.integers(0, len(centres), k)
    pts = centres[pick] + rng.normal(0, 1, (k, 2)) * [0.00175, 0.00135]
    pts = np.vstack([pts, np.column_stack([rng.uniform(WEST, EAST, n - k), rng.uniform(SOUTH, NORTH, n - k)])])
    pts[:, 0] = np.clip(pts[:, 0], WEST + 1e-6, EAST - 1e-6)
    pts[:, 1] = np.clip(pts[:, 1], SOUTH + 1e-6, NORTH - 1e-6)
    col = np.floor((pts[:, 0] - WEST) / dx).astype(int)
    row = np.floor((pts[:, 1] - SOUTH) / dy).astype(int)
    cats = [c for (c,) in conn.execute("SELECT code FROM categories ORDER BY code")]
    cat = rng.integers(0, len(cats), n)
    status = rng.integers(0, len(STATUSES), n)
    age_days = rng.exponential(120, n)
    conn.execute("CREATE TEMP TABLE stage (lon float8, lat float8, area_id bigint, category text, status text, "
                 "age float8)")
    with conn.cursor().copy("COPY stage FROM STDIN") as copy:
        for i in range(n):
            copy.write_row((float(pts[i, 0]), float(pts[i, 1]), ids[f"B{row[i]}-{col[i]}"], cats[cat[i]],
                            STATUSES[status[i]], float(age_days[i])))
    conn.execute("""
        INSERT INTO issues (category, title, description, geom, area_id, status, created_at, updated_at, due_at,
                            closed_at, resolved_at, source)
        SELECT category, '合成问题 synthetic issue', 'benchmark data', ST_SetSRID(ST_MakePoint(lon, lat), 4326),
               area_id, status, now() - make_interval(secs => age * 86400), now() - make_interval(secs => age * 86400),
               now() - make_interval(secs => age * 86400) + interval '7 days',
               CASE WHEN status IN ('closed', 'rejected') THEN now() END,
               CASE WHEN status = 'resolved' THEN now() END, 'import'
        FROM stage""")
    conn.execute("VACUUM ANALYZE issues")


# ---------------------------------------------------------------- servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn serving the app on a database; workers/threads as given."""

    def __init__(self, url: str, workers: int = 2, threads: int = 1, log: Path | None = None):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [str(Path(sys.executable).with_name("gunicorn")), "--workers", str(workers), "--bind",
               f"127.0.0.1:{self.port}", "--no-control-socket", "--log-level", "warning"]
        if threads > 1:
            cmd += ["--worker-class", "gthread", "--threads", str(threads)]
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "BASEMAP_URL": BASEMAP,
               "BASEMAP_ATTRIBUTION": "bench"}
        self.log = open(log or os.devnull, "w")
        self.proc = subprocess.Popen(cmd + ["webmap:create_app()"], cwd=PROJECT_ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=5):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit("gunicorn did not start for the map benchmark")
                time.sleep(0.2)

    def get(self, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
        req = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------- pages


def _browser():
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    return pw, pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def _measure_page(browser, url: str, ready_js: str, timeout_ms: int = 300_000) -> tuple[float, int, int]:
    """(ms from navigation start until ready_js is true, bytes the page's responses took on the wire
    (headers + bodies as sent, i.e. compressed where the server compressed), the same bodies decoded)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.route("http://basemap.invalid/**", lambda r: r.fulfill(status=200, content_type="image/png",
                                                                   body=BLANK_TILE))
    page = context.new_page()
    received = []
    page.on("requestfinished", lambda req: received.append(req))
    page.goto(url, wait_until="commit", timeout=timeout_ms)
    ms = page.wait_for_function(ready_js, polling="raf", timeout=timeout_ms).json_value()
    total = decoded = 0
    for req in received:
        try:
            # responseBodySize is the encoded size: what crossed the network.
            sizes = req.sizes()
            total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
            response = req.response()
            decoded += len(response.body()) + sizes["responseHeadersSize"] if response else 0
        except Exception:  # noqa: BLE001 - a request of another page state; its size is unknown
            pass
    context.close()
    return float(ms), total, decoded


OURS_READY = ("() => { var d = window.liveMap && window.liveMap.drawn();"
              " return d && d.issues.length + d.clustered > 0 ? performance.now() : false; }")
# A folium page has drawn its markers once its inline script ran and a frame was painted.
FOLIUM_READY = ("() => document.querySelectorAll('path.leaflet-interactive').length > 0"
                " ? performance.now() : false")


def folium_page(url: str, n: int, assets_base: str, path: Path) -> int:
    """The common approach: a folium map with every issue embedded as a CircleMarker. Returns its bytes."""
    import folium

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, ST_Y(geom), ST_X(geom), status, title FROM issues ORDER BY id LIMIT %s",
                            (n,)).fetchall()
    m = folium.Map(location=(39.95, 116.30), zoom_start=11, tiles=None)
    # Our own Leaflet, so the page runs offline like ours (folium would fetch it from a CDN).
    m.default_js = [("leaflet", assets_base + "/assets/leaflet/leaflet.js")]
    m.default_css = [("leaflet_css", assets_base + "/assets/leaflet/leaflet.css")]
    folium.TileLayer(tiles=BASEMAP, attr="bench").add_to(m)
    for issue_id, lat, lon, status, title in rows:
        folium.CircleMarker((lat, lon), radius=5, weight=1, fill=True, popup=f"#{issue_id} {title} ({status})"
                            ).add_to(m)
    m.save(str(path))
    return path.stat().st_size


def page_table(sizes: list[int], folium_sizes: list[int], repeats: int) -> list[tuple]:
    rows = []
    pw, browser = _browser()
    tmp = Path(tempfile.mkdtemp(prefix="bench-maps-"))
    done: set[int] = set()
    try:
        for n in sizes:
            url = city(n)
            with Server(url) as server:
                status, body, _ = server.get("/")
                assert status == 200
                gz_status, gz_body, gz_headers = server.get("/", {"Accept-Encoding": "gzip"})
                assert gz_status == 200
                runs = [_measure_page(browser, server.base + "/", OURS_READY) for _ in range(repeats)]
                # The first run builds the tiles; later ones find them in the workers' caches.
                rows.append(("ours: / (live map, vector tiles)", n, len(body), len(gz_body), runs[0][1], runs[0][2],
                             runs[0][0], statistics.median(r[0] for r in runs[1:]) if repeats > 1 else runs[0][0]))
                for m in [s for s in folium_sizes if s <= n and s not in done and (s == n or s not in sizes)]:
                    done.add(m)
                    path = tmp / f"folium-{m}.html"
                    start = time.perf_counter()
                    size = folium_page(url, m, server.base, path)
                    built = time.perf_counter() - start
                    runs = [_measure_page(browser, path.as_uri(), FOLIUM_READY) for _ in range(min(repeats, 2))]
                    # Opened from a file, so nothing is compressed: its bytes are the file and what it loads.
                    rows.append((f"folium: every issue a CircleMarker (built in {built:.1f} s)", m, size, "-",
                                 max(r[1] for r in runs), max(r[2] for r in runs), runs[0][0],
                                 statistics.median(r[0] for r in runs)))
    finally:
        browser.close()
        pw.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


# ---------------------------------------------------------------- tiles


def _sample_tiles(url: str, zoom: int, count: int) -> list[tuple[int, int, int]]:
    """Tiles holding issues, chosen like a person's views: where issues are (so dense tiles are common)."""
    rng = np.random.default_rng(SEED + zoom)
    with psycopg.connect(url) as conn:
        pts = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM issues TABLESAMPLE SYSTEM (5) LIMIT 20000").fetchall()
    pts = np.array(pts)
    chosen = set()
    for i in rng.permutation(len(pts)):
        lon, lat = pts[i]
        nz = 2 ** zoom
        x = int((lon + 180) / 360 * nz)
        y = int((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * nz)
        chosen.add((zoom, x, y))
        if len(chosen) >= count:
            break
    return sorted(chosen)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def tile_table(url: str, zooms=(15, 16), count: int = 150, passes: int = 3) -> tuple[list[tuple], list[tuple]]:
    """HTTP (cache miss) vs bare SQL per tile, and tile sizes by zoom (including cluster zooms)."""
    import http.client

    latency_rows, size_rows = [], []
    # gthread keeps the connection open between requests, as a browser does; psycopg does too.
    with Server(url, workers=2, threads=4) as server, psycopg.connect(url, autocommit=True) as conn:
        client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

        def fetch(path: str) -> tuple[int, bytes]:
            client.request("GET", path)
            resp = client.getresponse()
            return resp.status, resp.read()

        for z in zooms:
            sample = _sample_tiles(url, z, count)
            http_ms, sql_ms, sizes = [], [], []
            for p in range(passes + 1):
                # A change to issues: every worker's tile cache is now stale, so each request builds its tile.
                conn.execute("UPDATE issues SET supports_count = supports_count WHERE id = (SELECT min(id) FROM issues)")
                for i, (zz, x, y) in enumerate(sample):
                    # Whichever runs second finds the tile's pages already in PostgreSQL's buffers (a pass
                    # reads more pages than the buffers hold), so the two take turns at going first.
                    http_first = (i + p) % 2 == 0
                    if not http_first:
                        t0 = time.perf_counter()
                        conn.execute(BARE_SQL, {"z": zz, "x": x, "y": y}, prepare=True).fetchone()
                        sql = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    status, body = fetch(f"/tiles/issues/{zz}/{x}/{y}.pbf")
                    http = time.perf_counter() - t0
                    if http_first:
                        t0 = time.perf_counter()
                        conn.execute(BARE_SQL, {"z": zz, "x": x, "y": y}, prepare=True).fetchone()
                        sql = time.perf_counter() - t0
                    assert status == 200
                    if p:  # the first pass warms PostgreSQL's buffers and both processes
                        http_ms.append(http * 1000)
                        sql_ms.append(sql * 1000)
                        sizes.append(len(body))
            p50h, p95h, p50s, p95s = _pct(http_ms, 50), _pct(http_ms, 95), _pct(sql_ms, 50), _pct(sql_ms, 95)
            latency_rows.append((z, len(sample), p50h, p95h, p50s, p95s, p50h / (1.3 * p50s + 2),
                                 p95h / (1.3 * p95s + 2)))
            size_rows.append((z, len(sample), _pct(sizes, 50) / 1024, _pct(sizes, 95) / 1024, max(sizes) / 1024))
        # Cluster zooms: the whole city in a few tiles.
        for z in (11, 12, 13, 14):
            sample = _sample_tiles(url, z, 20)
            conn.execute("UPDATE issues SET supports_count = supports_count WHERE id = (SELECT min(id) FROM issues)")
            ms, sizes = [], []
            for zz, x, y in sample:
                t0 = time.perf_counter()
                status, body = fetch(f"/tiles/issues/{zz}/{x}/{y}.pbf")
                ms.append((time.perf_counter() - t0) * 1000)
                sizes.append(len(body))
            size_rows.append((f"{z} (clusters, {_pct(ms, 50):.0f} ms p50 to build)", len(sample),
                              _pct(sizes, 50) / 1024, _pct(sizes, 95) / 1024, max(sizes) / 1024))
        client.close()
    return latency_rows, size_rows


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def _wrk(url: str, seconds: int, headers: dict | None = None, pids: list[int] = ()) -> tuple[float, float]:
    """(requests/s, CPU ms per request of the given processes plus wrk itself)."""
    import resource

    cmd = ["wrk", "-t", "2", "-c", "16", "-d", f"{seconds}s", "--latency"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    before = _cpu_seconds(pids)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 30).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = _cpu_seconds(pids) - before + (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if not m or not count or non2xx:
        raise SystemExit(f"wrk failed:\n{out}")
    return float(m.group(1)), cpu * 1000 / int(count.group(1))


def throughput_table(url: str, seconds: int = 8) -> list[tuple]:
    """Requests/s for one cached tile (200 with body, and 304 revalidation) under gunicorn configurations.

    Also the CPU time one request costs in all: gunicorn's workers, their PostgreSQL backends and wrk.
    On a machine shared with other work, requests/s say how much CPU was left over; CPU per request
    says what the service needs, and 2 cores / CPU per request is what two idle cores would serve.
    """
    if not shutil.which("wrk"):
        return [("wrk not installed (scripts/system-deps.sh installs it)", "-", "-", "-", "-", "-")]
    sample = _sample_tiles(url, 16, 1)[0]
    path = "/tiles/issues/%d/%d/%d.pbf" % sample
    rows = []
    for workers, threads in ((2, 1), (2, 4), (4, 1), (4, 4)):
        with Server(url, workers=workers, threads=threads) as server:
            status, body, headers = server.get(path)
            for _ in range(20):  # every worker has it cached
                server.get(path)
            kind = f"gthread {workers} workers x {threads} threads" if threads > 1 else f"sync {workers} workers"
            pids = _children(server.proc.pid) + _backends(url)
            rps, cpu = _wrk(server.base + path, seconds, pids=pids)
            rps304, cpu304 = _wrk(server.base + path, seconds, {"If-None-Match": headers["ETag"]}, pids=pids)
            cores = os.cpu_count() or 2
            rows.append((kind, len(body), rps, cpu, cores * 1000 / cpu, rps304, cpu304, cores * 1000 / cpu304))
    return rows


def _backends(url: str) -> list[int]:
    """PostgreSQL backends of the tile fast path (their CPU is part of a request's cost)."""
    with psycopg.connect(url) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'webmap-tiles' AND datname = current_database()")]


# ---------------------------------------------------------------- entry points


PARTS = ("pages", "tiles", "throughput")


def run(sizes=(1_000, 100_000, 1_000_000), folium_sizes=(1_000, 10_000, 100_000), repeats: int = 3,
        quick: bool = False, parts=PARTS) -> list[tuple[str, tuple, list[tuple]]]:
    """The map benchmarks named in parts (all by default); returns (title, header, rows) tables."""
    if not config.database_url():
        localdb.cluster().start()
    tables = []
    if "pages" in parts:
        tables.append(_pages_table(sizes, folium_sizes, repeats))
    if "tiles" not in parts and "throughput" not in parts:
        return tables
    big = city(max(sizes))
    n = _issue_count(big)
    if "tiles" in parts:
        tables += _tile_tables(big, n, quick)
    if "throughput" in parts:
        tables.append((
            f"A cached z16 tile, wrk 2 threads x 16 connections for {4 if quick else 8} s, everything on this "
            f"{os.cpu_count()}-core machine",
            ("gunicorn", "tile bytes", "200 req/s", "CPU ms/req", "req/s per idle cores", "304 req/s", "CPU ms/req",
             "req/s per idle cores"), throughput_table(big, 4 if quick else 8)))
    return tables


def _pages_table(sizes, folium_sizes, repeats) -> tuple[str, tuple, list[tuple]]:
    pages = page_table(list(sizes), list(folium_sizes), repeats)
    return (
        "Home page: bytes and time until the first issues are drawn (headless chromium, 1280x800, fresh browser "
        "cache each run; 'first' builds tiles, 'later' = median of the rest with tiles cached by the server)",
        ("page", "issues", "HTML bytes", "HTML gzip bytes", "transferred to first draw", "decoded to first draw",
         "first ms", "later ms"), pages)


def _tile_tables(big: str, n: int, quick: bool) -> list[tuple[str, tuple, list[tuple]]]:
    latency, tile_sizes = tile_table(big, count=40 if quick else 150, passes=1 if quick else 3)
    return [(
        f"Vector tiles over the {n:,}-issue city: HTTP through gunicorn (tile cache missed) vs the bare ST_AsMVT "
        "SQL of the same tile; ratio <= 1 meets the target 1.3 x SQL + 2 ms",
        ("zoom", "tiles", "HTTP p50 ms", "HTTP p95 ms", "SQL p50 ms", "SQL p95 ms", "p50 / target", "p95 / target"),
        latency), (f"Tile sizes over the {n:,}-issue city (KB)", ("zoom", "tiles", "p50 KB", "p95 KB", "max KB"),
                   tile_sizes)]


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(prog="python -m bench.maps", description=__doc__)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--folium", default="1000,10000,100000")
    parser.add_argument("--quick", action="store_true", help="fewer tiles and shorter runs")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated, some of {', '.join(PARTS)} (default: all)")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    folium_sizes = tuple(int(s) for s in args.folium.split(",") if s)
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    if set(parts) - set(PARTS):
        parser.error(f"--parts takes some of {', '.join(PARTS)}")
    for title, header, rows in run(sizes, folium_sizes, repeats=2 if args.quick else 3, quick=args.quick,
                                   parts=parts):
        print_table(title, header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
