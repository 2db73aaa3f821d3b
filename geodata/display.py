"""Coordinates for display: WGS84 as stored, or shifted to GCJ-02 for a Chinese basemap.

Storage is always WGS84 (docs/china-coordinates.md). A map whose basemap tiles are drawn in GCJ-02
(AMap/Gaode, Tencent) asks for shifted geometries so that they land on the streets it shows; the
shift is applied to answers only and never written back.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from geodata import chinacrs
from geodata.validation import ValidationError

DISPLAY_CRS = ("wgs84", "gcj02")


class InvalidDisplayCrs(ValidationError):
    """?crs= names a coordinate system maps cannot be drawn in."""

    def __init__(self, value: Any):
        super().__init__({"crs": f"must be one of {', '.join(DISPLAY_CRS)}"},
                         f"Unknown display coordinate system {str(value)[:40]!r}; use one of {', '.join(DISPLAY_CRS)}.")


def parse_crs(value: str | None) -> str:
    """wgs84 (also for a missing or empty value) or gcj02; anything else is refused."""
    crs = (value or "wgs84").strip().lower()
    if crs not in DISPLAY_CRS:
        raise InvalidDisplayCrs(value)
    return crs


def _positions(coords: Any, out: list) -> None:
    if coords and isinstance(coords[0], (int, float)):
        out.append(coords)
    else:
        for part in coords:
            _positions(part, out)


def shift_geojson(obj: dict, crs: str) -> dict:
    """The GeoJSON object (FeatureCollection, Feature or geometry) with every position shifted to crs.

    Shifts in place and returns obj. All positions are converted in one vectorised call.
    """
    if crs == "wgs84":
        return obj
    if crs != "gcj02":
        raise InvalidDisplayCrs(crs)
    positions: list[list[float]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "GeometryCollection":
                for g in node.get("geometries") or ():
                    walk(g)
            elif "coordinates" in node:
                _positions(node["coordinates"], positions)
            else:
                for key in ("features", "geometry"):
                    value = node.get(key)
                    if isinstance(value, list):
                        for item in value:
                            walk(item)
                    elif isinstance(value, dict):
                        walk(value)

    walk(obj)
    if positions:
        xy = np.array([(p[0], p[1]) for p in positions], dtype=float)
        lon, lat = chinacrs.wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        for p, x, y in zip(positions, lon.tolist(), lat.tolist()):
            # 7 decimals is 1 cm: as precise as the stored GeoJSON of areas, without float noise.
            p[0], p[1] = round(x, 7), round(y, 7)
    return obj
