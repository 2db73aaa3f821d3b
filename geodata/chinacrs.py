"""Vectorised conversion between WGS84 and the GCJ-02 / BD-09 offset systems of Chinese web maps."""
from __future__ import annotations

import logging
import math

import numpy as np
import shapely

logger = logging.getLogger(__name__)

# Krasovsky 1940 ellipsoid, as used by the public GCJ-02 formula.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

# Rough mainland-China box of the public algorithm; outside it GCJ-02 == WGS84.
# It is a rectangle, so it also covers e.g. Korea, Japan and parts of South-East Asia.
_LON_MIN, _LON_MAX = 72.004, 137.8347
_LAT_MIN, _LAT_MAX = 0.8293, 55.8271

# Inverse iterations stop once the forward residual is this small (degrees).
_TOL = 1e-9
_MAX_ITER = 20

SYSTEMS = ("wgs84", "gcj02", "bd09")


def _prepare(lon, lat):
    """Return float arrays for lon/lat plus whether the caller passed scalars."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return lon_a, lat_a, scalar


def _finish(lon, lat, scalar):
    """Hand results back as floats for scalar input, arrays otherwise."""
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def out_of_china(lon, lat):
    """True where a point lies outside the box in which GCJ-02 applies its offset."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon < _LON_MIN) | (lon > _LON_MAX) | (lat < _LAT_MIN) | (lat > _LAT_MAX)


def _gcj_offset(lon, lat):
    """Offset (dlon, dlat) in degrees that GCJ-02 adds to a WGS84 point, ignoring the box."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    # Shared high-frequency term of both axes.
    wave_x = (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0

    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
            + wave_x
            + (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y / 30.0 * math.pi)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
            + wave_x
            + (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)

    # The raw terms are metres-like; scale them by the meridian and parallel radii.
    rad_lat = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad_lat) * math.pi)
    return dlon, dlat


def _wgs_to_gcj_unmasked(lon, lat):
    """Forward GCJ-02 formula applied everywhere (the inverse needs it without the box)."""
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_bd_arrays(lon, lat):
    """Closed-form GCJ-02 -> BD-09 on arrays."""
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _refine(forward, target_lon, target_lat, lon, lat, what):
    """Solve forward(lon, lat) == target by fixed-point iteration from a first guess."""
    # The offsets vary slowly (derivative well below 1e-2), so w <- w - (f(w) - g) contracts
    # about 150-fold per step: 3-4 steps from the closed-form first guess reach ~1e-12 deg.
    for _ in range(_MAX_ITER):
        f_lon, f_lat = forward(lon, lat)
        r_lon = f_lon - target_lon
        r_lat = f_lat - target_lat
        lon = lon - r_lon
        lat = lat - r_lat
        residual = max(np.nanmax(np.abs(r_lon), initial=0.0), np.nanmax(np.abs(r_lat), initial=0.0))
        if residual < _TOL:
            return lon, lat
    logger.warning("%s inverse did not converge below %g deg in %d iterations (residual %g)",
                   what, _TOL, _MAX_ITER, residual)
    return lon, lat


def wgs84_to_gcj02(lon, lat):
    """Convert WGS84 to GCJ-02; points outside the mainland-China box are returned unchanged."""
    lon, lat, scalar = _prepare(lon, lat)
    g_lon, g_lat = lon.copy(), lat.copy()
    # Only the inside points are evaluated: near the poles the formula blows up (cos(lat) -> 0).
    inside = ~out_of_china(lon, lat)
    g_lon[inside], g_lat[inside] = _wgs_to_gcj_unmasked(lon[inside], lat[inside])
    return _finish(g_lon, g_lat, scalar)


def gcj02_to_wgs84(lon, lat):
    """Convert GCJ-02 to WGS84 by iterating the forward formula; out-of-box points are unchanged."""
    lon, lat, scalar = _prepare(lon, lat)
    w_lon, w_lat = lon.copy(), lat.copy()
    # The box is tested on the GCJ-02 input: the offset is < 1 km, so this only differs from
    # testing the (unknown) WGS84 point in a thin strip along the box edge, all abroad or at sea.
    inside = ~out_of_china(lon, lat)
    g_lon, g_lat = lon[inside], lat[inside]
    dlon, dlat = _gcj_offset(g_lon, g_lat)
    w_lon[inside], w_lat[inside] = _refine(_wgs_to_gcj_unmasked, g_lon, g_lat,
                                           g_lon - dlon, g_lat - dlat, "GCJ-02")
    return _finish(w_lon, w_lat, scalar)


def gcj02_to_bd09(lon, lat):
    """Convert GCJ-02 to BD-09 (applied everywhere, like the widely used public formula)."""
    lon, lat, scalar = _prepare(lon, lat)
    b_lon, b_lat = _gcj_to_bd_arrays(lon, lat)
    return _finish(b_lon, b_lat, scalar)


def bd09_to_gcj02(lon, lat):
    """Convert BD-09 to GCJ-02, refining the usual closed form so the round trip is exact."""
    lon, lat, scalar = _prepare(lon, lat)
    # The textbook inverse only flips the signs of the small terms, which leaves an error
    # of up to ~2e-6 deg (~0.2 m); it is still the best starting point for the iteration.
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    g_lon, g_lat = _refine(_gcj_to_bd_arrays, lon, lat, z * np.cos(theta), z * np.sin(theta), "BD-09")
    return _finish(g_lon, g_lat, scalar)


def bd09_to_wgs84(lon, lat):
    """Convert BD-09 to WGS84 via GCJ-02."""
    g_lon, g_lat = bd09_to_gcj02(lon, lat)
    return gcj02_to_wgs84(g_lon, g_lat)


def wgs84_to_bd09(lon, lat):
    """Convert WGS84 to BD-09 via GCJ-02."""
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    return gcj02_to_bd09(g_lon, g_lat)


def _normalise_system(system):
    """Return the canonical lower-case system name or raise ValueError."""
    name = system.strip().lower() if isinstance(system, str) else None
    if name not in SYSTEMS:
        raise ValueError(
            f"unknown coordinate system {system!r}; expected one of {', '.join(SYSTEMS)} (case-insensitive)"
        )
    return name


def to_wgs84(system, lon, lat):
    """Convert lon/lat given in `system` ("wgs84", "gcj02" or "bd09") to WGS84."""
    name = _normalise_system(system)
    if name == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if name == "bd09":
        return bd09_to_wgs84(lon, lat)
    if isinstance(lon, (int, float)) and isinstance(lat, (int, float)):
        # A single point as most reports send it: no arrays needed to hand back two floats.
        return float(lon), float(lat)
    lon, lat, scalar = _prepare(lon, lat)
    # Copy so callers never get a view of (or a broadcast of) their own input back.
    return _finish(lon.copy(), lat.copy(), scalar)


def transform_geometries(geoms, system):
    """Return a new array of the shapely geometries with 2D coordinates converted from `system` to WGS84."""
    name = _normalise_system(system)
    geoms = np.asarray(geoms, dtype=object)

    def convert(coords):
        lon, lat = to_wgs84(name, coords[:, 0], coords[:, 1])
        return np.column_stack((lon, lat))

    # One call per batch: shapely hands all vertices of all geometries to `convert` at once.
    return shapely.transform(geoms, convert, include_z=False)
