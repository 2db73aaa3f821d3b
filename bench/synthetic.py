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
