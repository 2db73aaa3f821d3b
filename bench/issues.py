"""Benchmarks of issues: the bbox list through gunicorn against its bare SQL, reports POSTed by 16 concurrent
clients, and `etl reports` against a bare COPY of the same rows into the same tables (and, for reference,
of the same file into a plain table).

    python -m bench.issues [--quick]

run(url) returns (title, header, rows) tables; bench/__main__.py prints them with the other benchmarks.
The list and POST benchmarks run on the synthetic city of bench/synthetic.py (500 communities, 1,000,000
issues, database webmap_bench_city, built once and reused); the import runs in the fresh benchmark
database it is given, whose issues it empties.
"""
from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import re
import runpy
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import shapely
from psycopg.types.string import TextLoader

from geodata import config, issues, localdb
from geodata.config import PROJECT_ROOT

from bench import synthetic
from bench.common import fresh_database, print_table

SEED = 20261201
REQUESTS = 200
WARMUP = 20
POST_SECONDS = 15
CLIENTS = 16
IMPORT_ROWS = 100_000
REPEATS = 3
# Residents' limit is 10 reports an hour; a benchmark client is one "resident" sending thousands.
SERVER_ENV = {"RATE_LIMIT_REPORTS": "100000000 per hour", "RATE_LIMIT_COMMENTS": "100000000 per hour",
              "SECRET_KEY": "bench", "BASEMAP_URL": "http://basemap.invalid/{z}/{x}/{y}.png"}


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def _load() -> str:
    """The machine's 1-minute load average: other work on the same cores shows in every figure here."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


# ---------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """The app under gunicorn (configured as `make run` serves it) on a free port, against the given database."""

    def __init__(self, url: str, log: Path):
        self.port = _free_port()
        self.host = "127.0.0.1"
        self.base = f"http://{self.host}:{self.port}"
        # The configuration `make run` serves with (webmap/gunicorn_conf.py: workers, threads).
        cmd = [str(Path(sys.executable).with_name("gunicorn")), "-c", str(PROJECT_ROOT / "webmap" / "gunicorn_conf.py"),
               "--bind", f"{self.host}:{self.port}", "--no-control-socket", "--log-level", "warning",
               "webmap:create_app()"]
        conf = runpy.run_path(str(PROJECT_ROOT / "webmap" / "gunicorn_conf.py"))
        self.describe = f"gunicorn {conf['workers']} {conf['worker_class']} workers" + (
            f" x {conf['threads']} threads" if conf["threads"] > 1 else "")
        self.log = log.open("w")
        self.proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env={**os.environ, **SERVER_ENV, "DATABASE_URL": url},
                                     stdout=self.log, stderr=subprocess.STDOUT)
        # Each worker imports the app on its own: slow on a busy machine.
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=5):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"gunicorn did not start for the issue benchmark; see {log}")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------- (1) GET /api/issues?bbox=


def _community_boxes(count: int) -> list[tuple[float, float, float, float]]:
    """Bounding boxes of `count` communities of the city, chosen at random (fixed seed)."""
    _, _, polygons, _ = synthetic.city_communities()
    pick = np.random.default_rng(SEED).choice(len(polygons), count, replace=True)
    return [tuple(round(float(v), 6) for v in shapely.bounds(polygons[k])) for k in pick]


def bbox_table(city_url: str, server: Gunicorn, count: int = REQUESTS) -> tuple[str, tuple, list[tuple]]:
    boxes = _community_boxes(count + WARMUP)
    http_ms, sql_ms, features = [], [], []
    with psycopg.connect(city_url, autocommit=True) as conn:
        # The bare query hands the rows over as text: no JSON parsing on the client side.
        conn.adapters.register_loader("json", TextLoader)
        conn.adapters.register_loader("jsonb", TextLoader)
        client = http.client.HTTPConnection(server.host, server.port, timeout=30)
        for k, box in enumerate(boxes):
            bbox = ",".join(f"{v:.6f}" for v in box)
            filters = issues.IssueFilter.from_query({"bbox": bbox})
            t0 = time.perf_counter()
            # Both statements the app runs: the box's estimate (which picks the plan), then the page.
            query, params, _ = issues.list_statement(conn, filters)
            rows = conn.execute(query, params).fetchall()
            t1 = time.perf_counter()
            client.request("GET", f"/api/issues?bbox={bbox}")
            resp = client.getresponse()
            body = resp.read()
            t2 = time.perf_counter()
            if resp.status != 200:
                raise SystemExit(f"GET /api/issues?bbox={bbox} answered {resp.status}: {body[:300]!r}")
            if k >= WARMUP:
                sql_ms.append((t1 - t0) * 1000)
                http_ms.append((t2 - t1) * 1000)
                features.append(min(len(rows), issues.LIST_LIMIT_DEFAULT))
        client.close()
    target50 = 1.3 * _pct(sql_ms, 50) + 2
    target95 = 1.3 * _pct(sql_ms, 95) + 2
    rows = [
        ("GET /api/issues?bbox= through gunicorn", count, _pct(http_ms, 50), _pct(http_ms, 95), "-"),
        ("the same SQL with psycopg", count, _pct(sql_ms, 50), _pct(sql_ms, 95), "-"),
        ("target: 1.3 x SQL + 2 ms", "-", target50, target95, "-"),
        ("HTTP / target (<= 1 meets it)", "-", _pct(http_ms, 50) / target50, _pct(http_ms, 95) / target95,
         "met" if _pct(http_ms, 50) <= target50 and _pct(http_ms, 95) <= target95 else "MISSED"),
    ]
    title = (f"GET /api/issues?bbox=<one community> over the {_issue_count(city_url):,}-issue city: {count} "
             f"sequential requests (keep-alive client, {statistics.mean(features):.0f} features a page), "
             f"HTTP vs the bare SQL of the same two statements (the box's estimate, the page); {_load()} at the end")
    return title, ("what", "requests", "p50 ms", "p95 ms", "target"), rows


# ---------------------------------------------------------------- (2) POST /api/issues


def _report_bodies(count: int) -> list[str]:
    """JSON bodies of reports at random places of the city, weighted like its issues."""
    rng = np.random.default_rng(SEED + 2)
    _, _, _, quads = synthetic.city_communities()
    cell = rng.integers(0, len(quads), count)
    pts = synthetic.city_points(quads, cell, rng)
    cats = list(synthetic.CITY_CATEGORIES)
    bodies = []
    for k in range(count):
        bodies.append(json.dumps({
            "lat": round(float(pts[k, 1]), 7), "lon": round(float(pts[k, 0]), 7),
            "category": cats[int(rng.integers(0, len(cats)))],
            "description": f"楼下垃圾堆了三天 benchmark report {k}",
        }, ensure_ascii=False))
    return bodies


_LUA = """
local bodies = {
%(bodies)s
}
local n = #bodies
local i = 0
local headers = {["Content-Type"] = "application/json"}

request = function()
    i = i + 1
    return wrk.format("POST", "/api/issues", headers, bodies[(i %% n) + 1])
end

done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT requests=%%d duration_us=%%d non2xx=%%d socket_errors=%%d p50_us=%%d p95_us=%%d p99_us=%%d\\n",
        summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
        latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _socket_ports(pids: list[int]) -> set[int]:
    """Local TCP ports of the sockets the processes hold (their connections to PostgreSQL among them)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _server_pids(server: Gunicorn, city_url: str) -> tuple[list[int], list[int]]:
    """gunicorn's workers and the PostgreSQL backends serving exactly their connections."""
    from bench.maps import _children

    workers = _children(server.proc.pid)
    ports = _socket_ports(workers)
    with psycopg.connect(city_url) as conn:
        backends = [pid for pid, port in conn.execute(
            "SELECT pid, client_port FROM pg_stat_activity WHERE datname = current_database()") if port in ports]
    return workers, backends


def _wrk_post(server: Gunicorn, script: Path, seconds: int, pids: tuple[list[int], list[int]] = ((), ())) -> dict:
    import resource

    from bench.maps import _cpu_seconds

    cmd = ["wrk", "-t", "2", "-c", str(CLIENTS), "-d", f"{seconds}s", "--timeout", "10s", "-s", str(script),
           server.base + "/api/issues"]
    before = [_cpu_seconds(list(p)) for p in pids]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    app_cpu, db_cpu = (_cpu_seconds(list(p)) - b for p, b in zip(pids, before))
    wrk_cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    found = re.search(r"RESULT (.*)", out)
    if not found:
        raise SystemExit(f"wrk failed:\n{out}")
    result = {k: int(v) for k, v in (part.split("=") for part in found.group(1).split())}
    result["app_cpu_s"], result["db_cpu_s"], result["wrk_cpu_s"] = app_cpu, db_cpu, wrk_cpu
    return result


def _python_post(server: Gunicorn, bodies: list[str], seconds: int) -> dict:
    """The same load from 16 Python threads (when wrk is not installed): fewer requests than wrk can send."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(offset: int) -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        k, mine, bad = offset, [], 0
        while time.monotonic() < stop:
            body = bodies[k % len(bodies)].encode()
            k += CLIENTS
            t0 = time.perf_counter()
            conn.request("POST", "/api/issues", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            mine.append(time.perf_counter() - t0)
            bad += resp.status != 201
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    duration = time.perf_counter() - started
    us = [v * 1e6 for v in latencies]
    return {"requests": len(us), "duration_us": int(duration * 1e6), "non2xx": failures[0], "socket_errors": 0,
            "p50_us": int(_pct(us, 50)), "p95_us": int(_pct(us, 95)), "p99_us": int(_pct(us, 99))}


def post_table(city_url: str, server: Gunicorn, seconds: int = POST_SECONDS) -> tuple[str, tuple, list[tuple]]:
    bodies = _report_bodies(2000)
    use_wrk = shutil.which("wrk") is not None
    before = _issue_count(city_url)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        lua_bodies = ",\n".join(f"    [==[{b}]==]" for b in bodies)
        script.write_text(_LUA % {"bodies": lua_bodies}, encoding="utf-8")
        if use_wrk:
            _wrk_post(server, script, 3)  # warm-up: pools open, plans cached
            result = _wrk_post(server, script, seconds, _server_pids(server, city_url))
        else:
            _python_post(server, bodies, 3)
            result = _python_post(server, bodies, seconds)
    created = _issue_count(city_url) - before
    # (No request may have finished at all: e.g. while something else holds a lock on the issues.)
    rps = result["requests"] / (result["duration_us"] / 1e6)
    p95 = result["p95_us"] / 1000
    client = f"wrk -t2 -c{CLIENTS}" if use_wrk else f"{CLIENTS} Python threads (wrk not installed)"
    if "app_cpu_s" in result and result["requests"]:
        # What one report costs the machine, whatever else runs on it: 2 cores / that is the ceiling.
        app_ms, db_ms, wrk_ms = (result[k] * 1000 / result["requests"] for k in ("app_cpu_s", "db_cpu_s", "wrk_cpu_s"))
        cpu = (app_ms, db_ms, wrk_ms, (os.cpu_count() or 2) * 1000 / (app_ms + db_ms + wrk_ms))
    else:
        cpu = ("-", "-", "-", "-")
    rows = [(f"POST /api/issues ({client}, {seconds} s)", result["requests"], rps, result["p50_us"] / 1000, p95,
             result["p99_us"] / 1000, result["non2xx"] + result["socket_errors"], *cpu,
             "met" if rps >= 300 and p95 <= 50 else "MISSED")]
    title = (f"POST /api/issues from {CLIENTS} concurrent clients into the city ({server.describe}, rate "
             f"limits raised; {created:,} issues created in all, warm-up included); target >= 300 req/s and "
             f"p95 <= 50 ms, clients, server and database on this machine; CPU ms per request of gunicorn's "
             f"workers, of their PostgreSQL backends and of wrk; {_load()} at the end")
    return title, ("load", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "failed", "app CPU ms",
                   "PostgreSQL CPU ms", "wrk CPU ms", "req/s on idle cores", "target"), rows


# ---------------------------------------------------------------- (3) etl reports


def reports_csv(n: int = IMPORT_ROWS) -> Path:
    """A CSV of n historical reports over the city (1 % bad rows of the kinds a real file has); built once."""
    path = synthetic.DATA_DIR / f"reports_{n}.csv"
    if path.exists():
        return path
    synthetic.DATA_DIR.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED + 3)
    _, _, _, quads = synthetic.city_communities()
    cell = rng.integers(0, len(quads), n)
    pts = synthetic.city_points(quads, cell, rng)
    cats = np.array(list(synthetic.CITY_CATEGORIES))[rng.integers(0, len(synthetic.CITY_CATEGORIES), n)]
    age = rng.uniform(1, 700, n)
    status = rng.choice(["", "closed", "resolved", "rejected", "reported"], n, p=[0.3, 0.5, 0.1, 0.05, 0.05])
    bad = rng.random(n) < 0.01
    base = np.datetime64("2026-01-01T00:00:00")
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write("external_id,category,description,title,lat,lon,created_at,status,resolved_at,closed_at,contact\n")
        for k in range(n):
            created = base - np.timedelta64(int(age[k] * 86400), "s")
            resolved = closed = ""
            if status[k] in ("closed", "resolved", ""):
                resolved = str(created + np.timedelta64(int(rng.uniform(0.1, 5) * 86400), "s"))
            if status[k] in ("closed", "rejected", ""):
                closed = str(created + np.timedelta64(int(rng.uniform(5.1, 9) * 86400), "s"))
            if status[k] == "rejected":
                resolved = ""
            if status[k] == "" and k % 2:
                closed = ""  # no status and no closed_at: it was resolved
            lon, lat, cat = f"{pts[k, 0]:.7f}", f"{pts[k, 1]:.7f}", cats[k]
            if bad[k]:
                kind = k % 3
                if kind == 0:
                    cat = "pothole"
                elif kind == 1:
                    lon, lat = "117.5000000", "40.5000000"  # outside every community
                else:
                    closed, status[k] = str(created - np.timedelta64(3600, "s")), "closed"
            contact = f"1380000{k % 10000:04d}" if k % 4 == 0 else ""
            fh.write(f"H-{k},{cat},\"历史诉求 {k}: 楼道堆物, \"\"old\"\" report\",,{lat},{lon},{created}+08:00,"
                     f"{status[k]},{resolved + '+08:00' if resolved else ''},{closed + '+08:00' if closed else ''},"
                     f"{contact}\n")
    tmp.rename(path)
    return path


# The same reports as another system exports them: its own (Chinese) column names and dates such as
# 2025/6/2 9:05, read with --column and --date-format.
HOTLINE_HEADER = ["工单编号", "问题类型", "诉求内容", "标题", "纬度", "经度", "受理时间", "状态", "解决时间",
                  "办结时间", "联系方式"]
HOTLINE_COLUMNS = ["id=工单编号", "category=问题类型", "description=诉求内容", "title=标题", "latitude=纬度",
                   "longitude=经度", "created=受理时间", "status=状态", "resolved=解决时间", "closed=办结时间",
                   "contact=联系方式"]
HOTLINE_DATES = "%Y/%m/%d %H:%M"


def hotline_csv(source: Path) -> Path:
    """reports_csv's rows with a hotline's header and date format (minutes; built once)."""
    path = source.with_name(source.stem + "_hotline.csv")
    if path.exists():
        return path

    def written(value: str) -> str:
        if not value:
            return value
        d = datetime.fromisoformat(value)
        return f"{d.year}/{d.month}/{d.day} {d.hour}:{d.minute:02d}"

    tmp = path.with_suffix(".tmp")
    with source.open(encoding="utf-8", newline="") as src, tmp.open("w", encoding="utf-8", newline="") as out:
        rows, writer = csv.reader(src), csv.writer(out)
        next(rows)
        writer.writerow(HOTLINE_HEADER)
        for row in rows:
            row[6], row[8], row[9] = written(row[6]), written(row[8]), written(row[9])
            writer.writerow(row)
    tmp.rename(path)
    return path


_PLAIN = """
CREATE TABLE plain_reports (
    external_id text, category text, description text, title text, lat float8, lon float8,
    created_at timestamptz, status text, resolved_at timestamptz, closed_at timestamptz, contact text
)
"""


def import_table(url: str, n: int = IMPORT_ROWS, repeats: int = REPEATS) -> tuple[str, tuple, list[tuple]]:
    from etl import reports

    path = reports_csv(n)
    env = {**os.environ, "DATABASE_URL": url}
    cli = [sys.executable, "-m", "etl", "reports", str(path)]
    times: dict[str, list[float]] = {"copy": [], "cli": [], "rerun": [], "copy_issues": [], "copy_all": []}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE areas, area_loads RESTART IDENTITY CASCADE")
        synthetic.load_city_communities(conn)
        conn.execute("ANALYZE areas")
        for _ in range(repeats):
            conn.execute("TRUNCATE issues, issue_events RESTART IDENTITY CASCADE")
            conn.execute("DROP TABLE IF EXISTS plain_reports")
            conn.execute(_PLAIN)
            t0 = time.perf_counter()
            with path.open("rb") as fh, conn.cursor().copy("COPY plain_reports FROM STDIN (FORMAT csv, HEADER)") as copy:
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
            times["copy"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            res = subprocess.run(cli, env=env, capture_output=True, text=True)
            times["cli"].append(time.perf_counter() - t0)
            if res.returncode != 0:
                raise SystemExit(f"etl reports failed:\n{res.stderr[-2000:]}")
            t0 = time.perf_counter()
            again = reports.load(conn, reports.Options(path=path))
            times["rerun"].append(time.perf_counter() - t0)
            copy_issues, copy_events = _copy_into_live_tables(conn)
            times["copy_issues"].append(copy_issues)
            times["copy_all"].append(copy_issues + copy_events)
        done = conn.execute("SELECT count(*) FROM issues").fetchone()[0]
        # Once more in this process, for where the time goes.
        conn.execute("TRUNCATE issues, issue_events RESTART IDENTITY CASCADE")
        steps = reports.load(conn, reports.Options(path=path)).steps
        conn.execute("TRUNCATE issues, issue_events RESTART IDENTITY CASCADE")
        t0 = time.perf_counter()
        hotline = reports.load(conn, reports.Options(path=hotline_csv(path), columns=HOTLINE_COLUMNS,
                                                     date_formats=[HOTLINE_DATES]))
        hotline_s = time.perf_counter() - t0
        copied = conn.execute("SELECT count(*) FROM plain_reports").fetchone()[0]
        conn.execute("DROP TABLE plain_reports")
    assert again.imported == 0 and again.already == done
    copy_rate = copied / statistics.median(times["copy"])
    live = statistics.median(times["copy_issues"])
    live_all = statistics.median(times["copy_all"])

    def row(label: str, written: Any, seconds: float, versus_live: float | None = None) -> tuple:
        verdict = "-" if versus_live is None else ("met" if versus_live >= 0.5 else "MISSED")
        return (label, written, seconds, n / seconds, (n / seconds) / copy_rate,
                "-" if versus_live is None else versus_live, verdict)

    def median(key: str) -> float:
        return statistics.median(times[key])

    cli = median("cli")
    # The target's baseline is a bare COPY of the same rows into the tables the import writes, as the
    # list's is the bare SQL of the same query on the same table (docs/decisions.md); the plain table
    # shows what those tables' indexes, foreign keys and triggers cost any writer.
    rows = [
        row("COPY into a plain table (typed columns; no index, key or trigger)", copied, median("copy")),
        row("COPY of the same rows into issues (binary; indexes, FKs, triggers, rollup)", done, live),
        row("  and of their history into issue_events", "-", live_all),
        row("python -m etl reports (checks, communities, issues + history) vs COPY into issues", done, cli,
            live / cli),
        row("  the same, vs COPY into issues + issue_events", "-", cli, live_all / cli),
        row("  the same file again (all already imported)", 0, median("rerun")),
        row("  the same rows as a hotline's export (--column, --date-format; in process, once)", hotline.imported,
            hotline_s),
    ]
    for step, label in (("stage", "COPY into the text stage"), ("check", "parse, communities, checks"),
                        ("insert", "INSERT issues + history (indexes, FKs, triggers)"),
                        ("rollup", "the statistics rollup (stats_fold)")):
        rows.append(row(f"  of which {label}", "-", steps[step]))
    title = (f"Report import: {n:,} CSV rows ({again.rejected:,} rejected) into 500 communities, median of "
             f"{repeats}; rows/s counts every row read; target: the import >= 0.5 x a bare COPY of the same "
             f"rows into the same tables; {_load()} at the end")
    return title, ("loader", "issues written", "median s", "rows/s", "x plain COPY", "x COPY same rows",
                   "target"), rows


def _copy_into_live_tables(conn: psycopg.Connection) -> tuple[float, float]:
    """Seconds to COPY the issues just imported (then their history) back into the emptied live tables.

    Binary COPY of the rows exactly as the import wrote them: the floor of any import into these tables,
    with their indexes, foreign keys and triggers, and no parsing or checking at all. The session has the
    import's own settings (etl/reports.py), so the two differ only in what the import does.
    """
    def dump(query: str) -> bytes:
        with conn.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
            return b"".join(bytes(chunk) for chunk in copy)

    issue_columns = ("id, category, title, description, geom, area_id, status, version, reporter_contact, "
                     "created_at, updated_at, due_at, resolved_at, closed_at, source, external_id")
    event_columns = "issue_id, at, actor_role, actor_label, kind, from_status, to_status, note, data"
    issue_rows = dump(f"SELECT {issue_columns} FROM issues ORDER BY id")
    event_rows = dump(f"SELECT {event_columns} FROM issue_events ORDER BY id")
    conn.execute("TRUNCATE issues, issue_events CASCADE")
    conn.execute("SET jit = off")
    conn.execute("SET work_mem = '256MB'")
    conn.execute("SET synchronous_commit = off")
    seconds = []
    for table, columns, data in (("issues", issue_columns, issue_rows), ("issue_events", event_columns, event_rows)):
        t0 = time.perf_counter()
        with conn.transaction():
            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT binary)") as copy:
                copy.write(data)
            if table == "issues":
                # The statistics the triggers queued, folded as the import folds them (migration 0013).
                conn.execute("SELECT stats_fold()")
        seconds.append(time.perf_counter() - t0)
        # A live table has its statistics: without them the history's foreign-key checks would scan the
        # just-emptied issues table row by row.
        conn.execute(f"ANALYZE {table}")
    conn.execute("RESET ALL")
    return seconds[0], seconds[1]


# ---------------------------------------------------------------- entry points


def _issue_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM issues").fetchone()[0]


PARTS = ("get", "post", "import")


def run(url: str, quick: bool = False, parts: tuple[str, ...] = PARTS) -> list[tuple[str, tuple, list[tuple]]]:
    """Every issue benchmark. url: a migrated scratch database (the import empties its areas and issues)."""
    tables = []
    if "get" in parts or "post" in parts:
        admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
        city = synthetic.build_city(admin, log=lambda m: print(m, file=sys.stderr))
        with tempfile.TemporaryDirectory() as tmp, Gunicorn(city, Path(tmp) / "gunicorn.log") as server:
            if "get" in parts:
                tables.append(bbox_table(city, server, 60 if quick else REQUESTS))
            if "post" in parts:
                tables.append(post_table(city, server, 5 if quick else POST_SECONDS))
    if "import" in parts:
        tables.append(import_table(url, 20_000 if quick else IMPORT_ROWS, 1 if quick else REPEATS))
    return tables


def _scratch_database() -> str:
    """A database of its own for a run outside `make bench` (which shares webmap_bench between its benchmarks)."""
    return fresh_database("webmap_bench_issues")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.issues", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests, a shorter load, a smaller file")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run, of {', '.join(PARTS)} (default: all)")
    args = parser.parse_args(argv)
    parts = tuple(p.strip() for p in args.only.split(",") if p.strip())
    if not set(parts) <= set(PARTS):
        parser.error(f"--only takes some of {', '.join(PARTS)}")
    if not config.database_url():
        localdb.cluster().start()
    for title, header, rows in run(_scratch_database(), quick=args.quick, parts=parts):
        print_table(title, header, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
