"""Reading areas: GeoJSON for maps, and the area that contains a point."""
from __future__ import annotations

from dataclasses import dataclass

import psycopg

LEVELS = ("district", "street", "community", "grid")


class UnknownLevel(ValueError):
    """The level is not one of district, street, community, grid."""


@dataclass(frozen=True)
class AreaRef:
    """The identity of one area."""

    id: int
    code: str
    name: str
    name_en: str | None
    level: str


_FEATURES = """
SELECT json_build_object(
    'type', 'FeatureCollection',
    'features', COALESCE(json_agg(json_build_object(
        'type', 'Feature',
        'id', a.id,
        'geometry', ST_AsGeoJSON(a.geom, 6)::json,
        'properties', json_build_object(
            'code', a.code, 'name', a.name, 'name_en', a.name_en, 'level', a.level,
            'parent_code', p.code, 'population', a.population,
            'area_km2', round((ST_Area(a.geom::geography) / 1e6)::numeric, 3),
            'source', a.source, 'loaded_at', a.loaded_at)
    ) ORDER BY area_level_rank(a.level), a.code), '[]'::json)
)
FROM areas a LEFT JOIN areas p ON p.id = a.parent_id
WHERE (%(level)s::text IS NULL OR a.level = %(level)s)
"""

_CONTAINING = """
SELECT id, code, name, name_en, level
FROM areas
WHERE level = %(level)s
  AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
-- Only the few areas that hold the point are measured.
ORDER BY ST_Area(geom::geography), id
LIMIT 1
"""


def _check_level(level: str | None) -> None:
    if level is not None and level not in LEVELS:
        raise UnknownLevel(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")


def feature_collection(conn: psycopg.Connection, level: str | None = None) -> dict:
    """All areas (optionally of one level) as a GeoJSON FeatureCollection."""
    _check_level(level)
    return conn.execute(_FEATURES, {"level": level}).fetchone()[0]


def containing(conn: psycopg.Connection, lon: float, lat: float, level: str = "community") -> AreaRef | None:
    """The smallest area of the level that contains the point (overlapping boundaries are common)."""
    _check_level(level)
    row = conn.execute(_CONTAINING, {"lon": lon, "lat": lat, "level": level}).fetchone()
    return AreaRef(*row) if row else None


def count(conn: psycopg.Connection, level: str | None = None) -> int:
    """How many areas there are (of one level, or in all)."""
    _check_level(level)
    return conn.execute(
        "SELECT count(*) FROM areas WHERE %(level)s::text IS NULL OR level = %(level)s", {"level": level}
    ).fetchone()[0]
