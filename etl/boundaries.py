"""Load community boundaries from any OGR vector source into the areas table, in one transaction."""
from __future__ import annotations

import hashlib
import logging
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import psycopg
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geodata import chinacrs
from geodata.areas import LEVELS

log = logging.getLogger(__name__)

# Field names seen in real boundary files, tried in order, case-insensitively.
NAME_FIELDS = ("name", "名称", "社区名称", "name_zh", "name_cn", "mc", "xzqmc", "cname")
CODE_FIELDS = ("code", "编码", "代码", "区划代码", "adcode", "xzqdm", "gb", "id_code")
NAME_EN_FIELDS = ("name_en", "ename", "name_eng", "english", "英文名")
POPULATION_FIELDS = ("population", "pop", "人口", "户籍人口", "常住人口")
PARENT_FIELDS = ("parent_code", "parent", "上级编码", "上级代码")
# Overlaps smaller than this are slivers of hand-digitised shared edges, not real double coverage.
OVERLAP_MIN_M2 = 1.0
_CSV_GEOMETRY_NAMES = "WKT,wkt,Wkt,geometry,GEOMETRY,Geometry,geom,the_geom,shape,SHAPE"
_OFFSET_SYSTEMS = ("gcj02", "bd09")
_INT4_MAX = 2**31 - 1


class BoundaryLoadError(RuntimeError):
    """The whole load is refused; nothing was written."""


@dataclass
class Options:
    """What to load and how to read it."""

    path: Path
    layer: str | None = None
    name_field: str | None = None
    code_field: str | None = None
    parent_field: str | None = None
    level: str = "community"
    source_crs: str | None = None
    encoding: str | None = None
    dry_run: bool = False
    progress: bool = False


@dataclass
class Note:
    """Something said about one input row: a repair, a rejection or a warning."""

    row: int
    kind: str
    reason: str
    code: str | None = None


@dataclass
class Overlap:
    """Two areas of the same level that cover the same ground."""

    code_a: str
    name_a: str
    code_b: str
    name_b: str
    area_m2: float


@dataclass
class LoadReport:
    """What a load did (or, in a dry run, would do)."""

    source: str
    level: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: int = 0
    rejected: int = 0
    dry_run: bool = False
    notes: list[Note] = field(default_factory=list)
    overlaps: list[Overlap] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    changes: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def changed_nothing(self) -> bool:
        return self.inserted == 0 and self.updated == 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Staged:
    """Rows that passed cleaning, ready for COPY."""

    rows: np.ndarray
    codes: list[str]
    names: list[str]
    names_en: list[str | None]
    populations: list[int | None]
    parents: list[str | None]
    geoms: np.ndarray


# ---------------------------------------------------------------- reading


def _read(opts: Options):
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

    path = opts.path
    if not path.exists():
        raise BoundaryLoadError(f"{path}: no such file")
    kwargs: dict = {}
    if path.suffix.lower() == ".csv":
        kwargs.update(GEOM_POSSIBLE_NAMES=_CSV_GEOMETRY_NAMES, KEEP_GEOM_COLUMNS="NO")
    try:
        if opts.layer is None:
            layers = pyogrio.list_layers(str(path))
            if len(layers) > 1:
                # Taking the first layer silently would load the wrong boundaries without a word.
                names = ", ".join(str(name) for name in layers[:, 0])
                raise BoundaryLoadError(f"{path.name} has {len(layers)} layers ({names}); choose one with --layer")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            meta, _, wkb, columns = pyogrio.raw.read(
                str(path), layer=opts.layer, encoding=opts.encoding, force_2d=False, **kwargs
            )
    except (DataSourceError, DataLayerError, FieldError, GeometryError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise BoundaryLoadError(f"{path.name}: cannot be read as a vector data set ({_one_line(exc)})") from exc
    for w in caught:
        log.warning("%s: %s", path.name, w.message)
    if wkb is None:
        raise BoundaryLoadError(f"{path.name}: the layer has no geometry column")
    fields = {name: col for name, col in zip(meta["fields"], columns)}
    return meta, wkb, fields


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _pick_field(fields: dict, requested: str | None, candidates: tuple[str, ...], what: str, option: str) -> str | None:
    if requested:
        if requested in fields:
            return requested
        raise BoundaryLoadError(
            f"{option} {requested!r} is not a field of this layer; its fields are: {', '.join(fields) or '(none)'}"
        )
    lowered = {f.lower(): f for f in fields}
    for c in candidates:
        if c.lower() in lowered:
            return lowered[c.lower()]
    return None


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        # Codes stored as numbers (110108015.0) are still codes, not quantities.
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).strip()
    return text or None


def _integer(value) -> int | None:
    text = _text(value)
    if text is None:
        return None
    try:
        number = int(float(text))
    except (ValueError, OverflowError):  # "nan", "inf"
        return None
    # Binary COPY into int4 wraps larger numbers around silently (2**32 + 5000 would arrive as 5000).
    return number if 0 <= number <= _INT4_MAX else None


# ---------------------------------------------------------------- geometry


def _source_transform(opts: Options, meta: dict, geoms: np.ndarray, report: LoadReport):
    """Decide how coordinates reach WGS84 lon/lat; refuse when that cannot be known."""
    system = (opts.source_crs or "").strip().lower().replace("-", "")
    present = geoms[~shapely.is_empty(geoms)]
    bounds = shapely.total_bounds(present) if len(present) else np.array([0.0, 0.0, 0.0, 0.0])
    looks_lonlat = bool(-180 <= bounds[0] <= bounds[2] <= 180 and -90 <= bounds[1] <= bounds[3] <= 90)

    if system in _OFFSET_SYSTEMS:
        if not looks_lonlat:
            raise BoundaryLoadError(
                f"--source-crs {system} expects longitude/latitude coordinates, but this file spans {bounds.round(3).tolist()}"
            )
        return lambda g: chinacrs.transform_geometries(g, system), f"{system} (converted to WGS84)"

    crs_text = opts.source_crs or meta.get("crs")
    if not crs_text:
        if looks_lonlat:
            report.warnings.append("the file declares no CRS; its coordinates are longitude/latitude, so WGS84 is assumed")
            return None, "EPSG:4326 (assumed)"
        raise BoundaryLoadError(
            "the file declares no coordinate reference system and its coordinates are not longitude/latitude "
            f"(they span {bounds.round(3).tolist()}); name it with --source-crs EPSG:<code>"
        )
    try:
        src = CRS.from_user_input(crs_text)
    except CRSError as exc:
        raise BoundaryLoadError(f"unknown CRS {crs_text!r}: {_one_line(exc)}") from exc
    wgs84 = CRS.from_epsg(4326)
    if src.equals(wgs84, ignore_axis_order=True):
        return None, "EPSG:4326"
    transformer = Transformer.from_crs(src, wgs84, always_xy=True)

    def reproject(g: np.ndarray) -> np.ndarray:
        return shapely.transform(g, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))

    return reproject, src.to_string()


def _polygonal_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every polygon inside the geometries (collections unpacked), with the index of the geometry it came from."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    while True:
        nested = np.isin(shapely.get_type_id(parts), (4, 5, 6, 7))
        if not nested.any():
            break
        inner, inner_idx = shapely.get_parts(parts[nested], return_index=True)
        parts = np.concatenate([parts[~nested], inner])
        index = np.concatenate([index[~nested], index[nested][inner_idx]])
    keep = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    return parts[keep], index[keep]


def _as_multipolygons(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MultiPolygons of the polygonal parts; the mask says which inputs had any."""
    parts, index = _polygonal_parts(geoms)
    out = np.full(len(geoms), None, dtype=object)
    has = np.zeros(len(geoms), dtype=bool)
    if len(parts):
        present = np.unique(index)
        order = np.argsort(index, kind="stable")
        parts, index = parts[order], index[order]
        # multipolygons() groups consecutive indices into 0..k-1 outputs.
        dense = np.searchsorted(present, index)
        multi = shapely.multipolygons(parts, indices=dense)
        out[present] = multi
        has[present] = True
    return out, has


def _in_threads(func, geoms: np.ndarray) -> np.ndarray:
    """Apply a vectorised shapely function on every core; shapely releases the GIL inside GEOS."""
    workers = min(os.cpu_count() or 1, 8)
    if workers == 1 or len(geoms) < 2000:
        return func(geoms)
    chunks = np.array_split(geoms, workers)
    with ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(func, chunks)))


_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}


def _clean_geometries(wkb: np.ndarray, opts: Options, meta: dict, report: LoadReport):
    """Parse, reproject, repair and normalise; returns MultiPolygons and a mask of rows kept."""
    n = len(wkb)
    geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    keep = np.ones(n, dtype=bool)

    def reject(mask: np.ndarray, reason) -> None:
        for i in np.flatnonzero(mask & keep):
            report.notes.append(Note(int(i) + 1, "rejected", reason(i) if callable(reason) else reason))
        keep[mask] = False

    missing = np.array([g is None for g in geoms], dtype=bool)
    reject(missing, "no geometry (or unreadable geometry)")
    geoms[missing] = shapely.Point()
    reject(shapely.is_empty(geoms), "empty geometry")

    type_ids = shapely.get_type_id(geoms)
    polygonal = np.isin(type_ids, (3, 6))
    collections = type_ids == 7
    if collections.any():
        _, has = _as_multipolygons(geoms[collections])
        polygonal[np.flatnonzero(collections)[has]] = True
    reject(~polygonal, lambda i: f"geometry is a {_TYPE_NAMES.get(int(type_ids[i]), 'non-polygon')}, not a polygon")

    repairs: dict[int, list[str]] = {}
    three_d = shapely.has_z(geoms) & keep
    if three_d.any():
        geoms[three_d] = shapely.force_2d(geoms[three_d])
        for i in np.flatnonzero(three_d):
            repairs.setdefault(int(i), []).append("Z coordinates dropped")
    dropped_parts = collections & keep
    for i in np.flatnonzero(dropped_parts):
        repairs.setdefault(int(i), []).append("non-polygonal parts of a geometry collection dropped")

    reproject, crs_label = _source_transform(opts, meta, geoms[keep], report)
    report.warnings.append(f"source CRS: {crs_label}")
    if reproject is not None and keep.any():
        geoms[keep] = reproject(geoms[keep])
    # Checked whatever the CRS: a GeoJSON (always "EPSG:4326") or a .prj that claims WGS84 may still hold metres.
    if keep.any():
        bounds = shapely.bounds(geoms[keep])
        bad = ~((np.abs(bounds[:, [0, 2]]) <= 180).all(axis=1) & (np.abs(bounds[:, [1, 3]]) <= 90).all(axis=1))
        if bad.any():
            raise BoundaryLoadError(
                f"in {crs_label}, {int(bad.sum())} feature(s) fall outside longitude/latitude range; "
                "the declared CRS is probably wrong (name the right one with --source-crs)"
            )

    invalid = keep & ~_in_threads(shapely.is_valid, geoms)
    if invalid.any():
        reasons = shapely.is_valid_reason(geoms[invalid])
        # "structure" keeps the area a surveyor drew (a bow-tie becomes two triangles) and is far faster than "linework".
        geoms[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        for i, why in zip(np.flatnonzero(invalid), reasons):
            repairs.setdefault(int(i), []).append(f"invalid polygon repaired ({why})")

    multi = np.full(n, None, dtype=object)
    if keep.any():
        # Shapefiles wind exteriors clockwise, GeoJSON counter-clockwise: one orientation (RFC 7946's)
        # makes the same polygon the same bytes whichever format it came from.
        geoms[keep] = shapely.orient_polygons(geoms[keep], exterior_cw=False)
        multi[keep], has = _as_multipolygons(geoms[keep])
        lost = np.zeros(n, dtype=bool)
        lost[np.flatnonzero(keep)[~has]] = True
        reject(lost, "nothing polygonal remains after repair (degenerate polygon)")
    for i, what in sorted(repairs.items()):
        if keep[i]:
            report.notes.append(Note(i + 1, "repaired", "; ".join(what)))
    report.repaired = sum(1 for i in repairs if keep[i])
    return multi, keep


# ---------------------------------------------------------------- attributes


def _stage(opts: Options, meta: dict, wkb: np.ndarray, fields: dict, report: LoadReport) -> _Staged:
    n = len(wkb)
    report.read = n
    if n == 0:
        raise BoundaryLoadError(f"{opts.path.name}: the layer has no features; nothing to load")

    name_f = _pick_field(fields, opts.name_field, NAME_FIELDS, "name", "--name-field")
    if name_f is None:
        raise BoundaryLoadError(
            f"no name field found (tried {', '.join(NAME_FIELDS)}); the fields are: {', '.join(fields) or '(none)'}. "
            "Name one with --name-field"
        )
    code_f = _pick_field(fields, opts.code_field, CODE_FIELDS, "code", "--code-field")
    parent_f = _pick_field(fields, opts.parent_field, PARENT_FIELDS, "parent", "--parent-field")
    name_en_f = _pick_field(fields, None, NAME_EN_FIELDS, "English name", "")
    pop_f = _pick_field(fields, None, POPULATION_FIELDS, "population", "")
    if code_f is None:
        report.warnings.append("no code field found: the name is used as the code (reloads then match areas by name)")
    report.warnings.append(
        "fields used: " + ", ".join(f"{k}={v}" for k, v in
                                    (("name", name_f), ("code", code_f), ("name_en", name_en_f),
                                     ("population", pop_f), ("parent", parent_f)) if v)
    )

    geoms, keep = _clean_geometries(wkb, opts, meta, report)

    names = [_text(v) for v in fields[name_f]]
    codes = [_text(v) for v in fields[code_f]] if code_f else list(names)
    seen: dict[str, int] = {}
    for i in range(n):
        if not keep[i]:
            continue
        if names[i] is None:
            report.notes.append(Note(i + 1, "rejected", f"empty name ({name_f})", codes[i]))
            keep[i] = False
        elif codes[i] is None:
            report.notes.append(Note(i + 1, "rejected", f"empty code ({code_f})", None))
            keep[i] = False
        elif codes[i] in seen:
            report.notes.append(Note(i + 1, "rejected", f"duplicate code {codes[i]} (first at row {seen[codes[i]]})", codes[i]))
            keep[i] = False
        else:
            seen[codes[i]] = i + 1
    for note in report.notes:
        if note.code is None and 0 < note.row <= n:
            note.code = codes[note.row - 1]
    report.notes.sort(key=lambda note: (note.row, note.kind))
    report.repaired = sum(1 for note in report.notes if note.kind == "repaired" and keep[note.row - 1])
    report.rejected = int((~keep).sum())
    if not keep.any():
        raise BoundaryLoadError(
            f"{opts.path.name}: none of the {n} feature(s) can be loaded; first reasons: "
            + "; ".join(f"row {note.row}: {note.reason}" for note in report.notes if note.kind == "rejected")[:600]
        )
    idx = np.flatnonzero(keep)
    names_en = [_text(v) for v in fields[name_en_f]] if name_en_f else [None] * n
    pops = [_integer(v) for v in fields[pop_f]] if pop_f else [None] * n
    parents = [_text(v) for v in fields[parent_f]] if parent_f else [None] * n
    return _Staged(
        rows=idx + 1,
        codes=[codes[i] for i in idx],
        names=[names[i] for i in idx],
        names_en=[names_en[i] for i in idx],
        populations=[pops[i] for i in idx],
        parents=[parents[i] for i in idx],
        geoms=geoms[idx],
    )


# ---------------------------------------------------------------- database


def _sql(name: str) -> str:
    return resources.files("etl").joinpath("sql", name).read_text(encoding="utf-8")


def _statements(name: str) -> list[str]:
    # The extended query protocol takes one statement at a time.
    return [part for part in (chunk.strip() for chunk in _sql(name).split(";\n")) if part]


def _copy_stage(conn: psycopg.Connection, staged: _Staged, progress: bool) -> None:
    conn.execute(_sql("boundaries_stage.sql"))
    # Binary COPY hands plain WKB straight to geometry_recv: no hex encoding, half the bytes.
    wkb = shapely.to_wkb(staged.geoms)
    rows = zip(staged.rows.tolist(), staged.codes, staged.names, staged.names_en,
               staged.populations, staged.parents, wkb)
    bar = None
    if progress and len(wkb) >= 5000:
        from tqdm import tqdm

        bar = tqdm(total=len(wkb), unit="area", desc="staging", leave=False)
    with conn.cursor().copy(
        "COPY stage_areas (row_no, code, name, name_en, population, parent_code, geom) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int4", "text", "text", "text", "int4", "text", "bytea"])
        for k, row in enumerate(rows, 1):
            copy.write_row(row)
            if bar is not None and k % 1000 == 0:
                bar.update(1000)
    if bar is not None:
        bar.close()


def _overlaps_in_file(staged: _Staged) -> tuple[list[str], list[str]]:
    """Code pairs of staged areas whose interiors overlap, found in memory with an STRtree."""
    tree = shapely.STRtree(staged.geoms)
    left, right = tree.query(staged.geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if len(left):
        interiors = shapely.relate_pattern(staged.geoms[left], staged.geoms[right], "2********")
        left, right = left[interiors], right[interiors]
    codes = staged.codes
    return [codes[i] for i in left], [codes[j] for j in right]


def _overlaps(conn: psycopg.Connection, staged: _Staged, level: str) -> list[Overlap]:
    """Overlapping pairs of the loaded level: within the file, and between the file and stored areas not in it."""
    codes_a, codes_b = _overlaps_in_file(staged)
    params = {"level": level, "min_m2": OVERLAP_MIN_M2, "codes_a": codes_a, "codes_b": codes_b}
    params["check_stored"] = conn.execute(_sql("boundaries_others_exist.sql"), params).fetchone()[0]
    return [Overlap(*r) for r in conn.execute(_sql("boundaries_overlaps.sql"), params).fetchall()]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    # OGR also opens a directory (of shapefiles) as one data source: hash its files in name order.
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
    for name in files:
        with open(name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def load(conn: psycopg.Connection, opts: Options) -> LoadReport:
    """Read, clean and upsert one boundary file; one transaction, rolled back on error or in a dry run."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        # Inside an open transaction ours would only be a savepoint, and atomicity would be the caller's.
        raise ValueError("load() needs a connection that is not inside a transaction (use autocommit)")
    if opts.level not in LEVELS:
        raise BoundaryLoadError(f"unknown level {opts.level!r}; expected one of {', '.join(LEVELS)}")
    source = opts.path.name + (f":{opts.layer}" if opts.layer else "")
    report = LoadReport(source=source, level=opts.level, dry_run=opts.dry_run)
    meta, wkb, fields = _read(opts)
    staged = _stage(opts, meta, wkb, fields, report)

    rank = LEVELS.index(opts.level)
    params = {
        "level": opts.level,
        "source": source,
        "use_parent_code": any(p is not None for p in staged.parents),
        "parent_levels": list(LEVELS[:rank]),
        "child_levels": list(LEVELS[rank + 1:]),
    }
    try:
        with conn.transaction() as tx:
            # JIT compilation costs more than it saves on these short set-based statements.
            conn.execute("SET LOCAL jit = off")
            _copy_stage(conn, staged, opts.progress)
            params["find_parent"] = not params["use_parent_code"] and bool(params["parent_levels"]) and conn.execute(
                "SELECT EXISTS (SELECT 1 FROM areas WHERE level = ANY (%(parent_levels)s::text[]))", params
            ).fetchone()[0]
            conn.execute(_sql("boundaries_diff.sql"), params)
            for code, row, problem in conn.execute(
                "SELECT code, row_no, parent_code FROM stage_diff WHERE parent_code IS NOT NULL AND parent_id IS NULL ORDER BY row_no"
            ).fetchall():
                why = "is the area's own code" if problem == code else "not found"
                report.notes.append(Note(row, "warning", f"parent code {problem} {why}; left without parent", code))
            report.changes = [tuple(r) for r in conn.execute(
                "SELECT change, code, name FROM stage_diff WHERE change <> 'unchanged' ORDER BY row_no"
            ).fetchall()]
            counts = dict(conn.execute("SELECT change, count(*) FROM stage_diff GROUP BY change").fetchall())
            report.inserted = counts.get("insert", 0)
            report.updated = counts.get("update", 0)
            report.unchanged = counts.get("unchanged", 0)
            for statement in _statements("boundaries_apply.sql"):
                conn.execute(statement, params)
            if params["child_levels"] and report.inserted + report.updated:
                conn.execute(_sql("boundaries_adopt.sql"), params)
            report.overlaps = _overlaps(conn, staged, opts.level)
            conn.execute(
                """INSERT INTO area_loads (source, sha256, level, inserted, updated, unchanged, repaired, rejected, report)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (source, _file_sha256(opts.path), opts.level, report.inserted, report.updated, report.unchanged,
                 report.repaired, report.rejected,
                 psycopg.types.json.Jsonb({"notes": [asdict(n) for n in report.notes],
                                           "overlaps": [asdict(o) for o in report.overlaps],
                                           "warnings": report.warnings})),
            )
            if opts.dry_run:
                raise psycopg.Rollback(tx)
    except psycopg.Error as exc:
        raise BoundaryLoadError(f"the database refused the load; nothing was written ({_one_line(exc)})") from exc
    report.notes.sort(key=lambda note: (note.row, note.kind))
    return report


def format_report(report: LoadReport, verbose: bool = True) -> str:
    """The human summary printed at the end of a load."""
    lines = []
    for w in report.warnings:
        lines.append(f"note: {w}")
    for note in report.notes:
        code = f" [{note.code}]" if note.code else ""
        lines.append(f"row {note.row}{code}: {note.kind}: {note.reason}")
    if verbose:
        for change, code, name in report.changes:
            lines.append(f"{'would ' if report.dry_run else ''}{change}: {code} {name}")
    for o in report.overlaps:
        lines.append(f"overlap: {o.code_a} {o.name_a} / {o.code_b} {o.name_b}: {o.area_m2:,.1f} m²")
    head = ("inserted", "updated", "unchanged", "repaired", "rejected")
    values = [getattr(report, h) for h in head]
    widths = [max(len(h), len(str(v))) for h, v in zip(head, values)]
    lines.append("")
    lines.append(f"{report.source} -> areas (level {report.level}){'  DRY RUN: nothing written' if report.dry_run else ''}")
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    lines.append("  ".join(str(v).rjust(w) for v, w in zip(values, widths)))
    if report.changed_nothing and not report.dry_run:
        lines.append("nothing changed: every area is already as in the file")
    return "\n".join(lines)
