"""Hot spot analysis: issues binned into H3 hexagons, Getis-Ord Gi* z-scores, p-values, FDR, classes.

Pure functions on arrays: no Flask, no database. The web/db layer either hands over points
(``hotspots_from_points(lons, lats, resolution)``) or counts it has already aggregated per cell
(``hotspots({cell: count})`` or ``hotspots((cells, counts))``), then serves ``to_geojson(result)`` and
``LEGEND``. The method, its assumptions and the measured agreement with PySAL are in docs/hotspots.md.

Conventions follow ArcGIS' Hot Spot Analysis (Getis-Ord Gi*): binary weights with the cell itself
included, two-sided p-values from the normal approximation, and ``Gi_Bin`` from +3 (hot, 99 %) to -3
(cold, 99 %). Like ArcGIS, the z-score and p-value are never FDR-corrected; the correction (Benjamini-
Hochberg, applied separately at 0.10, 0.05 and 0.01 over all cells) only moves cells between bins.
Both the corrected bin (``gi_bin``, what the map shows) and the uncorrected one are returned.
"""
from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import h3
import h3.api.basic_int as h3i
import numpy as np
import scipy.sparse as sp
from scipy.special import ndtr

MIN_RESOLUTION = 5
MAX_RESOLUTION = 11
DEFAULT_RESOLUTION = 9
DEFAULT_K = 1
MAX_K = 10
# A study region larger than this is refused rather than computed: 100,000 cells take about 1 s of
# CPU, 1,000,000 about 13 s (docs/hotspots.md). A whole district at resolution 9 is a few thousand.
DEFAULT_MAX_CELLS = 500_000

# Significance levels of Gi_Bin 3, 2, 1 (99, 95, 90 % confidence), as in ArcGIS.
ALPHAS = (0.01, 0.05, 0.10)

CLASS_BY_BIN = {
    3: "hot_99", 2: "hot_95", 1: "hot_90", 0: "not_significant",
    -1: "cold_90", -2: "cold_95", -3: "cold_99",
}
BIN_BY_CLASS = {c: b for b, c in CLASS_BY_BIN.items()}

# The legend, hot to cold. Colours are the ones ArcGIS' Spatial Statistics tools use for Gi_Bin
# +3 .. -3 (red - pale yellow - blue). Descriptions are for officials, not statisticians.
LEGEND: tuple[dict[str, Any], ...] = (
    {
        "class": "hot_99", "gi_bin": 3, "color": "#D62F27",
        "label": {"en": "Hot spot, 99% confidence", "zh": "热点（99% 置信度）"},
        "description": {
            "en": "This cell and its neighbours together have far more reports than the study area as a "
                  "whole. A cluster this strong would arise by chance less than 1 time in 100: a place "
                  "to look at first.",
            "zh": "该格及其相邻格的问题数合计远高于整个研究区域的平均水平。纯属偶然形成如此集中的可能性"
                  "不到百分之一，应优先关注。",
        },
    },
    {
        "class": "hot_95", "gi_bin": 2, "color": "#ED7551",
        "label": {"en": "Hot spot, 95% confidence", "zh": "热点（95% 置信度）"},
        "description": {
            "en": "This cell and its neighbours have clearly more reports than the study area as a whole; "
                  "chance alone would produce this less than 5 times in 100.",
            "zh": "该格及其相邻格的问题数明显高于整个研究区域；纯属偶然的可能性不到百分之五。",
        },
    },
    {
        "class": "hot_90", "gi_bin": 1, "color": "#FAB984",
        "label": {"en": "Hot spot, 90% confidence", "zh": "热点（90% 置信度）"},
        "description": {
            "en": "This cell and its neighbours have more reports than the study area as a whole; chance "
                  "alone would produce this less than 10 times in 100. Worth watching.",
            "zh": "该格及其相邻格的问题数高于整个研究区域；纯属偶然的可能性不到百分之十，值得留意。",
        },
    },
    {
        "class": "not_significant", "gi_bin": 0, "color": "#FFFFBF",
        "label": {"en": "Not significant", "zh": "不显著"},
        "description": {
            "en": "No clear concentration: the number of reports here and around is within what chance "
                  "alone produces. It does not mean there are no problems here.",
            "zh": "没有明显的集中：此处及周边的问题数在随机波动的范围之内。这并不表示这里没有问题。",
        },
    },
    {
        "class": "cold_90", "gi_bin": -1, "color": "#C0CCBE",
        "label": {"en": "Cold spot, 90% confidence", "zh": "冷点（90% 置信度）"},
        "description": {
            "en": "This cell and its neighbours have fewer reports than the study area as a whole (less "
                  "than a 10 in 100 chance of being luck). Fewer reports can mean fewer problems, or "
                  "fewer people reporting them.",
            "zh": "该格及其相邻格的问题数低于整个研究区域（偶然的可能性不到百分之十）。报告少可能是问题少，"
                  "也可能是反映问题的人少。",
        },
    },
    {
        "class": "cold_95", "gi_bin": -2, "color": "#849EBA",
        "label": {"en": "Cold spot, 95% confidence", "zh": "冷点（95% 置信度）"},
        "description": {
            "en": "This cell and its neighbours have clearly fewer reports than the study area as a whole "
                  "(less than a 5 in 100 chance). Fewer reports can mean fewer problems, or fewer people "
                  "reporting them.",
            "zh": "该格及其相邻格的问题数明显低于整个研究区域（偶然的可能性不到百分之五）。报告少可能是"
                  "问题少，也可能是反映问题的人少。",
        },
    },
    {
        "class": "cold_99", "gi_bin": -3, "color": "#4575B5",
        "label": {"en": "Cold spot, 99% confidence", "zh": "冷点（99% 置信度）"},
        "description": {
            "en": "This cell and its neighbours have far fewer reports than the study area as a whole "
                  "(less than a 1 in 100 chance). Fewer reports can mean fewer problems, or that residents "
                  "here are not reporting: worth checking which.",
            "zh": "该格及其相邻格的问题数远低于整个研究区域（偶然的可能性不到百分之一）。报告少可能是问题"
                  "少，也可能是这里的居民没有反映问题，值得核实。",
        },
    },
)


class InvalidResolution(ValueError):
    """An H3 resolution outside MIN_RESOLUTION..MAX_RESOLUTION (or not an integer, or cells that mix
    resolutions)."""


class InvalidInput(ValueError):
    """Malformed input other than the resolution: coordinates, cells, counts, k, area."""


class StudyAreaTooLarge(ValueError):
    """The study region would have more cells than max_cells (a coarser resolution helps)."""


# ---------------------------------------------------------------------------------------------------
# Validation


def check_resolution(resolution: Any) -> int:
    """The resolution as an int, or InvalidResolution. bool and float are refused (9.0 is not 9)."""
    if isinstance(resolution, bool):
        raise InvalidResolution(_resolution_message(resolution))
    try:
        res = operator.index(resolution)
    except TypeError:
        raise InvalidResolution(_resolution_message(resolution)) from None
    if not MIN_RESOLUTION <= res <= MAX_RESOLUTION:
        raise InvalidResolution(_resolution_message(resolution))
    return res


def _resolution_message(resolution: Any) -> str:
    return (f"H3 resolution must be an integer from {MIN_RESOLUTION} to {MAX_RESOLUTION} "
            f"(default {DEFAULT_RESOLUTION}), got {resolution!r}")


def _check_k(k: Any, name: str = "k", minimum: int = 1) -> int:
    if isinstance(k, bool):
        raise InvalidInput(f"{name} must be an integer from {minimum} to {MAX_K}, got {k!r}")
    try:
        k = operator.index(k)
    except TypeError:
        raise InvalidInput(f"{name} must be an integer from {minimum} to {MAX_K}, got {k!r}") from None
    if not minimum <= k <= MAX_K:
        raise InvalidInput(f"{name} must be an integer from {minimum} to {MAX_K}, got {k!r}")
    return k


def check_k(k: Any) -> int:
    """The neighbourhood radius as an int 1..MAX_K, or InvalidInput."""
    return _check_k(k)


# ---------------------------------------------------------------------------------------------------
# Binning


def bin_points_int(lons: Any, lats: Any, resolution: int = DEFAULT_RESOLUTION) -> tuple[np.ndarray, np.ndarray]:
    """Points -> (sorted unique H3 cells as uint64, counts as int64).

    h3-py has no vectorised latlng_to_cell, so the one unavoidable per-point step is a C call driven by
    map() (no Python frame per point); the counting is numpy. About 1.3 s per million points.
    """
    res = check_resolution(resolution)
    lon = np.asarray(lons, dtype=float).ravel()
    lat = np.asarray(lats, dtype=float).ravel()
    if lon.shape != lat.shape:
        raise InvalidInput(f"lons and lats differ in length ({lon.size} and {lat.size})")
    if lon.size == 0:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInput(f"{int(bad.sum())} point(s) are not longitude/latitude in degrees; the first is "
                           f"number {i}: lon={lon[i]!r}, lat={lat[i]!r}")
    cells = np.fromiter(map(h3i.latlng_to_cell, lat.tolist(), lon.tolist(), itertools.repeat(res)),
                        dtype=np.uint64, count=lon.size)
    return np.unique(cells, return_counts=True)


def bin_points(lons: Any, lats: Any, resolution: int = DEFAULT_RESOLUTION) -> dict[str, int]:
    """Points (degrees, WGS84) -> {H3 cell (hex string): number of points in it}.

    Empty input gives {}. Non-finite or out-of-range coordinates raise InvalidInput; a bad resolution
    raises InvalidResolution.
    """
    cells, counts = bin_points_int(lons, lats, resolution)
    return dict(zip(map(h3.int_to_str, cells.tolist()), counts.tolist()))


def _cell_to_int(cell: Any) -> int:
    if isinstance(cell, str):
        try:
            value = int(cell.strip(), 16)
        except ValueError:
            raise InvalidInput(f"not an H3 cell: {cell!r}") from None
    elif isinstance(cell, (int, np.integer)) and not isinstance(cell, bool):
        value = int(cell)
    else:
        raise InvalidInput(f"not an H3 cell: {cell!r}")
    if value < 0 or value >= 1 << 64 or not h3i.is_valid_cell(value):
        raise InvalidInput(f"not an H3 cell: {cell!r}")
    return value


def _normalise_counts(counts: Any, resolution: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """{cell: count} or (cells, counts) -> (sorted unique uint64 cells, float counts, resolution).

    Cells may be H3 hex strings or integers; repeated cells are summed. Counts must be finite and
    non-negative (any weight works, not only integers).
    """
    shape_error = ("counts must be a mapping {cell: count} or a tuple (cells, counts); "
                   "rows of (cell, count) can be passed as dict(rows)")
    if isinstance(counts, Mapping):
        cell_list, value_list = list(counts.keys()), list(counts.values())
    elif isinstance(counts, tuple) and len(counts) == 2:
        cell_list, value_list = counts
        if isinstance(cell_list, str) or not isinstance(cell_list, Iterable):
            raise InvalidInput(shape_error)
        cell_list = list(cell_list)
    else:
        raise InvalidInput(shape_error)
    try:
        values = np.asarray(value_list, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InvalidInput("counts must be numbers") from None
    if values.size != len(cell_list):
        raise InvalidInput(f"{len(cell_list)} cells but {values.size} counts")
    if not np.isfinite(values).all() or (values < 0).any():
        raise InvalidInput("counts must be finite and non-negative")
    res = None if resolution is None else check_resolution(resolution)
    if not cell_list:
        return np.empty(0, np.uint64), np.empty(0, float), DEFAULT_RESOLUTION if res is None else res
    ints = np.fromiter(map(_cell_to_int, cell_list), dtype=np.uint64, count=len(cell_list))
    # The resolution sits in bits 52..55 of every H3 index.
    resolutions = np.unique((ints >> np.uint64(52)) & np.uint64(0xF))
    if resolutions.size > 1:
        raise InvalidResolution(f"cells mix H3 resolutions {sorted(resolutions.tolist())}; "
                                "all cells must have one resolution")
    found = int(resolutions[0])
    check_resolution(found)
    if res is not None and res != found:
        raise InvalidResolution(f"cells have H3 resolution {found} but resolution={res} was asked for")
    cells, inverse = np.unique(ints, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=values, minlength=cells.size)
    return cells, summed, found


# ---------------------------------------------------------------------------------------------------
# Study region and weights


def _disks(cells: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For each cell, its grid_disk(k) (itself included): (flat uint64 array, lengths).

    A disk holds 1 + 3k(k+1) cells unless it contains one of the 12 pentagons of the resolution, i.e.
    unless the cell is within k of a pentagon. Away from pentagons (always, in practice: they sit in
    the oceans) the disks are streamed straight into one array without keeping a list per cell, which
    spares the garbage collector a million small lists.
    """
    if cells.size == 0:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    full = 1 + 3 * k * (k + 1)
    res = int((int(cells[0]) >> 52) & 0xF)
    near_pentagon = np.fromiter(
        itertools.chain.from_iterable(h3i.grid_disk(p, k) for p in h3i.get_pentagons(res)), dtype=np.uint64)
    if not np.isin(cells, near_pentagon).any():
        flat = np.fromiter(itertools.chain.from_iterable(map(h3i.grid_disk, cells.tolist(), itertools.repeat(k))),
                           dtype=np.uint64, count=full * cells.size)
        return flat, np.full(cells.size, full, np.int64)
    disks = list(map(h3i.grid_disk, cells.tolist(), itertools.repeat(k)))
    lengths = np.fromiter(map(len, disks), dtype=np.int64, count=len(disks))
    flat = np.fromiter(itertools.chain.from_iterable(disks), dtype=np.uint64, count=int(lengths.sum()))
    return flat, lengths


def _estimated_area_cells(area: Any, res: int) -> float:
    """Rough number of H3 cells covering an area (geodesic area over the mean cell area)."""
    import shapely.geometry
    from pyproj import Geod

    geom = shapely.geometry.shape(area.__geo_interface__ if hasattr(area, "__geo_interface__") else area)
    m2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0])
    return m2 / h3.average_hexagon_area(res, unit="m^2")


def _area_cells(area: Any, res: int, max_cells: int) -> np.ndarray:
    if isinstance(area, h3.H3Shape):
        cells = h3i.h3shape_to_cells(area, res)
    else:
        try:
            if _estimated_area_cells(area, res) > max_cells:
                raise StudyAreaTooLarge(f"the area needs more than {max_cells} H3 cells at resolution {res}; "
                                        "use a coarser resolution or a smaller area")
            cells = h3i.geo_to_cells(area, res)
        except (StudyAreaTooLarge, InvalidResolution):
            raise
        except Exception as exc:  # h3/shapely raise assorted errors on malformed geometries
            raise InvalidInput(f"area is not a GeoJSON Polygon or MultiPolygon in lon/lat: {exc}") from None
    return np.unique(np.fromiter(cells, dtype=np.uint64))


def study_region(cells: np.ndarray, resolution: int, *, pad: int = 1, area: Any = None,
                 max_cells: int = DEFAULT_MAX_CELLS) -> np.ndarray:
    """The cells the statistic is computed over (sorted uint64).

    Without an area: the cells with counts plus every cell within `pad` rings of them (their zero-count
    neighbours). With an area (a GeoJSON Polygon/MultiPolygon dict, anything with __geo_interface__, or
    an h3.H3Shape): the cells whose centres lie in it (h3.geo_to_cells), plus the cells with counts
    (points near the boundary can fall in a cell whose centre is just outside; they are never dropped).
    """
    res = check_resolution(resolution)
    cells = np.asarray(cells, dtype=np.uint64)
    if area is not None:
        region = np.union1d(_area_cells(area, res, max_cells), cells)
    elif cells.size == 0:
        region = cells
    else:
        pad = _check_k(pad, "pad", minimum=0)
        region = np.unique(_disks(cells, pad)[0]) if pad else np.unique(cells)
    if region.size > max_cells:
        raise StudyAreaTooLarge(f"the study region has {region.size} H3 cells, more than {max_cells}; "
                                "use a coarser resolution or a smaller area")
    return region


def neighbour_lists(region: np.ndarray, k: int = DEFAULT_K) -> tuple[np.ndarray, np.ndarray]:
    """CSR-style neighbour lists within the region: (indptr, indices), cell i's neighbours (itself
    included: grid_disk(k) restricted to the region, in the region's index) are
    indices[indptr[i]:indptr[i + 1]]."""
    k = _check_k(k)
    region = np.asarray(region, dtype=np.uint64)
    if region.size == 0:
        return np.zeros(1, np.int64), np.empty(0, np.int64)
    flat, lengths = _disks(region, k)
    rows = np.repeat(np.arange(region.size), lengths)
    pos = np.searchsorted(region, flat)
    pos[pos == region.size] = 0
    inside = region[pos] == flat
    rows, cols = rows[inside], pos[inside]
    indptr = np.zeros(region.size + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=region.size), out=indptr[1:])
    return indptr, cols.astype(np.int64)


def neighbour_matrix(region: np.ndarray, k: int = DEFAULT_K) -> sp.csr_matrix:
    """Binary contiguity weights of H3 rings 1..k *with the cell itself* (w_ii = 1), as a CSR matrix
    over the region's cells: the Gi* weights."""
    indptr, indices = neighbour_lists(region, k)
    n = len(indptr) - 1
    return sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(n, n))


# ---------------------------------------------------------------------------------------------------
# Statistics


def gi_star(y: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
    """Getis-Ord Gi* for every row of the weights: (z-scores, two-sided p-values).

    z_i = (sum_j w_ij y_j - ybar W_i) / (S sqrt((n S1_i - W_i^2) / (n - 1)))
    with W_i = sum_j w_ij, S1_i = sum_j w_ij^2, ybar and S the mean and population standard deviation
    of y over all n cells (Getis & Ord 1992, Ord & Getis 1995; the ArcGIS formula). `w` must carry the
    self-weights on its diagonal (neighbour_matrix does). Where the statistic is undefined - all values
    equal, fewer than two cells, or a neighbourhood that is the whole region - z is 0 and p is 1.
    """
    y = np.asarray(y, dtype=float).ravel()
    n = y.size
    if n == 0:
        return np.empty(0), np.empty(0)
    w = sp.csr_matrix(w, dtype=float)
    if w.shape != (n, n):
        raise InvalidInput(f"weights are {w.shape[0]}x{w.shape[1]} for {n} values")
    z = np.zeros(n)
    if n >= 2 and y.max() != y.min():  # an exact test: a tiny float std of equal values is not variance
        mean = y.mean()
        s = y.std()
        wi = np.asarray(w.sum(axis=1)).ravel()
        s1i = np.asarray(w.multiply(w).sum(axis=1)).ravel()
        lag = w @ y
        spread = n * s1i - wi * wi
        ok = spread > 1e-12 * n * s1i  # 0 when the neighbourhood is the whole region
        z[ok] = (lag[ok] - mean * wi[ok]) / (s * np.sqrt(spread[ok] / (n - 1)))
    p = 2.0 * ndtr(-np.abs(z))
    return z, p


def benjamini_hochberg(p: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values): a cell is FDR-significant at level alpha exactly
    when q <= alpha, i.e. when its p is at most the largest p_(r) with p_(r) <= r/m * alpha."""
    p = np.asarray(p, dtype=float).ravel()
    m = p.size
    if m == 0:
        return np.empty(0)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def gi_bins(z: Any, p: Any) -> np.ndarray:
    """ArcGIS' Gi_Bin: sign(z) * 3, 2 or 1 where p <= 0.01, 0.05 or 0.10, else 0 (int8). Pass the raw
    p for the uncorrected bins, or Benjamini-Hochberg q-values for the FDR-corrected ones."""
    z = np.asarray(z, dtype=float).ravel()
    p = np.asarray(p, dtype=float).ravel()
    level = (p <= ALPHAS[2]).astype(np.int8) + (p <= ALPHAS[1]) + (p <= ALPHAS[0])
    return (np.sign(z).astype(np.int8) * level).astype(np.int8)


# ---------------------------------------------------------------------------------------------------
# The analysis


@dataclass(frozen=True, eq=False)
class HotspotResult:
    """One row per cell of the study region, as parallel arrays (sorted by cell).

    cells            H3 cells (hex strings, numpy object array)
    counts           issues (or weights) in the cell; 0 for cells added by the study region
    neighbours       cells in the Gi* neighbourhood, the cell itself included (ArcGIS' NNeighbors)
    z, p             Gi* z-score and two-sided p-value (normal approximation); never FDR-corrected
    p_fdr            Benjamini-Hochberg adjusted p-value (q-value) over all cells of the region
    gi_bin           -3..3 with the FDR correction (what the map shows; ArcGIS with "Apply FDR")
    gi_bin_uncorrected  -3..3 from p alone (ArcGIS without FDR)
    """

    cells: np.ndarray
    counts: np.ndarray
    neighbours: np.ndarray
    z: np.ndarray
    p: np.ndarray
    p_fdr: np.ndarray
    gi_bin: np.ndarray
    gi_bin_uncorrected: np.ndarray
    resolution: int
    k: int

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def classes(self) -> list[str]:
        """"hot_99" .. "not_significant" .. "cold_99", FDR-corrected."""
        return [CLASS_BY_BIN[b] for b in self.gi_bin.tolist()]

    @property
    def classes_uncorrected(self) -> list[str]:
        return [CLASS_BY_BIN[b] for b in self.gi_bin_uncorrected.tolist()]

    def class_counts(self, corrected: bool = True) -> dict[str, int]:
        """Number of cells per class, every class present (hot to cold)."""
        bins = self.gi_bin if corrected else self.gi_bin_uncorrected
        found = np.bincount(bins.astype(np.int64) + 3, minlength=7)
        return {CLASS_BY_BIN[b]: int(found[b + 3]) for b in range(3, -4, -1)}

    def records(self) -> list[dict[str, Any]]:
        """One plain dict per cell (JSON-ready: str, int and finite float only)."""
        counts = self.counts.tolist()
        return [
            {"cell": c, "count": _plain_number(n), "neighbours": nb, "z": z, "p": p, "p_fdr": q,
             "gi_bin": b, "class": CLASS_BY_BIN[b],
             "gi_bin_uncorrected": bu, "class_uncorrected": CLASS_BY_BIN[bu]}
            for c, n, nb, z, p, q, b, bu in zip(
                self.cells.tolist(), counts, self.neighbours.tolist(), self.z.tolist(), self.p.tolist(),
                self.p_fdr.tolist(), self.gi_bin.tolist(), self.gi_bin_uncorrected.tolist())
        ]


def _plain_number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def hotspots(counts: Any, *, resolution: int | None = None, k: int = DEFAULT_K, pad: int = 1,
             area: Any = None, max_cells: int = DEFAULT_MAX_CELLS) -> HotspotResult:
    """Gi* hot spot analysis of counts per H3 cell.

    counts      {cell: count} (e.g. bin_points' result) or a tuple (cells, counts) as the database
                aggregated them; cells are H3 hex strings or integers of one resolution
    resolution  checked against the cells' resolution when given; needed only to cover an `area`
                when there are no counts (default 9)
    k           neighbourhood: the H3 grid disk of radius k around a cell, the cell itself included
                (k=1: the cell and its 6 neighbours)
    pad         without an area, the study region is the cells with counts plus all cells within
                `pad` rings of them (zero counts); 0 keeps only the given cells
    area        a GeoJSON Polygon/MultiPolygon (lon/lat), or anything with __geo_interface__, or an
                h3.H3Shape: the study region is then every cell whose centre is in it (plus any cell
                with a count)
    max_cells   refuse (StudyAreaTooLarge) a larger study region

    Raises InvalidResolution, InvalidInput or StudyAreaTooLarge (all ValueError). Empty input gives an
    empty result (or, with an area, its cells, all zero and not significant).
    """
    k = _check_k(k)
    cells, values, res = _normalise_counts(counts, resolution)
    region = study_region(cells, res, pad=pad, area=area, max_cells=max_cells)
    y = np.zeros(region.size)
    y[np.searchsorted(region, cells)] = values
    w = neighbour_matrix(region, k)
    z, p = gi_star(y, w)
    q = benjamini_hochberg(p)
    return HotspotResult(
        cells=np.array(list(map(h3.int_to_str, region.tolist())), dtype=object),
        counts=y,
        neighbours=np.diff(w.indptr).astype(np.int64),
        z=z, p=p, p_fdr=q,
        gi_bin=gi_bins(z, q),
        gi_bin_uncorrected=gi_bins(z, p),
        resolution=res, k=k,
    )


def hotspots_from_points(lons: Any, lats: Any, resolution: int = DEFAULT_RESOLUTION, **options: Any) -> HotspotResult:
    """bin_points, then hotspots (same options: k, pad, area, max_cells)."""
    cells, counts = bin_points_int(lons, lats, resolution)
    return hotspots((cells, counts), resolution=resolution, **options)


# ---------------------------------------------------------------------------------------------------
# Output


def cell_polygon(cell: str | int, precision: int = 7) -> list[list[list[float]]]:
    """The hexagon (or pentagon) as GeoJSON Polygon coordinates: one closed, counter-clockwise ring of
    [lon, lat] (RFC 7946 order and winding; H3 gives its vertices counter-clockwise)."""
    return _polygons([cell if isinstance(cell, str) else h3.int_to_str(int(cell))], precision)[0]


def _polygons(cells: list[str], precision: int = 7) -> list[list[list[list[float]]]]:
    """cell_polygon for many cells; the rounding and axis swap are done once on a flat array.

    Cells crossing the antimeridian are not split (RFC 7946 section 3.1.9 asks for it): they come out as
    a ring spanning the globe, valid JSON but drawn wrong; no deployment of this project is near 180 deg.
    """
    bounds = list(map(h3.cell_to_boundary, cells))
    lengths = np.fromiter(map(len, bounds), dtype=np.int64, count=len(bounds))
    flat = np.fromiter(itertools.chain.from_iterable(itertools.chain.from_iterable(bounds)), dtype=float,
                       count=2 * int(lengths.sum())).reshape(-1, 2)
    lnglat = np.round(flat[:, ::-1], precision).tolist()
    out = []
    start = 0
    for length in lengths.tolist():
        ring = lnglat[start:start + length]
        ring.append(list(ring[0]))
        out.append([ring])
        start += length
    return out


def to_geojson(result: HotspotResult, *, only_significant: bool = False, precision: int = 7) -> dict[str, Any]:
    """RFC 7946 FeatureCollection: one Polygon per cell with the properties of HotspotResult.records()
    (cell, count, neighbours, z, p, p_fdr, gi_bin, class, gi_bin_uncorrected, class_uncorrected) and
    `color` from LEGEND; the feature id is the cell. only_significant keeps the cells significant with
    or without the correction. Coordinates are rounded to `precision` decimals (7: about 1 cm)."""
    colours = {entry["gi_bin"]: entry["color"] for entry in LEGEND}
    records = result.records()
    if only_significant:
        records = [r for r in records if r["gi_bin"] or r["gi_bin_uncorrected"]]
    polygons = _polygons([r["cell"] for r in records], precision)
    features = []
    for record, polygon in zip(records, polygons):
        record["color"] = colours[record["gi_bin"]]
        features.append({
            "type": "Feature",
            "id": record["cell"],
            "geometry": {"type": "Polygon", "coordinates": polygon},
            "properties": record,
        })
    return {"type": "FeatureCollection", "features": features}


__all__ = [
    "ALPHAS", "BIN_BY_CLASS", "CLASS_BY_BIN", "DEFAULT_K", "DEFAULT_MAX_CELLS", "DEFAULT_RESOLUTION",
    "HotspotResult", "InvalidInput", "InvalidResolution", "LEGEND", "MAX_K", "MAX_RESOLUTION",
    "MIN_RESOLUTION", "StudyAreaTooLarge", "benjamini_hochberg", "bin_points", "bin_points_int",
    "cell_polygon", "check_k", "check_resolution", "gi_bins", "gi_star", "hotspots", "hotspots_from_points",
    "neighbour_lists", "neighbour_matrix", "study_region", "to_geojson",
]
