"""Mapbox vector tiles of issues (ST_AsMVT), their filters, and the data version that validates caches.

A tile holds only what the map draws: the issue id (as the feature id), status and category. Popups
ask the issue API for the rest, so titles and descriptions never travel in bulk and contact details
never at all. Below POINT_ZOOM, and whenever a tile would hold more than MAX_POINTS issues, the tile
holds grid-cell counts instead of points, so its size is bounded whatever the number of issues.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import functools

import psycopg
from psycopg import sql

from geodata import display, issues, validation
from geodata.validation import ValidationError

MIN_ZOOM, MAX_ZOOM = 0, 22
EXTENT = 4096
# From this zoom on, issues are single points; a z15 tile is about 1 km across at Beijing's latitude.
POINT_ZOOM = 15
# Cells of the low-zoom clusters, in tile units: 512 of 4096 is 32 px on a 256 px tile.
CLUSTER_CELL = 512
# Cells used when a tile at POINT_ZOOM or above holds too many points (8 px): as wide as the point
# buffer, so street-level tiles search the same small margin in both layouts.
DENSE_CELL = 128
# A point feature takes about 20 bytes (id, two tags, type, position), so 2000 points stay under 40 KB.
MAX_POINTS = 2000
# Points just outside the tile are kept, so a circle on a tile edge is drawn whole by both tiles (8 px).
POINT_BUFFER = DENSE_CELL
# The largest GCJ-02 offset is about 700 m; 0.01 degrees is at least 850 m anywhere in China.
GCJ02_PAD_DEG = 0.01
DISPLAY_CRS = display.DISPLAY_CRS
# Part of every ETag: bump it when the tile layout changes, so browsers drop tiles of the old layout.
TILE_FORMAT = 1
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"

_TILE_SQL = (Path(__file__).with_name("tiles.sql")).read_text(encoding="utf-8")
# From zoom 10 on, points are placed by lon/lat inside the tile's lon/lat box, skipping a projection
# per point: inside one tile Mercator's y is linear in latitude to within about 0.1 px at z10 in
# Beijing (0.3 px at 60 degrees north) and under 0.01 px at z15. Lower zooms span too much latitude.
LONLAT_ZOOM = 10
_POINT = {
    # (projected, gcj02) -> the tile position of one issue
    (False, False): "ST_AsMVTGeom(i.geom, b.tile_lonlat, 4096, %(buffer)s, true)",
    (False, True): "ST_AsMVTGeom(gcj02_point(i.geom), b.tile_lonlat, 4096, %(buffer)s, true)",
    (True, False): "ST_AsMVTGeom(ST_Transform(i.geom, 3857), b.tile, 4096, %(buffer)s, true)",
    (True, True): "ST_AsMVTGeom(ST_Transform(gcj02_point(i.geom), 3857), b.tile, 4096, %(buffer)s, true)",
}
_FILTERS = {
    "statuses": "AND i.status = ANY (%(statuses)s::text[])",
    "categories": "AND i.category = ANY (%(categories)s::text[])",
    "since": "AND i.created_at >= %(since)s::timestamptz",
}


@functools.lru_cache(maxsize=64)
def _tile_query(projected: bool, gcj02: bool, filters: tuple[str, ...]) -> sql.Composed:
    """tiles.sql with its point expression and the filters in use (at most 32 variants)."""
    return sql.SQL(_TILE_SQL).format(
        point=sql.SQL(_POINT[projected, gcj02]),
        filters=sql.SQL(" ".join(_FILTERS[f] for f in filters)),
    )
_VERSION_SQL = "SELECT issues_data_version()"
_CATEGORY_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
# ASCII digits: \d also takes "٣", which int() reads as 3.
_TILE_NUMBER = re.compile(r"[0-9]{1,8}")


class InvalidTileRequest(ValidationError):
    """A tile address or filter that does not make sense (out of range, not an integer, unknown status)."""


@dataclass(frozen=True)
class TileAddress:
    z: int
    x: int
    y: int

    @classmethod
    def parse(cls, z: str, x: str, y: str) -> TileAddress:
        """z/x/y as written in a URL: plain decimal integers, z in 0..22, x and y in 0..2^z-1."""
        fields: dict[str, str] = {}
        values: dict[str, int] = {}
        for name, text in (("z", z), ("x", x), ("y", y)):
            if not _TILE_NUMBER.fullmatch(text or ""):
                fields[name] = "must be a non-negative integer"
            else:
                values[name] = int(text)
        if "z" in values and not MIN_ZOOM <= values["z"] <= MAX_ZOOM:
            fields["z"] = f"must be between {MIN_ZOOM} and {MAX_ZOOM}"
        elif "z" in values:
            top = 2 ** values["z"] - 1
            for name in ("x", "y"):
                if name in values and values[name] > top:
                    fields[name] = f"must be between 0 and {top} at zoom {values['z']}"
        if fields:
            raise InvalidTileRequest(fields, "There is no such tile: " + "; ".join(
                f"{k} {v}" for k, v in sorted(fields.items())) + ".")
        return cls(values["z"], values["x"], values["y"])


@dataclass(frozen=True)
class TileFilter:
    """?status=&category=&since= of a tile request; lists are comma-separated."""

    statuses: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    since: datetime | None = None
    crs: str = "wgs84"

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> TileFilter:
        fields: dict[str, str] = {}

        def items(name: str) -> tuple[str, ...]:
            # Sorted and deduplicated: the same filter written in another order is the same cache entry.
            return tuple(sorted({p.strip() for p in (args.get(name) or "").split(",") if p.strip()}))

        statuses = items("status")
        bad = [s for s in statuses if s not in issues.STATUSES]
        if bad:
            fields["status"] = f"unknown status {bad[0]!r}; expected some of {', '.join(issues.STATUSES)}"
        categories = items("category")
        bad = [c for c in categories if not _CATEGORY_CODE.fullmatch(c)]
        if bad:
            fields["category"] = f"{bad[0][:50]!r} is not a category code"
        since = None
        if args.get("since"):
            try:
                since = validation.timestamp_text(args["since"])
            except ValueError as exc:
                fields["since"] = str(exc)
        crs = "wgs84"
        try:
            crs = display.parse_crs(args.get("crs"))
        except display.InvalidDisplayCrs as exc:
            fields.update(exc.fields)
        if fields:
            raise InvalidTileRequest(fields)
        return cls(statuses, categories, since, crs)

    def key(self) -> tuple:
        """A hashable, canonical form for cache keys."""
        return (self.statuses, self.categories, self.since.isoformat() if self.since else None, self.crs)


def data_version(conn: psycopg.Connection) -> int:
    """The issues data version: it changes in the same transaction as any change to issues."""
    return conn.execute(_VERSION_SQL, prepare=True).fetchone()[0]


def tile_params(address: TileAddress, filters: TileFilter = TileFilter()) -> dict:
    """The parameters of tiles.sql for one tile (also used by the benchmark to run the SQL alone)."""
    cluster = address.z < POINT_ZOOM
    # The buffer is one cluster cell (cells then line up across tile edges); at street level the
    # dense cell, the point buffer and so the searched margin are the same 128 units.
    buffer = CLUSTER_CELL if cluster else DENSE_CELL
    return {
        "z": address.z, "x": address.x, "y": address.y,
        "margin": buffer / EXTENT,
        "buffer": buffer,
        "cluster": cluster,
        "max_points": MAX_POINTS,
        "search_pad": GCJ02_PAD_DEG if filters.crs == "gcj02" else 0.0,
        "statuses": list(filters.statuses) or None,
        "categories": list(filters.categories) or None,
        "since": filters.since,
    }


def tile_query(address: TileAddress, filters: TileFilter = TileFilter()) -> sql.Composed:
    """The SQL statement for this tile and filter (the benchmark runs it alone too)."""
    used = tuple(name for name, value in (("statuses", filters.statuses), ("categories", filters.categories),
                                          ("since", filters.since)) if value)
    return _tile_query(address.z < LONLAT_ZOOM, filters.crs == "gcj02", used)


def issue_tile(conn: psycopg.Connection, address: TileAddress, filters: TileFilter = TileFilter()) -> bytes:
    """The tile's protobuf bytes (empty bytes for a tile with no issues, which is a valid empty tile)."""
    row = conn.execute(tile_query(address, filters), tile_params(address, filters), prepare=True).fetchone()
    return bytes(row[0]) if row and row[0] is not None else b""


_CATEGORIES_SQL = "SELECT code, name, name_en FROM categories WHERE active ORDER BY code = 'other', name_en, code"


def categories(conn: psycopg.Connection) -> list[dict]:
    """The active categories (code, name, name_en) a map can filter its tiles by; "other" last."""
    return [{"code": c, "name": n, "name_en": e} for c, n, e in conn.execute(_CATEGORIES_SQL)]
