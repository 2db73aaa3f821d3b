"""Synthetic data sets for the benchmarks, made from a fixed seed so every run measures the same input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely

DATA_DIR = Path(__file__).resolve().parent / "data"


def grid_polygons(n: int, vertices: int = 12, seed: int = 20261129, invalid_share: float = 0.01):
    """n irregular, edge-sharing-free cells over a city-sized extent near Beijing; a share are bow-ties."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    step = 0.3 / side  # degrees: the grid spans about 25 x 33 km
    ii, jj = np.divmod(np.arange(n), side)
    x0 = 116.15 + jj * step
    y0 = 39.80 + ii * step
    k = vertices
    angles = np.sort(rng.uniform(0, 2 * np.pi, size=(n, k)), axis=1)
    radii = step * rng.uniform(0.25, 0.45, size=(n, k))
    cx, cy = x0 + step / 2, y0 + step / 2
    xs = cx[:, None] + radii * np.cos(angles)
    ys = cy[:, None] + radii * np.sin(angles)
    rings = np.stack([xs, ys], axis=-1)
    bad = rng.random(n) < invalid_share
    # Swapping two neighbouring vertices makes the ring cross itself: a bow-tie, as hand digitising produces.
    a, b = k // 4, k // 2
    rings[bad, a], rings[bad, b] = rings[bad, b].copy(), rings[bad, a].copy()
    geoms = shapely.polygons(rings)
    return geoms, int(bad.sum())


def boundary_gpkg(n: int = 10_000, vertices: int = 12) -> Path:
    """A GeoPackage of n community-like polygons with Chinese names; built once and reused."""
    import geopandas as gpd

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"boundaries_{n}x{vertices}.gpkg"
    if path.exists():
        return path
    geoms, _ = grid_polygons(n, vertices)
    frame = gpd.GeoDataFrame(
        {
            "code": [f"9{i:08d}" for i in range(n)],
            "name": [f"合成社区{i}" for i in range(n)],
            "name_en": [f"Synthetic community {i}" for i in range(n)],
            "population": np.random.default_rng(7).integers(2000, 15000, size=n),
        },
        geometry=geoms,
        crs="EPSG:4326",
    )
    tmp = path.with_suffix(".tmp.gpkg")
    frame.to_file(tmp, layer="communities", driver="GPKG", engine="pyogrio")
    tmp.rename(path)
    return path


# ---------------------------------------------------------------- the synthetic city

CITY_DB = "webmap_bench_city"
CITY_SEED = 20261130
CITY_COLS, CITY_ROWS = 25, 20  # 500 communities
CITY_ISSUES = 1_000_000
# Bumped whenever the generator changes, so that a stale city is rebuilt instead of silently reused.
CITY_VERSION = f"city-v1-{CITY_COLS}x{CITY_ROWS}-{CITY_ISSUES}-{CITY_SEED}"
CITY_WEST, CITY_SOUTH, CITY_EAST, CITY_NORTH = 116.15, 39.80, 116.45, 40.10
# How often each kind of problem is reported (litter and clutter dominate, as in real hotlines).
CITY_CATEGORIES = {
    "litter": 0.22, "blocked_passage": 0.14, "street_light": 0.08, "fire_lane": 0.05, "greenery": 0.06,
    "noise": 0.10, "manhole": 0.02, "stairwell_clutter": 0.12, "illegal_construction": 0.04, "drain": 0.06,
    "other": 0.11,
}
# Status mix of issues older than a month, and of the last month (younger ones are still being worked on).
_OLD_STATUSES = {"closed": 0.82, "rejected": 0.06, "resolved": 0.04, "in_progress": 0.03, "assigned": 0.02,
                 "confirmed": 0.02, "reported": 0.01}
_NEW_STATUSES = {"reported": 0.30, "confirmed": 0.20, "assigned": 0.15, "in_progress": 0.15, "resolved": 0.10,
                 "closed": 0.08, "rejected": 0.02}
_STEPS = {"reported": 0, "confirmed": 1, "rejected": 1, "assigned": 2, "in_progress": 3, "resolved": 4, "closed": 5}


def city_lattice(seed: int = CITY_SEED) -> np.ndarray:
    """The shared corners of the city's cells, (rows + 1) x (cols + 1) x 2, jittered so cells are irregular
    but still convex quadrilaterals that tile the city without gaps or overlaps."""
    rng = np.random.default_rng(seed)
    dx = (CITY_EAST - CITY_WEST) / CITY_COLS
    dy = (CITY_NORTH - CITY_SOUTH) / CITY_ROWS
    jj, ii = np.meshgrid(np.arange(CITY_COLS + 1), np.arange(CITY_ROWS + 1))
    corners = np.stack([CITY_WEST + jj * dx, CITY_SOUTH + ii * dy], axis=-1)
    # 20 % of a cell at most: every quadrilateral stays convex, so the bilinear map below stays inside it.
    corners += rng.uniform(-0.2, 0.2, corners.shape) * [dx, dy]
    return corners


def city_communities(seed: int = CITY_SEED) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Codes, names, polygons (16 vertices each: the corners and three points on every straight edge) and
    the four corners of each cell (c00, c10, c11, c01), row by row."""
    lat = city_lattice(seed)
    codes, names, quads = [], [], []
    for i in range(CITY_ROWS):
        for j in range(CITY_COLS):
            codes.append(f"BC{i:02d}{j:02d}")
            names.append(f"合成社区{i:02d}-{j:02d}")
            quads.append([lat[i, j], lat[i, j + 1], lat[i + 1, j + 1], lat[i + 1, j]])
    quads = np.array(quads)
    t = np.array([0.0, 0.25, 0.5, 0.75])
    rings = []
    for q in quads:
        ring = [q[k] + (q[(k + 1) % 4] - q[k]) * s for k in range(4) for s in t]
        rings.append(ring + [ring[0]])
    polygons = shapely.polygons(np.array(rings))
    return codes, names, polygons, quads


def city_points(quads: np.ndarray, cell: np.ndarray, rng: np.random.Generator, clustered: bool = True) -> np.ndarray:
    """Points inside the given cells: bilinear images of (u, v) in the unit square. Clustered points gather
    around a few "compounds" per cell (housing estates, markets), the rest fall anywhere in the cell."""
    n = len(cell)
    uv = rng.uniform(0.0, 1.0, (n, 2))
    if clustered:
        hot = rng.random(n) < 0.65
        # Four compounds per cell, at fixed places in it (seeded by the cell), 4-8 % of a cell across.
        k = rng.integers(0, 4, n)
        centre_rng = np.random.default_rng(CITY_SEED + 1)
        centres = centre_rng.uniform(0.12, 0.88, (len(quads), 4, 2))
        spread = centre_rng.uniform(0.04, 0.08, (len(quads), 4))
        near = centres[cell, k] + rng.normal(0.0, 1.0, (n, 2)) * spread[cell, k][:, None]
        uv = np.where(hot[:, None], near, uv)
    uv = np.clip(uv, 0.002, 0.998)
    q = quads[cell]
    u, v = uv[:, 0:1], uv[:, 1:2]
    return (1 - u) * (1 - v) * q[:, 0] + u * (1 - v) * q[:, 1] + u * v * q[:, 2] + (1 - u) * v * q[:, 3]


def load_city_communities(conn) -> dict[str, int]:
    """Insert the city's 500 communities (level community) into areas; returns code -> id."""
    codes, names, polygons, _ = city_communities()
    multi = shapely.set_srid(shapely.multipolygons(polygons[:, None]), 4326)
    with conn.cursor().copy("COPY areas (code, name, name_en, level, geom, source) FROM STDIN") as copy:
        for code, name, ewkb in zip(codes, names, shapely.to_wkb(multi, hex=True, include_srid=True)):
            copy.write_row((code, name, f"Synthetic community {code}", "community", ewkb, "bench"))
    return dict(conn.execute("SELECT code, id FROM areas WHERE code = ANY (%s)", (codes,)).fetchall())


def _pick(rng: np.random.Generator, table: dict[str, float], n: int) -> np.ndarray:
    keys = np.array(list(table))
    p = np.array(list(table.values()))
    return keys[rng.choice(len(keys), n, p=p / p.sum())]


def city_issue_rows(ids: dict[str, int], sla: dict[str, int], n: int = CITY_ISSUES, seed: int = CITY_SEED):
    """n issues as COPY text lines for issues (see CITY_COPY_COLUMNS), in chunks of 100,000.

    ids: community code -> area id; sla: category code -> SLA days. (No database access here: the
    generator runs inside a COPY, and the connection is busy with it.)
    """
    import datetime as dt

    codes, _, _, quads = city_communities()
    area_ids = np.array([ids[c] for c in codes])
    rng = np.random.default_rng(seed)
    # Busy and quiet communities: report counts per community vary about tenfold.
    weight = rng.lognormal(0.0, 0.8, len(codes))
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        cell = rng.choice(len(codes), m, p=weight / weight.sum())
        pts = city_points(quads, cell, rng)
        cat = _pick(rng, CITY_CATEGORIES, m)
        # Two years of history, denser towards today (use of the service grows).
        age = 730.0 * (1.0 - np.sqrt(rng.random(m)))
        status = np.where(age > 30, _pick(rng, _OLD_STATUSES, m), _pick(rng, _NEW_STATUSES, m))
        sla_days = np.array([sla[c] for c in cat], dtype=float)
        resolve = np.minimum(rng.exponential(1.0, m) * sla_days, age * 0.9)
        close = np.minimum(resolve + rng.exponential(1.5, m), age * 0.95)
        lines = []
        for k in range(m):
            created = now - dt.timedelta(days=float(age[k]))
            s = status[k]
            resolved = created + dt.timedelta(days=float(resolve[k])) if s in ("resolved", "closed") else None
            closed = (created + dt.timedelta(days=float(close[k] if s == "closed" else resolve[k] * 0.2))
                      if s in ("closed", "rejected") else None)
            updated = max(t for t in (created, resolved, closed) if t is not None)
            lines.append("\t".join((
                cat[k], f"合成问题 {start + k}", "benchmark issue of the synthetic city",
                f"SRID=4326;POINT({pts[k, 0]:.7f} {pts[k, 1]:.7f})", str(area_ids[cell[k]]), s,
                str(1 + _STEPS[s]), created.isoformat(), updated.isoformat(),
                (created + dt.timedelta(days=int(sla_days[k]))).isoformat(),
                resolved.isoformat() if resolved else r"\N", closed.isoformat() if closed else r"\N", "web",
            )))
        yield ("\n".join(lines) + "\n").encode()


CITY_COPY_COLUMNS = ("category, title, description, geom, area_id, status, version, created_at, updated_at, due_at, "
                     "resolved_at, closed_at, source")


def build_city(admin_url: str, log=print) -> str:
    """The URL of webmap_bench_city: 500 communities and 1,000,000 issues with their 'created' history,
    built once (a few minutes) and reused while its bench_city row says it is complete and current."""
    import time

    import psycopg
    from psycopg import sql

    from geodata import migrate

    url = psycopg.conninfo.make_conninfo(admin_url, dbname=CITY_DB)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (CITY_DB,)).fetchone()
    if exists:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                migrate.apply_all(conn)
                done = conn.execute("SELECT version FROM bench_city").fetchone()
            if done and done[0] == CITY_VERSION:
                return url
        except (psycopg.Error, migrate.MigrationError):
            pass
        log(f"rebuilding {CITY_DB}: it is incomplete or from another version of the generator")
    else:
        log(f"building {CITY_DB} (once; later runs reuse it)")
    started = time.perf_counter()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(CITY_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(CITY_DB)))
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.apply_all(conn)
    with psycopg.connect(url) as conn:
        conn.execute("SET jit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        ids = load_city_communities(conn)
        # Loaded without their secondary indexes, which are then built once: many times faster than
        # maintaining them row by row. The definitions come from the catalogue, so they stay the migrations'.
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i"
            " JOIN pg_index x ON x.indexrelid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass"
            " WHERE i.tablename IN ('issues', 'issue_events') AND NOT x.indisprimary AND NOT x.indisunique"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        sla = dict(conn.execute("SELECT code, sla_days FROM categories").fetchall())
        with conn.cursor().copy(f"COPY issues ({CITY_COPY_COLUMNS}) FROM STDIN") as copy:
            for chunk in city_issue_rows(ids, sla):
                copy.write(chunk)
        conn.execute(
            "INSERT INTO issue_events (issue_id, at, actor_label, kind, to_status, data)"
            " SELECT id, created_at, 'reporter', 'created', 'reported', '{\"source\": \"web\"}' FROM issues")
        conn.execute(
            "INSERT INTO issue_events (issue_id, at, actor_role, actor_label, kind, from_status, to_status)"
            " SELECT id, COALESCE(closed_at, resolved_at, updated_at), 'social_worker', 'bench', 'transition',"
            "        'reported', status FROM issues WHERE status <> 'reported'")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("CREATE TABLE bench_city (version text NOT NULL, issues bigint NOT NULL, built_at timestamptz"
                     " NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO bench_city (version, issues) SELECT %s, count(*) FROM issues", (CITY_VERSION,))
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    log(f"built {CITY_DB} in {time.perf_counter() - started:.0f} s")
    return url
